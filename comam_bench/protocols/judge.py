"""An LLM judge for open-ended answers (mem0's "J" score): the judge model labels each answer CORRECT or
WRONG against the gold answer.

The number depends on the judge model and its prompt, so the record names both: the model spec (redacted)
and the sha256 of JUDGE_PROMPT. Verdicts are cached per (question, gold, answer, judge model, prompt hash)
in $COMAM_BENCH_CACHE/judge/, one JSON line each as it is made, so a resumed or repeated run judges only
what it has not judged. Category 5 (adversarial) is not judged, as in mem0's evaluation: its gold is the
adversarial answer, and its rule is the "not mentioned" phrase check the F1 already applies.
The prompt is written here in the spirit of mem0's (generous about wording and date formats).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Sequence

from comam_bench.api import Question
from comam_bench.protocols import ProtocolError

JUDGE_VERSION = "locomo-judge-v1"
JUDGE_PROMPT = (
    "You grade answers to questions about a long conversation. You get a question, the gold answer and a "
    "generated answer. Label the generated answer CORRECT if it gives the same information as the gold "
    "answer, even in other words, longer or shorter, or with a date written differently (for example "
    "\"May 7th\" for \"7 May\"); label it WRONG if it misses the gold answer, contradicts it, or names a "
    "different time period.\n\n"
    "Question: {question}\nGold answer: {gold}\nGenerated answer: {answer}\n\n"
    "Reply with one word, CORRECT or WRONG."
)
PROMPT_SHA256 = hashlib.sha256(JUDGE_PROMPT.encode()).hexdigest()
JUDGE_TOKENS = 8
_LABEL = re.compile(r"\b(CORRECT|WRONG)\b", re.IGNORECASE)


def parse_label(text: str) -> bool | None:
    """True for CORRECT, False for WRONG (the first label named), None when the reply names neither."""
    m = _LABEL.search(text or "")
    return None if m is None else m.group(1).upper() == "CORRECT"


class LLMJudge:
    """Judges predictions with one model; `llm` may be given already loaded (tests), else `spec` loads lazily."""

    def __init__(self, spec: str, llm=None, cache_dir: str | Path | None = None) -> None:
        from comam_bench.redact import redact

        self.spec, self.public_spec, self._llm = spec, redact(spec), llm
        if cache_dir is None:
            from comam_bench.data.hub import cache_root

            cache_dir = cache_root() / "judge"
        key = hashlib.sha256(f"{self.public_spec}\n{PROMPT_SHA256}".encode()).hexdigest()[:16]
        self.cache_path = Path(cache_dir) / f"{key}.jsonl"
        self.cache = self._read_cache()

    def identity(self) -> dict[str, Any]:
        """What run.json's protocol.judge says: the judge model, its prompt's hash, the judge version."""
        return {"model": self.public_spec, "prompt_sha256": PROMPT_SHA256, "version": JUDGE_VERSION}

    @property
    def llm(self):
        if self._llm is None:
            from comam_bench.llm import load_llm

            self._llm = load_llm(self.spec)
        return self._llm

    def _read_cache(self) -> dict[str, dict]:
        if not self.cache_path.exists():
            return {}
        rows = [json.loads(line) for line in self.cache_path.read_text().splitlines() if line.strip()]
        return {r["key"]: r["verdict"] for r in rows}

    def key(self, q: Question, prediction: str) -> str:
        """The cache key: question, gold, answer, judge model and prompt hash."""
        parts = [q.text, q.gold, prediction, self.public_spec, PROMPT_SHA256]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def verdicts(self, batch: Sequence[Question], predictions: Sequence[str]) -> list[dict[str, Any]]:
        """One verdict per question: {"correct": bool | None, "label": the judge's reply, "cached": bool}."""
        out: list[dict[str, Any] | None] = [None] * len(batch)
        todo = []
        for i, (q, p) in enumerate(zip(batch, predictions)):
            if q.extra.get("category") == 5:
                out[i] = {"correct": None, "label": None, "cached": False, "skipped": "category 5"}
            elif self.key(q, p) in self.cache:
                out[i] = {**self.cache[self.key(q, p)], "cached": True}
            else:
                todo.append(i)
        if todo:
            chats = [[{"role": "user", "content": JUDGE_PROMPT.format(question=batch[i].text, gold=batch[i].gold,
                                                                       answer=predictions[i])}] for i in todo]
            gens = self.llm.generate(chats, max_new_tokens=JUDGE_TOKENS, temperature=0.0, agent="judge")
            for i, g in zip(todo, gens):
                verdict = {"correct": parse_label(g.text), "label": g.text.strip()[:40]}
                self._remember(self.key(batch[i], predictions[i]), verdict)
                out[i] = {**verdict, "cached": False}
        return out  # type: ignore[return-value]

    def _remember(self, key: str, verdict: dict[str, Any]) -> None:
        self.cache[key] = verdict
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with self.cache_path.open("a") as f:
            f.write(json.dumps({"key": key, "verdict": verdict}) + "\n")


def judge_for(protocol: str, spec: str) -> LLMJudge:
    """The judge a run asked for with --judge; only the open-ended protocol has one."""
    if protocol != "open-ended":
        raise ProtocolError(f"--judge grades free-text answers; the {protocol} protocol scores letters, so it has "
                            "no judge. Leave --judge out, or run an open-ended task (locomo).")
    return LLMJudge(spec)
