"""Reliability round 3 (issue 30), failures: no traceback where a sentence is due (D6), data validate --json
on whole-file refusals (D7), a sequential run goes on past a failing context (D8), a hung system is bounded
(D9), SIGTERM behaves like Ctrl-C (D12), Ctrl-C with workers inside native code exits 130, not SIGABRT (D5)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers_cli import cli
from helpers_paths import FIXTURES, REPO, TESTS

SCRIPTED = "scripted:constant=<final_answer>(a)"


def _run(tmp_path, *extra, results=None):
    return cli(["run", "--system", "no-memory", "--task", "personamem-mini", "--limit", "3", "--model", SCRIPTED,
                "--results-dir", results or tmp_path / "results", *extra], tmp_path)


# ---------------------------------------------------------------- D6: a sentence, not a traceback
def _home_with(tmp_path, folder, name, text):
    import shutil

    home = tmp_path / "home"
    for sub in ("tasks", "baselines"):
        shutil.copytree(REPO / sub, home / sub)
    (home / folder / name).write_text(text)
    return {"COMAM_BENCH_HOME": str(home)}


@pytest.mark.parametrize("folder", ["tasks", "baselines"])
def test_malformed_yaml_is_named_and_listings_still_work(tmp_path, folder):
    env = _home_with(tmp_path, folder, "broken.yaml", "name: broken\nargs: [unclosed\n  top_k: 3\n")
    listing = cli([folder if folder == "tasks" else "systems"], tmp_path, env)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert "personamem-mini" in listing.stdout or "rag-bm25" in listing.stdout
    assert "broken" in listing.stdout and "YAML" in listing.stdout  # the cell may wrap the sentence
    args = ["--task", "broken"] if folder == "tasks" else ["--system", "broken"]
    res = cli(["run", "--system", "no-memory", "--model", SCRIPTED, "--results-dir", tmp_path / "r", *args], tmp_path, env)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "broken.yaml is not valid YAML at line" in " ".join(res.stderr.split())


def test_an_include_of_a_missing_file_is_named(tmp_path):
    env = _home_with(tmp_path, "tasks", "inc.yaml", "include: nowhere.yaml\nname: inc\n")
    res = cli(["run", "--system", "no-memory", "--model", SCRIPTED, "--task", "inc", "--results-dir", tmp_path / "r"],
              tmp_path, env)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "include: nowhere.yaml names no file" in " ".join(res.stderr.split())


@pytest.mark.parametrize("where", ["proc", "under-a-file"])
def test_an_unwritable_results_folder_is_a_sentence(tmp_path, where):
    (tmp_path / "a_file").write_text("x")
    results = "/proc/comam-bench-nowhere" if where == "proc" else tmp_path / "a_file" / "results"
    res = _run(tmp_path, results=results)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "cannot write the run folder" in res.stderr and "--results-dir" in res.stderr


def test_a_system_arg_yaml_cannot_read_is_judged_by_the_system(tmp_path):
    res = _run(tmp_path, "--system-arg", "top_k=[3")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "top_k" in res.stderr


BAD_PLUGIN = '''
import os
import time
from comam_bench.api import Answer, MemorySystem


class Bad(MemorySystem):
    """Answers (a), except on the context named by $FAIL_CONTEXT (raises) or where $BAD_TEXT is set."""
    needs_llm = False

    def reset(self, context_id):
        self.context = context_id

    def ingest(self, messages, start):
        pass

    def answer(self, questions):
        if self.context == os.environ.get("HANG_CONTEXT"):
            time.sleep(600)
        if self.context == os.environ.get("FAIL_CONTEXT"):
            raise RuntimeError("plugin bug on purpose")
        if os.environ.get("BAD_TEXT"):
            return [Answer(None) for _ in questions]
        return [Answer("<final_answer>(a)") for _ in questions]
'''


def _plugin_run(tmp_path, env, *extra):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "bad_plugin.py").write_text(BAD_PLUGIN)
    import os

    env = {"PYTHONPATH": os.pathsep.join([str(src), str(TESTS)]), **env}
    return cli(["run", "--system", "bad_plugin:Bad", "--task", "personamem-mini", "--results-dir", tmp_path / "r",
                "--run-id", "p", *extra], tmp_path, env)


def _contexts():
    from comam_bench.data import load_task
    from comam_bench.registry import load_task_spec
    from comam_bench.runner import ordered_questions

    data = load_task(load_task_spec("personamem-mini"))
    return list(dict.fromkeys(q.context_id for q in ordered_questions(data, None)))


def test_a_plugin_returning_non_text_is_a_sentence(tmp_path):
    res = _plugin_run(tmp_path, {"BAD_TEXT": "1"})
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "NoneType, not str" in res.stderr


# ---------------------------------------------------------------- D8: a sequential run goes on
def test_a_sequential_run_goes_on_past_a_failing_context_and_resume_finishes(tmp_path):
    contexts = _contexts()
    assert len(contexts) >= 2
    res = _plugin_run(tmp_path, {"FAIL_CONTEXT": contexts[0]})
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert f"context {contexts[0]} failed: RuntimeError: plugin bug on purpose" in " ".join(res.stderr.split())
    run_dir = tmp_path / "r" / "runs" / "p"
    answered = {json.loads(line)["context_id"] for line in (run_dir / "samples.jsonl").read_text().splitlines()}
    assert answered == set(contexts[1:]), "every later context was run"
    errors = [json.loads(line) for line in (run_dir / "errors.jsonl").read_text().splitlines()]
    assert [e["context_id"] for e in errors] == [contexts[0]] and errors[0]["questions"]
    again = _plugin_run(tmp_path, {}, "--resume")
    assert again.returncode == 0, again.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["task"]["n_contexts"] == len(contexts)


# ---------------------------------------------------------------- D7: data validate --json
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing-column"])
def test_validate_json_reports_a_whole_file_refusal(tmp_path, damage):
    import shutil

    folder = tmp_path / "data"
    shutil.copytree(FIXTURES / "data" / "prerelease", folder)
    contexts = next(folder.glob("shared_contexts*.jsonl"))
    questions = next(folder.glob("questions*.csv"))
    if damage == "truncated":
        contexts.write_bytes(contexts.read_bytes()[:-40])  # a context cut in the middle of a string
    elif damage == "garbage":
        contexts.write_bytes(b"\x00\x01garbage{{{\n")
    elif damage == "empty":
        questions.write_text("")
    else:
        lines = questions.read_text().splitlines(keepends=True)
        questions.write_text("".join(",".join(line.split(",")[1:]) for line in lines))
    res = cli(["data", "validate", "--task", "personamem-128k", "--data-dir", folder, "--json"], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    report = json.loads(res.stdout)
    assert report["exit_code"] == 2 and report["ok"] is False and report["refusals"]
    assert "at at" not in report["refusals"][0]


# ---------------------------------------------------------------- D9: a hung system is bounded
def test_a_hung_system_is_bounded_recorded_and_retried_by_resume(tmp_path):
    import time

    contexts = _contexts()
    started = time.monotonic()
    res = _plugin_run(tmp_path, {"HANG_CONTEXT": contexts[0]}, "--timeout-per-question", "0.5", "--batch-size", "2")
    assert time.monotonic() - started < 60
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "QuestionTimeout" in res.stderr and "--timeout-per-question" in res.stderr
    run_dir = tmp_path / "r" / "runs" / "p"
    errors = [json.loads(line) for line in (run_dir / "errors.jsonl").read_text().splitlines()]
    assert [e["context_id"] for e in errors] == [contexts[0]] and len(errors[0]["questions"]) >= 2
    answered = {json.loads(line)["context_id"] for line in (run_dir / "samples.jsonl").read_text().splitlines()}
    assert answered == set(contexts[1:])
    again = _plugin_run(tmp_path, {}, "--resume", "--timeout-per-question", "30", "--batch-size", "2")
    assert again.returncode == 0, again.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["task"]["n_contexts"] == len(contexts) and record["execution"]["timeout_per_question"] == 30


@pytest.mark.parametrize("value", ["0", "-1"])
def test_timeout_per_question_must_be_positive(tmp_path, value):
    res = _run(tmp_path, "--timeout-per-question", value)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "--timeout-per-question" in res.stderr


# ---------------------------------------------------------------- D12 and D5: SIGTERM, Ctrl-C mid-computation
SLOW_PLUGIN = '''
import os
import time
from pathlib import Path
from comam_bench.api import Answer, MemorySystem


class Slow(MemorySystem):
    """Answers (a) slowly; with $SPIN set, computes with torch forever (a model call that cannot be stopped)."""
    needs_llm = False

    def reset(self, context_id):
        pass

    def ingest(self, messages, start):
        pass

    def answer(self, questions):
        Path(os.environ["MARKER"]).touch()
        if os.environ.get("SPIN"):
            import torch
            a = torch.randn(300, 300)
            while True:
                a = (a @ a).tanh()
        time.sleep(0.2)
        return [Answer("<final_answer>(a)") for _ in questions]
'''


def _signalled_run(tmp_path, sig, env, *extra):
    import os
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "slow_plugin.py").write_text(SLOW_PLUGIN)
    marker = tmp_path / "answering"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MARKER": str(marker), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(src), str(REPO)]), **env}
    args = [sys.executable, "-m", "comam_bench.cli.main", "run", "--system", "slow_plugin:Slow", "--task",
            "personamem-mini", "--results-dir", str(tmp_path / "r"), "--run-id", "s", "--batch-size", "1", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        samples = tmp_path / "r" / "runs" / "s" / "samples.jsonl"
        while time.monotonic() < deadline and not (marker.exists() and (env.get("SPIN") or samples.exists())):
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal({"term": signal.SIGTERM, "int": signal.SIGINT}[sig])
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err, args
    finally:  # a run the signal did not stop (SPIN=1 spins for ever) must not outlive the test
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path):
    import subprocess

    code, out, err, args = _signalled_run(tmp_path, "term", {})
    assert code == 143, err
    assert "Traceback" not in err and "--resume" in err
    samples = (tmp_path / "r" / "runs" / "s" / "samples.jsonl").read_text().splitlines()
    assert samples and not (tmp_path / "r" / "runs" / "s" / "run.json").exists()
    import os

    env = {**os.environ, "MARKER": str(tmp_path / "again"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "src"), str(REPO)])}
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((tmp_path / "r" / "runs" / "s" / "run.json").read_text())
    lines = (tmp_path / "r" / "runs" / "s" / "samples.jsonl").read_text().splitlines()
    assert record["scores"]["n"] == len(lines) == len({json.loads(x)["question_id"] for x in lines})


def test_ctrl_c_while_parallel_workers_are_inside_native_code_exits_130_not_sigabrt(tmp_path):
    pytest.importorskip("torch")
    code, out, err, _ = _signalled_run(tmp_path, "int", {"SPIN": "1"}, "--parallel", "2")
    assert code == 130, err[-500:]
    assert "terminate called" not in err and "Interrupted" in err


def test_a_long_failure_list_is_capped_in_the_message():
    from comam_bench.execution import raise_failures
    from comam_bench.runner import RunError

    with pytest.raises(RunError, match="7 of 9 contexts.*and 2 more, listed in the run's errors.jsonl"):
        raise_failures([(f"c{i}", ValueError("boom")) for i in range(7)], [], 9)
