"""The open-ended protocol (LoCoMo): the system answers in free text; F1 and BLEU-1 by LoCoMo's rules.

Asking. A question without options is asked as its text and OPEN_INSTRUCTIONS (a short answer after
<final_answer>, and the phrase to use when the conversation does not say: category 5's accepted answer).
comam_bench.protocol.question_message gives this message for such questions, so every system that builds its
answer chat from the shared helpers (memory_chat, protocol_chat) asks it unchanged.

Judging. The prediction is the text after the last <final_answer> (closing tag removed), else the whole
reply, stripped; its score is locomo_f1.category_f1 under the question's category, plus BLEU-1, plus (when
a judge model is given) the LLM judge's verdict (comam_bench.protocols.judge).

Summarising. Mean F1 with a 95% bootstrap interval that resamples conversations (the unit that varies: the
questions of one conversation share its memory), overall, per category, and over categories 1-4 (the
number many papers report); BLEU-1 means; the judge's accuracy where used.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Sequence

from comam_bench.api import Answer, MemorySystem, Question, Resources
from comam_bench.protocols import Protocol, ProtocolError
from comam_bench.protocols.locomo_f1 import bleu1, category_f1

if TYPE_CHECKING:
    from comam_bench.record import RunRecord

VERSION = "locomo-open-ended-v1"
NOT_MENTIONED = "Not mentioned in the conversation"
OPEN_INSTRUCTIONS = (
    "Answer the question from the conversation in a few words (a name, a date, a number or a short phrase) "
    "after the special token <final_answer>. If the conversation does not say, answer "
    f"<final_answer>{NOT_MENTIONED}."
)
TAG, CLOSE = "<final_answer>", "</final_answer>"
BOOTSTRAP_SAMPLES = 1000
DIGITS = 4


def is_open_ended(q: Question) -> bool:
    """A question without options is open-ended (LoCoMo); PersonaMem's always have four."""
    return not q.options


def open_question_message(q: Question) -> str:
    """The one user message an open-ended question is asked with."""
    return q.text + "\n\n" + OPEN_INSTRUCTIONS


def extract_prediction(response: str) -> str:
    """The answer part of a reply: after the last <final_answer> (closing tag dropped), else the whole reply."""
    text = response.split(TAG)[-1] if TAG in response else response
    return text.split(CLOSE)[0].strip()


def category_of(q: Question) -> int:
    """LoCoMo's numeric category of a question (recorded in Question.extra by the loader)."""
    category = q.extra.get("category")
    if category not in (1, 2, 3, 4, 5):
        raise ProtocolError(f"question {q.id!r} has no LoCoMo category (1-5); the open-ended protocol scores "
                            "LoCoMo questions only")
    return int(category)


class OpenEnded(Protocol):
    """Free-text answers scored with LoCoMo's official F1; options: judge (a model spec) and judge_cache."""

    name = "open-ended"
    version = VERSION
    open_ended = True

    def check_system(self, system_cls: type[MemorySystem]) -> None:
        if not getattr(system_cls, "open_ended", False):
            raise ProtocolError(
                f"system {system_cls.name or system_cls.__name__!r} answers multiple choice only (it does not set "
                "open_ended = True), so it cannot answer this task's open-ended questions. Pick a system that "
                "answers in free text (`comam-bench systems` lists them), or, for a plugin, build the answer chat "
                "with comam_bench.protocol.memory_chat and set open_ended = True on the class.")

    def judge(self, batch: Sequence[Question], answers: Sequence[Answer], resources: Resources) -> list[dict]:
        rows = [score_answer(q, a.text) for q, a in zip(batch, answers)]
        judge = self.options.get("judge")
        if judge is not None:
            for row, verdict in zip(rows, judge.verdicts(batch, [r["prediction"] for r in rows])):
                row["judge"] = verdict
        return rows

    def summarise(self, samples: list[dict]) -> dict[str, Any]:
        return summarise(samples)

    def record(self) -> dict[str, Any]:
        judge = self.options.get("judge")
        return {"name": self.name, "version": self.version, "headline": "f1",
                "judge": judge.identity() if judge is not None else None}


