"""comam_bench.training.summary on hand-made run folders: the numbers it reports are the ones worked out here."""
import json
from pathlib import Path

import pytest

from comam_bench.training import summary as S
from comam_bench.training.summary_report import write
from comam_bench.training.compare import bootstrap_by_session, call, verdict

SESSION = {"q1": "A", "q2": "A", "q3": "B", "q4": "B"}


def fake_run(out: Path, seed: int | None, mode: str, validations: dict[int, dict[str, float]],
             rewards: list[float] = ()) -> None:
    """A finished run of the flagship recipe: per-question likelihood accuracy at each validation step."""
    d = (out / f"s{seed}" / mode) if seed is not None else out / mode
    d.mkdir(parents=True)
    (d / "process.json").write_text(json.dumps({"mode": mode, "recipe": "cpu-flagship", "sets": [],
                                               "exit_status": 0, "peak_rss_mb": 100, "wall_seconds": 1.0}))
    rows = [{"kind": "train", "global_step": i, "reward/answer": r, "weight/extraction": 1 / 3, "time/step": 10.0}
            for i, r in enumerate(rewards, 1)]
    questions = [{"global_step": step, "question": q, "session": SESSION[q], "accuracy/likelihood": v,
                  "answer_format": 1.0} for step, acc in validations.items() for q, v in acc.items()]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "validation_questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))


@pytest.fixture()
def comparison(tmp_path):
    out = tmp_path / "out"
    fake_run(out, None, "untrained", {0: {"q1": 0, "q2": 0, "q3": 1, "q4": 0}})  # .25
    # joint skipped its step-0 validation (--shared-before): before is the untrained run's
    fake_run(out, 0, "joint", {2: {"q1": 1, "q2": 0, "q3": 1, "q4": 1}}, [0.0, 1.0])  # .75: change +.5
    fake_run(out, 1, "joint", {2: {"q1": 0, "q2": 0, "q3": 1, "q4": 1}}, [0.0, 1.0])  # .50: change +.25
    fake_run(out, 0, "independent-equal-updates", {2: {"q1": 0, "q2": 0, "q3": 1, "q4": 0}})  # 0
    fake_run(out, 1, "independent-equal-updates", {2: {"q1": 0, "q2": 0, "q3": 0, "q4": 0}})  # -.25
    return out


def test_the_summary_carries_the_issue_s_fields_with_hand_worked_numbers(comparison):
    s = write(comparison, "cmd")
    assert json.loads((comparison / "summary.json").read_text()) == s
    assert (s["split_unit"], s["validation_questions"], s["validation_shared"]) == ("session", 4, True)
    assert s["seeds"] == [0, 1] and s["before_from"] == "untrained"
    assert list(s["modes"]) == ["untrained", "joint", "independent-equal-updates"]
    joint = s["modes"]["joint"]["heldout_accuracy"]
    assert (joint["before"], joint["after"], joint["change"]) == (0.25, 0.625, 0.375)
    # t over the seeds' changes .5 and .25: sd .17678, se .125, t(1, .975) = 12.7062 -> +-1.5883
    assert joint["ci95_over_seeds"] == pytest.approx([0.375 - 1.5883, 0.375 + 1.5883], abs=1e-4)
    # detectable: (t(1, .975) + t(1, .80)) x se = (12.7062 + 1.3764) x .125
    assert joint["detectable_over_seeds"] == pytest.approx(1.7603, abs=1e-4)
    # sessions A (changes 1, 0, 0, 0) and B (0, 1, 0, 1): resamples AA .25, AB .375, BB .5
    assert joint["ci95_bootstrap_session"] == [0.25, 0.5] and joint["sessions"] == 2
    assert s["modes"]["joint"]["answer_format_rate"] == 1.0 and s["modes"]["joint"]["seconds_per_step"] == 10.0
    assert s["modes"]["joint"]["training_slope"]["answer"]["mean"] == 1.0
    untrained = s["modes"]["untrained"]["heldout_accuracy"]
    assert untrained["change"] == 0.0 and untrained["before"] == untrained["after"] == 0.25
    # independent − joint after training, per seed: (0 - .75) + ... = -.5 both seeds
    v = s["versus_joint"]["independent-equal-updates"]["heldout_accuracy"]
    assert v["difference"] == -0.5 and v["ci95_over_seeds"] == [-0.5, -0.5]


def test_the_bootstrap_is_seeded_and_resamples_sessions_not_questions():
    cells = [("A", 1.0), ("A", 1.0), ("B", 0.0)]
    one, two = bootstrap_by_session(cells, seed=3), bootstrap_by_session(cells, seed=3)
    assert one == two
    # a session is drawn whole: every resample's mean is 1 (AA), 2/3 (AB) or 0 (BB), never 1/2 or 1/3
    assert set(one["ci95"]) <= {0.0, round(2 / 3, 4), 1.0}
    assert bootstrap_by_session([("A", 1.0)])["ci95"] is None


