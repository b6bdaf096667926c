"""Reading PersonaMem files: the questions CSV, the shared-contexts JSONL and the (synthetic) evidence JSONL.

A row with a problem is skipped and recorded as an api.BadRow; a file that cannot be read as a whole
(missing, not CSV/JSONL, missing columns) raises DataError with a message that says what to do.
Standard library only, so `comam-bench data validate` stays fast to start.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import itertools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

from comam_bench.api import BadRow, Message, Question, TaskData
from comam_bench.data.labels import UnknownLabelError, canonical_type, is_known
from comam_bench.errors import ComamBenchError


class DataError(ComamBenchError):
    """A data directory or file that cannot be used at all; the message says what to do about it."""


# Columns both schemas share; the question text column is what tells them apart (personamem.md).
REQUIRED_COLUMNS = (
    "question_id", "question_type", "topic", "correct_answer", "all_options",
    "shared_context_id", "end_index_in_shared_context",
)
TEXT_COLUMN = {"release": "user_question_or_message", "prerelease": "question"}
_DISTANCES = ("distance_to_ref_in_blocks", "distance_to_ref_in_tokens")
_CONSUMED = {*REQUIRED_COLUMNS, *TEXT_COLUMN.values(), *_DISTANCES}
# Kept in Question.extra as ints where they parse; every other leftover column stays a string.
_INT_EXTRAS = ("persona_id", "context_length_in_tokens", "context_length_in_letters", "num_irrelevant_tokens")

_SURROGATE = re.compile("[\udc80-\udcff]")  # what surrogateescape turns undecodable bytes into
_GOLD = re.compile(r"\(([a-d])\)")
_BOM = b"\xef\xbb\xbf"


# --------------------------------------------------------------------------- small parsers
def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_int(cell: str | None) -> int | None:
    """An int from a cell, tolerating integral floats such as "3.0"; None when empty or not integral."""
    text = (cell or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value.is_integer() else None


def parse_options(cell: str) -> tuple[tuple[str, ...] | None, str | None]:
    """(the four option strings, None) or (None, problem). ast.literal_eval only: the cells are str(list)."""
    try:
        value = ast.literal_eval(cell.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None, "all_options does not parse as a Python literal"
    if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(isinstance(o, str) for o in value):
        return None, "all_options is not a list of 4 strings"
    return tuple(value), None


def parse_gold(cell: str) -> str | None:
    """The gold letter "a".."d" from "(a)".."(d)" (case and surrounding spaces tolerated), else None."""
    match = _GOLD.fullmatch(cell.strip().lower())
    return match.group(1) if match else None


# --------------------------------------------------------------------------- questions CSV
@dataclass
class QuestionRows:
    """A questions CSV read into raw cells: header, schema and (1-based row, cells) pairs."""

    path: Path
    header: list[str]
    schema: str  # "release" | "prerelease"
    rows: list[tuple[int, dict[str, str]]]
    short_rows: list[tuple[int, str]]  # (row, problem) for rows whose field count differs from the header


def detect_schema(header: list[str], path: Path) -> str:
    """"release" or "prerelease" from the header; DataError naming the missing columns otherwise."""
    schema = "release" if TEXT_COLUMN["release"] in header else "prerelease"
    missing = [c for c in (*REQUIRED_COLUMNS, TEXT_COLUMN[schema]) if c not in header]
    if missing:
        raise DataError(
            f"{path} is not a PersonaMem questions CSV: it lacks column(s) {', '.join(missing)} "
            f"(it has: {', '.join(header) or 'no header'}). The release files have {', '.join(REQUIRED_COLUMNS)} "
            "and user_question_or_message; the pre-release copies have `question` instead. Point --data-dir at a "
            "folder with the PersonaMem questions_*.csv and shared_contexts_*.jsonl files."
        )
    return schema


def read_question_rows(path: Path) -> QuestionRows:
    """Read a questions CSV; undecodable bytes are kept (surrogateescape) so one bad row spares the rest."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"questions file {path} does not exist. Pass --data-dir DIR with the PersonaMem files.")
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # option cells can exceed the 128 KiB default
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        lines = f.readlines()
    try:
        header_record = next(csv.reader(lines[:1]), None)
    except csv.Error as exc:
        raise DataError(f"{path} is not a readable CSV ({exc}). Re-download it; the PersonaMem files are plain "
                        "comma-separated CSV with a header row.") from exc
    if not header_record:
        raise DataError(f"{path} is empty: expected a header row and question rows.")
    header = [h.strip() for h in header_record]
    if any(_SURROGATE.search(h) for h in header):
        raise DataError(f"{path}: the header row is not UTF-8. Re-download the file; PersonaMem CSVs are UTF-8.")
    schema = detect_schema(header, path)
    rows, short = [], []
    try:
        for number, (line, record) in enumerate(_records(lines, header), start=1):
            if isinstance(record, str):
                short.append((number, record))
            elif len(record) != len(header):
                short.append((number, f"line {line}: row has {len(record)} fields, the header has {len(header)}"))
            else:
                rows.append((number, dict(zip(header, record))))
    except csv.Error as exc:
        raise DataError(f"{path} is not a readable CSV ({exc}). Re-download it; the PersonaMem files are plain "
                        "comma-separated CSV with a header row.") from exc
    return QuestionRows(path, header, schema, rows, short)


