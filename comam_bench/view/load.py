"""Read run directories into the data a report embeds: one header per run, the questions, every answer.

Read-only: a torn last line of a JSONL file is skipped, never cut off (a run may still be writing). A run
need not be complete: spec.json plus samples.jsonl is enough, and scores are then computed from the
samples. Question texts and options come from the task's data files (samples do not store them); where
the files cannot be had, the report still shows every recorded field and says why the texts are missing.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from comam_bench.keep import read_kept, public_info
from comam_bench.record import RecordError, RunRecord
from comam_bench.results import spec_hash
from comam_bench.errors import ComamBenchError

PAYLOAD_VERSION = 1


class ViewError(ComamBenchError):
    """A run directory cannot be shown; the message says what to do."""


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line
        if isinstance(row, dict):
            rows.append(row)
    return rows


def protocol_of(record: RunRecord | None, spec: dict) -> dict[str, Any]:
    """{"name", "headline_norm", "version"}: the record's protocol block; for a run still going (no record),
    the protocol its spec names."""
    if record is not None:
        block = record.protocol
        return {"name": block.name, "headline_norm": block.headline_norm, "version": block.version}
    from comam_bench.protocols import VERSIONS

    version = spec.get("protocol")
    return {"name": VERSIONS.get(str(version), "discriminative"), "headline_norm": None, "version": version}


def _read_record(path: Path) -> RunRecord | None:
    """The run's record (migrated to the current format), or None when it has none or it cannot be read."""
    if not (path / "run.json").is_file():
        return None
    try:
        return RunRecord.read(path / "run.json", run_id=path.name)
    except RecordError:
        return None


class RunView:
    """One run directory as the report sees it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise ViewError(f"{self.path} is not a directory; pass a run directory such as results/runs/<run id>.")
        self.record = _read_record(self.path)
        stored = _read_json(self.path / "spec.json") or {}
        if self.record is None and not stored:
            raise ViewError(f"{self.path} has neither run.json nor spec.json, so it is not a run directory "
                            "(see `ls results/runs`).")
        rec = self.record
        self.spec = (rec.spec if rec else None) or stored.get("spec") or {}
        self.samples: dict[str, dict] = {}
        for row in _read_jsonl(self.path / "samples.jsonl"):
            self.samples.setdefault(row.get("question_id"), row)  # the runner counts the first row of an id
        self.kept = read_kept(self.path)
        self.spec_hash = (rec.spec_hash if rec else None) or stored.get("spec_hash") or spec_hash(self.spec)

    @property
    def run_id(self) -> str:
        return (self.record.run_id if self.record else None) or self.path.name

    def scores(self) -> dict[str, Any]:
        if self.record is not None and self.record.scores.raw:
            return self.record.scores.raw
        from comam_bench.scores import aggregate

        return aggregate(list(self.samples.values()))

    def generated(self):
        """How the run's data was generated (comam_bench.record.Generated), None when it was not. A run still
        going has no record yet: its spec's files are compared with the generator's, as the runner will."""
        if self.record is not None:
            return self.record.data.generated
        from comam_bench.record import generated_for

        task = self.spec.get("task") if isinstance(self.spec.get("task"), dict) else {}
        return generated_for(task, self.spec.get("data_files") or {}, [self.spec.get("seed"), task.get("seed")])

    def header(self) -> dict[str, Any]:
        """What the report's header shows for this run."""
        rec, spec = self.record, self.spec
        scores = self.scores()
        if rec is None:  # a run still going: what its spec says
            task, system = spec.get("task") or {}, spec.get("system") or {}
            f = {"complete": False, "task": task.get("name"), "system": system.get("name"),
                 "system_args": system.get("args") or {}, "model": spec.get("model"),
                 "commit": None, "dirty": None, "created": None, "by_norm": {}, "cost": {},
                 "diagnostics": {}, "peak_rss_mb": None, "selection": None}
        else:
            f = {"complete": rec.status == "complete", "task": rec.task.name, "system": rec.system.name,
                 "system_args": rec.system.args, "model": rec.model.spec,
                 "commit": rec.git.get("commit"), "dirty": rec.git.get("dirty"), "created": rec.created,
                 "by_norm": {k: v.get("accuracy") for k, v in (rec.scores_by_norm or {}).items()},
                 "cost": rec.cost.raw, "diagnostics": rec.diagnostics, "peak_rss_mb": rec.peak_rss_mb,
                 "selection": (rec.selection or {}).get("rule")}
        return {
            "run_id": self.run_id, "complete": f["complete"], "task": f["task"], "system": f["system"],
            "system_args": f["system_args"], "model": f["model"],
            "protocol": protocol_of(rec, spec), "spec_hash": self.spec_hash,
            "commit": f["commit"], "dirty": f["dirty"], "created": f["created"],
            "n": scores.get("n", len(self.samples)), "accuracy": scores.get("accuracy"),
            "ci95": scores.get("ci95"), "chance": scores.get("chance"),
            "extraction_failures": scores.get("extraction_failures"),
            "by_norm": f["by_norm"], "cost": f["cost"], "memory_kept": bool(self.kept),
            "diagnostics": f["diagnostics"], "peak_rss_mb": f["peak_rss_mb"], "selection": f["selection"],
            **open_ended_header(scores, rec),
        }

    def answers(self) -> dict[str, dict]:
        """question id -> what the report shows of that answer."""
        return {qid: answer_view(s, self.kept.get(qid)) for qid, s in self.samples.items()}


