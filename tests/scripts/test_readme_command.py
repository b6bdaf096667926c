"""The README's first command on a copy of a fresh clone (committed records included) exits 0.

`.ci/run` runs the whole command (setup included) on CI's clean checkout; here the setup part is the venv
already running the tests, and the run gets a small --limit so the suite stays quick.
"""
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from helpers_paths import REPO

ROOT = REPO
LIMIT = "2"


def _readme_commands() -> list[str]:
    spec = importlib.util.spec_from_file_location("readme_command", ROOT / "scripts" / "readme_command.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fresh_machine_commands((ROOT / "README.md").read_text(encoding="utf-8"))


def _fresh_copy(dest: Path) -> Path:
    """What a clone holds: tracked files plus new ones not ignored (this branch's work before it is committed);
    outside a git checkout, the tree without what setup and runs create."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True)
    except FileNotFoundError:  # no git at all
        listed = subprocess.CompletedProcess([], 1)
    if listed.returncode != 0:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".venv", ".git", "my-results", "__pycache__",
                                                                  "*.egg-info", ".pytest_cache"))
        return dest
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_readme_names_the_two_commands():
    main, tests = _readme_commands()[:2]
    assert main.startswith("bash scripts/setup.sh && .venv/bin/comam-bench run ")
    assert tests == "bash scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_command.py 1" in ci and "readme_command.py 2" in ci


def test_readme_main_command_on_a_fresh_clone(tmp_path):
    clone = _fresh_copy(tmp_path / "clone")
    committed = sorted(p.name for p in (clone / "results" / "runs").iterdir())
    setup, command = _readme_commands()[0].split(" && ")
    assert setup == "bash scripts/setup.sh"  # run for real by .ci/run
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/comam-bench"
    env = {**os.environ, "COMAM_BENCH_HOME": str(clone), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "comam_bench.cli.main", *argv[1:], "--limit", LIMIT],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    # The user's run lands in the git-ignored my-results/, never among the committed reference records.
    assert sorted(p.name for p in (clone / "results" / "runs").iterdir()) == committed
    records = list((clone / "my-results" / "runs").glob("*/run.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["scores"]["n"] == int(LIMIT)
    # Not a terminal: plain progress lines with the phases, and no third-party bars.
    assert "loading model smollm2" in done.stdout and f"answered {LIMIT}/{LIMIT}" in done.stdout
    assert "de-quantizing" not in done.stdout + done.stderr and "Loading weights" not in done.stdout + done.stderr
    assert "/my-results/" in (ROOT / ".gitignore").read_text().splitlines(), "my-results/ must be git-ignored"


def test_ci_runs_the_readme_commands_in_order(tmp_path):
    # .ci/run's plumbing with stand-ins for setup, the CLI and the suite: which commands, in which order.
    for name in (".ci/run", "scripts/readme_command.py", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    calls = tmp_path / "calls.txt"
    stubs = {"scripts/setup.sh": "echo setup", "scripts/test.sh": 'echo "test $*"',
             ".venv/bin/comam-bench": 'echo "comam-bench $*"'}
    for name, body in stubs.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"#!/usr/bin/env bash\n{body} >> {calls}\n")
        (tmp_path / name).chmod(0o755)
    env = {**os.environ, "README_LIMIT": "3"}
    subprocess.run(["bash", str(tmp_path / ".ci" / "run")], check=True, env=env, capture_output=True)
    assert calls.read_text().splitlines() == [
        "setup", "comam-bench run --system no-memory --task personamem-mini --limit 3", "test "]
