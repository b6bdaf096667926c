"""benchmarks/cost_fit.py: the cost model's arithmetic on hand-made measurements, worked out by hand."""
import sys

import pytest

from helpers_paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import cost_fit as F  # noqa: E402


def measurement(system="x", **over):
    m = {"system": system, "cpu_s": 100.0, "wall_s": 200.0, "phase_wall_s": {"ingest": 100.0, "answer": 50.0},
         "sessions": 5, "questions": 2, "messages": 40,
         "phases": {"ingest": {"calls": 10, "prompt_tokens": 5000, "completion_tokens": 1000},
                    "answer": {"calls": 2, "prompt_tokens": 600, "completion_tokens": 0}},
         # per-session wall seconds 4/2, 6/2, 4/1 = 2, 3, 4 after 0, 2, 4 sessions: slope 0.5 over mean 3
         "steps": [{"sessions_before": 0, "sessions": 2, "wall_s": 4.0, "calls": 4},
                   {"sessions_before": 2, "sessions": 2, "wall_s": 6.0, "calls": 4},
                   {"sessions_before": 4, "sessions": 1, "wall_s": 4.0, "calls": 2},
                   {"sessions_before": 5, "sessions": 0, "wall_s": 0.1, "calls": 0}],
         }
    return {**m, **over}


def test_cpu_is_split_by_phase_wall_time_and_the_rest_is_startup():
    # 200 s wall: ingest 100 (half), answer 50 (a quarter), startup the other quarter of 100 CPU seconds
    assert F.split_cpu(100, 200, {"ingest": 100, "answer": 50}) == {"startup": 25, "ingest": 50, "answer": 25}
    with pytest.raises(ValueError):
        F.split_cpu(1, 0, {})


def test_line_and_growth():
    assert F.line([0, 2, 4], [2, 3, 4]) == (2.0, 0.5)
    assert F.line([1, 1], [3, 5]) == (4.0, 0.0)  # no spread in x: no slope
    assert F.growth(measurement()["steps"]) == pytest.approx(0.5 / 3)
    # steps without LLM calls are not evidence of growth, and two points are too few
    assert F.growth(measurement()["steps"][1:]) == 0.0


def test_rates_per_session_message_and_question():
    r = F.fit(measurement())
    assert r["startup_cpu_s"] == 25
    assert r["per_session"] == {"cpu_s": 10, "calls": 2, "prompt_tokens": 1000, "completion_tokens": 200}
    assert r["per_message"] == {"cpu_s": 1.25, "calls": 0.25}
    assert r["per_question"] == {"cpu_s": 12.5, "calls": 1, "prompt_tokens": 300, "completion_tokens": 0}
    assert r["cpu_per_wall"] == 0.5


def test_prediction_for_a_task_shape():
    r = F.fit(measurement())
    p = F.predict(r, {"sessions": 13, "questions": 10})
    # growth 1/6 per session: the mean session over 13 costs 1 + (1/6)(12)/2 = 2 sampled sessions
    assert p["ingest_growth_factor"] == 2
    assert p["ingest_cpu_s"] == 13 * 10 * 2  # 260
    assert p["answer_cpu_s"] == 10 * 12.5  # 125
    assert p["cpu_s"] == 25 + 260 + 125
    assert p["cpu_min"] == 6.8
    assert p["llm_calls"] == 13 * 2 * 2 + 10 * 1  # 62
    assert p["llm_tokens"] == 13 * 2 * 1200 + 10 * 300  # 34200


def test_markdown_names_every_system_and_the_unmeasured():
    rates = {"x": F.fit(measurement())}
    shape = {"sessions": 13, "questions": 10}
    part = {"rates": rates, "predicted_per_seed": {"x": F.predict(rates["x"], shape)},
            "not_measured": {"a-mem": "not run (budget)"}, "measurements": {"x": {"sample": "last"}}}
    md = F.render_markdown({"preset": "cpu", "seed": 0, "target_shape": shape, "models": {"smollm2": part}})
    assert "## `--model smollm2`" in md
    row = next(line for line in md.splitlines() if line.startswith("| x* |"))
    assert "| 10.00 | 2.00 | 1200 | +0.167 | 12.50 | 1.00 | 300 | 25.0 | 6.8 | 34200 |" in row
    assert "`a-mem` (not run (budget))" in md


def test_cpu_per_generated_token_over_the_systems_that_generate():
    rates = {"x": F.fit(measurement()), "silent": F.fit(measurement(phases={
        "ingest": {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0},
        "answer": {"calls": 2, "prompt_tokens": 600, "completion_tokens": 0}}))}
    # x: 5 sessions x 10 s + 2 questions x 12.5 s = 75 CPU s over 5 x 200 generated tokens; silent adds nothing
    assert F.cpu_per_generated_token(rates) == 0.075
    assert F.cpu_per_generated_token({"silent": rates["silent"]}) is None


def test_estimate_from_another_records_tokens():
    cost = {"ingest": {"calls": 8, "prompt_tokens": 800, "completion_tokens": 400},
            "answer": {"calls": 4, "prompt_tokens": 400, "completion_tokens": 100}}
    r = F.estimate(cost, sessions=8, questions=4, per_token=0.1, scoring_cpu_s=2.0)
    assert r["estimated"] is True
    assert r["per_session"] == {"cpu_s": 5.0, "calls": 1, "prompt_tokens": 100, "completion_tokens": 50}
    assert r["per_question"] == {"cpu_s": 4.5, "calls": 1, "prompt_tokens": 100, "completion_tokens": 25}
    # 60 sessions x 5 + 105 questions x 4.5 = 772.5 CPU s
    assert F.predict(r, {"sessions": 60, "questions": 105})["cpu_s"] == 772.5