def test_the_report_and_figure_are_generated_from_the_summary(comparison):
    write(comparison, "cmd")
    text = (comparison / "summary.md").read_text()
    assert "Produced by: `cmd`" in text and "| joint | 2 | 0.250 | 0.625 | +0.375 |" in text
    assert "| independent-equal-updates | held-out accuracy (likelihood, after E'_q) | -0.500 |" in text
    assert (comparison / "curves.png").stat().st_size > 0


def test_verdicts_need_both_intervals_to_agree():
    assert call([0.1, 0.3]) == "rises" and call([-0.3, -0.1]) == "falls" and call([0.0, 0.0]) == "constant"
    assert call([-0.1, 0.2]) == "inside the noise"
    assert verdict({"ci95_over_seeds": [0.1, 0.3], "ci95_bootstrap_session": [0.05, 0.2]}) == "rises"
    assert verdict({"ci95_over_seeds": [-0.1, 0.3], "ci95_bootstrap_session": [0.05, 0.2]}) == "inside the noise"


def _record(run_id, args, task="synthetic-train", created="2026-12-07", config=None, model="smollm2,window=2048"):
    """A run record; its resolved config is its arguments (less a checkpoint) unless given."""
    from comam_bench.record import RunRecord

    config = {k: v for k, v in args.items() if k != "checkpoint"} if config is None else config
    return RunRecord.from_dict({
        "run_id": run_id, "created": created, "status": "complete", "task": {"name": task},
        "protocol": {"name": "likelihood"}, "model": {"spec": model},
        "system": {"name": "comam", "target": "comam_bench.comam.system:CoMAM", "args": args, "config": config}})


def _samples(runs, run_id, correct):
    """Questions q1-q4: q1, q2 of history h1 topic t, q3, q4 of history h2 topic t."""
    d = runs / run_id
    d.mkdir(parents=True)
    rows = [{"question_id": f"q{i + 1}", "context_id": "h1" if i < 2 else "h2", "topic": "t", "correct": bool(c)}
            for i, c in enumerate(correct)]
    (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_final_run_is_paired_with_its_untrained_pipeline_by_clusters(tmp_path):
    """The reference: no checkpoint, the same task, protocol and model, the same settings apart from the
    weights (the trained config's policy_model is a weight key). The change is paired per question: q1 +1, q2 0, q3 +1, q4 +1 -> +.75 over clusters h1|t
    and h2|t; two clusters are under the leaderboard's minimum for an interval (its paired_change)."""
    runs = tmp_path / "runs"
    config = {"retrieval_format": "structured", "retrieval_tokens": 128, "policy_model": "smollm2,window=2048"}
    trained = _record("trained", {"checkpoint": "results/training/x/s0/joint/checkpoint"}, config=config)
    reference = _record("untrained", {"retrieval_format": "structured", "retrieval_tokens": 128})
    other_args = _record("paper", {"retrieval_format": "paper"}, created="2026-12-08")
    other_task = _record("elsewhere", {"retrieval_tokens": 128}, task="personamem-128k", created="2026-12-08")
    _samples(runs, "trained", [1, 0, 1, 1])
    _samples(runs, "untrained", [0, 0, 0, 0])
    records = [trained, reference, other_args, other_task]
    assert S.reference_of(trained, records) is reference
    got = S.against_reference(trained, records, runs)
    assert got["reference"] == "untrained" and got["n"] == 4 and got["change"] == 0.75 and got["clusters"] == 2
    assert got["ci95_bootstrap_cluster"] is None
    assert S.reference_of(trained, [trained, other_args, other_task]) is None


def test_the_change_against_untrained_is_the_leaderboards_pair(tmp_path):
    """With enough clusters the interval is leaderboard_paired's `untrained` pair, number for number."""
    from comam_bench.leaderboard_paired import UNTRAINED, paired_change

    runs = tmp_path / "runs"
    trained = _record("trained", {"checkpoint": "c"}, config={"retrieval_tokens": 128})
    reference = _record("untrained", {"retrieval_tokens": 128})
    for run_id, right in (("trained", lambda i: i % 3 != 0), ("untrained", lambda i: i % 2 == 0)):
        d = runs / run_id
        d.mkdir(parents=True)
        d.joinpath("samples.jsonl").write_text("".join(
            json.dumps({"question_id": f"q{i}", "context_id": f"h{i % 12}", "topic": "t", "correct": right(i)}) + "\n"
            for i in range(36)))
    got = S.against_reference(trained, [trained, reference], runs)
    outcomes = [{f"q{i}": (f"h{i % 12}|t", float(f(i))) for i in range(36)}
                for f in (lambda i: i % 3 != 0, lambda i: i % 2 == 0)]
    pair = paired_change(*outcomes, rng_key=UNTRAINED)
    assert got["clusters"] == 12 and got["ci95_bootstrap_cluster"] == pair["ci95"] is not None
    assert got["change"] == pair["change"] == round(24 / 36 - 18 / 36, 4)
