"""The prompt dataset: one JSONL row per training (H, q), as OpenRLHF's PromptDataset reads it.

    {"input": <the extraction prompt, for logs>, "label": <JSON: the example>, "datasource": "comam"}

The executor ignores the rendered prompt except as the group's key: it rebuilds the example from `label`
(history H, the question, the evidence E_q) and prompts every agent itself, so OpenRLHF runs without
--data.apply_chat_template. The label is a JSON string rather than a nested object so that Arrow (which
`datasets` uses to read the file) keeps it exactly.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from comam_bench.api import Question
from comam_bench.comam.prompts import extraction_prompt
from comam_bench.training.data import Example, load_split
from comam_bench.training.recipe import Recipe

LABEL_VERSION = 1


def example_label(ex: Example) -> str:
    """The JSON the executor rebuilds an Example from (the question without its free `extra` fields)."""
    q = {k: v for k, v in dataclasses.asdict(ex.question).items() if k != "extra"}
    doc = {"v": LABEL_VERSION, "question": q, "history": ex.history, "session": ex.session,
           "evidence": list(ex.evidence), "evidence_indices": list(ex.evidence_indices), "exact": ex.exact,
           "preferences": [list(p) for p in ex.preferences]}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def example_from_label(label: str) -> Example:
    """The inverse of example_label (messages are not carried: rewards need H and E_q only)."""
    doc = json.loads(label)
    if doc.get("v") != LABEL_VERSION:
        raise ValueError(f"comam label version {doc.get('v')!r}; this code reads {LABEL_VERSION}: rewrite the "
                         f"dataset with the same comam-bench version as the cluster runs")
    q: dict[str, Any] = dict(doc["question"])
    q["options"] = tuple(q["options"])
    if q.get("evidence") is not None:
        q["evidence"] = tuple(q["evidence"])
    return Example(Question(**q), doc["history"], (), int(doc["session"]), tuple(doc["evidence"]),
                   tuple(doc["evidence_indices"]), bool(doc["exact"]),
                   tuple(tuple(p) for p in doc.get("preferences", ())))


def prompt_row(ex: Example) -> dict[str, str]:
    """One dataset row."""
    return {"input": extraction_prompt(ex.history)[0]["content"], "label": example_label(ex), "datasource": "comam"}


def load_examples(recipe: Recipe) -> tuple[list[Example], list[Example], dict[str, Any]]:
    """Train and validation examples exactly as the local backend splits them (training.data.load_split)."""
    return load_split(recipe)


def write_rows(path: Path, examples: Sequence[Example]) -> Path:
    """Write the JSONL dataset; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(prompt_row(ex), ensure_ascii=False) + "\n")
    return path
