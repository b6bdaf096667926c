"""Reading LoCoMo (Maharana et al., ACL 2024): long two-person conversations with open-ended questions.

The released file (`locomo10.json`, CC BY-NC 4.0) is never shipped: users pass `--data-dir` holding it.
How a conversation becomes the harness's shared context (one list of api.Message per conversation):

- Every turn of every session, in session order, is one message. `speaker_a` is the "user" role and
  `speaker_b` the "assistant" role (memory systems built for a user and an assistant then store both
  people), and the content names the speaker and the session's date-time, e.g.
  "[1:56 pm on 8 May, 2023] Ann: I moved to a new flat.": the role alone would lose who spoke, and a
  temporal question needs the date on the turn a retriever finds, not only on the session's first turn.
- A turn that shares an image is its text followed by "[shares a photo: <blip_caption>]" (the caption
  the release gives; the image itself is never fetched).
- Every question is asked after the last session (end index = the whole context): LoCoMo has no
  per-question position.
- Gold evidence: each question's `evidence` dialogue ids ("D3:7" = session 3, turn 7) become message
  indices (Question.evidence) for the oracle system and for training rewards. Ids with small slips in
  the release ("D:11:26", "D30:05", several ids in one string) are read leniently; ids that name no turn
  are dropped and counted in the task info.

Standard library only. Categories follow the official task_eval/evaluation.py mapping (CATEGORIES).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comam_bench.api import BadRow, Message, Question, TaskData
from comam_bench.data.personamem import DataError, sha256_file

# The official evaluation code's mapping (task_eval/evaluation.py, CATEGORY_MAPPING); later papers swap
# some names, so the numeric id is recorded beside the name.
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
ROLES = ("user", "assistant")  # speaker_a, speaker_b
DEFAULT_FILE = "locomo10.json"
_SESSION = re.compile(r"session_(\d+)")
_DIA_ID = re.compile(r"D:?(\d+):0*(\d+)")
HOW_TO_GET = ("LoCoMo is not downloaded for you (its license is CC BY-NC 4.0): take data/locomo10.json from "
              "https://github.com/snap-research/LoCoMo and pass the folder holding it with --data-dir")


@dataclass
class Conversation:
    """One conversation as the harness uses it: messages, dia_id -> message index, speakers, sessions."""

    sample_id: str
    messages: list[Message]
    index: dict[str, int]
    speakers: tuple[str, str]
    sessions: int
    images: int = 0
    problems: list[str] = field(default_factory=list)


def locate_file(spec: dict[str, Any], data_dir: str | Path | None) -> Path:
    """The LoCoMo JSON file of a task spec inside `data_dir` (a file path is taken as the file itself)."""
    if data_dir is None:
        raise DataError(f"task {spec.get('name')!r} needs --data-dir. {HOW_TO_GET}.")
    path = Path(data_dir)
    name = (spec.get("files") or {}).get("data", DEFAULT_FILE)
    path = path if path.is_file() else path / name
    if not path.is_file():
        raise DataError(f"{path} does not exist. {HOW_TO_GET}.")
    return path


def read_file(path: Path) -> list[dict[str, Any]]:
    """The release's list of conversation samples; DataError when it is not that."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not readable JSON ({exc}); is it LoCoMo's locomo10.json?") from None
    if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
        raise DataError(f"{path}: LoCoMo's file is a JSON list of conversation objects; this is not one")
    return data


def turn_text(turn: dict[str, Any]) -> str:
    """A turn's text, with an image turn's caption after it (the only form a text model can read)."""
    text = str(turn.get("text") or "").strip()
    caption = str(turn.get("blip_caption") or "").strip()
    if caption:
        text = f"{text} [shares a photo: {caption}]".strip()
    return text


def session_numbers(conv: dict[str, Any]) -> list[int]:
    """The numbers of the sessions that hold turns, in order."""
    found = (_SESSION.fullmatch(k) for k in conv)
    return sorted(int(m.group(1)) for m in found if m and isinstance(conv[m.group(0)], list))


def build_conversation(sample: dict[str, Any]) -> Conversation:
    """Messages of one sample (see the module docstring); problems are listed, never raised."""
    sid = str(sample.get("sample_id") or "?")
    conv = sample.get("conversation")
    if not isinstance(conv, dict):
        raise DataError(f"conversation {sid}: no 'conversation' object")
    speakers = (str(conv.get("speaker_a") or ""), str(conv.get("speaker_b") or ""))
    if not all(speakers):
        raise DataError(f"conversation {sid}: 'speaker_a' and 'speaker_b' must both be named")
    out = Conversation(sid, [], {}, speakers, 0)
    for n in session_numbers(conv):
        when = str(conv.get(f"session_{n}_date_time") or "").strip()
        if not when:
            out.problems.append(f"session {n} has no date-time")
        out.sessions += 1
        for turn in conv[f"session_{n}"]:
            _add_turn(out, turn, when)
    return out


