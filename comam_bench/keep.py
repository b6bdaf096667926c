"""What a run keeps of each answer beyond its verdict: the memory the system answered from, and the
outputs of each agent of a multi-agent system, clipped to a size cap, in the run's `memory.jsonl`.

Kept apart from samples.jsonl so scoring, resume and the leaderboard read the same small records as
before; `comam-bench view` reads both. Every system gets this without code of its own: the memory is
`Answer.info["memory"]` where a system names it, else the prompt it sent (`Answer.prompt`) less the
question message the harness already knows. A system with several agents puts their outputs in
`Answer.info["agent_outputs"]` ({agent: text}). Both keys are taken out of `info` before the sample is
written, so samples.jsonl never carries large texts.

Rows are appended before the sample they belong to; a question answered again after a crash between the
two appends gets a second row, and readers take the last row per question (the one the sample matches).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from comam_bench.api import Answer, Question
from comam_bench.protocol import question_message

KEEP_VERSION = 1
MEMORY_FILE = "memory.jsonl"
DEFAULT_KEEP_CHARS = 8000  # per kept text: ~2k tokens, enough to see what a small model was shown
AUTO_KEEP_MAX_QUESTIONS = 1000  # runs up to this size keep memory unless told not to
KEPT_INFO_KEYS = ("memory", "agent_outputs")


def should_keep(keep_memory: bool | None, n_questions: int) -> bool:
    """--keep-memory / --no-keep-memory decide; unset, small runs keep and large ones do not."""
    return n_questions <= AUTO_KEEP_MAX_QUESTIONS if keep_memory is None else bool(keep_memory)


def clip(text: str, cap: int) -> tuple[str, int]:
    """(text within `cap` characters, characters cut): the head and the tail survive, since the start of a
    memory names its sources and the end holds the newest statements."""
    if cap <= 0 or len(text) <= cap:
        return text, 0
    marker = "\n…[{} characters cut]…\n"
    room = max(cap - len(marker.format(len(text))), 2)
    head, tail = room // 2, room - room // 2
    cut = len(text) - head - tail
    return text[:head] + marker.format(cut) + text[-tail:], cut


def _is_question(message: dict, q: Question) -> bool:
    content = message.get("content")
    return message.get("role") == "user" and content in (question_message(q), q.text)


def prompt_memory(prompt: list[dict] | None, q: Question) -> str:
    """The memory inside a prompt: every message but a final standard question message, as text."""
    if not prompt:
        return ""
    messages = prompt[:-1] if _is_question(prompt[-1], q) else list(prompt)
    if len(messages) == 1 and messages[0].get("role") == "system":
        return str(messages[0].get("content", ""))
    return "\n\n".join(f"[{m.get('role', '?')}]\n{m.get('content', '')}" for m in messages)


def kept_row(q: Question, answer: Answer, cap: int = DEFAULT_KEEP_CHARS) -> dict[str, Any]:
    """The memory.jsonl row for one answer."""
    named = answer.info.get("memory")
    memory = str(named) if named is not None else prompt_memory(answer.prompt, q)
    text, cut = clip(memory, cap)
    row: dict[str, Any] = {"version": KEEP_VERSION, "question_id": q.id,
                           "source": "info" if named is not None else "prompt",
                           "memory": text, "memory_chars": len(memory), "memory_cut": cut}
    outputs = answer.info.get("agent_outputs") or {}
    if outputs:
        row["agent_outputs"] = {}
        for agent, output in outputs.items():
            clipped, cut = clip(str(output), cap)
            row["agent_outputs"][str(agent)] = {"text": clipped, "chars": len(str(output)), "cut": cut}
    return row


def public_info(info: dict[str, Any]) -> dict[str, Any]:
    """`Answer.info` as samples.jsonl records it: without the large texts kept in memory.jsonl."""
    return {k: v for k, v in info.items() if k not in KEPT_INFO_KEYS}


def read_kept(run_dir: Path) -> dict[str, dict]:
    """question id -> its kept row (the last one written); {} when the run kept nothing.

    Read-only: a torn last line (a run killed mid-write) is skipped, not cut off."""
    path = Path(run_dir) / MEMORY_FILE
    if not path.is_file():
        return {}
    rows: dict[str, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "question_id" in row:
            rows[row["question_id"]] = row
    return rows
