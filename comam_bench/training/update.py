"""One per-agent GRPO update (comam.md Eq. 16) from a batch of scored rollouts.

For every trained agent: its samples (prompt and completion ids) with their advantages go through the
policy in micro-batches under the agent's adapter; the per-token clipped loss (plus β·k3 KL to the base
with adapters disabled) is summed over the micro-batches and divided by the agent's total completion tokens
over the whole step, so gradient accumulation gives exactly the full-batch gradient. Agents on separate
adapters touch disjoint parameters; a shared adapter sums every agent's (separately normalised) loss.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from comam_bench.training.grpo import aggregate, clipped_surrogate, k3_kl, token_logprobs
from comam_bench.training.policies import PolicyBase


@dataclass
class Item:
    """One training sequence: a sample (a pipeline step or a Generation, with its token ids) and its advantage."""

    sample: Any  # has .prompt_ids and .completion_ids
    advantage: float

    def __post_init__(self) -> None:
        if self.sample.completion_ids is None or self.sample.prompt_ids is None:
            raise ValueError("this sample has no token ids: the policy's backend must return them (hf does)")


@dataclass
class AgentBatch:
    """What one agent trains on this step, and where its adapter lives."""

    agent: str
    base: PolicyBase
    adapter: str
    items: list[Item]


def _micro_batches(items: Sequence[Item], size: int, by_prompt: bool = False) -> list[list[Item]]:
    """Longest first, so each micro-batch holds similar lengths (little padding); with `by_prompt`, the
    samples of one prompt together (a group's extraction samples then share one prompt pass)."""
    if by_prompt:
        groups: dict[tuple, list[Item]] = {}
        for it in items:
            groups.setdefault(tuple(it.sample.prompt_ids), []).append(it)
        out = []
        for group in groups.values():
            out += _micro_batches(group, size)
        return out
    ordered = sorted(items, key=lambda it: -(len(it.sample.prompt_ids) + len(it.sample.completion_ids)))
    return [ordered[i:i + size] for i in range(0, len(ordered), max(size, 1))]


def agent_loss(batch: AgentBatch, cfg: Any, old: dict[int, torch.Tensor] | None = None, temperature: float = 1.0,
               ) -> dict[str, float]:
    """Backpropagate one agent's loss over its micro-batches; returns its statistics.

    Log-probabilities are those of the policy that sampled: logits / the rollout temperature (a sample
    drawn at 0.3 scored at 1.0 gives a biased ratio and gradient). The reference of the KL term is scored
    at the same temperature.

    `old` maps id(item) -> old log-probs when updates_per_batch > 1; otherwise the sampling policy is the
    current one and old = logp.detach() (ratio exactly 1, as in on-policy GRPO)."""
    tokens = sum(len(it.sample.completion_ids) for it in batch.items)
    norm = float(tokens) if cfg.loss_agg == "token" else float(len(batch.items))
    # With no KL term a zero-advantage sequence adds exactly nothing: skip its forward pass, keep its tokens
    # in the normaliser so the loss is the same as with it.
    todo = [it for it in batch.items if it.advantage != 0.0 or cfg.kl_coef > 0]
    stats = {"loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "tokens": float(tokens), "sequences": float(len(todo))}
    counted = 0.0
    share = bool(getattr(cfg, "share_prompt", False))
    for chunk in _micro_batches(todo, cfg.micro_batch, share):
        samples = [it.sample for it in chunk]
        adv = torch.tensor([it.advantage for it in chunk])
        with batch.base.active(batch.adapter):
            logp, mask = completion_logprobs(batch.base.model, samples, batch.base.pad_id, temperature=temperature,
                                             share_prompt=share, boundary=_boundary(batch.base, samples))
        adv = adv.to(logp.device)
        old_logp = logp.detach() if old is None else _stack(old, chunk, logp)
        per_token, clipped = clipped_surrogate(logp, old_logp, adv, cfg.clip_eps, cfg.clip_eps_high)
        kl = torch.zeros_like(logp)
        if cfg.kl_coef > 0:
            with batch.base.active(None):
                ref, _ = completion_logprobs(batch.base.model, samples, batch.base.pad_id, grad=False,
                                             temperature=temperature, boundary=_boundary(batch.base, samples))
            kl = k3_kl(logp, ref)
            per_token = per_token + cfg.kl_coef * kl
        loss = aggregate(per_token, mask, cfg.loss_agg, norm)
        loss.backward()
        stats["loss"] += loss.item()
        stats["kl"] += float((kl.detach() * mask).sum())
        stats["clip_frac"] += float((clipped * mask).sum())
        counted += float(mask.sum())
    stats["kl"] /= max(counted, 1.0)
    stats["clip_frac"] /= max(counted, 1.0)
    return stats


def _boundary(base: PolicyBase, samples: Sequence[Any]) -> tuple[list[torch.Tensor], int] | None:
    """The samples' recorded boundary states and the first adapted layer (train.reuse_rollout_states),
    or None: then the update runs every layer."""
    recorder = getattr(base.base, "recorder", None)
    states = recorder.lookup(samples) if recorder is not None else None
    return (states, recorder.layer) if states is not None else None


def _stack(old: dict[int, torch.Tensor], chunk: list[Item], like: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(like)
    for row, it in enumerate(chunk):
        values = old[id(it)]
        out[row, :values.numel()] = values.to(like.device)
    return out


def old_logprobs(batch: AgentBatch, micro_batch: int, temperature: float = 1.0) -> dict[int, torch.Tensor]:
    """Log-probs of the policy before this step's updates, per item (for updates_per_batch > 1)."""
    out: dict[int, torch.Tensor] = {}
    for chunk in _micro_batches(batch.items, micro_batch):
        samples = [it.sample for it in chunk]
        with batch.base.active(batch.adapter):  # reused states too, as agent_loss scores them
            logp, _ = completion_logprobs(batch.base.model, samples, batch.base.pad_id, grad=False,
                                          temperature=temperature, boundary=_boundary(batch.base, samples))
        for row, it in enumerate(chunk):
            out[id(it)] = logp[row, :len(it.sample.completion_ids)].detach()
    return out


def grpo_step(batches: Sequence[AgentBatch], optimizers: dict[str, torch.optim.Optimizer], cfg: Any,
              temperature: float = 1.0) -> dict[str, float]:
    """updates_per_batch optimizer steps over the agents' batches at the rollout `temperature`; returns
    per-agent statistics."""
    olds = {b.agent: old_logprobs(b, cfg.micro_batch, temperature) for b in batches} \
        if cfg.updates_per_batch > 1 else {}
    stats: dict[str, float] = {}
    for _ in range(cfg.updates_per_batch):
        for b in batches:
            b.base.model.train()
            for key, value in agent_loss(b, cfg, olds.get(b.agent), temperature).items():
                stats[f"{key}/{b.agent}"] = value  # the last update's values
        for name, opt in optimizers.items():
            params = [p for group in opt.param_groups for p in group["params"]]
            if not any(p.grad is not None for p in params):
                continue
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip) if cfg.grad_clip else None
            opt.step()
            opt.zero_grad(set_to_none=True)
            if norm is not None:
                stats[f"grad_norm/{name}"] = float(norm)
    for b in batches:
        b.base.model.eval()
    return stats


def completion_logprobs(model: Any, samples: Sequence[Any], pad_id: int, grad: bool = True,
                        temperature: float = 1.0, share_prompt: bool = False,
                        boundary: tuple[Sequence[torch.Tensor], int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """log π_T(completion token | prefix) for each sample, as [B, C] with a 0/1 mask [B, C]: the policy at
    sampling temperature T (logits / T; T <= 0, greedy, scores at 1).

    Prompts are left-padded and completions right-padded, positions count real tokens only (as in
    sampling), and only the last C + 1 positions' logits are computed. With `share_prompt`, samples that
    all have one prompt run it once (gradients flow back through its repeated cache) and then their
    completions: the same log-probabilities, the prompt's cost paid once instead of per sample. With
    `boundary` = (each sample's hidden states entering layer L, L), as the rollout recorded them
    (boundary.py), only layers L.. run: the same log-probabilities when no layer below L is adapted."""
    if boundary is not None:
        return _boundary_logprobs(model, samples, *boundary, grad=grad, temperature=temperature,
                                  share_prompt=share_prompt)
    if share_prompt and len(samples) > 1 and all(s.prompt_ids == samples[0].prompt_ids for s in samples):
        return _shared_prompt_logprobs(model, samples, pad_id, grad, temperature)
    width_p = max(len(s.prompt_ids) for s in samples)
    width_c = max(max(len(s.completion_ids) for s in samples), 1)
    ids = torch.full((len(samples), width_p + width_c), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, s in enumerate(samples):
        p, c = s.prompt_ids, s.completion_ids
        ids[row, width_p - len(p):width_p] = torch.tensor(p, dtype=torch.long)
        ids[row, width_p:width_p + len(c)] = torch.tensor(c, dtype=torch.long)
        mask[row, width_p - len(p):width_p + len(c)] = 1
    device = next(model.parameters()).device
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with nullcontext() if grad else torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                       logits_to_keep=width_c + 1).logits[:, :-1]
        logp = token_logprobs(logits, ids[:, width_p:], temperature)
    return logp, mask[:, width_p:].to(logp.dtype)


def _shared_prompt_logprobs(model: Any, samples: Sequence[Any], pad_id: int, grad: bool, temperature: float,
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """completion_logprobs for samples of one prompt: the prompt once, its cache repeated for every row,
    the completions right-padded after it (a padded position comes after every real one, so causal
    attention never lets a real token see it)."""
    prompt = list(samples[0].prompt_ids)
    width_c = max(max(len(s.completion_ids) for s in samples), 1)
    ids = torch.full((len(samples), width_c), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, s in enumerate(samples):
        ids[row, :len(s.completion_ids)] = torch.tensor(s.completion_ids, dtype=torch.long)
        mask[row, :len(s.completion_ids)] = 1
    device = next(model.parameters()).device
    ids, mask = ids.to(device), mask.to(device)
    with nullcontext() if grad else torch.no_grad():
        out = model(input_ids=torch.tensor([prompt], device=device), use_cache=True, logits_to_keep=1)
        out.past_key_values.batch_repeat_interleave(len(samples))
        positions = torch.arange(len(prompt), len(prompt) + width_c, device=device)[None].expand(len(samples), -1)
        rest = model(input_ids=ids, position_ids=positions, past_key_values=out.past_key_values,
                     use_cache=False).logits[:, :-1]
        logits = torch.cat([out.logits[:, -1:].expand(len(samples), -1, -1), rest], dim=1)
        logp = token_logprobs(logits, ids, temperature)
    return logp, mask.to(logp.dtype)


def _boundary_logprobs(model: Any, samples: Sequence[Any], states: Sequence[torch.Tensor], start: int, grad: bool,
                       temperature: float, share_prompt: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """completion_logprobs from recorded boundary states: the adapted layers only (a shared prompt once)."""
    from comam_bench.training.boundary import boundary_inputs, shared_top_logits, top_logits

    device = next(model.parameters()).device
    shared = share_prompt and len(samples) > 1 and all(s.prompt_ids == samples[0].prompt_ids for s in samples)
    hidden, mask, targets, width_p, width_c = boundary_inputs(samples, states, device)
    with nullcontext() if grad else torch.no_grad():
        if shared:  # every row's prompt states are the same recorded ones: take the first row's
            logits = shared_top_logits(model, hidden[0, :width_p], hidden[:, width_p:], start)
        else:
            logits = top_logits(model, hidden, mask, start, width_c)
        logp = token_logprobs(logits, targets, temperature)
    out_mask = torch.zeros_like(targets)
    for row, s in enumerate(samples):
        out_mask[row, :len(s.completion_ids)] = 1
    return logp, out_mask.to(logp.dtype)
