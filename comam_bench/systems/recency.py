"""Recency: the newest stretch of the history, as many tokens as fit (or `tokens=` of them).

The cheapest memory there is, and the baseline that any retrieval must beat: PersonaMem asks many
questions about the latest preferences, which sit near the end. The memory is the last N tokens of the
rendered messages ("role: content", one line each): whole newest messages while they fit, then the tail
of the next older message to fill what is left. Each line costs count(line) + 1 (its newline), the
accounting of base.fit_tail.
"""
from __future__ import annotations

from typing import Any, Sequence

from comam_bench.api import Message, Question, Resources
from comam_bench.budget import tail_within
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS, AnswersFromMemory, answer_budget, recorded_args

HEADER_RESERVE = 16  # tokens for memory_chat's header line above the memory


class Recency(AnswersFromMemory):
    name = "recency"
    description = "the last N tokens of the history (default: as many as fit the model window)"

    def __init__(self, resources: Resources, tokens: int | None = None,
                 answer_tokens: int = DEFAULT_ANSWER_TOKENS, **kwargs: Any) -> None:
        """`tokens=None` fills the answer budget; an explicit value is still capped by that budget."""
        super().__init__(resources, **kwargs)
        self.tokens = tokens
        self.answer_tokens = answer_tokens
        self.reset("")

    def reset(self, context_id: str) -> None:
        self.lines: list[str] = []
        self.sizes: list[int] = []  # count(line) + 1, measured once at ingest

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        if start != len(self.lines):
            self.resources.count("recency_ingest_gap")
        for m in messages:
            role, content = getattr(m, "role", None), getattr(m, "content", None)
            if not isinstance(role, str) or not isinstance(content, str):
                self.resources.count("recency_bad_message")
                role, content = str(role or "unknown"), "" if content is None else str(content)
            line = f"{role}: {content}"  # the form of base.render_messages
            self.lines.append(line)
            self.sizes.append(self.llm.count_tokens(line) + 1)

    def budget(self, question: Question) -> int:
        """Tokens of history to keep for this question."""
        window = answer_budget(self.llm, question, self.answer_tokens) - HEADER_RESERVE
        if self.tokens is None:
            return max(window, 0)
        if self.tokens > window:
            self.resources.count("recency_clipped_to_window")
        return max(min(self.tokens, window), 0)

    def newest(self, budget: int) -> list[str]:
        """The newest lines within `budget` tokens; the oldest kept line may be the tail of a message."""
        kept: list[str] = []
        used = 0
        for line, size in zip(reversed(self.lines), reversed(self.sizes)):
            if used + size > budget:
                tail = tail_within(line, budget - used - 1, self.llm.count_tokens) if budget - used > 1 else ""
                if tail:
                    kept.append(tail)
                break
            kept.append(line)
            used += size
        return kept[::-1]

    def memory_for(self, question: Question) -> str:
        return "\n".join(self.newest(self.budget(question)))

    def memory_stats(self) -> dict[str, int]:
        return {"items": len(self.lines), "tokens": sum(self.sizes)}

    def config(self) -> dict[str, Any]:
        return recorded_args(self)
