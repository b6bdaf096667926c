"""Run directories of any size for the viewer tests, written in the runner's format, and a browser driver.

`write_run` makes a complete record (run.json, samples.jsonl, memory.jsonl) with a deterministic answer
pattern, so a test knows how many rows each filter must leave; `Texts` supplies PersonaMem-sized question
texts and options (128k release means: ~123-character questions, ~1,540 characters of options).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from comam_bench.api import QUESTION_TYPES, Question
from comam_bench.scores import aggregate
from comam_bench.view.load import TaskTexts

TASK = {"name": "fake-view-task", "source": "none", "size": "128k"}


def question(i: int) -> Question:
    gold = "abcd"[i % 4]
    return Question(id=f"q{i:05d}-id", type=QUESTION_TYPES[i % len(QUESTION_TYPES)], raw_type="x", topic=f"topic{i % 5}",
                    text=f"Question {i}: " + "what would the user like best here? " * 3,
                    options=tuple(f"({x}) option {x} of question {i} " + "with a long explanation " * 15 for x in "abcd"),
                    options_raw="", gold=gold, context_id=f"ctx{i % 3}", end_index=10 + i, distance_blocks=i % 4)


class Texts(TaskTexts):
    """The questions of write_run, without data files."""

    def __init__(self, n: int) -> None:
        super().__init__(None)
        self.n = n

    def _load(self, task, folder=None):
        return {q.id: q for q in map(question, range(self.n))}, {}, None


def answer_letter(i: int, system: str) -> str | None:
    """Run "a" answers every third question right; run "b" every second; every seventh names no letter."""
    q = question(i)
    if i % 7 == 6:
        return None
    right = i % 3 == 0 if system == "a" else i % 2 == 0
    return q.gold if right else "abcd"[("abcd".index(q.gold) + 1) % 4]


def write_run(root: Path, n: int, system: str = "a", memory_chars: int = 200, raw_extra: str = "",
              likelihood: bool = False) -> Path:
    """A complete run of `n` questions under root/<run id>; returns its directory. `likelihood`: recorded as
    Contract B says a likelihood run is (protocol block, option_scores and chosen per sample)."""
    run_id = f"fake--{system}--n{n}"
    d = Path(root) / run_id
    d.mkdir(parents=True)
    samples, kept = [], []
    for i in range(n):
        q, letter = question(i), answer_letter(i, system)
        raw = (f"<final_answer>({letter})" if letter else "I cannot tell.") + raw_extra
        samples.append({"question_id": q.id, "context_id": q.context_id, "type": q.type, "topic": q.topic,
                        "distance_blocks": q.distance_blocks, "end_index": q.end_index, "gold": q.gold,
                        "raw_output": raw, "extracted": letter, "correct": letter == q.gold,
                        "cost": {"calls": 1.0, "prompt_tokens": 100.0, "completion_tokens": 8.0, "seconds": 0.1},
                        "agents": {}, "info": {}, "diagnostics": {}})
        if likelihood:
            best = "abcd".index(letter or "a")
            samples[-1]["option_scores"] = [{"logprob": -1.0 - (k != best), "tokens": 4, "chars": 20, "greedy": k == best}
                                            for k in range(4)]
            samples[-1]["chosen"] = {"token": letter or "a", "char": letter or "a", "sum": letter or "a"}
        memory = (f"memory for question {i}: " + "the user said something relevant. " * (memory_chars // 34 + 1))[:memory_chars]
        kept.append({"version": 1, "question_id": q.id, "source": "prompt", "memory": memory,
                     "memory_chars": len(memory), "memory_cut": 0})
    spec = {"task": TASK, "system": {"name": system, "args": {}}, "model": "fake-model", "seed": 0}
    record = {"format_version": 1, "run_id": run_id, "status": "complete", "created": "2026-01-01T00:00:00+00:00",
              "spec": spec, "spec_hash": "f" * 64, "task": {"name": TASK["name"]}, "system": {"name": system, "args": {}},
              "model": {"spec": "fake-model"}, "scores": aggregate(samples), "git": {"commit": "0" * 40, "dirty": False},
              "cost": {"per_question": {"calls": 1.0, "prompt_tokens": 100.0, "completion_tokens": 8.0, "seconds": 0.1}}}
    if likelihood:
        record["protocol"] = {"name": "likelihood", "version": "test", "headline_norm": "token"}
    (d / "run.json").write_text(json.dumps(record))
    (d / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (d / "memory.jsonl").write_text("".join(json.dumps(k) + "\n" for k in kept))
    return d


# --------------------------------------------------------------------------- the browser
def browser():
    """A headless Chromium driven by selenium; skips, saying how to install it, when Chromium is absent."""
    from comam_bench.view import browser as chromium

    if None in chromium.chromium_paths():
        pytest.skip("Chromium is absent (no chromium/chromedriver on PATH): `apt-get install -y chromium "
                    "chromium-driver` installs it; scripts/test.sh does so where apt-get is available")
    return chromium.launch()


def close(drv) -> None:
    from comam_bench.view import browser as chromium

    chromium.quit(drv)