def answer_view(sample: dict, kept: dict | None) -> dict[str, Any]:
    """One answer: verdict, output, cost, likelihood scores where present, and the kept memory."""
    out = {"extracted": sample.get("extracted"), "correct": bool(sample.get("correct")),
           "raw_output": sample.get("raw_output") or "", "cost": sample.get("cost") or {},
           "agents": sample.get("agents") or {}, "info": public_info(sample.get("info") or {}),
           "diagnostics": sample.get("diagnostics") or {}}
    for key in ("option_scores", "chosen"):
        if key in sample:
            out[key] = sample[key]
    if "f1" in sample:  # an open-ended answer (LoCoMo): the prediction, its F1 and the judge's verdict
        judge = sample.get("judge") if isinstance(sample.get("judge"), dict) else {}
        judged = judge.get("correct")
        # The viewer's correct/wrong filter: the judge's verdict where there is one, else F1 >= 0.5.
        out.update(extracted=sample.get("prediction") or None, f1=sample["f1"], judge=judged,
                   correct=bool(judged) if judged is not None else sample["f1"] >= 0.5)
    if kept:
        out["memory"] = {k: kept.get(k) for k in ("memory", "memory_chars", "memory_cut", "source")}
        if kept.get("agent_outputs"):
            out["agent_outputs"] = kept["agent_outputs"]
    return out


def open_ended_header(scores: dict, record: RunRecord | None) -> dict[str, Any]:
    """An open-ended run's header fields: F1 with its bootstrap interval, and the judge; {} for other runs."""
    overall = scores.get("overall")
    if not isinstance(overall, dict):
        return {}
    judge = (record.protocol.judge if record is not None else None) or {}
    return {"n": overall.get("n"), "f1": overall.get("f1"), "ci95": overall.get("ci95"),
            "f1_1_4": (scores.get("categories_1_4") or {}).get("f1"),
            "judge": (overall.get("judge") or {}).get("accuracy"), "judge_model": judge.get("model")}


# --------------------------------------------------------------------------- questions
def _question_view(q) -> dict[str, Any]:
    return {"id": q.id, "type": q.type, "topic": q.topic, "context_id": q.context_id, "end_index": q.end_index,
            "distance_blocks": q.distance_blocks, "distance_tokens": q.distance_tokens, "gold": q.gold,
            "text": q.text, "options": list(q.options)}


def _sample_question(s: dict) -> dict[str, Any]:
    return {"id": s.get("question_id"), "type": s.get("type"), "topic": s.get("topic"),
            "context_id": s.get("context_id"), "end_index": s.get("end_index"),
            "distance_blocks": s.get("distance_blocks"), "distance_tokens": None, "gold": s.get("gold"),
            "text": None, "options": None}


