"""A third-party package registers a system through the entry-point group and runs end to end."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers_paths import TESTS

PLUGIN = TESTS / "plugin_pkg"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """pip-install the plugin into a private directory (the test environment itself is left untouched)."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "plugin_pkg"
    shutil.copytree(PLUGIN, source)  # the build writes next to the sources: keep the checkout clean
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    return target


def cli(args, plugin_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(plugin_path), "HF_HUB_OFFLINE": "1", "COMAM_BENCH_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "comam_bench.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_installed_plugin_is_listed_and_runs(plugin_path, tmp_path):
    listed = cli(["systems"], plugin_path, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "echo-plugin" in listed.stdout and "entry-point" in listed.stdout
    results = tmp_path / "results"
    done = cli(["run", "--system", "echo-plugin", "--task", "personamem-mini", "--results-dir", str(results),
                "--system-arg", "bonus=3", "--run-id", "plugin"], plugin_path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((results / "runs" / "plugin" / "run.json").read_text())
    assert record["system"]["source"] == "entry-point"
    assert record["system"]["config"] == {"bonus": 3}
    assert record["scores"]["n"] > 0 and record["model"] == {"spec": None}


def test_unknown_system_gets_suggestions(plugin_path, tmp_path):
    res = cli(["run", "--system", "echo-plugn", "--task", "personamem-mini"], plugin_path, tmp_path)
    assert res.returncode == 2
    assert "Did you mean 'echo-plugin'" in res.stderr
    assert "Traceback" not in res.stderr


def test_import_path_plugin_without_installing(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PLUGIN), "COMAM_BENCH_CACHE": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-m", "comam_bench.cli.main", "run", "--system",
                          "comam_echo_plugin.system:FirstLetterMemory", "--task", "personamem-mini", "--limit", "3",
                          "--results-dir", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "import-path" in next((tmp_path / "r" / "runs").iterdir()).joinpath("run.json").read_text()
