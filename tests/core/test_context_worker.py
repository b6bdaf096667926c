"""The one context worker: a frozen plan the run never changes, the user's config left as given, the lm-eval
model checking system arguments as a run does, no import cycle among the runner's modules, and a committed
run regenerated with the same record (timings aside)."""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_paths import REPO

from comam_bench.errors import RunError
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.runner import Run, RunConfig

ROOT = REPO


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_leaves_the_config_as_given_and_the_plan_is_frozen(tmp_path):
    cfg = RunConfig(task="personamem-mini", system="full-context", embedder="hash:64", results_dir=tmp_path,
                    limit=3)
    before = dataclasses.replace(cfg)
    run = Run(cfg, llm=ScriptedLLM())
    run.prepare()
    assert cfg == before, "model and protocol defaults are resolved into the plan, not written into the config"
    assert run.plan.worker.model == "smollm2" and run.plan.worker.proto.name == "discriminative"
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.plan.worker.batch_size = 9  # type: ignore[misc]
    record = run.execute()
    assert record["spec"]["model"] == "smollm2" and cfg == before


def test_the_likelihood_suffix_comes_from_the_resolved_protocol(tmp_path):
    from comam_bench.runner import default_run_id

    cfg = RunConfig(task="t", system="s", model="smollm2")
    assert default_run_id(cfg, "0" * 64).endswith("--s0--00000000")
    assert default_run_id(cfg, "0" * 64, protocol="likelihood").endswith("--likelihood--00000000")


def test_one_worker_answers_a_context_and_hands_every_row_to_its_callback(tmp_path):
    run = Run(RunConfig(task="personamem-mini", system="no-memory", embedder="hash:64", results_dir=tmp_path,
                        limit=4, batch_size=2, model="scripted"), llm=ScriptedLLM())
    run.prepare()
    from comam_bench.worker import Models

    worker = run.plan.worker.worker(Models(ScriptedLLM(), "hash:64"))
    got: list[tuple[str, list]] = []
    cid = run.plan.questions[0].context_id
    qs = [q for q in run.plan.questions if q.context_id == cid]
    worker.run_context(cid, run.data.contexts[cid], qs, frozenset(), lambda name, rows: got.append((name, rows)))
    samples = [r for name, rows in got if name == "samples.jsonl" for r in rows]
    assert [s["question_id"] for s in samples] == [q.id for q in qs]
    assert {name for name, _ in got} == {"ingest.jsonl", "memory.jsonl", "samples.jsonl"}  # kept: a small run
    assert not (tmp_path / "runs" / run.plan.run_id / "samples.jsonl").exists(), "a worker writes no file"
    run.release(failed=True)


def test_lm_eval_model_checks_system_arguments_as_a_run_does():
    pytest.importorskip("lm_eval")
    from comam_bench.args import ArgumentError
    from comam_bench.lmeval.model import ComamBenchLM

    with pytest.raises(ArgumentError, match="top_k"):
        ComamBenchLM(system="rag", top_k="0", llm=ScriptedLLM(), embedder="hash:64")
    lm = ComamBenchLM(system="rag", top_k="3", llm=ScriptedLLM(), embedder="hash:64")
    assert lm.worker.system.top_k == 3, "a model_args string is typed by the system's annotation"


def test_a_committed_run_is_regenerated_with_the_same_record(tmp_path):
    """benchmarks/record_identity.py on a committed model-free run: the same record, rows and ingest events."""
    run_id = "personamem-mini--longest-option--no-llm--s0--4ef06661"
    # The record names the data cache it generated into ("~/.cache/comam-bench/..."): a fresh home has that
    # cache path, so the recorded one matches without touching the real cache.
    env = {k: v for k, v in os.environ.items() if k != "COMAM_BENCH_CACHE"}
    env["HOME"] = str(tmp_path / "home")
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "record_identity.py"), "--out",
                          str(tmp_path / "out"), run_id], capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{run_id} vs {ROOT / 'results'}: identical (run.json, ingest.jsonl, samples.jsonl" in res.stdout
    assert "1 of 1 comparisons identical" in res.stdout


def test_the_identity_check_fails_on_a_changed_answer(tmp_path):
    module = _load(ROOT / "benchmarks" / "record_identity.py")
    committed = ROOT / "results" / "runs" / "personamem-mini--longest-option--no-llm--s0--4ef06661"
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("run.json", "ingest.jsonl"):
        (copy / name).write_text((committed / name).read_text())
    lines = (committed / "samples.jsonl").read_text().splitlines()
    (copy / "samples.jsonl").write_text("\n".join([lines[0].replace('"raw_output": "', '"raw_output": "x')]
                                                  + lines[1:]) + "\n")
    diffs = module.compare(committed, copy, module.TIMING_KEYS, set())
    assert diffs == ['samples.jsonl: [0]/raw_output: "<final_answer>(c)" != "x<final_answer>(c)"']
    assert module.compare(committed, committed, module.TIMING_KEYS, set()) == []


def test_a_run_error_is_one_class_wherever_it_is_imported():
    from comam_bench import execution, runner

    assert runner.RunError is RunError is execution.RunError
