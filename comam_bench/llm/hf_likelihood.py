"""Continuation log-likelihoods on a transformers causal LM, with the shared prefix computed once.

A question's four options share everything up to the assistant turn, usually thousands of tokens, and
differ in a few dozen. `score_shared_prefix` runs the prefix once with the KV cache on, repeats that cache
for the options, and runs the options (minus their last token) as one right-padded batch on top of it:
cost = prefix once + the options. `score_separately` runs prefix + option per option, the naive way; it
exists to check the first against and to measure what the reuse saves. torch is imported on call.

Both return ([(logprob, greedy), ...] per continuation, tokens fed to the model).
"""
from __future__ import annotations

from typing import Any, Sequence

Scored = tuple[float, bool]


def _gather(logp, targets) -> tuple[float, bool]:
    """Sum of logp[k, targets[k]] and whether each target is the row's argmax (logp: [len, vocab])."""
    import torch

    index = torch.tensor(targets, dtype=torch.long, device=logp.device)
    picked = logp.gather(-1, index[:, None]).squeeze(-1)
    greedy = bool((logp.argmax(-1) == index).all())
    return float(picked.double().sum()), greedy


def score_shared_prefix(model: Any, prefix: Sequence[int], continuations: Sequence[Sequence[int]]
                        ) -> tuple[list[Scored], int]:
    """One forward over `prefix` (KV cached), then one padded batch of the continuations on that cache."""
    import torch

    if not prefix:
        raise ValueError("scoring needs a non-empty prefix (the chat template's tokens at least)")
    device = model.device
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([list(prefix)], device=device), use_cache=True, logits_to_keep=1)
        first = out.logits[0, -1].float().log_softmax(-1)  # predicts every continuation's first token
        fed = len(prefix)
        tails = [list(c[:-1]) for c in continuations]  # the inputs that predict tokens 2..n
        width = max((len(t) for t in tails), default=0)
        rest = None
        if width:
            past = out.past_key_values
            past.batch_repeat_interleave(len(tails))
            ids = torch.zeros((len(tails), width), dtype=torch.long)
            for row, tail in enumerate(tails):
                ids[row, :len(tail)] = torch.tensor(tail, dtype=torch.long)
            # Right padding sits after every real token, so causal attention never lets a real token see it.
            positions = torch.arange(len(prefix), len(prefix) + width, device=device)[None].expand(len(tails), -1)
            rest = model(input_ids=ids.to(device), position_ids=positions, past_key_values=past,
                         use_cache=False).logits.float().log_softmax(-1)
            fed += len(tails) * width
        scored = []
        for row, cont in enumerate(continuations):
            if not cont:
                scored.append((0.0, True))
                continue
            logp = first[None] if len(cont) == 1 else torch.cat([first[None], rest[row, :len(cont) - 1]])
            scored.append(_gather(logp, list(cont)))
    return scored, fed


def score_separately(model: Any, prefix: Sequence[int], continuations: Sequence[Sequence[int]]
                     ) -> tuple[list[Scored], int]:
    """prefix + continuation through the model once per continuation (no reuse)."""
    import torch

    scored, fed = [], 0
    with torch.inference_mode():
        for cont in continuations:
            if not cont:
                scored.append((0.0, True))
                continue
            ids = torch.tensor([list(prefix) + list(cont)], device=model.device)
            logits = model(input_ids=ids, use_cache=False).logits[0, len(prefix) - 1:-1]
            scored.append(_gather(logits.float().log_softmax(-1), list(cont)))
            fed += ids.shape[1]
    return scored, fed
