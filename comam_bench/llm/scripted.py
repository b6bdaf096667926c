"""A scripted LLM double for unit tests of a system's logic: fixed outputs, no model.

Responses come from a callable (chat -> text), a list consumed in order, or a constant. Tokens are
counted as whitespace-separated words, so budget logic is testable by hand. Continuation scores
(`loglikelihood`) come from `scores`: a callable (chat, continuation) -> log-probability, or a dict
continuation -> log-probability; without it every token scores -1.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from comam_bench.api import LLM, Chat, Generation, OptionScore


class ScriptedLLM(LLM):
    """Returns scripted text; records every chat it was sent in `self.calls`, and (agent, number of chats)
    of every generate() call in `self.batches` (so tests can check what a system batches).

    A scripted response is what follows a `prefix`; with `stop=` it is cut after the first stop string,
    as a real backend stops there."""

    supports_prefix = True

    def __init__(self, responses: Callable[[Chat], str] | Sequence[str] | str = "<final_answer>(a)",
                 context_window: int = 4096, spec: str = "scripted",
                 scores: Callable[[Chat, str], float] | dict[str, float] | None = None) -> None:
        self.responses = responses
        self.scores = scores
        self.scored: list[tuple[Chat, list[str]]] = []  # every loglikelihood call: (chat, continuations)
        self.context_window = context_window
        self.spec = spec
        self.calls: list[tuple[Chat, dict[str, Any]]] = []
        self.batches: list[tuple[str | None, int]] = []
        self._next = 0

    def _respond(self, chat: Chat) -> str:
        if callable(self.responses):
            return self.responses(chat)
        if isinstance(self.responses, str):
            return self.responses
        if self._next >= len(self.responses):
            raise AssertionError(f"ScriptedLLM ran out of responses after {self._next} calls")
        text = self.responses[self._next]
        self._next += 1
        return text

    def generate(self, chats: Sequence[Chat], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> list[Generation]:
        self.batches.append((kwargs.get("agent"), len(chats)))
        out = []
        for chat in chats:
            self.calls.append((chat, {"max_new_tokens": max_new_tokens, "temperature": temperature, **kwargs}))
            text = _cut_at(self._respond(chat), kwargs.get("stop") or ())
            out.append(Generation(text, self.count_chat_tokens(chat), self.count_tokens(text)))
        return out

    def loglikelihood(self, chat: Chat, continuations: Sequence[str], **kwargs: Any) -> list[OptionScore]:
        """Scripted scores; `greedy` is True for the best-scoring continuation only."""
        self.scored.append((chat, list(continuations)))
        values = [self._score(chat, c) for c in continuations]
        best = max(values, default=0.0)
        return [OptionScore(float(v), self.count_tokens(c), len(c), v == best) for v, c in zip(values, continuations)]

    def _score(self, chat: Chat, continuation: str) -> float:
        if callable(self.scores):
            return self.scores(chat, continuation)
        if isinstance(self.scores, dict):
            return self.scores[continuation]
        return -float(self.count_tokens(continuation))

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def _cut_at(text: str, stops) -> str:
    """`text` up to and including the earliest stop string it holds."""
    ends = [text.find(s) + len(s) for s in stops if s in text]
    return text[:min(ends)] if ends else text
