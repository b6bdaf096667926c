"""benchmarks/_train_summary.py on hand-made run folders: the numbers it reports are the ones worked out here."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _train_summary as S  # noqa: E402


def fake_run(out: Path, seed: int, mode: str, before: dict, after: dict, rewards: list[float]) -> None:
    """A finished run: validation at steps 0 and 2 (per-question likelihood accuracy), two training steps."""
    d = out / f"s{seed}" / mode
    d.mkdir(parents=True)
    (d / "process.json").write_text(json.dumps({"mode": mode, "recipe": f"r-{mode}", "sets": [], "exit_status": 0,
                                               "peak_rss_mb": 100 + seed, "wall_seconds": 1.0}))
    rows, questions = [], []
    for step, acc in ((0, before), (2, after)):
        mean = sum(acc.values()) / len(acc)
        rows.append({"kind": "validation", "global_step": step, "val/accuracy/likelihood": mean,
                     "val/accuracy/letter": 0.0, "val/reward/extraction": 0.5, "time/validation": 2.0})
        questions += [{"global_step": step, "question": q, "accuracy/likelihood": v, "accuracy/letter": 0.0,
                       "reward/extraction": 0.5} for q, v in acc.items()]
    for step, r in enumerate(rewards, 1):
        rows.insert(step, {"kind": "train", "global_step": step, "reward/answer": r, "reward/extraction": r,
                           "weight/extraction": 1 / 3, "time/step": 10.0})
    rows.append({"kind": "adapters", "global_step": 2, "adapter/extraction/delta_norm": 0.5 + seed})
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "validation_questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))


def test_summary_numbers(tmp_path):
    out = tmp_path / "out"
    # joint: seed 0 gains one question of two (0.5 -> 1.0), seed 1 none (0.5 -> 0.5)
    fake_run(out, 0, "joint", {"a": 0, "b": 1}, {"a": 1, "b": 1}, [0.0, 1.0])
    fake_run(out, 1, "joint", {"a": 1, "b": 0}, {"a": 1, "b": 0}, [0.0, 1.0])
    # local-only: seed 0 loses one (0.5 -> 0.0), seed 1 unchanged
    fake_run(out, 0, "local-only", {"a": 0, "b": 1}, {"a": 0, "b": 0}, [1.0, 0.0])
    fake_run(out, 1, "local-only", {"a": 1, "b": 0}, {"a": 1, "b": 0}, [1.0, 0.0])
    summary = S.write(out, tmp_path / "results", "cmd")
    joint, local = summary["modes"]
    assert (joint["mode"], local["mode"]) == ("joint", "local-only")
    assert joint["before"]["accuracy/likelihood"]["mean"] == 0.5
    assert joint["after"]["accuracy/likelihood"]["mean"] == 0.75
    # paired over the 4 (seed, question) pairs: differences 1, 0, 0, 0
    p = joint["paired"]["accuracy/likelihood"]
    assert p["mean"] == 0.25 and p["n"] == 4 and (p["better"], p["worse"]) == (1, 0)
    # pooled slope over (1, 0), (2, 1), (1, 0), (2, 1): exactly 1, no residual
    assert joint["slope"]["answer"]["mean"] == 1.0 and joint["slope"]["answer"]["ci95"] == [1.0, 1.0]
    assert local["slope"]["answer"]["mean"] == -1.0
    assert joint["plateau"]["accuracy/likelihood"] == [2, 0]  # seed 1 never improved
    assert joint["adapters_min_delta"] == {"extraction": 0.5} and joint["peak_rss_mb"] == 101
    # local-only − joint, seed by seed: after 0.0 - 1.0 and 0.5 - 0.5; change -0.5 - 0.5 and 0 - 0
    v = summary["versus_joint"]["local-only"]["accuracy/likelihood"]
    assert v["after"]["mean"] == pytest.approx(-0.5) and v["change"]["mean"] == pytest.approx(-0.5)
    text = (out / "summary.md").read_text()
    assert "| local-only | 2 |" in text and "(constant)" in text
    assert (out / "curves.png").stat().st_size > 0
