"""The session guard of tests/conftest.py: a skip not listed in tests/expected_skips.txt fails the session.

Each case runs pytest in a subprocess on a tiny test file in a temporary folder, with a copy of the real
conftest.py and a small expected-skips list of its own.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from helpers_paths import TESTS

LISTED = "^Chromium is absent  # the browser tests need Chromium\n"


def run_pytest(tmp_path, test_source: str, listed: str = LISTED) -> subprocess.CompletedProcess:
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "expected_skips.txt").write_text("# why each skip is fine\n" + listed)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")  # not the project's
    (tmp_path / "test_tiny.py").write_text(test_source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=300)


def test_an_unexpected_skip_fails_the_session(tmp_path):
    done = run_pytest(tmp_path, "import pytest\n\ndef test_a():\n    pytest.skip('the GPU is busy')\n\n"
                                "def test_b():\n    assert True\n")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unexpected skips" in done.stdout and "test_tiny.py::test_a: the GPU is busy" in done.stdout


def test_a_module_skipped_for_a_missing_package_fails_the_session(tmp_path):
    done = run_pytest(tmp_path, "import pytest\n\npytest.importorskip('no_such_package_here')\n\n"
                                "def test_a():\n    assert True\n")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not import 'no_such_package_here'" in done.stdout


def test_a_listed_skip_passes_and_xfail_is_no_skip(tmp_path):
    done = run_pytest(tmp_path, "import pytest\n\ndef test_a():\n    pytest.skip('Chromium is absent (no chromium)')\n\n"
                                "@pytest.mark.xfail(reason='known')\ndef test_b():\n    assert False\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "1 xfailed" in done.stdout and "unexpected skips" not in done.stdout


def test_a_failing_session_stays_failed(tmp_path):
    done = run_pytest(tmp_path, "def test_a():\n    assert False\n")
    assert done.returncode == 1 and "unexpected skips" not in done.stdout


@pytest.mark.parametrize("line", [line for line in (TESTS / "expected_skips.txt").read_text().splitlines()
                                  if line.strip() and not line.startswith("#")])
def test_every_listed_skip_says_why(line):
    pattern, sep, why = line.partition("  # ")
    assert sep and pattern.strip() and len(why.split()) >= 5, f"{line!r}: give the pattern, then `  # why`"