def _records(lines: list[str], header: list[str]) -> Iterator[tuple[int, list[str] | str]]:
    """(first physical line, cells) per CSV record after the header; blank lines are not rows.

    A quote opened and never closed on its line makes the csv module swallow the following lines into one
    cell, losing those rows without a count. Such a record (it spans several lines and a single-line column
    holds a line break, or its field count is wrong) is reported as (line, problem) and reading restarts on
    the next physical line, so every row after it is read on its own.
    """
    single_line = [i for i, name in enumerate(header) if name in REQUIRED_COLUMNS]
    pos = 1  # index into lines of the next record's first line
    while pos < len(lines):
        reader = csv.reader(itertools.islice(lines, pos, None))
        start = pos
        for record in reader:
            first, last = start + 1, pos + reader.line_num  # 1-based physical lines of this record
            if not record:
                start = pos + reader.line_num
                continue
            merged = last > first and (len(record) != len(header) or
                                       any("\n" in record[i] or "\r" in record[i] for i in single_line))
            if merged:
                yield first, (f"line {first}: a quote opened on this line is never closed, so the csv reader "
                              f"ran on to line {last}; fix the quote (the rows after it are read on their own)")
                pos = first  # restart on the line after the broken one (pos is 0-based: line first + 1)
                break
            yield first, record
            start = pos + reader.line_num
        else:
            return


