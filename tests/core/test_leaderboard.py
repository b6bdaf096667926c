"""Leaderboard from hand-written run directories: grouping, ranking, ignored runs, reproducible files."""
import json
import logging
from pathlib import Path

import pytest

from comam_bench.api import QUESTION_TYPES
from comam_bench.leaderboard import (build_board, collect_runs, render_markdown, render_terminal, scan_runs,
                                     write_outputs)
from comam_bench.scores import aggregate

QWEN, LLAMA = "hf:qwen-7b", "hf:llama-8b"


def _samples(k: int, n: int = 10) -> list[dict]:
    """n questions cycling through the first two types; the first k are correct."""
    types = QUESTION_TYPES[:2]
    return [{"question_id": f"q{i}", "context_id": f"c{i % 2}", "type": types[i % 2], "topic": "t",
             "distance_blocks": i, "end_index": 10 * i, "gold": "a", "raw_output": "(a)",
             "extracted": "a", "correct": i < k,
             "cost": {"calls": 1, "prompt_tokens": 100, "completion_tokens": 5, "seconds": 0.1}, "agents": {}}
            for i in range(n)]


def make_run(root: Path, run_id: str, system: str, model: str | None, k: int, *, task="personamem-32k",
             seed=0, args=None, created="2026-01-01T00:00:00", write_scores=True, with_spec=True,
             prompt_tokens=100.0, n=10, protocol=None, extra=None) -> dict:
    samples = _samples(k, n)
    # As the runner writes it: the resolved spec covers the seed, and so does its hash.
    spec = {"task": {"name": task}, "system": {"name": system, "args": args or {}}, "model": model, "seed": seed}
    record = {
        "format_version": 1, "run_id": run_id, "status": "complete",
        "task": {"name": task, "size": task.split("-")[-1], "n_questions": 10, "n_contexts": 2, "files": {}},
        "system": {"name": system, "target": "x:Y", "args": {}, "source": "builtin", "config": {}},
        "model": {"spec": model}, "embedder": None, "seed": seed, "limit": None,
        "spec": spec, "spec_hash": f"h-{system}-{model}-{json.dumps(args)}-{seed}",
        "cost": {"ingest": {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0},
                 "answer": {"calls": 10, "prompt_tokens": 1000, "completion_tokens": 50, "seconds": 1.0},
                 "per_agent": {},
                 "per_question": {"calls": 1.0, "prompt_tokens": prompt_tokens, "completion_tokens": 5.0, "seconds": 0.1},
                 "wall_seconds": {"ingest": 3.0, "answer": 2.0}},
        "memory": {"items": 40, "tokens": 1234} if model else {},
        "skipped": {"count": 0, "rows": []}, "diagnostics": {}, "created": created,
        "env": {"python": "3.12"}, "git": {"commit": "abc", "dirty": False},
    }
    if protocol:  # Contract B: a top-level protocol block, also part of the spec
        record["protocol"] = {"name": protocol, "version": "1", "headline_norm": "token"}
        spec["protocol"] = protocol
        record["spec_hash"] += f"-{protocol}"
    record.update(extra or {})
    if not with_spec:
        del record["spec"]
    if write_scores:
        record["scores"] = aggregate(samples)
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (run_dir / "run.json").write_text(json.dumps(record))
    return record


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_run(root, "r01", "rag", QWEN, 6)
    make_run(root, "r02", "no-memory", QWEN, 4)
    make_run(root, "r03", "full-context", QWEN, 4)
    make_run(root, "r04", "rag", LLAMA, 5)
    make_run(root, "r05", "longest-option", None, 5)
    make_run(root, "r06", "longest-option", None, 3, task="personamem-128k")
    # mem0 on qwen: seed 0 twice (r07 superseded by the newer r08) and seed 1 -> mean of .5 and .7 = .6
    make_run(root, "r07", "mem0", QWEN, 3, seed=0, created="2026-01-01T00:00:00")
    make_run(root, "r08", "mem0", QWEN, 5, seed=0, created="2026-01-02T00:00:00")
    make_run(root, "r09", "mem0", QWEN, 7, seed=1)
    # scores missing from the record: recomputed from samples.jsonl
    make_run(root, "r10", "recency", LLAMA, 2, write_scores=False)
    # not complete: ignored with a reason
    (root / "r11").mkdir()
    (root / "r11" / "samples.jsonl").write_text("{}\n")
    (root / "r12").mkdir()
    (root / "r12" / "run.json").write_text(json.dumps({"format_version": 1, "run_id": "r12", "status": "running"}))
    (root / "r13").mkdir()
    (root / "r13" / "run.json").write_text("{not json")
    (root / "r14").mkdir()  # an empty directory
    (root / "notes.txt").write_text("not a run directory")
    return root


