"""Which questions a run answers: all of them, the first N (`--limit`), up to N per context
(`--limit-per-context`), or the ids a file lists (`--questions FILE`); the three combine in that order
(file, then per context, then the first N of what is left).

The selection is part of the run's plan (comam_bench.plan) and of its spec, so a resumed run can only
continue the same selection; the record says which one was used (`Selection.record`).

Per context, the N questions are spread, not the earliest: a context's questions are split by question
type in proportion to their counts (largest remainder), and each type's share is taken at evenly spaced
quantiles of its questions ordered by end index, then distance to the evidence, then file order. The
earliest N would see only the start of a history (and, on PersonaMem, whatever types the file lists
first); the spread sample keeps the type mix and covers early and late positions. Its cost: a context's
ingestion runs up to the largest end index taken, which the spread makes close to the last one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from comam_bench.api import Question, TaskData
from comam_bench.errors import RunError

# Named in the spec: a change of the per-context rule must change the hash of runs that use it.
PER_CONTEXT_METHOD = "type-stratified-spread/1"
SHOWN_IDS = 5  # unknown ids named in an error message


@dataclass(frozen=True)
class QuestionsFile:
    """The ids a --questions file lists (unique, in file order), and what identifies the file."""

    name: str  # the file's name only: a record holds no path of this machine
    sha256: str  # of the file's bytes
    ids: tuple[str, ...]

    @property
    def ids_sha256(self) -> str:
        """The hash of the sorted ids: the same for a file reformatted or re-commented (it goes into the spec)."""
        return hashlib.sha256("\n".join(sorted(self.ids)).encode("utf-8")).hexdigest()

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "ids_sha256": self.ids_sha256, "count": len(self.ids)}


def read_questions_file(path: str | Path) -> QuestionsFile:
    """A questions file: one id per line (`#` starts a comment, blank lines are skipped), or a JSON list of ids
    when its first character is `[`. Repeated ids count once. RunError for a missing, unreadable or empty file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"--questions {path}: cannot read it ({getattr(exc, 'strerror', None) or exc}); give a "
                       "UTF-8 text file with one question id per line.") from None
    ids = _json_ids(path, text) if text.lstrip().startswith("[") else _line_ids(text)
    if not ids:
        raise RunError(f"--questions {path}: the file lists no question ids; write one id per line "
                       "(`#` starts a comment) or a JSON list of ids.")
    return QuestionsFile(path.name, hashlib.sha256(raw).hexdigest(), tuple(dict.fromkeys(ids)))


def _line_ids(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def _json_ids(path: Path, text: str) -> list[str]:
    try:
        ids = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunError(f"--questions {path}: starts with '[' but is not a JSON list ({exc.msg}, line {exc.lineno}); "
                       "write a JSON list of id strings, or one id per line.") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i.strip() for i in ids):
        raise RunError(f"--questions {path}: the JSON list must hold only non-empty id strings.")
    return [i.strip() for i in ids]


@dataclass(frozen=True)
class Selection:
    """A run's question selection: the options as given, the questions file read."""

    limit: int | None = None
    per_context: int | None = None
    questions: QuestionsFile | None = None

    def apply(self, data: TaskData) -> list[Question]:
        """The selected questions in run order (by context in first-appearance order, then end index)."""
        pool = ordered(data.questions)
        if self.questions is not None:
            check_known(self.questions, data)
            wanted = set(self.questions.ids)
            pool = [q for q in pool if q.id in wanted]
        if self.per_context is not None:
            keep = {q.id for qs in by_context(pool).values() for q in spread(qs, self.per_context)}
            pool = [q for q in pool if q.id in keep]
        return pool[:self.limit] if self.limit is not None else pool

    def spec(self) -> dict[str, Any]:
        """What the spec holds beyond its `limit`: nothing for a plain run, so older specs and hashes stay."""
        out: dict[str, Any] = {}
        if self.per_context is not None:
            out.update(per_context=self.per_context, per_context_method=PER_CONTEXT_METHOD)
        if self.questions is not None:
            out["questions"] = {"ids_sha256": self.questions.ids_sha256, "count": len(self.questions.ids)}
        return out

    def run_id_tags(self) -> list[str]:
        """Run-id parts: qCOUNT-HASH8 for a questions file, pcN per context, nN for --limit."""
        tags = [f"q{len(self.questions.ids)}-{self.questions.ids_sha256[:8]}"] if self.questions else []
        tags += [f"pc{self.per_context}"] if self.per_context is not None else []
        return tags + ([f"n{self.limit}"] if self.limit is not None else [])

    def record(self, data: TaskData, chosen: Sequence[Question]) -> dict[str, Any]:
        """The record's `selection` block: the rule, the file's identity, and counts per context."""
        available, taken = by_context(data.questions), by_context(chosen)
        return {
            "rule": self.rule(), "limit": self.limit, "per_context": self.per_context,
            "per_context_method": PER_CONTEXT_METHOD if self.per_context is not None else None,
            "questions_file": self.questions.record() if self.questions else None,
            "n_selected": len(chosen), "n_available": len(data.questions),
            "by_context": {cid: {"selected": len(taken.get(cid, ())), "available": len(qs)}
                           for cid, qs in available.items()},
        }

    def rule(self) -> str:
        parts = [f"ids from {self.questions.name}"] if self.questions else []
        parts += [f"up to {self.per_context} per context ({PER_CONTEXT_METHOD})"] if self.per_context else []
        parts += [f"the first {self.limit} in run order"] if self.limit is not None else []
        return ", then ".join(parts) or "all"


