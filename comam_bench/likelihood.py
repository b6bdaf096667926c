"""The likelihood protocol inside a run: ask the system for its chats, score the options, record choices.

The system only says what it would answer from (MemorySystem.likelihood_answer); the harness scores the
four option texts after that chat with the run's model and picks, per normalisation, the best one
(protocol.choose). A system without a model (an option-only heuristic) chooses by itself: its letter is
read with the discriminative rule and stands for every normalisation, and its lines carry no option scores.
"""
from __future__ import annotations

from typing import Any, Sequence

from comam_bench.api import LLM, Answer, MemorySystem, OptionScore, Question
from comam_bench.protocol import (HEADLINE_NORM, NORMS, choose, extract_answer, is_correct,
                                  option_continuations)
from comam_bench.errors import ComamBenchError


class LikelihoodError(ComamBenchError):
    """A system or model that cannot run under the likelihood protocol; the message says what to do."""


def check_system(cls: type[MemorySystem]) -> None:
    """Refuse, before anything runs, a system that needs a model but has no likelihood hook."""
    if cls.needs_llm and cls.likelihood_answer is MemorySystem.likelihood_answer:
        raise LikelihoodError(
            f"system {cls.name or cls.__name__!r} cannot run under the likelihood protocol: it does not implement "
            "likelihood_answer(questions). Subclass comam_bench.systems.base.AnswersFromMemory (which implements "
            "it), or return Answer(text, prompt=protocol.memory_likelihood_chat(memory, q)) per question; "
            "or run it with --protocol discriminative.")


def system_answers(system: MemorySystem, questions: Sequence[Question]) -> list[Answer]:
    """The system's answers under this protocol: the likelihood hook, or `answer` for a model-free system."""
    return system.likelihood_answer(questions) if type(system).needs_llm else system.answer(questions)


def score_answers(llm: LLM | None, questions: Sequence[Question], answers: Sequence[Answer]
                  ) -> list[list[OptionScore] | None]:
    """Each question's four option scores after its answer's chat (None for a model-free system)."""
    if llm is None:
        return [None] * len(questions)
    out = []
    for q, a in zip(questions, answers):
        if not a.prompt:
            raise LikelihoodError(f"the system returned no chat to score for question {q.id!r}: "
                                  "likelihood_answer must set Answer.prompt")
        try:
            scores = llm.loglikelihood(a.prompt, option_continuations(q), agent="likelihood")
        except NotImplementedError as exc:
            raise LikelihoodError(str(exc)) from None
        out.append(scores)
    return out


def sample_fields(q: Question, answer: Answer, scores: list[OptionScore] | None) -> dict[str, Any]:
    """What a likelihood line of samples.jsonl adds to (or sets in) the discriminative fields."""
    if scores is None:
        letter = extract_answer(answer.text)
        return {"extracted": letter, "correct": is_correct(answer.text, q.gold),
                "option_scores": None, "chosen": {norm: letter for norm in NORMS}}
    chosen = {norm: choose(scores, norm) for norm in NORMS}
    return {"extracted": chosen[HEADLINE_NORM], "correct": chosen[HEADLINE_NORM] == q.gold,
            "option_scores": [s.as_dict() for s in scores], "chosen": chosen}


def scores_by_norm(samples: Sequence[dict]) -> dict[str, dict]:
    """The record's `scores` once per normalisation (the headline one equals `scores`)."""
    from comam_bench.scores import aggregate

    out = {}
    for norm in NORMS:
        rows = [{**s, "correct": (s.get("chosen") or {}).get(norm) == s.get("gold")} for s in samples]
        out[norm] = aggregate(rows)
    return out
