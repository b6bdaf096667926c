"""Offline, isolated test session: no hub access, and synthetic data cached in a temporary folder; the one fake
OpenAI-compatible server as the `fake_openai` fixture; and a session that fails on any skip not listed in
tests/expected_skips.txt. Test modules live in folders that mirror the package; the helpers_*.py modules here
are importable from all of them (pytest puts this folder on sys.path for this conftest)."""
import os
import re
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("COMAM_BENCH_CACHE", tempfile.mkdtemp(prefix="comam-bench-test-cache-"))

import pytest  # noqa: E402

from fake_openai import FakeOpenAI  # noqa: E402

# The files that take most of the suite's time (measured: about two thirds of it): they start Ray clusters,
# subprocess runs of the CLI, lm-eval and real or tiny transformers models. `-m "not heavy"` leaves them
# out for a quick check while working; CI and scripts/test.sh run everything.
HEAVY_FILES = frozenset({
    "test_readme_command.py", "test_ray_exec.py", "test_e2e_baselines.py", "test_lmeval_export.py",
    "test_lmeval_model.py", "test_parallel.py", "test_llm_hf.py",
})


def pytest_configure(config):
    config.addinivalue_line("markers", "heavy: in one of the suite's slowest files (see tests/conftest.py)")
    config._expected_skips = expected_skip_patterns()
    config._unexpected_skips = []
    _SESSION["config"] = config


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in HEAVY_FILES:
            item.add_marker(pytest.mark.heavy)


@pytest.fixture
def fake_openai():
    """Starts the tests' one fake OpenAI-compatible server (tests/fake_openai.py): `fake_openai(**options)`;
    every server started is closed after the test."""
    servers = []

    def start(**options) -> FakeOpenAI:
        servers.append(FakeOpenAI(**options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# --------------------------------------------------------------------------- skips must be expected
# A test that skips because a dependency is missing proves nothing, and a suite that passes on skips lets
# CI go green without it. So every skip's reason must match a line of tests/expected_skips.txt (each with
# why it is expected); any other skip fails the session (exit 1) and is listed at the end.
EXPECTED_SKIPS = Path(__file__).with_name("expected_skips.txt")
_SESSION: dict = {}  # the config, for the report hooks that do not receive it


def expected_skip_patterns(path: Path = EXPECTED_SKIPS) -> list[re.Pattern]:
    """The reason patterns of expected_skips.txt: one regular expression per line, `  # why` after it."""
    patterns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        pattern = line.split("  # ", 1)[0].strip()
        if pattern and not pattern.startswith("#"):
            patterns.append(re.compile(pattern))
    return patterns


def _skip_reason(report) -> str | None:
    """The reason of a skipped test or module (not of an xfail, which pytest also reports as skipped)."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _note_skip(config, report) -> None:
    reason = _skip_reason(report)
    if reason is not None and not any(p.search(reason) for p in config._expected_skips):
        config._unexpected_skips.append(f"{report.nodeid}: {reason}")


def pytest_collectreport(report):  # a module that skips as a whole (pytest.importorskip at its top)
    _note_skip(_SESSION["config"], report)


def pytest_runtest_logreport(report):
    _note_skip(_SESSION["config"], report)


def pytest_sessionfinish(session, exitstatus):
    if session.config._unexpected_skips and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    unexpected = config._unexpected_skips
    if unexpected:
        terminalreporter.section("unexpected skips (not in tests/expected_skips.txt): the session fails", red=True)
        for line in unexpected:
            terminalreporter.line(line)
        terminalreporter.line("Install what they need (bash scripts/setup.sh installs every extra), or, if the "
                              "skip is right, add its reason to tests/expected_skips.txt with why.")
