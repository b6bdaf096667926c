"""CoMAM's credit assignment and group advantages against numbers worked out by hand (in the comments); no torch
(the GRPO loss is in test_training_grpo.py)."""
from __future__ import annotations

import math

import pytest

from comam_bench.training.credit import (agent_weights, assign_credit, dcg_with_ties, group_advantages, ndcg,
                                         softmax)

L3, L4, L5 = 1 / math.log2(3), 1 / math.log2(4), 1 / math.log2(5)  # 0.630930, 0.5, 0.430677


# --------------------------------------------------------------------------- NDCG (Eq. 13)
def test_ndcg_of_a_perfect_and_of_a_reversed_ranking():
    assert ndcg([0.9, 0.1, 0.8, 0.2], [1, 0, 1, 0]) == pytest.approx(1.0)
    # local ranks the wrong trajectory first: DCG = 0·1 + 1·(1/log2 3) = 0.630930; IDCG = 1
    assert ndcg([0.1, 0.9], [1, 0]) == pytest.approx(0.630930, abs=1e-6)


def test_ndcg_with_a_tie_shares_the_discounts_of_the_tied_positions():
    # local [0.9, 0.5, 0.5, 0.1], gains [0, 1, 0, 1]:
    #   position 1: t0, gain 0
    #   positions 2-3: t1 and t2 tied, mean gain 0.5 -> 0.5·(1/log2 3 + 1/log2 4) = 0.5·1.130930 = 0.565465
    #   position 4: t3, gain 1 -> 1/log2 5 = 0.430677
    # DCG = 0.996142; IDCG = 1 + 1/log2 3 = 1.630930; NDCG = 0.610781
    assert dcg_with_ties([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 1]) == pytest.approx(0.5 * (L3 + L4) + L5)
    assert ndcg([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 1]) == pytest.approx(0.610781, abs=1e-6)


def test_ndcg_ties_do_not_depend_on_the_order_of_the_trajectories():
    # all four tied, one relevant: DCG = (1/4)·(1 + 0.630930 + 0.5 + 0.430677) = 0.640402; IDCG = 1
    for gains in ([1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]):
        assert ndcg([0.5] * 4, gains) == pytest.approx(0.640402, abs=1e-6)
    assert ndcg([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 1]) == ndcg([0.5, 0.9, 0.1, 0.5], [0, 0, 1, 1])


def test_ndcg_is_undefined_when_every_global_reward_is_zero():
    assert ndcg([0.3, 0.7, 0.1], [0, 0, 0]) is None
    with pytest.raises(ValueError):
        ndcg([0.1], [1, 0])


# --------------------------------------------------------------------------- weights (Eq. 14)
def test_softmax_weights_by_hand():
    # exp(1) = 2.718282, exp(0.5) = 1.648721, exp(0) = 1; sum 5.367003
    assert softmax([1.0, 0.5, 0.0]) == pytest.approx([0.506480, 0.307196, 0.186324], abs=1e-6)
    assert sum(softmax([3.0, -2.0, 7.5, 0.0])) == pytest.approx(1.0)
    # a higher temperature flattens: v/2 = [0.5, 0.25, 0] -> exp 1.648721, 1.284025, 1 -> sum 3.932746
    assert softmax([1.0, 0.5, 0.0], temperature=2.0) == pytest.approx([0.419229, 0.326496, 0.254275], abs=1e-6)


def test_all_equal_global_rewards_give_v_zero_and_equal_weights():
    local = {"extraction": [0.9, 0.1], "profile": [0.2, 0.8], "retrieval": [0.5, 0.4]}
    v, w = agent_weights(local, [0, 0])
    assert v == {"extraction": None, "profile": None, "retrieval": None}
    assert w == pytest.approx({a: 1 / 3 for a in local})
    v, w = agent_weights(local, [1, 1])  # every ranking is ideal: v = 1, weights equal again
    assert v == pytest.approx({a: 1.0 for a in local}) and w == pytest.approx({a: 1 / 3 for a in local})


