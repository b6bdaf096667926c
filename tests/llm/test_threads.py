"""comam_bench.llm.threads: one torch thread per idle core, an explicit choice winning (hand-worked cases).
Each case runs in a fresh interpreter: the choice is made once per process and sets torch's global state."""
import json
import os
import subprocess
import sys

import pytest

from comam_bench.llm.threads import choose_threads
from helpers_paths import REPO


@pytest.mark.parametrize("cores, load, threads", [
    (2, 0.0, 2), (2, 0.5, 2),  # idle, or a shell's worth of load: every core
    (2, 0.6, 1), (2, 1.5, 1), (2, 8.0, 1),  # a job on one core, or an oversubscribed machine: one thread
    (16, 3.2, 13),  # ceil(3.2 - 0.5) = 3 cores busy
    (1, 0.0, 1),
])
def test_one_thread_per_idle_core(cores, load, threads):
    assert choose_threads(cores, load) == threads


def _in_fresh_process(load: float, **env) -> dict:
    code = (
        "import json, os, torch\n"
        f"os.getloadavg = lambda: ({load}, 0.0, 0.0)\n"
        "from comam_bench.llm import threads\n"
        "try:\n"
        "    chosen = threads.configure_threads()\n"
        "except Exception as exc:\n"
        "    print(json.dumps({'error': str(exc)})); raise SystemExit\n"
        "print(json.dumps({'chosen': chosen, 'torch': torch.get_num_threads(), 'again': threads.configure_threads()}))\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "COMAM_BENCH_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, "PYTHONPATH": str(REPO), **env},
                         capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "stderr": out.stderr}


def test_a_busy_machine_gets_one_thread_and_is_told_how_to_choose():
    result = _in_fresh_process(8.0)
    assert (result["chosen"], result["torch"], result["again"]) == (1, 1, 1)
    assert "the machine is busy (load average 8.0" in result["stderr"] and "COMAM_BENCH_THREADS" in result["stderr"]


def test_explicit_choices_win():
    assert _in_fresh_process(8.0, COMAM_BENCH_THREADS="2")["torch"] == 2
    omp = _in_fresh_process(8.0, OMP_NUM_THREADS="2")
    assert (omp["chosen"], omp["torch"]) == (None, 2)  # torch read OMP_NUM_THREADS itself


def test_a_bad_thread_count_says_what_to_give():
    assert "give a whole number of threads" in _in_fresh_process(0.0, COMAM_BENCH_THREADS="two")["error"]