def _rows(board, task, model):
    group = next(g for g in board["groups"] if (g["task"], g["model"]) == (task, model))
    return [(r["system"], r["accuracy"]) for r in group["rows"]]


def test_scan_ignores_incomplete_runs_with_reasons(runs_dir):
    runs, ignored = scan_runs(runs_dir)
    assert [r.run_id for r in runs] == [f"r{i:02d}" for i in range(1, 11)]
    reasons = {i["run"]: i["reason"] for i in ignored}
    assert sorted(reasons) == ["r11", "r12", "r13", "r14"]
    assert reasons["r11"] == "in progress or interrupted: samples.jsonl but no run.json yet"
    assert reasons["r14"] == "no run.json"
    assert "running" in reasons["r12"]
    assert reasons["r13"].startswith("unreadable run.json")


def test_collect_runs_logs_ignored(runs_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="comam_bench.leaderboard"):
        runs = collect_runs(runs_dir)
    assert len(runs) == 10
    assert sum("ignoring run" in m for m in caplog.messages) == 4


def test_collect_runs_missing_dir(tmp_path):
    assert collect_runs(tmp_path / "nope") == []


def test_groups_and_ranking(runs_dir):
    board = build_board(collect_runs(runs_dir))
    keys = [(g["task"], g["model"]) for g in board["groups"]]
    # task order, then model; model-free runs get their own group only where a task has no model runs
    assert keys == [("personamem-128k", None), ("personamem-32k", LLAMA), ("personamem-32k", QWEN)]
    # accuracy desc, ties by system name; the model-free baseline sits in every model group of its task
    assert _rows(board, "personamem-32k", QWEN) == [
        ("mem0", 0.6), ("rag", 0.6), ("longest-option", 0.5), ("full-context", 0.4), ("no-memory", 0.4)]
    assert _rows(board, "personamem-32k", LLAMA) == [("longest-option", 0.5), ("rag", 0.5), ("recency", 0.2)]
    assert _rows(board, "personamem-128k", None) == [("longest-option", 0.3)]


def test_seed_repeats_are_averaged_and_reruns_superseded(runs_dir):
    board = build_board(collect_runs(runs_dir))
    qwen = next(g for g in board["groups"] if g["model"] == QWEN)
    mem0 = qwen["rows"][0]
    assert (mem0["runs"], mem0["seeds"], mem0["run_ids"], mem0["superseded"]) == (2, [0, 1], ["r08", "r09"], ["r07"])
    assert len(mem0["spec_hashes"]) == 2  # one per seed: the seed is part of each run's spec
    assert mem0["accuracy_range"] == [0.5, 0.7]
    # per type: r08 gets q0..q4 right -> type0 (q0,2,4,6,8) 3/5, type1 2/5; r09 q0..q6 -> 4/5, 3/5
    assert mem0["by_type"] == {QUESTION_TYPES[0]: 0.7, QUESTION_TYPES[1]: 0.5}
    # several seeds: Wilson interval at the mean accuracy over the 10 questions, 6/10
    assert mem0["ci95"] == [0.3127, 0.8318]


def test_row_costs_and_fields(runs_dir):
    board = build_board(collect_runs(runs_dir))
    qwen = next(g for g in board["groups"] if g["model"] == QWEN)
    rag = next(r for r in qwen["rows"] if r["system"] == "rag")
    assert rag["calls_per_question"] == 1.0
    assert rag["tokens_per_question"] == 105.0  # 100 prompt + 5 completion
    assert rag["seconds_per_question"] == 0.5  # (3 s ingest + 2 s answer wall) / 10 questions
    assert (rag["memory_items"], rag["memory_tokens"], rag["skipped"]) == (40.0, 1234.0, 0)
    assert (rag["run_id"], rag["seeds"], rag["n"], rag["model_free"]) == ("r01", [0], 10, False)
    longest = next(r for r in qwen["rows"] if r["system"] == "longest-option")
    assert longest["model_free"] and longest["memory_items"] is None
    assert qwen["types"] == list(QUESTION_TYPES[:2])
    assert qwen["chance"] == 0.25


