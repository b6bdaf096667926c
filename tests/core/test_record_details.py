"""Small record fixes: no duplicated ingest events on resume, `extracted` agrees with `correct` and says which
stage decided, and the run id names an HTTP model rather than `v1` (issue 11, item 6)."""
from __future__ import annotations

import json

import helpers_systems
from comam_bench.protocol import judge_answer
from comam_bench.runner import Run, RunConfig, default_run_id


def _config(tmp_path, **kw):
    base = dict(task="personamem-mini", system="helpers_systems:Recorder", embedder="hash:64",
                results_dir=tmp_path / "results", batch_size=2, run_id="r")
    return RunConfig(**{**base, **kw})


def test_resume_does_not_duplicate_ingest_events(tmp_path):
    helpers_systems.FAIL_AFTER["n"] = 9
    try:
        Run(_config(tmp_path)).execute()
    except KeyboardInterrupt:
        pass
    finally:
        helpers_systems.FAIL_AFTER["n"] = -1
    Run(_config(tmp_path, resume=True)).execute()
    lines = [json.loads(x) for x in (tmp_path / "results" / "runs" / "r" / "ingest.jsonl").read_text().splitlines()]
    keys = [row["key"] for row in lines]
    assert len(keys) == len(set(keys)), "each ingestion step is recorded once"


def test_two_stage_rule_recorded_consistently():
    text = "The answer is (c).\n<final_answer> b"
    assert judge_answer(text, "c") == {"extracted": "c", "correct": True, "stage": "whole_response"}
    assert judge_answer(text, "b") == {"extracted": "b", "correct": True, "stage": "final_answer"}
    assert judge_answer(text, "a") == {"extracted": "b", "correct": False, "stage": "final_answer"}
    assert judge_answer("no idea", "a") == {"extracted": None, "correct": False, "stage": None}
    assert judge_answer("(a) or (b)", "a")["extracted"] is None


def test_samples_never_contradict_themselves(tmp_path):
    cfg = _config(tmp_path, system="no-memory", model="scripted:constant=The answer is (c).\n<final_answer> b")
    Run(cfg).execute()
    rows = [json.loads(x) for x in (tmp_path / "results" / "runs" / "r" / "samples.jsonl").read_text().splitlines()]
    assert {r["gold"] for r in rows} >= {"b", "c"}
    for r in rows:
        assert (r["extracted"] == r["gold"]) == r["correct"], r
        assert r["answer_stage"] in ("final_answer", "whole_response")


def test_run_id_names_the_http_model_not_v1():
    cfg = RunConfig(task="t", system="s", model="openai:Qwen2.5-3B,base_url=http://gpu1:8000/v1")
    assert "--Qwen2.5-3B--" in default_run_id(cfg, "0" * 64)
    cfg = RunConfig(task="t", system="s", model="hf:/models/qwen-0.5b,dtype=bfloat16")
    assert "--qwen-0.5b--" in default_run_id(cfg, "0" * 64)
    cfg = RunConfig(task="t", system="s", model="smollm2")
    assert "--smollm2--" in default_run_id(cfg, "0" * 64)