def score_answer(q: Question, text: str) -> dict[str, Any]:
    """One sample's fields: the prediction read from the reply, its category, F1 and BLEU-1."""
    category = category_of(q)
    prediction = extract_prediction(text)
    return {"prediction": prediction, "category": category,
            "answer_stage": "final_answer" if TAG in text else "whole_response",
            "f1": round(category_f1(prediction, q.gold, category), DIGITS),
            "bleu1": round(bleu1(prediction, q.gold), DIGITS) if category != 5 else None}


# --------------------------------------------------------------------------- summaries
def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), DIGITS) if values else 0.0


def bootstrap_ci(samples: list[dict], key: str = "f1", draws: int = BOOTSTRAP_SAMPLES,
                 seed: int = 0) -> list[float]:
    """95% percentile interval of the mean of `key`, resampling conversations (context_id) with replacement.

    Seeded, so the same samples always give the same record. One conversation gives [mean, mean]: there
    is no variation between conversations to measure."""
    groups: dict[str, list[float]] = {}
    for s in samples:
        if s.get(key) is not None:
            groups.setdefault(s["context_id"], []).append(float(s[key]))
    if not groups:
        return [0.0, 0.0]
    sums = [(sum(v), len(v)) for v in groups.values()]
    rng = random.Random(seed)
    means = []
    for _ in range(draws):
        pick = [sums[rng.randrange(len(sums))] for _ in sums]
        means.append(sum(t for t, _ in pick) / sum(n for _, n in pick))
    means.sort()
    return [round(means[int(0.025 * draws)], DIGITS), round(means[min(int(0.975 * draws), draws - 1)], DIGITS)]


def _bucket(samples: list[dict]) -> dict[str, Any]:
    bleu = [s["bleu1"] for s in samples if s.get("bleu1") is not None]
    out = {"n": len(samples), "f1": _mean([s["f1"] for s in samples]), "ci95": bootstrap_ci(samples),
           "bleu1": _mean(bleu) if bleu else None}
    judged = [s["judge"]["correct"] for s in samples if isinstance(s.get("judge"), dict)
              and s["judge"].get("correct") is not None]
    if judged:
        out["judge"] = {"n": len(judged), "accuracy": _mean([float(j) for j in judged])}
    return out


def summarise(samples: list[dict]) -> dict[str, Any]:
    """run.json's "scores" for an open-ended run (see the module docstring)."""
    from comam_bench.data.locomo import CATEGORIES

    by_category = {}
    for number, name in CATEGORIES.items():
        chosen = [s for s in samples if s.get("category") == number]
        if chosen:
            by_category[name] = {"category": number, **_bucket(chosen)}
    answerable = [s for s in samples if s.get("category") in (1, 2, 3, 4)]
    return {"overall": _bucket(samples), "categories_1_4": _bucket(answerable),
            "by_category": by_category, "n_contexts": len({s["context_id"] for s in samples})}


def summary_lines(record: RunRecord) -> list[str]:
    """The terminal summary of an open-ended run (a comam_bench.record.RunRecord): F1 with its interval,
    BLEU-1, judge, per category."""
    s, c = record.scores.raw, record.cost.per_question
    o, judge = s["overall"], record.protocol.judge
    lines = [f"{record.system.name} on {record.task.name} (open-ended): F1 {o['f1']:.3f} (95% CI "
             f"{o['ci95'][0]:.3f}-{o['ci95'][1]:.3f}, bootstrap over {s['n_contexts']} conversations) over "
             f"{o['n']} questions; categories 1-4 F1 {s['categories_1_4']['f1']:.3f}; "
             f"skipped rows: {record.skipped_count}"]
    if o.get("judge"):
        lines.append(f"judge {judge['model']} (prompt {judge['prompt_sha256'][:12]}): accuracy "
                     f"{o['judge']['accuracy']:.3f} over {o['judge']['n']}")
    lines.append(f"per question: {c['calls']} LLM calls, {c['prompt_tokens']} prompt + {c['completion_tokens']} "
                 f"generated tokens, {c['seconds']} s")
    for name, b in s["by_category"].items():
        lines.append(f"  {b['category']} {name:12s} F1 {b['f1']:.3f}  (n={b['n']})")
    return lines