def test_tokens_relative_to_full_context(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "a", "full-context", QWEN, 4, prompt_tokens=205.0)  # 210 tokens/q
    make_run(root, "b", "rag", QWEN, 5, prompt_tokens=100.0)  # 105 tokens/q
    make_run(root, "c", "rag", LLAMA, 5)  # no full-context row on this model: no ratio
    board = build_board(collect_runs(root))
    ratio = {(g["model"], r["system"]): r["tokens_vs_full_context"] for g in board["groups"] for r in g["rows"]}
    assert ratio == {(QWEN, "full-context"): 1.0, (QWEN, "rag"): 0.5, (LLAMA, "rag"): None}
    assert "| 105 | 0.50 |" in render_markdown(board)


def test_board_independent_of_input_order(runs_dir):
    runs = collect_runs(runs_dir)
    assert json.dumps(build_board(runs)) == json.dumps(build_board(runs[::-1]))


def test_markdown_content(runs_dir):
    text = render_markdown(build_board(collect_runs(runs_dir)))
    assert "## personamem-32k · hf:qwen-7b · discriminative" in text
    assert "## personamem-128k · no model · discriminative" in text
    assert "Chance level: 0.25." in text
    # 10 questions each: below SMALL_N, so every row is marked ‡ and unranked (–); seeds is a count
    # tokens/q 105 = ingest 0 + answer 105 per question; p50 / p95 – (a format-1 record has no cost.latency)
    assert ("| – | mem0 ‡ | 10 | 0.600 | 0.313–0.832 § | 0.700 | 0.500 | 1.00 | 105 | 0 | 105 | 1.00 | 0.50 | – | – "
            "| 40 | 1,234 | 0 | 2 | 2 runs |") in text
    assert "| – | longest-option † ‡ | 10 | 0.500 |" in text
    assert text.count("Fewer than 20 questions") == 3
    assert text.count("answer leakage") == 3  # the option-only note under every table holding such a row
    assert "/tmp" not in text and str(runs_dir) not in text


def test_empty_board(tmp_path):
    board = build_board([])
    assert board["groups"] == []
    assert "No complete runs yet." in render_markdown(board)
    paths = write_outputs(board, tmp_path / "out")
    assert paths["png"].read_bytes().startswith(b"\x89PNG")


def test_outputs_are_byte_identical(runs_dir, tmp_path):
    runs = collect_runs(runs_dir)
    first = write_outputs(build_board(runs), tmp_path / "a")
    second = write_outputs(build_board(runs[::-1]), tmp_path / "b")
    assert {k: p.name for k, p in first.items()} == {"markdown": "LEADERBOARD.md", "json": "leaderboard.json",
                                                     "png": "leaderboard.png", "png_by_type": "leaderboard_by_type.png",
                                                     "png_cost": "leaderboard_cost.png"}
    for key in first:
        assert first[key].read_bytes() == second[key].read_bytes(), key
    before = {k: p.read_bytes() for k, p in first.items()}
    write_outputs(build_board(collect_runs(runs_dir)), tmp_path / "a")
    assert {k: p.read_bytes() for k, p in first.items()} == before
    png = before["png"]
    assert png.startswith(b"\x89PNG") and b"matplotlib" not in png  # no Software metadata


def test_json_content(runs_dir, tmp_path):
    board = build_board(collect_runs(runs_dir))
    path = write_outputs(board, tmp_path)["json"]
    text = path.read_text()
    assert json.loads(text) == json.loads(json.dumps(board))
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert json.loads(text)["format_version"] == 5
    assert {g["protocol"] for g in json.loads(text)["groups"]} == {"discriminative"}


def test_terminal_tables(runs_dir):
    from rich.console import Console

    tables = render_terminal(build_board(collect_runs(runs_dir)))
    assert len(tables) == 3
    console = Console(record=True, width=250)
    for table in tables:
        console.print(table)
    out = console.export_text()
    assert "personamem-32k · hf:qwen-7b" in out and "mem0" in out and "calls/q" in out
    assert "new ideas" not in out  # per-type columns stay in LEADERBOARD.md: a terminal is narrow


def test_two_configs_of_one_system_stay_apart(tmp_path):
    make_run(tmp_path, "a", "rag", QWEN, 6, args={"k": 5})
    make_run(tmp_path, "b", "rag", QWEN, 4, args={"k": 10})
    board = build_board(collect_runs(tmp_path))
    rows = board["groups"][0]["rows"]
    assert [(r["run_id"], r["runs"]) for r in rows] == [("a", 1), ("b", 1)]
    assert rows[0]["config_hash"] != rows[1]["config_hash"]
    text = render_markdown(board)
    assert f"| – | rag [{rows[0]['config_hash'][:8]}] ‡ | 10 | 0.600 |" in text
    assert f"| – | rag [{rows[1]['config_hash'][:8]}] ‡ | 10 | 0.400 |" in text


