"""Sanity systems: they bound what memory can add and expose answer leakage in the options."""
from __future__ import annotations

from typing import Any, Sequence

from comam_bench.api import Answer, Message, Question, Resources
from comam_bench.protocol import protocol_chat, question_message
from comam_bench.protocols.open_ended import NOT_MENTIONED
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS, AnswersFromMemory, recorded_args, render_messages


class _Prefix(AnswersFromMemory):
    """Keeps the context prefix as is (ingestion costs nothing)."""

    def __init__(self, resources: Resources, answer_tokens: int = DEFAULT_ANSWER_TOKENS, **kwargs: Any) -> None:
        super().__init__(resources, **kwargs)
        self.answer_tokens = answer_tokens
        self.messages: list[Message] = []

    def reset(self, context_id: str) -> None:
        self.messages = []

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        self.messages.extend(messages)

    def memory_stats(self) -> dict[str, int]:
        return {"items": len(self.messages)}

    def config(self) -> dict[str, Any]:
        return recorded_args(self)


class NoMemory(_Prefix):
    name = "no-memory"
    description = "question and options only; measures answer leakage"

    def memory_for(self, question: Question) -> str:
        return ""


class FullContext(_Prefix):
    name = "full-context"
    description = "the history prefix, truncated from the oldest end to the model window (PersonaMem's protocol)"

    def build_chat(self, question: Question):
        """PersonaMem's exact messages; drop the oldest messages until the chat fits the window."""
        sizes = [self.llm.count_tokens(m.content) + 4 for m in self.messages]
        start = window_start(self.llm, sizes, question, self.answer_tokens)
        if start:
            self.resources.count("context_truncated_questions")
            self.resources.count("context_truncated_messages", start)
        return protocol_chat(self.messages[start:], question)


def window_start(llm, sizes: Sequence[int], question: Question, answer_tokens: int = DEFAULT_ANSWER_TOKENS) -> int:
    """Index of the oldest history message kept when messages are dropped from the oldest end until the
    chat fits the model window (`sizes`: each message's tokens + 4). Full context's rule; lm-eval export
    uses it too, so both truncate alike."""
    limit = llm.context_window - answer_tokens - 16
    total = sum(sizes) + llm.count_tokens(question_message(question)) + 8
    start = 0
    while total > limit and start < len(sizes):
        total -= sizes[start]
        start += 1
    return start


class OracleEvidence(_Prefix):
    name = "oracle-evidence"
    description = "only the gold evidence messages, where known (upper bound for retrieval)"
    needs_evidence = True

    def memory_for(self, question: Question) -> str:
        if question.evidence is None:
            self.resources.count("no_evidence_known")
            return ""
        picked = [self.messages[i] for i in question.evidence if 0 <= i < len(self.messages)]
        return render_messages(picked)


class LongestOption(_Prefix):
    name = "longest-option"
    description = "picks the longest option; no LLM (option-only leakage baseline)"
    needs_llm = False
    open_ended = False  # it picks an option: an open-ended question has none

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        """Option-only: the history is never read, so nothing is kept."""

    def memory_stats(self) -> dict[str, int]:
        return {}

    def pick(self, question: Question) -> int:
        lengths = [len(o) for o in question.options]
        return max(range(len(lengths)), key=lambda i: (lengths[i], -i))

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        letters = "abcd"
        return [Answer(f"<final_answer>({letters[self.pick(q)]})") for q in questions]


class LongestOptionSNI(LongestOption):
    name = "longest-option-sni"
    description = "longest option, except the shortest for suggest_new_ideas; no LLM (option-only leakage)"

    def pick(self, question: Question) -> int:
        if question.type != "suggest_new_ideas":
            return super().pick(question)
        lengths = [len(o) for o in question.options]
        return min(range(len(lengths)), key=lambda i: (lengths[i], i))


class NotMentioned(_Prefix):
    """The open-ended floor for LoCoMo's category 5: always says the conversation does not say."""

    name = "not-mentioned"
    description = "answers 'Not mentioned in the conversation' to everything; no LLM (LoCoMo's category-5 floor)"
    needs_llm = False
    multiple_choice = False  # it never names an option

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        """Nothing is read: the answer never depends on the history."""

    def memory_stats(self) -> dict[str, int]:
        return {}

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        return [Answer(f"<final_answer>{NOT_MENTIONED}") for _ in questions]
