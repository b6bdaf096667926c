"""PersonaMem's two multiple-choice protocols as Protocol objects.

They delegate to comam_bench.protocol (asking, letter extraction), comam_bench.likelihood (option scoring)
and comam_bench.scores (accuracy), exactly as the runner did before the seam, so records are unchanged.
"""
from __future__ import annotations

from typing import Any, Sequence

from comam_bench.api import Answer, MemorySystem, Question, Resources
from comam_bench.protocol import LIKELIHOOD_VERSION, PROTOCOL_VERSION, judge_answer, protocol_record
from comam_bench.protocols import Protocol, ProtocolError


class Discriminative(Protocol):
    """The question with its options; the system writes a letter, which is extracted and compared."""

    name = "discriminative"
    version = PROTOCOL_VERSION

    def check_system(self, system_cls: type[MemorySystem]) -> None:
        if not getattr(system_cls, "multiple_choice", True):
            raise ProtocolError(f"system {system_cls.name or system_cls.__name__!r} answers open-ended questions "
                                "only (multiple_choice = False), so it cannot run on a multiple-choice task")

    def judge(self, batch: Sequence[Question], answers: Sequence[Answer], resources: Resources) -> list[dict]:
        return [_judged(a.text, q.gold) for q, a in zip(batch, answers)]

    def summarise(self, samples: list[dict]) -> dict[str, Any]:
        from comam_bench.scores import aggregate

        return aggregate(samples)

    def record(self) -> dict[str, Any]:
        return protocol_record(self.name)


class Likelihood(Discriminative):
    """The question alone; each option's text is scored as the reply and the best normalised one is chosen."""

    name = "likelihood"
    version = LIKELIHOOD_VERSION

    def check_system(self, system_cls: type[MemorySystem]) -> None:
        super().check_system(system_cls)
        from comam_bench.likelihood import LikelihoodError, check_system

        try:
            check_system(system_cls)
        except LikelihoodError as exc:
            raise ProtocolError(str(exc)) from None

    def answers(self, system: MemorySystem, batch: Sequence[Question]) -> list[Answer]:
        from comam_bench.likelihood import system_answers

        return system_answers(system, batch)

    def judge(self, batch: Sequence[Question], answers: Sequence[Answer], resources: Resources) -> list[dict]:
        from comam_bench.likelihood import LikelihoodError, sample_fields, score_answers

        try:
            scores = score_answers(resources.llm, batch, answers)
        except LikelihoodError as exc:
            raise ProtocolError(str(exc)) from None
        return [sample_fields(q, a, s) for q, a, s in zip(batch, answers, scores)]

    def extra_scores(self, samples: list[dict]) -> dict[str, Any]:
        from comam_bench.likelihood import scores_by_norm

        return {"scores_by_norm": scores_by_norm(samples)}


def _judged(text: str, gold: str) -> dict[str, Any]:
    """extracted / correct / answer_stage of a sample: `extracted` is the letter of the stage that decided."""
    verdict = judge_answer(text, gold)
    return {"extracted": verdict["extracted"], "correct": verdict["correct"], "answer_stage": verdict["stage"]}
