"""One process per run folder: a second `run`/`--resume` is refused and told who holds the lock; a lock
left by a killed process does not block `--resume` (issue 11, item 7)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from comam_bench.results import RunLock, RunLockedError
from reliability_helpers import cli

HOLD = """
import sys, time
from comam_bench.results import RunLock
RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_second_process_is_refused_then_a_killed_holder_does_not_block(tmp_path):
    folder = tmp_path / "r" / "runs" / "x"
    folder.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["run", "--system", "longest-option", "--task", "personamem-mini", "--limit", "3",
                "--results-dir", tmp_path / "r", "--run-id", "x"]
        blocked = cli([*args, "--resume"], tmp_path)
        assert blocked.returncode == 2, blocked.stdout + blocked.stderr
        err = " ".join(blocked.stderr.split())
        assert f"pid {holder.pid}" in err and "Traceback" not in err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (folder / "lock").exists(), "a killed holder leaves its lock file behind"
    done = cli([*args, "--resume"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (folder / "lock").exists()


def test_lock_in_process(tmp_path):
    lock = RunLock(tmp_path)
    lock.acquire()
    try:
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    finally:
        lock.release()
    again = RunLock(tmp_path)
    again.acquire()
    again.release()
    assert not (tmp_path / "lock").exists()
