"""GRPO's per-token objective (comam.md Eq. 16): clipped ratio loss and the k3 KL, tensor in, tensor out.

All functions take per-token tensors of shape [batch, tokens] plus a 0/1 mask of the completion tokens, and
advantages of shape [batch] (one scalar per sequence, broadcast over its tokens). They return per-token
losses; `aggregate` reduces them. No model, no optimizer: a backend only schedules these.
"""
from __future__ import annotations

import torch


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                      eps_low: float = 0.2, eps_high: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO/GRPO loss -min(ρ·A, clip(ρ, 1-ε_low, 1+ε_high)·A), ρ = exp(logp - old_logp).

    Returns (loss [B, T], clipped [B, T] as 0/1: where the clipped term was the one taken)."""
    eps_high = eps_low if eps_high is None else eps_high
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(-1)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv
    loss = -torch.minimum(unclipped, clipped)
    return loss, (clipped < unclipped).to(logp.dtype)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(π || π_ref): exp(ref - logp) - (ref - logp) - 1 (>= 0, zero when equal)."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str = "token", normaliser: float | None = None,
              ) -> torch.Tensor:
    """Reduce a per-token quantity to a scalar.

    token: sum over every completion token / their number (`normaliser` = the number over the whole
    optimizer step, so micro-batches add up to the full-batch loss). sequence: mean over each sequence's
    tokens, then sum / `normaliser` (the number of sequences in the step; default this batch's)."""
    mask = mask.to(per_token.dtype)
    if mode == "token":
        total = normaliser if normaliser is not None else mask.sum().clamp(min=1)
        return (per_token * mask).sum() / total
    if mode == "sequence":
        per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        return per_seq.sum() / (normaliser if normaliser is not None else per_seq.numel())
    raise ValueError(f"unknown loss aggregation {mode!r}")


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p_T(target) per position from logits [B, T, V] and targets [B, T], in float32, where p_T is the
    sampling distribution at `temperature`: softmax(logits / T) (T <= 0, greedy decoding, scores at T = 1)."""
    logits = logits.float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    return torch.gather(logits.log_softmax(-1), -1, targets.unsqueeze(-1)).squeeze(-1)
