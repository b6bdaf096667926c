"""Helpers every memory system shares: answering from a memory text under the standard prompt (fitted to the
window with comam_bench.budget). Systems differ in memory only; the answer prompt and extraction are shared.
"""
from __future__ import annotations

from typing import Any, Sequence

from comam_bench.api import Answer, Chat, MemorySystem, Message, Question
from comam_bench.args import accepted
from comam_bench.budget import fit_tail
from comam_bench.protocol import as_likelihood_chat, memory_chat, question_message

DEFAULT_ANSWER_TOKENS = 64


def render_messages(messages: Sequence[Message]) -> str:
    """Messages as plain text, one per line, with their roles (the form most memories store)."""
    return "\n".join(f"{m.role}: {m.content}" for m in messages)


def recorded_args(system: MemorySystem) -> dict[str, Any]:
    """Every constructor argument of `system` as it took effect (defaults resolved): what config() records."""
    return {name: getattr(system, name) for name in accepted(type(system))}


def answer_budget(llm, question: Question, max_new_tokens: int, reserve: int = 64) -> int:
    """Tokens left for memory once the question, the answer and template overhead are accounted for."""
    return llm.context_window - llm.count_tokens(question_message(question)) - max_new_tokens - reserve


class AnswersFromMemory(MemorySystem):
    """Base for systems whose answer step is: memory text per question -> standard chat -> LLM.

    Subclasses implement `memory_for(question) -> str`; batching, budgets and cost tags are shared.
    Under the likelihood protocol the same `answer` runs (so a subclass's own preparation around
    `super().answer` still happens) but generates nothing: each chat is returned in its likelihood form.
    """

    answer_tokens: int = DEFAULT_ANSWER_TOKENS
    open_ended = True  # the shared answer chat asks an open-ended question as one (protocol.question_message)
    _scoring_only = False  # True while likelihood_answer runs

    def memory_for(self, question: Question) -> str:
        raise NotImplementedError

    def build_chat(self, question: Question) -> Chat:
        memory = self.memory_for(question)
        budget = answer_budget(self.llm, question, self.answer_tokens)
        if memory and self.llm.count_tokens(memory) > budget:
            lines, _ = fit_tail(self.llm, memory.split("\n"), max(budget, 0))
            memory = "\n".join(lines)
            self.resources.count("memory_truncated_to_window")
        return memory_chat(memory, question)

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        chats = [self.build_chat(q) for q in questions]
        if self._scoring_only:
            return [Answer("", as_likelihood_chat(chat, q)) for chat, q in zip(chats, questions)]
        gens = self.llm.generate(chats, max_new_tokens=self.answer_tokens, seed=self.resources.seed, agent="answer")
        return [Answer(g.text, chat) for g, chat in zip(gens, chats)]

    def likelihood_answer(self, questions: Sequence[Question]) -> list[Answer]:
        """The chats `answer` would send, in their likelihood form (question text only), nothing generated."""
        self._scoring_only = True
        try:
            return self.answer(questions)
        finally:
            self._scoring_only = False
