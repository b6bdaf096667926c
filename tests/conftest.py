"""Offline, isolated test session: no hub access, and synthetic data cached in a temporary folder."""
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("COMAM_BENCH_CACHE", tempfile.mkdtemp(prefix="comam-bench-test-cache-"))

import pytest  # noqa: E402

# The files that take most of the suite's time (measured: about two thirds of it): they start Ray clusters,
# subprocess runs of the CLI, lm-eval and real or tiny transformers models. `-m "not heavy"` leaves them
# out for a quick check while working; CI and scripts/test.sh run everything.
HEAVY_FILES = frozenset({
    "test_readme_command.py", "test_ray_exec.py", "test_e2e_baselines.py", "test_lmeval_export.py",
    "test_lmeval_model.py", "test_parallel.py", "test_llm_hf.py",
})


def pytest_configure(config):
    config.addinivalue_line("markers", "heavy: in one of the suite's slowest files (see tests/conftest.py)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in HEAVY_FILES:
            item.add_marker(pytest.mark.heavy)
