"""The evaluation runner: PersonaMem's protocol over a memory system, with incremental memory and resume.

Per shared context, questions are taken in order of end index; each message is ingested once and the
memory is reused by every question on that context. Every answered question is appended to
samples.jsonl as it completes, so a killed run resumes with nothing lost or duplicated.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from comam_bench.api import Question, Resources, TaskData
from comam_bench.keep import DEFAULT_KEEP_CHARS, MEMORY_FILE, kept_row, public_info, should_keep
from comam_bench.llm.meter import Cost, Meter, MeteredLLM
from comam_bench.protocol import PROTOCOL_VERSION, extract_answer, is_correct
from comam_bench.registry import load_task_spec, project_root, resolve_system, system_class
from comam_bench.results import (RECORD_FORMAT_VERSION, RunDir, environment, first_by_key, git_state,
                                  now_iso, spec_hash)

DEFAULT_MODEL = "smollm2"
DEFAULT_EMBEDDER = "minilm"


class RunError(Exception):
    """A run cannot start or go on; the message says what to do."""


@dataclass
class RunConfig:
    """Everything a run needs; the parts that change results are hashed into the spec."""

    task: str
    system: str
    model: str | None = None  # None: the system's default_model(args) (a checkpoint's base), else DEFAULT_MODEL
    embedder: str = DEFAULT_EMBEDDER
    data_dir: str | None = None
    system_args: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    limit: int | None = None
    batch_size: int = 4
    results_dir: Path | None = None
    run_id: str | None = None
    resume: bool = False
    overwrite: bool = False
    rebuild_per_question: bool = False  # benchmark only: rebuild memory from scratch for every position
    # What each answer was given, in memory.jsonl (comam_bench.keep); None: only runs of up to 1000 questions.
    # Not part of the spec: it changes what is recorded, never a result.
    keep_memory: bool | None = None
    keep_chars: int = DEFAULT_KEEP_CHARS


ProgressFn = Callable[[int, int], None]


def ordered_questions(data: TaskData, limit: int | None) -> list[Question]:
    """Questions grouped by context (first appearance order), by end index within; then the first `limit`."""
    first_seen: dict[str, int] = {}
    for i, q in enumerate(data.questions):
        first_seen.setdefault(q.context_id, i)
    ordered = sorted(enumerate(data.questions), key=lambda t: (first_seen[t[1].context_id], t[1].end_index, t[0]))
    out = [q for _, q in ordered]
    return out[:limit] if limit is not None else out


def _slug(text: str, n: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[-n:] or "none"


def default_run_id(cfg: RunConfig, digest: str, needs_llm: bool = True) -> str:
    model = cfg.model.rstrip("/").split("/")[-1] if cfg.model and needs_llm else "no-llm"
    parts = [_slug(cfg.task), _slug(cfg.system), _slug(model), f"s{cfg.seed}"]
    if cfg.limit is not None:
        parts.append(f"n{cfg.limit}")
    if cfg.rebuild_per_question:
        parts.append("rebuild")
    return "--".join(parts + [digest[:8]])


class Run:
    """One evaluation run; `execute()` returns the run record."""

    def __init__(self, cfg: RunConfig, progress: ProgressFn | None = None, llm=None) -> None:
        """`llm`: an already-loaded model to use instead of loading cfg.model (a trainer's final evaluation,
        benchmarks); cfg.model still names it in the spec."""
        self.cfg = cfg
        self.progress = progress or (lambda done, total: None)
        self.given_llm = llm

    # ------------------------------------------------------------------ set-up
    def prepare(self) -> None:
        from comam_bench.data import load_task

        cfg = self.cfg
        self.task_spec = load_task_spec(cfg.task)
        self.data = load_task(self.task_spec, cfg.data_dir)
        # The code is loaded now: its commit is this one, whatever is committed while the run goes on.
        self.git = git_state(project_root())
        self.system_spec = resolve_system(cfg.system, cfg.system_args)
        self.system_cls = system_class(self.system_spec)
        if cfg.model is None and self.system_cls.needs_llm:
            cfg.model = self.system_cls.default_model(dict(self.system_spec.args)) or DEFAULT_MODEL
        self.questions = ordered_questions(self.data, cfg.limit)
        if not self.questions:
            raise RunError(f"task {cfg.task!r} has no usable questions ({len(self.data.bad_rows)} bad rows); "
                           f"run `comam-bench data validate --task {cfg.task}` to see why.")
        self.keep_memory = should_keep(cfg.keep_memory, len(self.questions))
        self.spec = self.resolved_spec()
        self.digest = spec_hash(self.spec)
        self.run_id = cfg.run_id or default_run_id(cfg, self.digest, self.system_cls.needs_llm)
        results = Path(cfg.results_dir) if cfg.results_dir else project_root() / "results"
        self.dir = RunDir(results / "runs" / self.run_id)
        self.open_dir()

    def resolved_spec(self) -> dict[str, Any]:
        cfg, cls = self.cfg, self.system_cls
        return {
            "format_version": RECORD_FORMAT_VERSION,
            "protocol": PROTOCOL_VERSION,
            "task": {k: v for k, v in self.task_spec.items() if k != "description"},
            "data_files": dict(sorted(self.data.files.items())),
            "system": self.system_spec.as_dict(),
            "model": cfg.model if cls.needs_llm else None,
            "embedder": cfg.embedder,
            "seed": cfg.seed,
            "limit": cfg.limit,
            "rebuild_per_question": cfg.rebuild_per_question,
        }

    def open_dir(self) -> None:
        d, cfg = self.dir, self.cfg
        if cfg.overwrite:
            d.clear()
        elif d.is_complete():
            raise RunError(f"run {self.run_id!r} is already complete at {d.path}. Pass --overwrite to redo it, "
                           "or --run-id NAME to keep both.")
        elif d.exists() and not cfg.resume:
            raise RunError(f"an interrupted run {self.run_id!r} exists at {d.path}. Pass --resume to continue it "
                           "(nothing answered is redone), or --overwrite to start again.")
        elif d.exists() and d.stored_hash() != self.digest:
            raise RunError(f"run {self.run_id!r} at {d.path} was started with a different spec; it cannot be "
                           "resumed with this one. Use --run-id NAME for a new run, or --overwrite.")
        d.start(self.spec, self.digest)

    def load_models(self) -> None:
        from comam_bench.llm import load_embedder, load_llm

        cfg = self.cfg
        self.meter = Meter()
        self.llm = None
        if self.system_cls.needs_llm:
            self.llm = self.given_llm if self.given_llm is not None else load_llm(cfg.model)
        metered = MeteredLLM(self.llm, self.meter) if self.llm else None
        self._embedder = None

        def embedder_factory():
            if self._embedder is None:
                self._embedder = load_embedder(cfg.embedder)
            return self._embedder

        self.resources = Resources(metered, embedder_factory, seed=cfg.seed, meter=self.meter)
        self.system = self.system_cls(self.resources, **self.system_spec.args)

    # ------------------------------------------------------------------ the loop
    def execute(self) -> dict[str, Any]:
        if not hasattr(self, "dir"):
            self.prepare()
        self.done = first_by_key(self.dir.read("samples.jsonl"), "question_id")
        self.ingested = first_by_key(self.dir.read("ingest.jsonl"), "key")
        self.load_models()
        self.started = time.perf_counter()
        total = len(self.questions)
        self.progress(sum(q.id in self.done for q in self.questions), total)
        try:
            for cid, group in groupby(self.questions, key=lambda q: q.context_id):
                qs = list(group)
                if all(q.id in self.done for q in qs):
                    continue  # a context finished before an interruption is not replayed
                self.run_context(cid, qs)
            record = self.build_record()  # before closing: the record asks the models who they are
        finally:
            self.system.close()
            if self.llm is not None and self.given_llm is None:
                self.llm.close()
        self.dir.finish(record)
        return record

    def run_context(self, cid: str, questions: Sequence[Question]) -> None:
        """Ingest up to each question position once, answer the questions not yet answered there."""
        context = self.data.contexts[cid]
        self.system.reset(cid)
        pos = 0
        for end, group in groupby(questions, key=lambda q: q.end_index):
            if self.cfg.rebuild_per_question:
                self.system.reset(cid)
                pos = 0
            self.ingest(cid, context, pos, end)
            pos = end
            group = list(group)
            if self.system_cls.answer_mutates_memory:
                self.replay([q for q in group if q.id in self.done])
            for batch in _chunks([q for q in group if q.id not in self.done], self.cfg.batch_size):
                self.answer(batch)

    def ingest(self, cid: str, context, start: int, end: int) -> None:
        self.meter.phase = "ingest"
        before = dict(self.resources.diagnostics)
        t0 = time.perf_counter()
        if end > start:
            self.system.ingest(context[start:end], start)
        wall = time.perf_counter() - t0
        cost, agents = self.meter.take()
        key = f"{cid}:{start}:{end}" + (":rebuild" if self.cfg.rebuild_per_question else "")
        self.dir.append("ingest.jsonl", [{
            "key": key, "context_id": cid, "start": start, "end": end, "wall_seconds": round(wall, 4),
            "cost": cost.as_dict(), "agents": {a: c.as_dict() for a, c in agents.items()},
            "memory": self.system.memory_stats(), "diagnostics": _delta(before, self.resources.diagnostics),
        }])

    def replay(self, answered: Sequence[Question]) -> None:
        """Re-ask recorded questions only for their effect on memory; outputs and cost are discarded."""
        for batch in _chunks(answered, self.cfg.batch_size):
            self.system.answer(batch)
            self.meter.take()

    def answer(self, batch: Sequence[Question]) -> None:
        self.meter.phase = "answer"
        before = dict(self.resources.diagnostics)
        t0 = time.perf_counter()
        answers = self.system.answer(batch)
        wall = time.perf_counter() - t0
        if len(answers) != len(batch):
            raise RunError(f"system {self.cfg.system!r} returned {len(answers)} answers for {len(batch)} questions")
        cost, agents = self.meter.take()
        n = len(batch)
        diag = _delta(before, self.resources.diagnostics)
        rows = []
        for i, (q, a) in enumerate(zip(batch, answers)):
            rows.append({
                "question_id": q.id, "context_id": q.context_id, "type": q.type, "topic": q.topic,
                "distance_blocks": q.distance_blocks, "end_index": q.end_index, "gold": q.gold,
                "raw_output": a.text, "extracted": extract_answer(a.text), "correct": is_correct(a.text, q.gold),
                # A batch's cost is shared evenly by its questions (the meter cannot split one call).
                "cost": _share(cost, n, wall), "agents": {k: _share(c, n) for k, c in agents.items()},
                "info": public_info(a.info), "diagnostics": diag if i == 0 else {},
            })
        if self.keep_memory:  # before the samples: a question answered again after a crash keeps its last row
            self.dir.append(MEMORY_FILE, [kept_row(q, a, self.cfg.keep_chars) for q, a in zip(batch, answers)])
        self.dir.append("samples.jsonl", rows)
        for row in rows:
            self.done[row["question_id"]] = row
        self.progress(sum(q.id in self.done for q in self.questions), len(self.questions))

    # ------------------------------------------------------------------ the record
    def build_record(self) -> dict[str, Any]:
        from comam_bench.scores import aggregate

        ids = {q.id for q in self.questions}
        samples = [s for s in self.done.values() if s["question_id"] in ids]
        events = list(first_by_key(self.dir.read("ingest.jsonl"), "key").values())
        ingest, answer, agents = Cost(), Cost(), {}
        for ev in events:
            ingest.add(Cost(**ev["cost"]))  # seconds here = time inside LLM calls; wall time kept apart
        for s in samples:
            answer.add(Cost(**s["cost"]))
        for row in events + samples:
            for name, c in row.get("agents", {}).items():
                agents.setdefault(name, Cost()).add(Cost(**c))
        n = max(len(samples), 1)
        wall_ingest = sum(ev["wall_seconds"] for ev in events)
        wall_answer = sum(s["cost"]["seconds"] for s in samples)
        total = Cost()
        total.add(ingest)
        total.add(answer)
        diagnostics: dict[str, int] = {}
        for row in events + samples:
            for k, v in row.get("diagnostics", {}).items():
                diagnostics[k] = diagnostics.get(k, 0) + v
        return {
            "format_version": RECORD_FORMAT_VERSION,
            "run_id": self.run_id,
            "status": "complete",
            "created": now_iso(),
            "spec": self.spec,
            "spec_hash": self.digest,
            "task": {"name": self.task_spec["name"], "size": self.task_spec.get("size"),
                     "n_questions": len(samples), "n_contexts": len({s["context_id"] for s in samples}),
                     "files": self.data.files, "info": self.data.info},
            "system": {**self.system_spec.as_dict(), "config": self.system.config()},
            "model": self.llm.identity() if self.llm else {"spec": None},
            "embedder": self._embedder.identity() if self._embedder else None,
            "seed": self.cfg.seed,
            "limit": self.cfg.limit,
            "scores": aggregate(samples),
            "cost": {
                "ingest": ingest.as_dict(), "answer": answer.as_dict(),
                "per_agent": {k: v.as_dict() for k, v in sorted(agents.items())},
                "per_question": {"calls": round(total.calls / n, 3),
                                 "prompt_tokens": round(total.prompt_tokens / n, 1),
                                 "completion_tokens": round(total.completion_tokens / n, 1),
                                 "seconds": round((wall_ingest + wall_answer) / n, 3)},
                "wall_seconds": {"ingest": round(wall_ingest, 3), "answer": round(wall_answer, 3)},
            },
            "memory": _final_memory(events),
            "skipped": {"count": len(self.data.bad_rows),
                        "rows": [vars(b) for b in self.data.bad_rows[:200]]},
            "diagnostics": dict(sorted(diagnostics.items())),
            "env": environment(),
            "git": self.git,
        }


def _chunks(items: Sequence, n: int) -> Iterator[list]:
    n = max(1, n)
    for i in range(0, len(items), n):
        yield list(items[i:i + n])


def _share(cost: Cost, n: int, wall: float | None = None) -> dict[str, Any]:
    return {"calls": round(cost.calls / n, 6), "prompt_tokens": round(cost.prompt_tokens / n, 6),
            "completion_tokens": round(cost.completion_tokens / n, 6),
            "seconds": round((wall if wall is not None else cost.seconds) / n, 6)}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def _final_memory(events: list[dict]) -> dict[str, float]:
    """Mean over contexts of the memory size after the context's last ingestion."""
    last: dict[str, dict] = {}
    for ev in events:
        if ev["context_id"] not in last or ev["end"] >= last[ev["context_id"]]["end"]:
            last[ev["context_id"]] = ev
    sizes = [ev.get("memory") or {} for ev in last.values()]
    keys = sorted({k for s in sizes for k in s})
    return {k: round(sum(s.get(k, 0) for s in sizes) / max(len(sizes), 1), 1) for k in keys}


def run(cfg: RunConfig, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run one evaluation and return its record (also written to results/runs/<run_id>/run.json)."""
    return Run(cfg, progress).execute()
