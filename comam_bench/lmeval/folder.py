"""What both lm-eval exports (multiple-choice PersonaMem, export.py; open-ended LoCoMo, open_export.py) write
into a task folder: the used contexts, JSONL rows, the window each question's history was cut to and its
description. Its own module so that neither export imports the other (no import cycle).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from comam_bench.api import Message, Question, TaskData
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS

MODEL_NAME = "comam-bench"  # the name the lm-eval model registers under (`lm_eval --model comam-bench`)
EXPORT_VERSION = "comam-bench-lm-eval-v1"


def window_starts(llm, data: TaskData, questions: Sequence[Question],
                  answer_tokens: int = DEFAULT_ANSWER_TOKENS) -> dict[str, int]:
    """Per question id, the first history message full-context keeps under `llm`'s window (0: all fit)."""
    from comam_bench.systems.sanity import window_start

    sizes: dict[str, list[int]] = {}
    starts = {}
    for q in questions:
        if q.context_id not in sizes:  # tokens counted once per context, not once per question
            sizes[q.context_id] = [llm.count_tokens(m.content) + 4 for m in data.contexts[q.context_id]]
        starts[q.id] = window_start(llm, sizes[q.context_id][:q.end_index], q, answer_tokens)
    return starts


def used_contexts(contexts: dict[str, list[Message]], questions: Sequence[Question]) -> list[dict[str, Any]]:
    ends: dict[str, int] = {}
    for q in questions:
        ends[q.context_id] = max(ends.get(q.context_id, 0), q.end_index)
    return [{"context_id": cid, "messages": [{"role": m.role, "content": m.content} for m in contexts[cid][:end]]}
            for cid, end in ends.items()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def window_note(llm, answer_tokens: int, questions: Sequence[Question], starts: dict[str, int]) -> dict[str, Any]:
    truncated = sum(1 for q in questions if starts[q.id])
    if llm is None:
        return {"model": None, "tokens": None, "truncated_questions": 0}
    return {"model": llm.spec, "tokens": llm.context_window, "answer_tokens": answer_tokens,
            "truncated_questions": truncated, "truncated_messages": sum(starts.values())}


def description(window: dict[str, Any]) -> str:
    """How the history was fitted to the window, in words (the task's stated truncation)."""
    if window["model"] is None:
        return "The whole history before each question is kept (exported without a model window: no truncation)."
    return (f"History longer than the window of {window['model']} ({window['tokens']} tokens, "
            f"{window['answer_tokens']} kept for the answer) is truncated from the oldest end, whole messages "
            "at a time, exactly as comam-bench's full-context system does; "
            f"{window['truncated_questions']} questions lost {window['truncated_messages']} messages. "
            "Re-export with --model for another model's window.")