def ordered(questions: Sequence[Question]) -> list[Question]:
    """Grouped by context (first appearance order), by end index within, file order on ties."""
    first_seen: dict[str, int] = {}
    for i, q in enumerate(questions):
        first_seen.setdefault(q.context_id, i)
    pairs = sorted(enumerate(questions), key=lambda t: (first_seen[t[1].context_id], t[1].end_index, t[0]))
    return [q for _, q in pairs]


def by_context(questions: Sequence[Question]) -> dict[str, list[Question]]:
    out: dict[str, list[Question]] = {}
    for q in questions:
        out.setdefault(q.context_id, []).append(q)
    return out


def spread(questions: Sequence[Question], n: int) -> list[Question]:
    """Up to `n` of one context's questions: shares per type in proportion (largest remainder; ties to the
    larger type, then by name), each share at evenly spaced quantiles of that type's questions ordered by
    (end index, distance to evidence, file order). Deterministic: no random draw, so no seed involved."""
    if n >= len(questions):
        return list(questions)
    types: dict[str, list[int]] = {}
    for i, q in enumerate(questions):
        types.setdefault(q.type, []).append(i)
    quotas = _shares(n, {t: len(ix) for t, ix in types.items()})
    chosen: list[int] = []
    for t, ix in types.items():
        ix = sorted(ix, key=lambda i: (questions[i].end_index, questions[i].distance_tokens or 0, i))
        k = quotas[t]
        chosen += [ix[int((j + 0.5) * len(ix) / k)] for j in range(k)]
    return [questions[i] for i in sorted(chosen)]


def _shares(n: int, sizes: dict[str, int]) -> dict[str, int]:
    """`n` split over the types in proportion to `sizes` by largest remainder (each share ≤ its size)."""
    total = sum(sizes.values())
    exact = {t: n * s / total for t, s in sizes.items()}
    shares = {t: int(x) for t, x in exact.items()}
    rest = sorted(sizes, key=lambda t: (-(exact[t] - shares[t]), -sizes[t], t))
    for t in rest[:n - sum(shares.values())]:
        shares[t] += 1
    return shares


def check_known(qfile: QuestionsFile, data: TaskData) -> None:
    """RunError naming the ids of `qfile` that are not questions of `data` (how many, the first few, why)."""
    known = {q.id for q in data.questions}
    unknown = [i for i in qfile.ids if i not in known]
    if not unknown:
        return
    skipped = {b.id for b in data.bad_rows} & set(unknown)
    more = len(unknown) - SHOWN_IDS
    shown = ", ".join(unknown[:SHOWN_IDS]) + (f" (and {more} more)" if more > 0 else "")
    why = (f"; {len(skipped)} of them are rows the task skips as bad (see `comam-bench data validate`)"
           if skipped else "")
    raise RunError(f"--questions {qfile.name}: {len(unknown)} of its {len(qfile.ids)} ids are not questions of "
                   f"task {data.name!r}: {shown}{why}. Check that the file was written for this task and its "
                   "--data-dir, or remove those ids from the file.")
