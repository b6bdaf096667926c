"""Cost accounting: every LLM call a system makes goes through a MeteredLLM.

The runner sets the phase ("ingest" or "answer"); systems may tag calls with `agent=` so multi-agent
systems get per-agent cost. Nothing here touches the model itself.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from comam_bench.api import LLM, Chat, Generation, OptionScore
from comam_bench.llm.activity import ACTIVITY, generating
from comam_bench.llm.wrapped import WrappedLLM


@dataclass
class Cost:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, other: "Cost") -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds

    def as_dict(self) -> dict[str, Any]:
        # Per-question shares of a batched call are fractions: sums are rounded back to whole-looking numbers.
        return {"calls": round(self.calls, 3), "prompt_tokens": round(self.prompt_tokens, 3),
                "completion_tokens": round(self.completion_tokens, 3), "seconds": round(self.seconds, 4)}


@dataclass
class Meter:
    """Accumulates cost per (phase, agent); `take()` returns and clears the cost since the last take."""

    phase: str = "answer"
    totals: dict[tuple[str, str], Cost] = field(default_factory=dict)
    _pending: Cost = field(default_factory=Cost)
    _pending_agents: dict[str, Cost] = field(default_factory=dict)
    # Replies worth counting (see MeteredLLM.generate); the runner points this at Resources.diagnostics.
    counts: dict[str, int] = field(default_factory=dict)

    def record(self, agent: str, cost: Cost) -> None:
        self.totals.setdefault((self.phase, agent), Cost()).add(cost)
        self._pending.add(cost)
        self._pending_agents.setdefault(agent, Cost()).add(cost)

    def take(self) -> tuple[Cost, dict[str, Cost]]:
        pending, agents = self._pending, self._pending_agents
        self._pending, self._pending_agents = Cost(), {}
        return pending, agents

    def wrap(self, llm: LLM) -> "MeteredLLM":
        """`llm` with its calls recorded here (Resources.meter_llm: a system's own models)."""
        return MeteredLLM(llm, self)


class MeteredLLM(WrappedLLM):
    """Wraps an LLM and records calls, tokens and time into a Meter."""

    def __init__(self, inner: LLM, meter: Meter) -> None:
        super().__init__(inner)
        self.meter = meter

    def generate(self, chats: Sequence[Chat], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 seed: int | None = None, agent: str = "main", **kwargs: Any) -> list[Generation]:
        start = time.perf_counter()
        with ACTIVITY.call(generating(len(chats), agent)):
            out = self.inner.generate(chats, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                                      **kwargs)
        cost = Cost(len(chats), sum(g.prompt_tokens for g in out), sum(g.completion_tokens for g in out),
                    time.perf_counter() - start)
        self.meter.record(agent, cost)
        nulls = sum(bool(getattr(g, "null_content", False)) for g in out)
        if nulls:
            self.meter.counts["llm_null_replies"] = self.meter.counts.get("llm_null_replies", 0) + nulls
        return out

    def loglikelihood(self, chat: Chat, continuations: Sequence[str], *, agent: str = "likelihood",
                      **kwargs: Any) -> list[OptionScore]:
        """One call per chat; its prompt tokens are the chat's plus every continuation's (nothing generated)."""
        start = time.perf_counter()
        with ACTIVITY.call(f"scoring {len(continuations)} options"):
            out = self.inner.loglikelihood(chat, continuations, **kwargs)
        prompt = self.inner.count_chat_tokens(chat) + sum(s.tokens for s in out)
        self.meter.record(agent, Cost(1, prompt, 0, time.perf_counter() - start))
        return out