def _add_turn(out: Conversation, turn: Any, when: str) -> None:
    speaker = str(turn.get("speaker") or "") if isinstance(turn, dict) else ""
    if speaker not in out.speakers:
        out.problems.append(f"a turn by {speaker or 'nobody'!r}, not one of the two speakers: skipped")
        return
    text = turn_text(turn)
    out.images += bool(turn.get("blip_caption"))
    stamp = f"[{when}] " if when else ""
    out.index[_dia_key(str(turn.get("dia_id") or ""))] = len(out.messages)
    out.messages.append(Message(ROLES[out.speakers.index(speaker)], f"{stamp}{speaker}: {text}"))


def _dia_key(dia_id: str) -> str:
    m = _DIA_ID.fullmatch(dia_id.strip())
    return f"D{int(m.group(1))}:{int(m.group(2))}" if m else dia_id.strip()


def evidence_ids(raw: Any) -> list[str]:
    """The dialogue ids a question's `evidence` names (entries holding several ids are split)."""
    items = raw if isinstance(raw, list) else []
    return [_dia_key(part) for item in items for part in re.split(r"[;,\s]+", str(item)) if part.strip()]


def gold_answer(qa: dict[str, Any]) -> str | None:
    """The gold answer as text: `answer`, else (category 5) `adversarial_answer`; None when neither."""
    for key in ("answer", "adversarial_answer"):
        if qa.get(key) is not None and str(qa[key]).strip():
            return str(qa[key]).strip()
    return None


def build_question(conv: Conversation, number: int, qa: Any) -> tuple[Question | None, str | None, int]:
    """(question, None, unresolved evidence ids) or (None, why it is skipped, 0)."""
    if not isinstance(qa, dict):
        return None, "not an object", 0
    category = qa.get("category")
    if category not in CATEGORIES:
        return None, f"category {category!r} is not one of 1-5", 0
    text, gold = str(qa.get("question") or "").strip(), gold_answer(qa)
    if not text:
        return None, "no question text", 0
    if gold is None:
        return None, "no answer or adversarial_answer", 0
    ids = evidence_ids(qa.get("evidence"))
    found = [conv.index[i] for i in ids if i in conv.index]
    extra = {"category": category, "evidence_ids": ids, "answer_field": "answer" if qa.get("answer") is not None
             else "adversarial_answer"}
    q = Question(id=f"{conv.sample_id}:{number}", type=CATEGORIES[category], raw_type=str(category), topic="",
                 text=text, options=(), options_raw="", gold=gold, context_id=conv.sample_id,
                 end_index=len(conv.messages), evidence=tuple(sorted(set(found))), extra=extra)
    return q, None, len(ids) - len(found)


def load_locomo(name: str, path: Path, info: dict[str, Any] | None = None) -> TaskData:
    """Load a LoCoMo file as a task: a context per conversation, every usable question, bad ones listed."""
    samples = read_file(path)
    data = TaskData(name=name, questions=[], contexts={}, files={path.name: sha256_file(path)},
                    info=dict(info or {}))
    counts: Counter = Counter()
    problems: list[str] = []
    for sample in samples:
        conv = build_conversation(sample)
        if conv.sample_id in data.contexts:
            raise DataError(f"{path}: conversation {conv.sample_id} appears twice")
        data.contexts[conv.sample_id] = conv.messages
        counts.update(sessions=conv.sessions, turns=len(conv.messages), images=conv.images)
        problems += [f"conversation {conv.sample_id}: {p}" for p in conv.problems]
        for number, qa in enumerate(sample.get("qa") or []):
            q, why, unresolved = build_question(conv, number, qa)
            counts["evidence_unresolved"] += unresolved
            if q is None:
                data.bad_rows.append(BadRow(path.name, number + 1, f"{conv.sample_id}:{number}", str(why)))
            else:
                data.questions.append(q)
    by_category = Counter(q.type for q in data.questions)
    data.info.update({"conversations": len(data.contexts), **dict(sorted(counts.items())),
                      "questions_by_category": {c: by_category.get(c, 0) for c in CATEGORIES.values()},
                      "without_evidence": sum(not q.evidence for q in data.questions),
                      "problems": problems[:50]})
    return data


def validate_locomo(spec: dict[str, Any], data_dir: str | Path | None):
    """`data validate` for a LoCoMo task: counts, skipped questions with ids, notes; never raises on content."""
    from comam_bench.data.validate import ValidationReport

    name = str(spec.get("name", ""))
    path = locate_file(spec, data_dir)
    files = {"data": {"name": path.name, "path": str(path), "bytes": path.stat().st_size,
                      "sha256": sha256_file(path)}}
    try:
        data = load_locomo(name, path)
    except DataError as exc:
        return ValidationReport(name, files, {}, refusals=[str(exc)])
    facts = {"questions": len(data.questions), **{k: v for k, v in data.info.items() if k != "problems"}}
    notes = list(data.info.get("problems") or [])
    if facts.get("evidence_unresolved"):
        notes.append(f"{facts['evidence_unresolved']} evidence ids name no turn (dropped; the questions are kept)")
    notes += _expectations(spec, facts)
    return ValidationReport(name, files, facts, bad_rows=data.bad_rows, notes=notes)


def _expectations(spec: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    expected = spec.get("expected") or {}
    return [f"{facts.get(k)} {k}, but the release has {v}: not the released file?"
            for k, v in expected.items() if facts.get(k) != v]
