"""A label-free format warm start of the retrieval agent (recipe train.warm_start_steps), before RL.

A 135M model never wrote the paper's reply format (one <information> in 2,160 cpu-t03 trajectories). The
warm start teaches the format and nothing about the answer: supervised steps on the retrieval adapter
whose target, after the retrieval prompt, is the training question's gold evidence closed by
</information> (the structured format writes the opening tag, so that is where the target starts; the
paper form gets the tag in its target). The memory in the prompt is the raw evidence session, so no other
agent runs. No answer letter is ever a target, and only training-split examples are used, so the
validation sessions stay unseen. The steps' time is logged (time/warm_start): its CPU cost is counted
with the run's.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from comam_bench.comam.memory import Entry, Memory
from comam_bench.comam.prompts import INFORMATION_TAG
from comam_bench.comam.states import RetrievalState
from comam_bench.training.data import Example
from comam_bench.training.update import completion_logprobs


@dataclass
class Target:
    """One supervised sequence: the prompt as the policy sees it, and the tokens it should write."""

    prompt_ids: list[int]
    completion_ids: list[int]


def format_targets(pipeline: Any, tokenizer_llm: Any, examples: Sequence[Example]) -> list[Target]:
    """The retrieval prompt over the raw session, and "<gold evidence></information>" as the target."""
    structured = pipeline.settings.retrieval_format == "structured"
    prefix = f"<{INFORMATION_TAG}>" if structured else None
    out = []
    for ex in examples:
        state = RetrievalState(Memory().with_entry(Entry(ex.session, ex.history)), ex.question)
        chat, _ = pipeline.prompt_for("retrieval", state)
        text = "\n".join(ex.evidence) + f"</{INFORMATION_TAG}>"
        if not structured:
            text = f"<{INFORMATION_TAG}>" + text
        ids = tokenizer_llm.tokenizer(text, add_special_tokens=False)["input_ids"]
        out.append(Target(tokenizer_llm._prompt_ids(chat, len(ids), prefix), list(ids)))
    return out


def warm_start(policies: Any, pipeline: Any, examples: Sequence[Example], steps: int, batch: int, lr: float,
               seed: int) -> list[dict[str, float]]:
    """`steps` steps of mean token cross-entropy on the retrieval adapter; one metrics row per step."""
    base = policies.base_of("retrieval")
    adapter = policies.adapter_of["retrieval"]
    targets = format_targets(pipeline, base.base, examples)
    params = base.parameters(adapter)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)  # its own: RL's optimizer state stays fresh
    order = random.Random(f"{seed}/warm-start").sample(range(len(targets)), len(targets))
    rows = []
    base.model.train()
    for step in range(steps):
        t0 = time.perf_counter()
        chosen = [targets[order[(step * batch + k) % len(order)]] for k in range(batch)]
        with base.active(adapter):
            logp, mask = completion_logprobs(base.model, chosen, base.pad_id)
        loss = -(logp * mask).sum() / mask.sum().clamp(min=1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        rows.append({"kind": "warm_start", "warm_step": step + 1, "loss": float(loss.item()),
                     "tokens": float(mask.sum().item()), "time/warm_start": time.perf_counter() - t0})
    base.model.eval()
    return rows
