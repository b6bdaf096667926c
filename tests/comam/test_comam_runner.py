"""CoMAM driven by the real runner on the mini task with a scripted model: every question answered, the
run record carries per-agent cost, the prompt version and the memory choices."""
from __future__ import annotations

import json

from comam_bench.runner import Run, RunConfig

ANSWER = "<information>x</information><final_answer>(a)</final_answer>"


def test_runner_end_to_end_with_per_agent_cost(tmp_path):
    cfg = RunConfig(task="personamem-mini", system="comam_bench.comam.system:CoMAM", model=f"scripted:constant={ANSWER}",
                    embedder="hash:64", results_dir=tmp_path / "results", batch_size=2,
                    system_args={"ranking": "recency", "memory_tokens": 700})
    record = Run(cfg).execute()
    assert record["task"]["n_questions"] > 0
    agents = record["cost"]["per_agent"]
    assert set(agents) == {"extraction", "profile", "retrieval"}
    assert agents["retrieval"]["calls"] == record["task"]["n_questions"]
    config = record["system"]["config"]
    assert config["prompt_version"] and config["ranking"] == "recency" and config["memory_tokens"] == 700
    assert record["memory"]["sessions"] > 0
    rows = [json.loads(line) for line in (tmp_path / "results" / "runs" / record["run_id"] / "samples.jsonl").open()]
    assert all(r["extracted"] == "a" for r in rows)
    assert "comam_empty_extraction" not in record["diagnostics"]
