"""One process per run folder: a second `run`/`--resume` is refused and told who holds the lock; a lock
left by a killed process does not block `--resume` (issue 11, item 7)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from comam_bench.results import RunLock, RunLockedError
from helpers_cli import REPO, cli

HOLD = """
import sys, time
from comam_bench.results import RunLock
lock = RunLock(sys.argv[1])
lock.acquire()
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


def test_a_dropped_lock_object_frees_the_folder(tmp_path):
    import gc

    RunLock(tmp_path).acquire()  # a Run prepared and never executed, then dropped
    gc.collect()
    again = RunLock(tmp_path)
    again.acquire()
    again.release()


SLOW = '''
import os, time
from comam_bench.api import Answer, MemorySystem

class Slow(MemorySystem):
    """Answers the first batch at once, then waits for the test's gate file: the run holds its lock, with
    rows already written, for as long as the test needs (a fixed sleep raced a slow second process)."""
    needs_llm = False
    calls = 0
    def reset(self, context_id): pass
    def ingest(self, messages, start): pass
    def answer(self, questions):
        Slow.calls += 1
        deadline = time.time() + 120
        while Slow.calls > 1 and not os.path.exists(os.environ["SLOW_GATE"]) and time.time() < deadline:
            time.sleep(0.05)
        return [Answer("<final_answer>(a)") for _ in questions]
'''


def test_a_second_run_while_the_first_writes_is_refused(tmp_path):
    (tmp_path / "slow_sys.py").write_text(SLOW)
    args = ["run", "--system", "slow_sys:Slow", "--task", "personamem-mini", "--limit", "8", "--batch-size", "1",
            "--results-dir", tmp_path / "r", "--run-id", "busy"]
    gate = tmp_path / "gate"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COMAM_BENCH_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "tests")]), "SLOW_GATE": str(gate)}
    first = subprocess.Popen([sys.executable, "-m", "comam_bench.cli.main", *map(str, args)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    samples = tmp_path / "r" / "runs" / "busy" / "samples.jsonl"
    deadline = time.time() + 120
    while not samples.exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.1)
    second = cli([*args, "--resume"], tmp_path, {"PYTHONPATH": str(tmp_path), "SLOW_GATE": str(gate)})
    gate.touch()  # only now may the first run go on
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"pid {first.pid}" in " ".join(second.stderr.split())
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(rows) == len({r["question_id"] for r in rows}) == 8
