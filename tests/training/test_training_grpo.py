"""GRPO's per-token objective by hand (training/grpo.py): the clipped loss, the k3 KL, aggregation, log-probs.

Needs torch; the torch-free RL math (credit, advantages) is tested in test_training_math.py, which runs without it.
"""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from comam_bench.training.grpo import aggregate, clipped_surrogate, k3_kl, token_logprobs  # noqa: E402


def _loss(ratio: float, adv: float, eps: float = 0.2, eps_high: float | None = None):
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    loss, clipped = clipped_surrogate(logp, torch.zeros(1, 1), torch.tensor([adv]), eps, eps_high)
    loss.sum().backward()
    return loss.item(), clipped.item(), logp.grad.item()


def test_clipped_loss_inside_the_clip_range_is_the_plain_ratio_objective():
    # ratio 1.1 in [0.8, 1.2], A = 2: loss = -1.1·2 = -2.2; d/dlogp = -A·ratio = -2.2
    loss, clipped, grad = _loss(1.1, 2.0)
    assert loss == pytest.approx(-2.2) and clipped == 0 and grad == pytest.approx(-2.2)


def test_clipped_loss_outside_the_range_with_positive_and_negative_advantages():
    # ratio 1.5, A = +1: min(1.5, 1.2) = 1.2 -> loss -1.2, clipped, no gradient (no further push up)
    assert _loss(1.5, 1.0) == pytest.approx((-1.2, 1.0, 0.0))
    # ratio 1.5, A = -1: min(-1.5, -1.2) = -1.5 -> loss 1.5, unclipped, gradient -A·ratio = 1.5
    assert _loss(1.5, -1.0) == pytest.approx((1.5, 0.0, 1.5))
    # ratio 0.5, A = +1: min(0.5, 0.8) = 0.5 -> loss -0.5, unclipped, gradient -0.5
    assert _loss(0.5, 1.0) == pytest.approx((-0.5, 0.0, -0.5))
    # ratio 0.5, A = -1: min(-0.5, -0.8) = -0.8 -> loss 0.8, clipped, no gradient
    assert _loss(0.5, -1.0) == pytest.approx((0.8, 1.0, 0.0))
    # asymmetric clip (eps_high 0.28): ratio 1.25, A = +1 is inside -> loss -1.25
    assert _loss(1.25, 1.0, 0.2, 0.28)[0] == pytest.approx(-1.25)


def test_k3_kl_by_hand():
    # logp = log 0.5, ref = log 0.25: delta = ref - logp = -log 2; exp(delta) - delta - 1 = 0.5 + 0.693147 - 1
    kl = k3_kl(torch.tensor([[math.log(0.5)]]), torch.tensor([[math.log(0.25)]]))
    assert kl.item() == pytest.approx(0.193147, abs=1e-6)
    # the other way round: delta = +log 2 -> 2 - 0.693147 - 1 = 0.306853
    assert k3_kl(torch.tensor([[math.log(0.25)]]), torch.tensor([[math.log(0.5)]])).item() == pytest.approx(0.306853, abs=1e-6)
    same = torch.tensor([[-1.3, -0.2, -4.0]])
    assert torch.equal(k3_kl(same, same), torch.zeros(1, 3))


def test_aggregation_over_tokens_and_over_sequences():
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert aggregate(per_token, mask, "token").item() == pytest.approx(7 / 3)  # (1 + 2 + 4) / 3 tokens
    assert aggregate(per_token, mask, "token", normaliser=7).item() == pytest.approx(1.0)  # a larger step's count
    assert aggregate(per_token, mask, "sequence").item() == pytest.approx(2.75)  # (1.5 + 4) / 2


def test_token_logprobs_picks_the_target_log_softmax():
    # logits [0, log 3] -> p = [1/4, 3/4]; target 1 -> log 0.75
    logits = torch.tensor([[[0.0, math.log(3.0)]]])
    assert token_logprobs(logits, torch.tensor([[1]])).item() == pytest.approx(math.log(0.75))


def test_sequence_mean_is_the_default_aggregation_and_token_mean_a_named_option():
    from comam_bench.training.recipe import RecipeError, load_recipe

    assert load_recipe("smoke").train.loss_agg == "sequence"
    assert load_recipe("smoke", ["train.loss_agg=token"]).train.loss_agg == "token"
    with pytest.raises(RecipeError, match="loss_agg"):
        load_recipe("smoke", ["train.loss_agg=mean"])
    # a long sequence does not outweigh a short one: per-token losses 1 (x1) and 3 (x3 tokens) of two
    # sequences in a step of four sequences (two of them skipped, zero advantage): (1 + 3) / 4 = 1.0,
    # where token-mean over the step's 8 tokens gives (1 + 9) / 8 = 1.25
    per_token = torch.tensor([[1.0, 0.0, 0.0], [3.0, 3.0, 3.0]])
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]])
    assert aggregate(per_token, mask, "sequence", normaliser=4).item() == pytest.approx(1.0)
    assert aggregate(per_token, mask, "token", normaliser=8).item() == pytest.approx(1.25)
