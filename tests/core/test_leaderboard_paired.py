"""Paired differences against no-memory and full-context (leaderboard_paired): hand-worked changes, the
pairing key (seed and question, never across seeds), the interval's unit, and the tables that show them."""
import json

from comam_bench.leaderboard import build_board, collect_runs, render_markdown
from comam_bench.leaderboard_paired import paired_change, run_outcomes, separates
from comam_bench.record import RunRecord
from comam_bench.view.board import render_board

from test_leaderboard import make_run


def _outcomes(rows):  # [(seed, question, cluster, correct)] -> Outcomes
    return {(str(s), q): (c, float(k)) for s, q, c, k in rows}


def test_change_is_the_mean_over_common_questions_only():
    # Common: q1 (1 - 0), q2 (0 - 0), q3 (1 - 1); q4 only in the row. Mean +1/3 over 3; 2 clusters: no interval.
    row = _outcomes([(0, "q1", "a", 1), (0, "q2", "a", 0), (0, "q3", "b", 1), (0, "q4", "b", 1)])
    ref = _outcomes([(0, "q1", "a", 0), (0, "q2", "a", 0), (0, "q3", "b", 1)])
    assert paired_change(row, ref, "x") == {"n": 3, "change": 0.3333, "ci95": None, "clusters": 2}
    assert paired_change(row, _outcomes([(1, "q1", "a", 0)]), "x") is None  # same question id, other seed


def test_a_constant_difference_has_no_spread_and_a_mixed_one_straddles_zero():
    # 12 clusters, each: row right, reference wrong -> every resample's mean is exactly +1.
    row = _outcomes([(0, f"q{i}", f"c{i}", 1) for i in range(12)])
    ref = _outcomes([(0, f"q{i}", f"c{i}", 0) for i in range(12)])
    up = paired_change(row, ref, "x")
    assert up == {"n": 12, "change": 1.0, "ci95": [1.0, 1.0], "clusters": 12} and separates(up)
    # Six clusters +1, six -1: mean 0, and the interval lies within [-1, +1] on both sides of 0.
    ref = _outcomes([(0, f"q{i}", f"c{i}", 0 if i < 6 else 1) for i in range(12)])
    row = _outcomes([(0, f"q{i}", f"c{i}", 1 if i < 6 else 0) for i in range(12)])
    mixed = paired_change(row, ref, "x")
    assert mixed["change"] == 0.0 and -1 <= mixed["ci95"][0] < 0 < mixed["ci95"][1] <= 1
    assert not separates(mixed) and not separates(None)


def test_outcomes_key_by_seed_and_cluster_by_seed_when_each_seed_drew_its_data():
    samples = [{"question_id": "q1", "context_id": "h", "topic": "art", "correct": True}]
    base = {"run_id": "r", "status": "complete", "seed": 2, "task": {"name": "t"}, "system": {"name": "s"},
            "model": {"spec": None}}
    run = RunRecord.from_dict(base)
    assert run_outcomes(run, samples) == {("2", "q1"): ("h|art", 1.0)}


def test_board_rows_carry_pairs_and_the_tables_show_them(tmp_path):
    root = tmp_path / "runs"
    # make_run's samples: question i in context c(i % 2), all one topic; the first k of 10 are correct.
    make_run(root, "nm", "no-memory", "hf:m", 4)
    make_run(root, "fc", "full-context", "hf:m", 6)
    make_run(root, "rag", "rag", "hf:m", 7)
    board = build_board(collect_runs(root), root)
    rows = {r["system"]: r for r in board["groups"][0]["rows"]}
    # rag - no-memory: questions 4, 5, 6 right only in rag -> +3/10; rag - full-context: question 6 -> +1/10.
    assert rows["rag"]["paired"]["no-memory"] == {"n": 10, "change": 0.3, "ci95": None, "clusters": 2}
    assert rows["rag"]["paired"]["full-context"]["change"] == 0.1
    assert set(rows["no-memory"]["paired"]) == {"full-context"}  # never against itself
    assert rows["no-memory"]["paired"]["full-context"]["change"] == -0.2
    text = render_markdown(board)
    assert "Paired against `no-memory` and `full-context`" in text and "| rag ‡ | +0.300 | – | 10 |" in text  # ‡: under SMALL_N questions
    page = render_board(board, None, lambda run_id: None)
    assert 'class="paired"' in page and "+0.300" in page
    # Without the runs' folder the board is the same, less the pairs (the tests' and callers' default).
    plain = build_board(collect_runs(root))
    assert all("paired" not in r for g in plain["groups"] for r in g["rows"])
    assert "Paired against" not in render_markdown(plain)
    assert json.loads(json.dumps(board)) == board


def _comam(root, run_id, system, k, config, args=None):
    make_run(root, run_id, system, "hf:m", k, args=args,
             extra={"system": {"name": system, "target": "comam_bench.comam.system:CoMAM", "args": args or {},
                               "source": "builtin", "config": config}})


def test_a_trained_row_is_paired_with_its_untrained_twin_only(tmp_path):
    root = tmp_path / "runs"
    ckpt = "results/training/flagship/s0/joint/checkpoint"
    # The twin: same settings, base weights. The decoy: same class, other settings. The trained row differs
    # from the twin in weight keys only (checkpoint, its notes, adapters, the per-agent model).
    _comam(root, "twin", "comam-flagship", 4, {"extraction_tokens": 64, "checkpoint": None, "policy_model": None})
    _comam(root, "decoy", "comam", 9, {"extraction_tokens": 256, "checkpoint": None, "policy_model": None})
    _comam(root, "trained", "comam", 7, {"extraction_tokens": 64, "checkpoint": ckpt, "policy_model": "hf:m",
                                         "checkpoint_info": {"recipe": "cpu-flagship", "global_step": 12},
                                         "extraction_adapter": ckpt + "/adapters/extraction"},
           args={"checkpoint": ckpt})
    board = build_board(collect_runs(root), root)
    rows = {r["run_ids"][0]: r for r in board["groups"][0]["rows"]}
    # trained - twin: questions 4, 5, 6 right only in the trained run -> +3/10 over 2 clusters (no interval).
    assert rows["trained"]["paired"] == {"untrained": {"n": 10, "change": 0.3, "ci95": None, "clusters": 2,
                                                       "against": "comam-flagship"}}
    assert "paired" not in rows["twin"] and "paired" not in rows["decoy"]  # no reference rows, no checkpoint
    text = render_markdown(board)
    assert "Paired against `untrained`:" in text and "comam cpu-flagship step 12 · flagship/s0/joint − comam-flagship" in text
    assert "| comam cpu-flagship step 12 · flagship/s0/joint ‡ | +0.300 | – | 10 |" in text
    # Without a twin (its settings differ), no pair.
    (root / "twin" / "run.json").unlink()
    (root / "twin" / "samples.jsonl").unlink()
    (root / "twin").rmdir()
    again = build_board(collect_runs(root), root)
    assert all("paired" not in r for r in again["groups"][0]["rows"])