def _extra(cells: Mapping[str, str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for key, value in cells.items():
        if key in _CONSUMED:
            continue
        number = parse_int(value) if key in _INT_EXTRAS else None
        extra[key] = number if number is not None else value
    return extra


def parse_row(cells: Mapping[str, str], schema: str) -> tuple[Question | None, list[str]]:
    """One CSV row to a Question, or (None, problems). Context checks come later (check_contexts)."""
    bad_columns = [k for k, v in cells.items() if _SURROGATE.search(v)]
    if bad_columns:
        return None, [f"non-UTF-8 bytes in {', '.join(bad_columns)}"]
    problems = []
    qid = cells["question_id"].strip()
    if not qid:
        problems.append("empty question_id")
    label = cells["question_type"]
    if not is_known(label):
        problems.append(f"unknown question_type {label.strip()!r}")
    options, option_problem = parse_options(cells["all_options"])
    if option_problem:
        problems.append(option_problem)
    gold = parse_gold(cells["correct_answer"])
    if gold is None:
        problems.append(f"correct_answer {cells['correct_answer']!r} is not one of (a)-(d)")
    end = parse_int(cells["end_index_in_shared_context"])
    if end is None:
        problems.append(f"end_index_in_shared_context {cells['end_index_in_shared_context']!r} is not an integer")
    elif end < 0:
        problems.append(f"negative end_index_in_shared_context {end}")
    context_id = cells["shared_context_id"].strip()
    if not context_id:
        problems.append("empty shared_context_id")
    if problems:
        return None, problems
    return Question(
        id=qid, type=canonical_type(label), raw_type=label.strip(), topic=cells["topic"].strip(),
        text=cells[TEXT_COLUMN[schema]], options=options, options_raw=cells["all_options"], gold=gold,
        context_id=context_id, end_index=end,
        distance_blocks=parse_int(cells.get("distance_to_ref_in_blocks")),
        distance_tokens=parse_int(cells.get("distance_to_ref_in_tokens")),
        extra=_extra(cells),
    ), []


def collect_questions(table: QuestionRows) -> tuple[list[Question], list[BadRow]]:
    """Parse every row; a repeated question_id makes every later row with it bad (the first one is kept)."""
    name = table.path.name
    bad = [BadRow(name, row, "", problem) for row, problem in table.short_rows]
    questions: list[Question] = []
    first_row: dict[str, int] = {}
    for row, cells in table.rows:
        qid = cells["question_id"].strip()
        question, problems = parse_row(cells, table.schema)
        if qid and qid in first_row:
            problems = [*problems, f"duplicate question_id (first at row {first_row[qid]})"]
            question = None
        elif qid:
            first_row[qid] = row
        if question is None:
            bad.append(BadRow(name, row, qid, "; ".join(problems)))
        else:
            questions.append(question)
    return questions, bad


def unknown_labels(table: QuestionRows) -> Counter:
    """Raw labels not in the mapping table, with their row counts."""
    return Counter(c["question_type"].strip() for _, c in table.rows if not is_known(c["question_type"]))


# --------------------------------------------------------------------------- contexts JSONL
# The id is the first key of each line; reading it from the line's head lets a load skip the GB-sized
# contexts no question references without parsing them.
_ID_HEAD = re.compile(rb'\s*\{\s*"([^"\\]{1,256})"\s*:')


@dataclass
class ContextLine:
    """One line of a contexts JSONL: its id, and its messages unless skipped or broken."""

    line: int
    context_id: str
    messages: list[dict] | None  # None when skipped (not wanted) or broken
    problem: str | None = None


def _bad_jsonl(path: Path, line: int, why: str) -> DataError:
    return DataError(
        f"{path} line {line}: {why}. A PersonaMem shared-contexts file has one JSON object per line, "
        '{"<shared_context_id>": [{"role": ..., "content": ...}, ...]}. Re-download the file, or point '
        "--data-dir at a folder with intact files."
    )


def _decode_context(path: Path, number: int, raw: bytes) -> tuple[str, list[dict]]:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise _bad_jsonl(path, number, f"not JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})") from None
    if not (isinstance(obj, dict) and len(obj) == 1):
        raise _bad_jsonl(path, number, "not an object with exactly one key (the context id)")
    (context_id, messages), = obj.items()
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages
    ):
        raise _bad_jsonl(path, number, f"context {context_id!r} is not a list of {{role, content}} strings")
    return context_id, messages


def iter_context_lines(path: Path, wanted: set[str] | None = None, digest=None) -> Iterator[ContextLine]:
    """Stream a contexts JSONL line by line; contexts not in `wanted` are skipped unparsed (None = all).

    `digest` (a hashlib object) is fed every byte, so a caller gets the file hash from the same single read.
    A line that is not UTF-8 yields a broken ContextLine when its id can be read, else raises DataError.
    """
    path = Path(path)
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if digest is not None:
                digest.update(raw)
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if not raw.strip():
                continue
            head = _ID_HEAD.match(raw)
            head_id = head.group(1).decode("utf-8", "replace") if head else None
            if head_id is not None and wanted is not None and head_id not in wanted:
                yield ContextLine(number, head_id, None)
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if head_id is None:
                    raise _bad_jsonl(path, number, f"not UTF-8 (byte {exc.start})") from None
                yield ContextLine(number, head_id, None, f"context line {number} of {path.name} is not UTF-8")
                continue
            context_id, messages = _decode_context(path, number, raw)
            skip = wanted is not None and context_id not in wanted
            yield ContextLine(number, context_id, None if skip else messages)


@dataclass
class Contexts:
    """What a contexts JSONL holds: parsed contexts, the length of each, every id, and broken ids."""

    messages: dict[str, list[Message]]
    lengths: dict[str, int]
    present: set[str]
    broken: dict[str, str]  # id -> problem (non-UTF-8, repeated id)
    sha256: str = ""
    id_is_hash: dict[str, bool] = field(default_factory=dict)  # filled only when asked (validate)


def context_id_hash(messages: list[dict]) -> str:
    """sha256 of " ".join(map(str, context)): how PersonaMem derived shared_context_id (PROVENANCE.md)."""
    return hashlib.sha256(" ".join(map(str, messages)).encode("utf-8")).hexdigest()


def read_contexts(path: Path, wanted: set[str] | None = None, *, keep: bool = True,
                  check_ids: bool = False) -> Contexts:
    """Read the contexts in `wanted` (all when None); hash the whole file on the way.

    keep=False records only lengths (a 1M file holds GBs); check_ids=True also tests each id against
    the hash of its context, which a run does not need.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"contexts file {path} does not exist. Pass --data-dir DIR with the PersonaMem files.")
    digest = hashlib.sha256()
    out = Contexts({}, {}, set(), {})
    first_line: dict[str, int] = {}
    for item in iter_context_lines(path, wanted, digest):
        if item.context_id in first_line:
            # Two lines with one id: which is the real context is unknowable, so neither is used.
            out.broken[item.context_id] = (f"context id appears on lines {first_line[item.context_id]} "
                                           f"and {item.line} of {path.name}")
            out.messages.pop(item.context_id, None)
            continue
        first_line[item.context_id] = item.line
        out.present.add(item.context_id)
        if item.problem:
            out.broken[item.context_id] = item.problem
        elif item.messages is not None:
            out.lengths[item.context_id] = len(item.messages)
            if keep:
                out.messages[item.context_id] = [Message(m["role"], m["content"]) for m in item.messages]
            if check_ids:
                out.id_is_hash[item.context_id] = context_id_hash(item.messages) == item.context_id
    out.sha256 = digest.hexdigest()
    return out


def check_contexts(questions: list[Question], contexts: Contexts, contexts_file: str,
                   questions_file: str, rows: Mapping[str, int]) -> tuple[list[Question], list[BadRow]]:
    """Split questions into those whose context exists and contains their end index, and bad rows."""
    kept, bad = [], []
    for q in questions:
        cid = q.context_id
        if cid in contexts.broken:
            problem = contexts.broken[cid]
        elif cid not in contexts.lengths:
            problem = f"shared_context_id {cid} is not in {contexts_file}"
        elif q.end_index > contexts.lengths[cid]:
            problem = f"end_index_in_shared_context {q.end_index} > context length {contexts.lengths[cid]}"
        else:
            kept.append(q)
            continue
        bad.append(BadRow(questions_file, rows[q.id], q.id, problem))
    return kept, bad


# --------------------------------------------------------------------------- evidence JSONL
def read_evidence(path: Path) -> dict[str, tuple[int, ...]]:
    """question_id -> gold evidence message indices, from lines {"question_id": str, "evidence": [int, ...]}."""
    path = Path(path)
    evidence: dict[str, tuple[int, ...]] = {}
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
                qid, indices = obj["question_id"], obj["evidence"]
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataError(f"{path} line {number} is not an evidence line ({type(exc).__name__}): expected "
                                '{"question_id": str, "evidence": [int, ...]}. Regenerate the synthetic data.'
                                ) from None
            if not isinstance(indices, list) or not all(isinstance(i, int) and i >= 0 for i in indices):
                raise DataError(f"{path} line {number}: evidence must be a list of non-negative ints.")
            evidence[str(qid)] = tuple(indices)
    return evidence


# --------------------------------------------------------------------------- one call
def load_files(name: str, questions_path: Path, contexts_path: Path | None, evidence_path: Path | None = None,
               info: dict[str, Any] | None = None) -> TaskData:
    """Load a task's files for a run: questions whose row and context are sound, plus the bad rows.

    Unknown labels raise DataError (a run with a silently dropped query type would mislead); every other
    row problem skips the row. A missing contexts file raises: a run cannot ask a question without its context.
    """
    table = read_question_rows(questions_path)
    unknown = unknown_labels(table)
    if unknown:
        counts = ", ".join(f"{label!r} ({n} rows)" for label, n in unknown.most_common())
        raise DataError(f"{UnknownLabelError(next(iter(unknown)), str(table.path))} All unknown labels: {counts}.")
    if contexts_path is None or not Path(contexts_path).is_file():
        raise DataError(
            f"no shared-contexts file next to {table.path.name} "
            f"(looked for {contexts_path or 'shared_contexts*.jsonl'}). "
            "A run needs the contexts the questions are asked after: put the matching shared_contexts_*.jsonl in "
            "the same folder and pass --data-dir DIR. `comam-bench data validate` checks a questions file alone."
        )
    questions, bad = collect_questions(table)
    contexts = read_contexts(Path(contexts_path), {q.context_id for q in questions})
    rows = {cells["question_id"].strip(): row for row, cells in reversed(table.rows)}  # first row per id wins
    kept, more_bad = check_contexts(questions, contexts, Path(contexts_path).name, table.path.name, rows)
    files = {table.path.name: sha256_file(table.path), Path(contexts_path).name: contexts.sha256}
    if evidence_path is not None:
        evidence = read_evidence(Path(evidence_path))
        kept = [replace(q, evidence=evidence.get(q.id)) for q in kept]
        files[Path(evidence_path).name] = sha256_file(Path(evidence_path))
    used = {q.context_id for q in kept}
    return TaskData(
        name=name, questions=kept, contexts={c: m for c, m in contexts.messages.items() if c in used},
        bad_rows=sorted(bad + more_bad, key=lambda b: b.row), files=files,
        info={**(info or {}), "schema": table.schema, "rows_read": len(table.rows) + len(table.short_rows),
              "questions": len(kept), "bad_rows": len(bad) + len(more_bad), "contexts": len(used)},
    )
