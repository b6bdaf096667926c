"""`data validate`: facts about a task's files and the rows a run would skip.

Runs the loader's own row checks (personamem.collect_questions / check_contexts), so the bad rows listed
here are the rows a run skips; unknown labels, which make a run stop, are listed as bad rows instead.
It also reads every context (to check that each id is the sha256 of its context), which a run does not.
"""
from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from comam_bench.api import BadRow
from comam_bench.data.labels import LABEL_TO_CANONICAL, normalize_label
from comam_bench.data.personamem import (  # noqa: F401 - context_id_hash re-exported for tests and the CLI
    Contexts, QuestionRows, check_contexts, collect_questions, context_id_hash, parse_int, read_contexts,
    read_question_rows, sha256_file,
)

_PREFIX = re.compile(r"\(([a-d])\)\s*")


@dataclass
class ValidationReport:
    """What `data validate` found: facts, files with hashes, and bad rows with ids."""

    task: str
    files: dict[str, dict[str, Any]]  # role ("questions", "contexts", "evidence") -> name, path, bytes, sha256
    facts: dict[str, Any]
    bad_rows: list[BadRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # why `run` would refuse these files outright

    @property
    def ok(self) -> bool:
        """No bad rows, every referenced context present, nothing a run refuses."""
        return not self.bad_rows and not self.facts.get("contexts_missing") and not self.refusals

    @property
    def exit_code(self) -> int:
        """0: a run uses every row; 1: a run skips some rows; 2: a run refuses the files (as `run` exits 2)."""
        return 2 if self.refusals else 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (Counters become dicts)."""
        return json.loads(json.dumps({"task": self.task, "ok": self.ok, "exit_code": self.exit_code,
                                      "refusals": self.refusals, "files": self.files, "facts": self.facts,
                                      "bad_rows": [asdict(b) for b in self.bad_rows], "notes": self.notes}))

    def render(self, max_bad_rows: int = 30) -> str:
        """A plain-text report for the terminal."""
        verdict = "OK" if self.ok else "A RUN WOULD REFUSE THESE FILES" if self.refusals else "PROBLEMS FOUND"
        lines = [f"task {self.task}: {verdict}"]
        lines += [f"  a run would refuse: {r}" for r in self.refusals]
        lines += [f"  note: {n}" for n in self.notes]
        for role, f in self.files.items():
            lines.append(f"  {role}: {f['name']} ({f['bytes']:,} bytes, sha256 {f['sha256'][:16]}...)" if f
                         else f"  {role}: not found")
        for key, value in self.facts.items():
            if key != "contexts":
                lines.append(f"  {key}: {_fmt(value)}")
        for cid, c in list(self.facts.get("contexts", {}).items())[:10]:
            lines.append(f"    context {cid[:16]}: {_fmt(c)}")
        lines.append(f"  bad rows: {len(self.bad_rows)}")
        for b in self.bad_rows[:max_bad_rows]:
            lines.append(f"    {b.file} row {b.row} id {b.id or '-'}: {b.problem}")
        if len(self.bad_rows) > max_bad_rows:
            lines.append(f"    ... {len(self.bad_rows) - max_bad_rows} more (use --json for all)")
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and not value:
        return "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


# --------------------------------------------------------------------------- question facts
def _options_facts(cells: list[str]) -> dict[str, int]:
    failures = not_four = json_valid = prefixed = duplicated = 0
    for cell in cells:
        try:
            json.loads(cell)
            json_valid += 1
        except ValueError:
            pass
        try:
            options = ast.literal_eval(cell.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            failures += 1
            continue
        if not (isinstance(options, (list, tuple)) and len(options) == 4 and all(isinstance(o, str) for o in options)):
            not_four += 1
            continue
        prefixed += all(_PREFIX.match(o) and o[1] == letter for o, letter in zip(options, "abcd"))
        # Texts compared without their "(x) " prefix, which alone always differs.
        duplicated += len({_PREFIX.sub("", o, count=1).strip() for o in options}) < 4
    return {"options_literal_eval_failures": failures, "options_not_4_strings": not_four,
            "options_json_valid": json_valid, "options_with_a_to_d_prefixes": prefixed,
            "rows_with_duplicated_option_texts": duplicated}


def question_facts(table: QuestionRows) -> dict[str, Any]:
    """Facts from the raw cells of every row (bad rows included)."""
    cells = [c for _, c in table.rows]
    ids = Counter(c["question_id"].strip() for c in cells)
    raw = Counter(c["question_type"].strip() for c in cells)
    canonical = Counter(LABEL_TO_CANONICAL[normalize_label(k)] for k in raw.elements()
                        if normalize_label(k) in LABEL_TO_CANONICAL)
    ends = [e for e in (parse_int(c["end_index_in_shared_context"]) for c in cells) if e is not None]
    negative_distance = sum(1 for c in cells if any((parse_int(c.get(k)) or 0) < 0 for k in
                                                   ("distance_to_ref_in_blocks", "distance_to_ref_in_tokens")))
    return {
        "schema": table.schema, "columns": list(table.header),
        "rows": len(table.rows) + len(table.short_rows), "rows_with_wrong_field_count": len(table.short_rows),
        "unique_question_ids": len(ids), "rows_with_repeated_question_id": sum(n - 1 for n in ids.values() if n > 1),
        "labels_raw": dict(raw.most_common()), "labels_canonical": dict(canonical.most_common()),
        "unknown_labels": {k: n for k, n in raw.items() if normalize_label(k) not in LABEL_TO_CANONICAL},
        "gold": dict(sorted(Counter(c["correct_answer"].strip() for c in cells).items())),
        **_options_facts([c["all_options"] for c in cells]),
        "end_index_range": [min(ends), max(ends)] if ends else None,
        "end_index_negative": sum(e < 0 for e in ends), "end_index_not_integer": len(cells) - len(ends),
        "rows_with_negative_distance": negative_distance,
    }


# --------------------------------------------------------------------------- context facts
def _context_facts(table: QuestionRows, contexts: Contexts | None) -> dict[str, Any]:
    per_context: dict[str, dict[str, Any]] = {}
    for _, c in table.rows:
        entry = per_context.setdefault(c["shared_context_id"].strip(), {"rows": 0, "end_index": []})
        entry["rows"] += 1
        end = parse_int(c["end_index_in_shared_context"])
        if end is not None:
            entry["end_index"].append(end)
    present = contexts.present if contexts else set()
    checked = contexts.id_is_hash if contexts else {}
    last = whole = beyond = 0
    for cid, entry in per_context.items():
        ends = entry.pop("end_index")
        entry["end_index_range"] = [min(ends), max(ends)] if ends else None
        if cid in (contexts.lengths if contexts else {}):
            n = entry["messages"] = contexts.lengths[cid]
            last += sum(e == n - 1 for e in ends)
            whole += sum(e == n for e in ends)
            beyond += sum(e > n for e in ends)
    return {
        "contexts_referenced": len(per_context),
        "contexts_present": len(present) if contexts else None,
        "contexts_missing": len(set(per_context) - present),
        "contexts_unused": len(present - set(per_context)),
        "contexts_broken": len(contexts.broken) if contexts else 0,
        "end_index_last_message": last, "end_index_whole_context": whole, "end_index_out_of_range": beyond,
        "context_id_hash_matches": f"{sum(checked.values())}/{len(checked)}",
        "contexts": per_context,
    }


def _evidence_facts(path: Path, ids: set[str]) -> dict[str, Any]:
    from comam_bench.data.personamem import read_evidence

    evidence = read_evidence(path)
    return {"evidence_questions": len(evidence), "evidence_for_unknown_ids": len(set(evidence) - ids),
            "questions_without_evidence": len(ids - set(evidence))}


def _file_entry(path: Path | None, sha: str | None = None) -> dict[str, Any] | None:
    if path is None or not Path(path).is_file():
        return None
    return {"name": path.name, "path": str(path), "bytes": path.stat().st_size, "sha256": sha or sha256_file(path)}


# --------------------------------------------------------------------------- one call
def validate_files(questions_path: Path, contexts_path: Path | None = None, evidence_path: Path | None = None,
                   *, task: str = "", notes: list[str] | None = None) -> ValidationReport:
    """Validate a questions CSV, with its contexts JSONL and evidence JSONL when they exist.

    A missing contexts file is reported (one file-level bad row, row 0), not raised: the questions can
    still be checked on their own. Malformed files still raise DataError.
    """
    table = read_question_rows(Path(questions_path))
    facts = question_facts(table)
    questions, bad = collect_questions(table)
    contexts = None
    if contexts_path is not None and Path(contexts_path).is_file():
        contexts = read_contexts(Path(contexts_path), None, keep=False, check_ids=True)
        rows = {cells["question_id"].strip(): row for row, cells in reversed(table.rows)}
        bad += check_contexts(questions, contexts, Path(contexts_path).name, table.path.name, rows)[1]
    facts.update(_context_facts(table, contexts))
    if contexts is None:
        bad.append(BadRow(table.path.name, 0, "", f"no contexts file ({contexts_path or 'shared_contexts*.jsonl'}): "
                          f"{facts['contexts_referenced']} referenced contexts missing, end indexes unchecked"))
    if evidence_path is not None and Path(evidence_path).is_file():
        facts.update(_evidence_facts(Path(evidence_path), {c["question_id"].strip() for _, c in table.rows}))
    contexts_entry = _file_entry(Path(contexts_path) if contexts_path else None, contexts.sha256 if contexts else None)
    files = {"questions": _file_entry(table.path), "contexts": contexts_entry}
    if evidence_path is not None:
        files["evidence"] = _file_entry(Path(evidence_path))
    report = ValidationReport(task, files, facts, sorted(bad, key=lambda b: b.row), list(notes or []))
    report.refusals = _refusals(facts, contexts, bad)
    return report


def _refusals(facts: dict[str, Any], contexts: Contexts | None, bad: list[BadRow]) -> list[str]:
    """What makes `run` stop on these files (personamem.load_files and the runner), in the same words."""
    out = []
    unknown = facts.get("unknown_labels") or {}
    if unknown:
        out.append("unknown question_type label(s) " + ", ".join(f"{k!r} ({n} rows)" for k, n in unknown.items())
                   + ": a run stops rather than drop a query type; fix the labels or the mapping table")
    if contexts is None:
        out.append("no shared-contexts file: a run needs the contexts the questions are asked after")
    if facts.get("rows") == 0:
        out.append("the questions file has a header but no question rows")
    elif len({b.row for b in bad if b.row}) >= facts.get("rows", 0):
        out.append("no usable questions: every row is bad")
    return out