def test_records_without_spec_keep_seeds_apart(tmp_path):
    # No resolved spec to strip the seed from: only the spec_hash (which covers the seed) identifies a config.
    make_run(tmp_path, "a", "mem0", QWEN, 5, seed=0, with_spec=False)
    make_run(tmp_path, "b", "mem0", QWEN, 7, seed=1, with_spec=False)
    rows = build_board(collect_runs(tmp_path))["groups"][0]["rows"]
    assert [(r["run_id"], r["seeds"]) for r in rows] == [("b", [1]), ("a", [0])]


def test_outputs_identical_across_processes(runs_dir, tmp_path):
    # Different hash seeds change set and str-hash order: the files must not depend on them.
    import os
    import subprocess
    import sys

    script = ("import sys; from pathlib import Path; from comam_bench.leaderboard import *; "
              "write_outputs(build_board(collect_runs(Path(sys.argv[1]))), Path(sys.argv[2]))")
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(runs_dir), str(tmp_path / seed)], env=env, check=True)
    for name in ("LEADERBOARD.md", "leaderboard.json", "leaderboard.png"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


def _synthetic_run(root: Path, run_id: str, seed: int, k: int, data_files: dict, observed: bool = True) -> None:
    """A synthetic run's record; `observed`: with the `data` block the runner writes (format 2), else a
    format-1 record, which does not say whether its data was generated for its seed."""
    from comam_bench.record import observe_data

    task = {"name": "synthetic-mini", "source": "synthetic", "preset": "mini", "seed": 0}
    record = make_run(root, run_id, "rag", QWEN, k, task="synthetic-mini", seed=seed)
    record["spec"].update(task=task, data_files=data_files)
    if observed:
        record.update(format_version=2, data=observe_data(task, data_files, None, [seed, 0]).to_dict())
    (root / run_id / "run.json").write_text(json.dumps(record))


def test_synthetic_seeds_on_their_own_generated_data_share_a_row(tmp_path, monkeypatch):
    from comam_bench.data import synthetic
    from comam_bench.data.synthetic import file_hashes

    root = tmp_path / "runs"
    for seed, k in ((0, 4), (1, 6), (2, 8)):  # each seed answered the data `data generate --seed S` writes
        _synthetic_run(root, f"s{seed}", seed, k, file_hashes("mini", seed))
    # The records say which data they used: the leaderboard never runs the generator to find out.
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: pytest.fail("the leaderboard ran the generator"))
    file_hashes.cache_clear()
    (row,) = build_board(collect_runs(root))["groups"][0]["rows"]
    assert (row["seeds"], row["accuracy"], row["n"]) == ([0, 1, 2], 0.6, 30)  # n: all 3 × 10 questions
    assert row["ci95"] == [0.4232, 0.7541]  # Wilson at 18/30: centre .5886, half-width .1654
    # 6 history × topic clusters (2 contexts of one topic per seed) are too few to resample: Wilson, said so
    assert (row["ci95_over"], row["clusters"]) == ("questions", 6)
    # t over the seed accuracies .4, .6, .8: .6 ± 4.3027 × .2 / √3 = .6 ± .4968, cut at 1
    assert row["ci95_over_seeds"] == [0.1032, 1.0]


def test_format_1_synthetic_records_are_not_regenerated_to_group_them(tmp_path, monkeypatch):
    """Migrated in memory, a format-1 record's data provenance is unknown: each seed keeps its own row
    (scripts/migrate_records.py records the provenance on disk once)."""
    from comam_bench.data import synthetic
    from comam_bench.data.synthetic import file_hashes

    root = tmp_path / "runs"
    for seed, k in ((0, 4), (1, 6)):
        _synthetic_run(root, f"s{seed}", seed, k, file_hashes("mini", seed), observed=False)
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: pytest.fail("the leaderboard ran the generator"))
    file_hashes.cache_clear()
    rows = build_board(collect_runs(root))["groups"][0]["rows"]
    assert sorted((r["seeds"], r["n"]) for r in rows) == [([0], 10), ([1], 10)]


def test_synthetic_data_made_otherwise_stays_its_own_configuration(tmp_path):
    from comam_bench.data.synthetic import file_hashes

    root = tmp_path / "runs"
    _synthetic_run(root, "s0", 0, 4, file_hashes("mini", 0))
    edited = {**file_hashes("mini", 1), "questions_mini.csv": "0" * 64}  # seed 1's data, one file changed
    _synthetic_run(root, "s1", 1, 6, edited)
    rows = build_board(collect_runs(root))["groups"][0]["rows"]
    assert sorted((r["seeds"], r["n"]) for r in rows) == [([0], 10), ([1], 10)]
