"""Offline, isolated test session: no hub access, and synthetic data cached in a temporary folder."""
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("COMAM_BENCH_CACHE", tempfile.mkdtemp(prefix="comam-bench-test-cache-"))