# --------------------------------------------------------------------------- final rewards (Eq. 15)
LOCAL = {"extraction": [0.9, 0.1], "profile": [0.2, 0.8], "retrieval": [0.5, 0.5]}
ANSWER = [1.0, 0.0]
# v_ext = 1 (right order); v_prof = 0.630930 (reversed); v_ret = tie: 0.5·(1 + 0.630930) = 0.815465
# exp: 2.718282, 1.879357, 2.260226 -> sum 6.857865 -> w = 0.396374, 0.274044, 0.329582
W = {"extraction": 0.396374, "profile": 0.274044, "retrieval": 0.329582}


def test_adaptive_credit_by_hand_eq15():
    credit = assign_credit(LOCAL, ANSWER)
    assert credit.ndcg == pytest.approx({"extraction": 1.0, "profile": 0.630930, "retrieval": 0.815465}, abs=1e-6)
    assert credit.weights == pytest.approx(W, abs=1e-6)
    # r_final = r_n + w_n·r_ans: extraction [0.9 + 0.396374, 0.1 + 0] ...
    assert credit.final["extraction"] == pytest.approx([1.296374, 0.1], abs=1e-6)
    assert credit.final["profile"] == pytest.approx([0.474044, 0.8], abs=1e-6)
    assert credit.final["retrieval"] == pytest.approx([0.829582, 0.5], abs=1e-6)


def test_algorithm1_form_swaps_the_terms():
    # r_final = r_ans + w_n·r_n: extraction [1 + 0.396374·0.9, 0 + 0.396374·0.1] = [1.356737, 0.039637]
    credit = assign_credit(LOCAL, ANSWER, form="algorithm1")
    assert credit.final["extraction"] == pytest.approx([1.356737, 0.039637], abs=1e-6)
    assert credit.final["profile"] == pytest.approx([1 + 0.274044 * 0.2, 0.274044 * 0.8], abs=1e-6)


def test_the_ablation_modes():
    equal = assign_credit(LOCAL, ANSWER, mode="equal")
    assert equal.final["profile"] == pytest.approx([0.2 + 1 / 3, 0.8])
    fixed = assign_credit(LOCAL, ANSWER, mode="fixed", fixed=0.7)
    assert fixed.final["extraction"] == pytest.approx([1.6, 0.1])
    per_agent = assign_credit(LOCAL, ANSWER, mode="fixed", fixed={"extraction": 0.1, "profile": 0.2, "retrieval": 0.3})
    assert per_agent.final["retrieval"] == pytest.approx([0.8, 0.5])
    assert assign_credit(LOCAL, ANSWER, mode="local").final == LOCAL
    assert assign_credit(LOCAL, ANSWER, mode="global").final == {a: ANSWER for a in LOCAL}
    with pytest.raises(ValueError):
        assign_credit(LOCAL, ANSWER, mode="fixed")


# --------------------------------------------------------------------------- advantages
def test_group_advantages_by_hand():
    # mean 0.5; unbiased variance = 4·0.25 / 3 = 1/3; std = 0.577350; (1 - 0.5) / 0.577350 = 0.866025
    adv = group_advantages([1.0, 0.0, 0.0, 1.0])
    assert adv == pytest.approx([0.866025, -0.866025, -0.866025, 0.866025], abs=1e-5)
    assert sum(adv) == pytest.approx(0.0, abs=1e-12)


def test_a_zero_variance_group_gets_exact_zero_advantages():
    assert group_advantages([0.3, 0.3, 0.3]) == [0.0, 0.0, 0.0]
    # 0.1 + 0.2 != 0.3 in floating point; without the explicit rule (r - mean) / eps would be ~1e-11, not 0
    assert group_advantages([0.1 + 0.2, 0.3, 0.3]) == [0.0, 0.0, 0.0]
    assert group_advantages([5.0]) == [0.0]