class TaskTexts:
    """Question texts per task, loaded once per task spec and data folder however many runs use them.

    The folder is `data_dir` when given (the CLI's --data-dir), else the one the run recorded
    (comam_bench.data.recorded), else none (a synthetic task regenerates its files)."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self.data_dir = data_dir
        self.loaded: dict[tuple, tuple[dict[str, Any], dict[str, str], str | None]] = {}

    def for_run(self, run: RunView) -> tuple[dict[str, Any], str | None]:
        """(question id -> Question, a note when texts are missing or may not match)."""
        from comam_bench.data.recorded import data_dir_candidates

        task = run.spec.get("task")
        if not isinstance(task, dict):
            return {}, f"{run.run_id}: the record names no task spec, so question texts are not shown."
        generated = run.generated()
        if generated is not None:  # its data is the generator's for this seed (the run's own): load that
            task = {**task, "seed": generated.seed}
        recorded = None
        folders: list = [self.data_dir]
        if self.data_dir is None:
            folders, recorded = data_dir_candidates(run.record.to_dict() if run.record else {}, run.path)
        for folder in folders:
            questions, files, error = self._cached(task, folder)
            if questions:
                break
        note = None
        if not questions and recorded is not None:
            note = (f"question texts of task {task.get('name')!r} not loaded: {run.run_id} was run with the data "
                    f"folder {recorded} (recorded in its run.json), which cannot be read from here: {error} "
                    "Pass --data-dir DIR with the task's files to show them.")
        elif not questions:
            note = f"question texts of task {task.get('name')!r} not loaded: {error}"
        expected = run.spec.get("data_files") or {}
        if questions and expected and files != expected:
            note = (f"{run.run_id}: the task's data files now differ from the ones this run used "
                    "(sha256 mismatch); the question texts shown may not be the ones it answered.")
        return questions, note

    def _cached(self, task: dict, folder) -> tuple[dict[str, Any], dict[str, str], str | None]:
        key = (spec_hash(task), None if folder is None else str(folder))
        if key not in self.loaded:
            self.loaded[key] = self._load(task, folder)
        return self.loaded[key]

    def _load(self, task: dict, folder) -> tuple[dict[str, Any], dict[str, str], str | None]:
        from comam_bench.data import DataError, load_task

        try:
            data = load_task(task, folder)
        except (DataError, OSError, ValueError) as exc:
            return {}, {}, str(exc)
        return {q.id: q for q in data.questions}, dict(data.files), None


def build_payload(run_dirs: list[Path], data_dir: str | Path | None = None,
                  texts: TaskTexts | None = None) -> dict[str, Any]:
    """Everything one report embeds: the runs' headers and answers, and the union of their questions in
    the first run's order (then any the later runs add)."""
    if not run_dirs:
        raise ViewError("name at least one run directory (for example results/runs/<run id>).")
    texts = texts or TaskTexts(data_dir)
    runs = [RunView(Path(d)) for d in run_dirs]
    questions: dict[str, dict] = {}
    notes: list[str] = []
    for run in runs:
        loaded, note = texts.for_run(run)
        if note and note not in notes:
            notes.append(note)
        for qid, sample in run.samples.items():
            if qid not in questions:
                q = loaded.get(qid)
                questions[qid] = _question_view(q) if q is not None else _sample_question(sample)
    tasks = sorted({str(r.header()["task"]) for r in runs})
    if len(tasks) > 1:
        notes.append(f"these runs are on different tasks ({', '.join(tasks)}): only questions they share "
                     "can be compared.")
    order = list(questions)
    views = [r.answers() for r in runs]
    # Answers as arrays aligned with the questions: each id is written once, and the file stays smaller.
    return {"version": PAYLOAD_VERSION,
            "runs": [{**r.header(), "answers": [v.get(qid) for qid in order]} for r, v in zip(runs, views)],
            "questions": list(questions.values()), "notes": notes}
