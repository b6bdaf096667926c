"""Per-question latency and tokens by phase (comam_bench.latency): percentiles, ingest attribution, the record's
cost.latency (written by the runner, null in a migrated format-2 record, filled by scripts/migrate_records.py)
and the leaderboard's p50/p95 and per-phase token columns, from hand-made run folders with known numbers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy
import pytest

import helpers_systems  # noqa: F401 - the Recorder system the runner test loads
from comam_bench.latency import per_question, percentile, summary
from comam_bench.leaderboard import build_board, collect_runs, render_markdown
from comam_bench.record import RECORD_VERSION, RunRecord
from helpers_paths import REPO


def test_percentiles_are_numpys_linear_ones_on_hand_worked_numbers():
    xs = [1.0, 2.0, 3.0, 4.0, 10.0]
    # p50: (5-1)*0.5 = 2 -> x[2] = 3; p95: (5-1)*0.95 = 3.8 -> x[3] + 0.8 (x[4] - x[3]) = 4 + 0.8*6 = 8.8
    assert percentile(xs, 50) == 3.0 and percentile(xs, 95) == pytest.approx(8.8)
    # Four values: p50 = (2 + 3)/2; p95: 3*0.95 = 2.85 -> 3 + 0.85*(4 - 3) = 3.85 (order given does not matter)
    assert percentile([4, 1, 3, 2], 50) == 2.5 and percentile([4, 1, 3, 2], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0 and percentile([], 50) is None
    rng = numpy.random.default_rng(0)
    for n in (2, 3, 10, 101):
        values = list(rng.exponential(size=n))
        for p in (50, 95):
            assert percentile(values, p) == pytest.approx(float(numpy.percentile(values, p)))


def _event(cid, start, end, wall, prompt=0, completion=0):
    return {"key": f"{cid}:{start}:{end}", "context_id": cid, "start": start, "end": end, "wall_seconds": wall,
            "cost": {"calls": 1, "prompt_tokens": prompt, "completion_tokens": completion, "seconds": wall}}


def _sample(qid, cid, end, seconds, prompt=0, completion=0):
    return {"question_id": qid, "context_id": cid, "end_index": end,
            "cost": {"calls": 1, "prompt_tokens": prompt, "completion_tokens": completion, "seconds": seconds}}


# Context a: steps 0:5, 5:9, 9:12; questions at 5 (a1, a2) and 12 (a3). Context b: one step, one question.
EVENTS = [_event("a", 9, 12, 4.0, 40, 4), _event("a", 0, 5, 2.0, 20, 2), _event("a", 5, 9, 3.0, 30, 3),
          _event("b", 0, 4, 1.0, 10, 1)]
SAMPLES = [_sample("a1", "a", 5, 0.5, 100, 10), _sample("a2", "a", 5, 0.5, 100, 10),
           _sample("a3", "a", 12, 1.5, 300, 30), _sample("b1", "b", 4, 1.0, 200, 20)]


def test_ingest_is_given_to_the_first_question_that_needed_it():
    rows = {r["question_id"]: r for r in per_question(EVENTS, SAMPLES)}
    # a1 waited for 0:5; a2 (same end index, after a1) found memory ready; a3 needed 5:9 and 9:12.
    assert {q: r["ingest_seconds"] for q, r in rows.items()} == {"a1": 2.0, "a2": 0.0, "a3": 7.0, "b1": 1.0}
    assert {q: r["ingest_tokens"] for q, r in rows.items()} == {"a1": 22, "a2": 0, "a3": 77, "b1": 11}
    assert {q: r["answer_tokens"] for q, r in rows.items()} == {"a1": 110, "a2": 110, "a3": 330, "b1": 220}
    # Summed over the questions it is the run's ingest time and tokens, whatever order the rows came in.
    assert sum(r["ingest_seconds"] for r in rows.values()) == sum(e["wall_seconds"] for e in EVENTS)
    assert per_question(EVENTS[::-1], SAMPLES) == per_question(EVENTS, SAMPLES)


def test_summary_on_hand_worked_numbers():
    block = summary(EVENTS, SAMPLES)
    assert block["attribution"] == "first-needed" and block["percentiles"] == "linear" and block["n"] == 4
    # ingest seconds sorted 0, 1, 2, 7: p50 = 1.5, p95 = 2 + 0.85*5 = 6.25, mean 2.5
    assert block["seconds"]["ingest"] == {"mean": 2.5, "p50": 1.5, "p95": 6.25}
    # answer seconds 0.5, 0.5, 1, 1.5: p50 = 0.75, p95 = 1 + 0.85*0.5 = 1.425
    assert block["seconds"]["answer"] == {"mean": 0.875, "p50": 0.75, "p95": 1.425}
    # totals a1 2.5, a2 0.5, a3 8.5, b1 2.0 -> 0.5, 2.0, 2.5, 8.5: p50 2.25, p95 2.5 + 0.85*6 = 7.6
    assert block["seconds"]["total"] == {"mean": 3.375, "p50": 2.25, "p95": 7.6}
    # ingest tokens 0, 11, 22, 77: mean 27.5, p50 16.5, p95 22 + 0.85*55 = 68.75
    assert block["tokens"]["ingest"] == {"mean": 27.5, "p50": 16.5, "p95": 68.75}
    assert block["tokens"]["answer"] == {"mean": 192.5, "p50": 165.0, "p95": 313.5}
    assert summary([], []) is None


def _write_run(root: Path, run_id: str, seed: int, events, samples, *, version=2, latency=False) -> Path:
    """A complete run folder as the runner leaves it (format `version`; `latency`: with cost.latency)."""
    d = root / "runs" / run_id
    d.mkdir(parents=True)
    (d / "ingest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (d / "samples.jsonl").write_text("".join(json.dumps({**s, "type": "recall_user_shared_facts", "correct": True})
                                             + "\n" for s in samples))
    totals = {k: sum(e["cost"][k] for e in events) for k in ("prompt_tokens", "completion_tokens")}
    answer = {k: sum(s["cost"][k] for s in samples) for k in ("prompt_tokens", "completion_tokens")}
    cost = {"ingest": {"calls": len(events), **totals}, "answer": {"calls": len(samples), **answer},
            "wall_seconds": {"ingest": sum(e["wall_seconds"] for e in events),
                             "answer": sum(s["cost"]["seconds"] for s in samples)}}
    if latency:
        cost["latency"] = summary(events, samples)
    spec = {"task": {"name": "hand"}, "system": {"name": "mem", "args": {}}, "model": "m", "seed": seed}
    record = {"format_version": version, "run_id": run_id, "status": "complete", "created": f"2026-01-0{seed + 1}",
              "spec": spec, "spec_hash": f"h{seed}", "seed": seed, "task": {"name": "hand"},
              "system": {"name": "mem", "args": {}}, "model": {"spec": "m"}, "protocol": {"name": "discriminative"},
              "data": {"files": {}, "sha256": "x", "dir": None, "generated": None},
              "scores": {"n": len(samples), "accuracy": 1.0, "ci95": [0.5, 1.0], "chance": 0.25, "by_type": {}},
              "cost": cost}
    (d / "run.json").write_text(json.dumps(record))
    return d


def test_a_format_2_record_migrates_in_memory_with_latency_unknown(tmp_path):
    d = _write_run(tmp_path, "old", 0, EVENTS, SAMPLES, version=2)
    raw = json.loads((d / "run.json").read_text())
    record = RunRecord.from_dict(raw)
    assert record.format_version == RECORD_VERSION == 3 and record.read_format == 2
    assert record.cost.latency is None and record.to_dict()["cost"]["latency"] is None
    assert "latency" not in raw["cost"]  # the dict read is not changed
    # The leaderboard shows – for what the record does not know, and the per-phase tokens it does.
    text = render_markdown(build_board(collect_runs(tmp_path / "runs")))
    # tokens/q 220 = ingest 27.5 + answer 192.5 (shown rounded half to even); no p50 / p95 known
    assert "| 220 | 28 | 192 | – | 3.38 | – | – |" in text


def test_migrate_records_fills_latency_from_the_run_folder(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("migrate_records", REPO / "scripts" / "migrate_records.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    d = _write_run(tmp_path, "old", 0, EVENTS, SAMPLES, version=2)
    _write_run(tmp_path, "short", 1, EVENTS, SAMPLES[:2], version=2)
    (tmp_path / "runs" / "short" / "samples.jsonl").write_text("")  # rows that are not its 2 questions
    assert script.main([str(tmp_path), "--check"]) == 1
    assert script.main([str(tmp_path)]) == 0
    upgraded = json.loads((d / "run.json").read_text())
    assert upgraded["format_version"] == 3 and upgraded["cost"]["latency"] == summary(EVENTS, SAMPLES)
    assert json.loads((tmp_path / "runs" / "short" / "run.json").read_text())["cost"]["latency"] is None
    assert script.main([str(tmp_path), "--check"]) == 0


def test_the_runner_writes_cost_latency_that_sums_to_its_wall_time(tmp_path):
    from comam_bench.runner import Run, RunConfig

    record = Run(RunConfig(task="personamem-mini", system="helpers_systems:Recorder", model=None,
                           embedder="hash:64", results_dir=tmp_path, batch_size=3, limit=6)).execute()
    block, n = record["cost"]["latency"], record["scores"]["n"]
    assert record["format_version"] == 3 and block["n"] == n == 6
    wall = record["cost"]["wall_seconds"]
    assert block["seconds"]["ingest"]["mean"] * n == pytest.approx(wall["ingest"], abs=1e-3)
    assert block["seconds"]["answer"]["mean"] * n == pytest.approx(wall["answer"], abs=1e-3)
    run_dir = tmp_path / "runs" / record["run_id"]
    rows = [[json.loads(x) for x in (run_dir / f).read_text().splitlines()] for f in ("ingest.jsonl", "samples.jsonl")]
    assert block == summary(*rows)


def test_leaderboard_p50_p95_columns_are_means_over_seeds(tmp_path):
    # Seed 0: the hand-worked run above; seed 1: every number doubled.
    double_e = [{**e, "wall_seconds": 2 * e["wall_seconds"]} for e in EVENTS]
    double_s = [{**s, "cost": {**s["cost"], "seconds": 2 * s["cost"]["seconds"]}} for s in SAMPLES]
    _write_run(tmp_path, "s0", 0, EVENTS, SAMPLES, version=3, latency=True)
    _write_run(tmp_path, "s1", 1, double_e, double_s, version=3, latency=True)
    board = build_board(collect_runs(tmp_path / "runs"))
    (row,) = board["groups"][0]["rows"]
    assert row["runs"] == 2
    # ingest p50 1.5 and 3.0 -> 2.25; p95 6.25 and 12.5 -> 9.375; answer p50 0.75, 1.5 -> 1.125; p95 1.425, 2.85
    assert (row["ingest_p50_seconds"], row["ingest_p95_seconds"]) == (2.25, 9.375)
    assert (row["answer_p50_seconds"], row["answer_p95_seconds"]) == (1.125, 2.1375)
    assert (row["ingest_tokens_per_question"], row["answer_tokens_per_question"]) == (27.5, 192.5)
    assert "| 2.25 / 9.38 | 1.12 / 2.14 |" in render_markdown(board)
