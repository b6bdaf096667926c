"""Scores against hand-worked numbers."""
import math

import pytest

from comam_bench.scores import aggregate, per_question_cost, wilson_from_rate, wilson_interval

Z = 1.959964


def test_wilson_half():
    # k=5, n=10: p=.5, z²/n=.384146, denom 1.384146, centre .5,
    # half = z/denom·sqrt(.025 + z²/(4n²)=.0096037) = 1.416013·.186021 = .263409 -> (.2366, .7634)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.236590, abs=1e-5)
    assert hi == pytest.approx(0.763410, abs=1e-5)


def test_wilson_zero_successes():
    # k=0, n=10: centre = (z²/2n)/denom = .192073/1.384146 = .138766, half = z/denom·sqrt(z²/4n²) = same
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(0.277532, abs=1e-5)


def test_wilson_all_successes_mirrors_zero():
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0
    assert lo == pytest.approx(1 - 0.277532, abs=1e-5)


def test_wilson_edge_cases():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    # k=1, n=1 by formula: centre (1 + z²/2)/(1+z²) = 2.920737/4.841459 = .603274, half the same - .206547
    lo, _ = wilson_interval(1, 1)
    assert lo == pytest.approx(0.206549, abs=1e-5)


def test_wilson_from_rate_matches_counts():
    assert wilson_from_rate(0.3, 20) == pytest.approx(wilson_interval(6, 20))
    assert wilson_from_rate(0.5, 0) == (0.0, 1.0)


def _s(qid, type_, correct, *, ctx="c1", blocks=1, extracted="a"):
    return {"question_id": qid, "context_id": ctx, "type": type_, "distance_blocks": blocks,
            "extracted": extracted, "correct": correct}


SAMPLES = [
    _s("q1", "generalize_to_new_scenarios", True, ctx="c2", blocks=10),
    _s("q2", "recall_user_shared_facts", True, blocks=2),
    _s("q3", "recall_user_shared_facts", False, blocks=2, extracted=None),
    _s("q4", "suggest_new_ideas", False, blocks=None),
    _s("q5", "generalize_to_new_scenarios", True, ctx="c2", blocks=10),
]


def test_aggregate_overall():
    out = aggregate(SAMPLES)
    assert (out["n"], out["correct"], out["accuracy"], out["chance"]) == (5, 3, 0.6, 0.25)
    lo, hi = wilson_interval(3, 5)
    assert out["ci95"] == [round(lo, 4), round(hi, 4)]
    assert out["extraction_failures"] == 1


def test_aggregate_by_type_in_canonical_order():
    by_type = aggregate(SAMPLES)["by_type"]
    # QUESTION_TYPES order, not insertion or alphabetical order; absent types left out.
    assert list(by_type) == ["recall_user_shared_facts", "suggest_new_ideas", "generalize_to_new_scenarios"]
    assert by_type["recall_user_shared_facts"]["accuracy"] == 0.5
    assert by_type["suggest_new_ideas"] == {"n": 1, "correct": 0, "accuracy": 0.0, "ci95": [0.0, 0.7935]}
    assert by_type["generalize_to_new_scenarios"]["correct"] == 2


def test_aggregate_by_distance_numeric_with_unknown_last():
    by_dist = aggregate(SAMPLES)["by_distance_blocks"]
    assert list(by_dist) == ["2", "10", "unknown"]  # numeric, not "10" < "2"
    assert by_dist["2"]["accuracy"] == 0.5
    assert by_dist["unknown"]["n"] == 1


def test_aggregate_by_context():
    by_ctx = aggregate(SAMPLES)["by_context"]
    assert list(by_ctx) == ["c1", "c2"]
    assert (by_ctx["c1"]["n"], by_ctx["c1"]["correct"]) == (3, 1)
    assert by_ctx["c2"]["accuracy"] == 1.0


def test_aggregate_empty():
    out = aggregate([])
    assert (out["n"], out["accuracy"], out["ci95"], out["by_type"]) == (0, 0.0, [0.0, 1.0], {})


def test_aggregate_is_rounded():
    out = aggregate([_s("a", "suggest_new_ideas", True), _s("b", "suggest_new_ideas", False),
                     _s("c", "suggest_new_ideas", False)])
    assert out["accuracy"] == 0.3333
    assert all(len(repr(x).split(".")[1]) <= 4 for x in out["ci95"])


def test_per_question_cost_spreads_ingest_over_the_questions():
    ingest = {"calls": 4, "prompt_tokens": 1000, "completion_tokens": 100, "seconds": 2.0}
    answer = {"calls": 3, "prompt_tokens": 400, "completion_tokens": 30, "seconds": 1.5}
    # (4+3)/2 calls, (1000+400)/2 prompt, (100+30)/2 completion; seconds = wall time 7.0 / 2
    assert per_question_cost(ingest, answer, 2, 7.0) == {"calls": 3.5, "prompt_tokens": 700.0,
                                                         "completion_tokens": 65.0, "seconds": 3.5}
    # rounding as the record writes it: calls to 3 digits, tokens to 1, seconds to 3
    assert per_question_cost({"calls": 1}, {"prompt_tokens": 10, "completion_tokens": 1}, 3, 1.0) == \
        {"calls": 0.333, "prompt_tokens": 3.3, "completion_tokens": 0.3, "seconds": 0.333}


def test_per_question_cost_tolerates_missing_cost():
    assert per_question_cost({}, {"calls": None}, 2) == {"calls": 0.0, "prompt_tokens": 0.0, "completion_tokens": 0.0,
                                                          "seconds": None}
    assert per_question_cost({}, {}, 0, 0.0)["seconds"] == 0.0  # no questions: no division by zero
    assert not math.isnan(per_question_cost({}, {}, 0)["calls"])
