"""The evaluation runner: PersonaMem's protocol over a memory system, with incremental memory and resume.

Per shared context, questions are taken in order of end index; each message is ingested once and the
memory is reused by every question on that context. Every answered question is appended to
samples.jsonl as it completes, so a killed run resumes with nothing lost or duplicated.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from comam_bench.api import Question, Resources, TaskData
from comam_bench.args import check_counts, typed_args
from comam_bench.llm.defaults import DEFAULT_EMBEDDER, DEFAULT_MODEL
from comam_bench.llm.meter import Cost, Meter
from comam_bench import protocols
from comam_bench.llm.spec import split_transport
from comam_bench.portable import portable_obj
from comam_bench.protocols import ProtocolError
from comam_bench.provenance import system_code
from comam_bench.data.recorded import recorded_data_dir
from comam_bench.redact import redact_obj
from comam_bench.keep import DEFAULT_KEEP_CHARS, MEMORY_FILE, kept_row, public_info, should_keep
from comam_bench.registry import load_task_spec, project_root, resolve_system, system_class
from comam_bench.results import (RECORD_FORMAT_VERSION, RunDir, RunLock, default_results_dir, environment,
                                  first_by_key, git_state, now_iso, spec_hash)
from comam_bench.run_checks import check_run_options, model_label, spec_differences
from comam_bench.errors import RunError  # noqa: F401  (its home before errors.py; importers still use it)


class QuestionTimeout(RunError):
    """A system call ran past --timeout-per-question; its context is abandoned and recorded in errors.jsonl."""


ERRORS_FILE = "errors.jsonl"  # one row per context that failed in a session; --resume retries its questions


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
    results_dir: Path | None = None  # runs go to <results_dir>/runs/<id>; None: default_results_dir()
    run_id: str | None = None
    resume: bool = False
    overwrite: bool = False
    rebuild_per_question: bool = False  # benchmark only: rebuild memory from scratch for every position
    protocol: str | None = None  # discriminative | likelihood | open-ended; None: the task spec's, else discriminative
    judge: str | None = None  # open-ended only: a model spec for the LLM judge (protocols/judge.py); None: no judge
    # How the run executes (comam_bench.execution); never part of the spec: any mode gives the same records.
    parallel: int = 1  # contexts in flight per worker process, each with its own system instance
    ray: str | None = None  # None: this process; "auto" | "local" | ADDRESS: contexts as Ray work
    ray_workers: int | None = None  # None: as many as the cluster's free resources allow
    ray_num_cpus: float = 1.0
    ray_num_gpus: float = 0.0
    llm_sharing: str = "auto"  # a backend that is not thread-safe, shared by threads: "lock" | "batch"
    # Seconds a system's answer call may take per question (a batch of n gets n times as long); None: no bound.
    # A call past it is recorded as an error row and its context abandoned; --resume retries those questions.
    timeout_per_question: float | None = None
    # What each answer was given, in memory.jsonl (comam_bench.keep); None: only runs of up to 1000 questions.
    # Not part of the spec: it changes what is recorded, never a result.
    keep_memory: bool | None = None
    keep_chars: int = DEFAULT_KEEP_CHARS


ProgressFn = Callable[[int, int], None]
EventFn = Callable[..., None]  # event(name, **fields): "load", "start", "context", "ingest", "answering", "answered"


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
    model = model_label(cfg.model) if cfg.model and needs_llm else "no-llm"
    parts = [_slug(cfg.task), _slug(cfg.system), _slug(model), f"s{cfg.seed}"]
    if cfg.limit is not None:
        parts.append(f"n{cfg.limit}")
    if cfg.rebuild_per_question:
        parts.append("rebuild")
    if cfg.protocol == "likelihood":  # discriminative ids stay as they always were
        parts.append("likelihood")
    return "--".join(parts + [digest[:8]])


class Run:
    """One evaluation run; `execute()` returns the run record."""

    def __init__(self, cfg: RunConfig, progress: ProgressFn | None = None, llm=None,
                 events: EventFn | None = None) -> None:
        """`llm`: an already-loaded model to use instead of loading cfg.model (a trainer's final evaluation,
        benchmarks); cfg.model still names it in the spec. `events(name, **fields)` hears each phase as it
        starts (for a progress display; see comam_bench/cli/progress.py)."""
        self.cfg = cfg
        self.progress = progress or (lambda done, total: None)
        hook = events or (lambda name, **fields: None)
        # Events reach a terminal (and maybe a log): a model spec in them is shown with its secrets masked.
        self.event = lambda name, **fields: hook(name, **redact_obj(fields))
        self.given_llm = llm

    # ------------------------------------------------------------------ set-up
    def prepare(self) -> None:
        from comam_bench.data import load_task

        cfg = self.cfg
        check_run_options(cfg, self.given_llm is not None)  # bad options fail before any data or model loads
        self.task_spec = load_task_spec(cfg.task)
        self.system_spec = resolve_system(cfg.system, cfg.system_args)
        self.system_cls = system_class(self.system_spec)
        # Checked and typed now, before any run directory exists; the spec records the arguments as given.
        self.system_args = typed_args(self.system_cls, self.system_spec.args, self.system_spec.name)
        check_counts(self.system_cls, self.system_args, self.system_spec.name)  # top_k=0, answer_tokens=-5
        self.code = system_code(self.system_spec, self.system_cls)
        self.data = load_task(self.task_spec, cfg.data_dir)
        # The code is loaded now: its commit is this one, whatever is committed while the run goes on.
        self.git = git_state(project_root())
        self.set_protocol()
        if cfg.model is None and self.system_cls.needs_llm:
            cfg.model = self.system_cls.default_model(dict(self.system_spec.args)) or DEFAULT_MODEL
        self.questions = ordered_questions(self.data, cfg.limit)
        if not self.questions:
            rows = self.data.info.get("rows_read")
            what = "no question rows (only a header)" if rows == 0 else \
                f"no usable questions ({len(self.data.bad_rows)} bad rows)"
            raise RunError(f"task {cfg.task!r} has {what}; a run refuses it. "
                           f"Run `comam-bench data validate --task {cfg.task}` to see why.")
        self.keep_memory = should_keep(cfg.keep_memory, len(self.questions))
        self.spec = self.resolved_spec()
        self.digest = spec_hash(self.spec)
        self.run_id = cfg.run_id or default_run_id(cfg, self.digest, self.system_cls.needs_llm)
        results = Path(cfg.results_dir) if cfg.results_dir else default_results_dir()
        self.dir = RunDir(results / "runs" / self.run_id)
        from comam_bench.execution import executor_for

        self.executor = executor_for(self)
        self.executor.connect()  # an unreachable Ray cluster fails here, before the run directory exists
        try:
            self.open_dir()
        except OSError as exc:  # an unwritable or impossible results folder: a sentence, not a traceback
            self.executor.close()
            raise RunError(f"cannot write the run folder {self.dir.path} ({exc.strerror or exc}); pass a "
                           "writable --results-dir DIR") from None
        except BaseException:
            self.executor.close()  # leave no Ray session this run started
            raise

    def set_protocol(self) -> None:
        """Resolve --protocol against the task spec into the run's Protocol object (comam_bench.protocols);
        a system that cannot run under it, or a judge asked of a protocol without one, fails here."""
        try:
            self.cfg.protocol = protocols.resolve(self.cfg.protocol, self.task_spec)
            options = {}
            if self.cfg.judge is not None:
                from comam_bench.protocols.judge import judge_for

                options["judge"] = judge_for(self.cfg.protocol, self.cfg.judge)
            self.proto = protocols.for_run(self.cfg.protocol, self.task_spec, self.system_cls, **options)
        except ProtocolError as exc:
            raise RunError(str(exc)) from None

    def resolved_spec(self) -> dict[str, Any]:
        """What was run, redacted (no credential from a URL) and with portable paths (a checkpoint under the
        project is recorded relative to it), so the hash depends on neither a secret nor the machine."""
        cfg, cls = self.cfg, self.system_cls
        return portable_obj(redact_obj({
            "format_version": RECORD_FORMAT_VERSION,
            "protocol": self.proto.version,
            "task": {k: v for k, v in self.task_spec.items() if k != "description"},
            "data_files": dict(sorted(self.data.files.items())),
            "system": self.system_record(),
            "model": split_transport(cfg.model)[0] if cls.needs_llm and cfg.model else None,
            "embedder": cfg.embedder,
            "seed": cfg.seed,
            "limit": cfg.limit,
            "rebuild_per_question": cfg.rebuild_per_question,
            # Only when a judge is used (other specs, and their hashes, stay as they were): a resumed run then
            # cannot mix two judges' verdicts.
            **({"judge": self.proto.options["judge"].identity()} if self.proto.options.get("judge") else {}),
        }))

    def system_record(self) -> dict[str, Any]:
        """The resolved system, with its code's provenance when it is a plugin (so an edit changes the hash)."""
        return {**self.system_spec.as_dict(), **({"code": self.code} if self.code else {})}

    def open_dir(self) -> None:
        """Lock the run folder, then decide: fresh start, resume, nothing to do, or refuse."""
        d = self.dir
        self.already_complete = False
        self.lock = RunLock(d.path)
        self.lock.acquire()
        try:
            self._check_dir()
        except BaseException:
            self.lock.release()
            d.discard_if_unanswered()
            raise

    def _check_dir(self) -> None:
        d, cfg = self.dir, self.cfg
        if cfg.overwrite or (d.exists() and not d.is_complete() and not d.has_answers()):
            d.clear()  # an unanswered run (a crash while loading) has nothing to keep: start afresh
        elif d.exists() and d.stored_protocol() not in (None, self.spec["protocol"]):
            raise RunError(f"run {self.run_id!r} at {d.path} was started under the protocol {d.stored_protocol()!r}; "
                           f"it cannot be resumed under {self.spec['protocol']!r}. Resume it with --protocol "
                           f"{_protocol_name(d.stored_protocol())}, or use --run-id NAME for a new run.")
        elif d.exists() and d.stored_hash() != self.digest and (cfg.resume or d.is_complete()):
            raise RunError(f"run {self.run_id!r} at {d.path} was started with a different spec; it cannot be "
                           f"resumed with this one ({spec_differences(d.stored_spec(), self.spec)}). "
                           "Use --run-id NAME for a new run, or --overwrite.")
        elif d.is_complete() and cfg.resume:
            self.already_complete = True
            return
        elif d.is_complete():
            raise RunError(f"run {self.run_id!r} is already complete at {d.path}. Pass --overwrite to redo it, "
                           "or --run-id NAME to keep both.")
        elif d.exists() and not cfg.resume:
            raise RunError(f"an interrupted run {self.run_id!r} exists at {d.path}. Pass --resume to continue it "
                           "(nothing answered is redone), or --overwrite to start again.")
        d.start(self.spec, self.digest)

    def release(self, failed: bool) -> None:
        """Unlock the folder; after a failure before the first answer, remove the run so a rerun is not blocked."""
        self.lock.release()
        if failed:
            self.dir.discard_if_unanswered()

    def start_workers(self) -> None:
        """Load the models (here, or in the Ray workers) once; a failure here leaves no run directory behind."""
        if getattr(self, "workers_started", False):
            return
        try:
            self.executor.start()
        except BaseException:
            self.release(failed=True)
            raise
        self.workers_started = True

    def load_models(self, share: Callable[[Any], Any] = lambda model: model) -> None:
        """The model, the (lazy) embedder and this run's system instance. `share` wraps a model for use
        from several threads at once (parallel runs, see comam_bench.execution); self.llm stays unwrapped."""
        from comam_bench.llm import load_embedder, load_llm

        cfg = self.cfg
        self.llm = None
        if self.system_cls.needs_llm:
            self.llm = self.given_llm if self.given_llm is not None else load_llm(cfg.model)
        self._embedder = None
        lock = threading.Lock()

        def embedder_factory():
            with lock:  # parallel workers may ask at once; load it once
                if self._embedder is None:
                    self._embedder = load_embedder(cfg.embedder)
                return share(self._embedder)

        self.embedder_factory = embedder_factory
        self.attach_system(share(self.llm) if self.llm else None)

    def attach_system(self, llm) -> None:
        """A fresh meter, Resources and system instance over `llm` (each parallel worker has its own)."""
        self.meter = Meter()
        self.attached_llm = llm  # kept so a system abandoned after a timeout can be replaced by a fresh one
        metered = self.meter.wrap(llm) if llm else None
        self.resources = Resources(metered, self.embedder_factory, seed=self.cfg.seed, meter=self.meter)
        self.meter.counts = self.resources.diagnostics  # what the meter counts lands in the run's diagnostics
        self.system = self.system_cls(self.resources, **self.system_args)

    # ------------------------------------------------------------------ the loop
    def execute(self) -> dict[str, Any]:
        """Answer every question not yet answered and write the record; a complete run's record is returned as is."""
        if not hasattr(self, "dir"):
            self.prepare()
        if self.already_complete:
            self.release(failed=False)
            return json.loads(self.dir.record_path.read_text())
        self.done = first_by_key(self.dir.read("samples.jsonl"), "question_id")
        self.ingested = first_by_key(self.dir.read("ingest.jsonl"), "key")
        failed = True
        try:
            self.event("load", model=self.cfg.model if self.system_cls.needs_llm else None)
            self.start_workers()  # loads the models here, or in the Ray workers (the CLI may have done it)
            self.started = time.perf_counter()
            total = len(self.questions)
            contexts = [(cid, list(group)) for cid, group in groupby(self.questions, key=lambda q: q.context_id)]
            self.event("start", done=self._answered(), total=total, contexts=len(contexts))
            self.progress(self._answered(), total)
            # A context finished before an interruption is not replayed.
            todo = [(cid, qs) for cid, qs in contexts if not all(q.id in self.done for q in qs)]
            self.executor.run_contexts(todo)  # every row comes back through self.emit, in this thread
            record = self.build_record()  # before closing: the record asks the models who they are
            self.dir.finish(record)
            failed = False
        finally:
            try:
                self.executor.close()
            finally:
                self.release(failed)
        return record

    def close_models(self) -> None:
        """Close the system and the model this run loaded (not one it was given)."""
        self.system.close()
        if self.llm is not None and self.given_llm is None:
            self.llm.close()

    def emit(self, name: str, rows: list[dict]) -> None:
        """The one writer of a run's JSONL files: append rows, count answered questions, report progress.
        Parallel workers send their rows here instead of writing (see comam_bench.execution)."""
        if name == "ingest.jsonl":
            # A resumed run rebuilds memory it had before; each step is recorded once, by its first run.
            rows = [r for r in rows if r["key"] not in self.ingested]
            self.ingested.update((r["key"], r) for r in rows)
            if not rows:
                return
        self.dir.append(name, rows)
        if name == "samples.jsonl":
            for row in rows:
                self.done[row["question_id"]] = row
            self.event("answered", done=self._answered(), total=len(self.questions))
            self.progress(self._answered(), len(self.questions))

    def run_context(self, cid: str, questions: Sequence[Question]) -> None:
        """Ingest up to each question position once, answer the questions not yet answered there."""
        context = self.data.contexts[cid]
        order = list(dict.fromkeys(q.context_id for q in self.questions)) if self.questions else [cid]
        self.event("context", index=order.index(cid) + 1 if cid in order else 1, contexts=len(order),
                   context_id=cid, questions=len(questions))
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
            self.event("ingest", start=start, end=end, length=len(context))
            self.system.ingest(context[start:end], start)
        wall = time.perf_counter() - t0
        cost, agents = self.meter.take()
        key = f"{cid}:{start}:{end}" + (":rebuild" if self.cfg.rebuild_per_question else "")
        self.emit("ingest.jsonl", [{
            "key": key, "context_id": cid, "start": start, "end": end, "wall_seconds": round(wall, 4),
            "cost": cost.as_dict(), "agents": {a: c.as_dict() for a, c in agents.items()},
            "memory": self.system.memory_stats(), "diagnostics": _delta(before, self.resources.diagnostics),
        }])

    def replay(self, answered: Sequence[Question]) -> None:
        """Re-ask recorded questions only for their effect on memory; outputs and cost are discarded."""
        for batch in _chunks(answered, self.cfg.batch_size):
            self.system_answers(batch)
            self.meter.take()

    def system_answers(self, batch: Sequence[Question]):
        """The system's answers under the run's protocol (likelihood: its chats, nothing scored yet)."""
        return self.proto.answers(self.system, batch)

    def bounded(self, call: Callable[[], Any], batch: Sequence[Question]) -> Any:
        """call() within --timeout-per-question x len(batch) seconds, else QuestionTimeout. A hung call cannot be
        stopped (see execution.call_within): this run's system is replaced by a fresh instance, so the contexts
        still to come never share state with it."""
        from comam_bench.execution import CallTimedOut, call_within

        limit = self.cfg.timeout_per_question
        if not limit:
            return call()
        try:
            return call_within(call, limit * len(batch))
        except CallTimedOut:
            self.attach_system(self.attached_llm)
            raise QuestionTimeout(f"system {self.cfg.system!r} did not answer question(s) "
                                  f"{', '.join(q.id for q in batch)} within {limit:g} s per question "
                                  "(--timeout-per-question); the rest of its context was abandoned") from None

    def record_failure(self, cid: str, message: str) -> None:
        """A row in errors.jsonl for a context that did not finish: why, and its questions still unanswered
        (which --resume answers)."""
        todo = [q.id for q in self.questions if q.context_id == cid and q.id not in self.done]
        self.dir.append(ERRORS_FILE, [redact_obj({"context_id": cid, "error": message, "questions": todo,
                                                  "time": now_iso()})])

    def judge(self, batch: Sequence[Question], answers) -> list[dict[str, Any]]:
        """Per question, the protocol's verdict fields (the extracted letter and correctness; the option
        scores under likelihood; the prediction, F1 and BLEU-1 under open-ended)."""
        try:
            return self.proto.judge(batch, answers, self.resources)
        except ProtocolError as exc:
            raise RunError(str(exc)) from None

    def answer(self, batch: Sequence[Question]) -> None:
        self.meter.phase = "answer"
        self.event("answering", first=self._answered() + 1, last=self._answered() + len(batch),
                   total=len(self.questions))
        before = dict(self.resources.diagnostics)
        t0 = time.perf_counter()
        answers = self.bounded(lambda: self.system_answers(batch), batch)
        if len(answers) != len(batch):
            raise RunError(f"system {self.cfg.system!r} returned {len(answers)} answers for {len(batch)} questions")
        for a in answers:
            if not isinstance(getattr(a, "text", None), str):
                raise RunError(f"system {self.cfg.system!r} returned an answer whose text is "
                               f"{type(getattr(a, 'text', None)).__name__}, not str: answer() must return "
                               "Answer(text=...) objects holding the model's reply as text")
        judged = self.judge(batch, answers)  # under likelihood the scoring is answer time too
        wall = time.perf_counter() - t0
        cost, agents = self.meter.take()
        n = len(batch)
        diag = _delta(before, self.resources.diagnostics)
        rows = []
        for i, (q, a, verdict) in enumerate(zip(batch, answers, judged)):
            rows.append({
                "question_id": q.id, "context_id": q.context_id, "type": q.type, "topic": q.topic,
                "distance_blocks": q.distance_blocks, "end_index": q.end_index, "gold": q.gold,
                "raw_output": a.text, **verdict,
                # A batch's cost is shared evenly by its questions (the meter cannot split one call).
                "cost": _share(cost, n, wall), "agents": {k: _share(c, n) for k, c in agents.items()},
                "info": public_info(a.info), "diagnostics": diag if i == 0 else {},
            })
        if self.keep_memory:  # before the samples: a question answered again after a crash keeps its last row
            self.emit(MEMORY_FILE, [kept_row(q, a, self.cfg.keep_chars) for q, a in zip(batch, answers)])
        self.emit("samples.jsonl", rows)

    def _answered(self) -> int:
        return sum(q.id in self.done for q in self.questions)

    # ------------------------------------------------------------------ the record
    def build_record(self) -> dict[str, Any]:
        from comam_bench.scores import per_question_cost

        # In run order, whatever order parallel workers wrote them in: the record is the same either way.
        samples = [self.done[q.id] for q in self.questions if q.id in self.done]
        order = {cid: i for i, cid in enumerate(dict.fromkeys(q.context_id for q in self.questions))}
        events = sorted(first_by_key(self.dir.read("ingest.jsonl"), "key").values(),
                        key=lambda ev: (order.get(ev["context_id"], len(order)), ev["start"], ev["end"]))
        ingest, answer, agents = Cost(), Cost(), {}
        for ev in events:
            ingest.add(Cost(**ev["cost"]))  # seconds here = time inside LLM calls; wall time kept apart
        for s in samples:
            answer.add(Cost(**s["cost"]))
        for row in events + samples:
            for name, c in row.get("agents", {}).items():
                agents.setdefault(name, Cost()).add(Cost(**c))
        wall_ingest = sum(ev["wall_seconds"] for ev in events)
        wall_answer = sum(s["cost"]["seconds"] for s in samples)
        diagnostics: dict[str, int] = {}
        for row in events + samples:
            for k, v in row.get("diagnostics", {}).items():
                diagnostics[k] = diagnostics.get(k, 0) + v
        # Redacted as a whole: a model's identity or a system's config may echo a URL with credentials; and no
        # absolute path of this machine (a checkpoint, the data cache) is recorded: see comam_bench.portable.
        return portable_obj(redact_obj({
            "format_version": RECORD_FORMAT_VERSION,
            "run_id": self.run_id,
            "status": "complete",
            "created": now_iso(),
            "spec": self.spec,
            "spec_hash": self.digest,
            "task": {"name": self.task_spec["name"], "size": self.task_spec.get("size"),
                     "n_questions": len(samples), "n_contexts": len({s["context_id"] for s in samples}),
                     "files": self.data.files, "info": self.data.info,
                     "data_dir": recorded_data_dir(self.cfg.data_dir, self.dir.path.parent.parent)},
            "system": {**self.system_record(), "config": self.system.config()},
            "model": self.llm.identity() if self.llm else {"spec": None},
            # How the model was reached (timeout=, retries=...): recorded, but outside the spec and its hash.
            "transport": split_transport(self.cfg.model)[1] if self.llm and self.cfg.model else {},
            "embedder": self._embedder.identity() if self._embedder else None,
            "seed": self.cfg.seed,
            "limit": self.cfg.limit,
            "protocol": self.proto.record(),
            "scores": self.proto.summarise(samples),
            **self.proto.extra_scores(samples),
            "cost": {
                "ingest": ingest.as_dict(), "answer": answer.as_dict(),
                "per_agent": {k: v.as_dict() for k, v in sorted(agents.items())},
                "per_question": per_question_cost(vars(ingest), vars(answer), len(samples), wall_ingest + wall_answer),
                "wall_seconds": {"ingest": round(wall_ingest, 3), "answer": round(wall_answer, 3)},
            },
            "memory": _final_memory(events),
            "skipped": {"count": len(self.data.bad_rows),
                        "rows": [vars(b) for b in self.data.bad_rows[:200]]},
            "diagnostics": dict(sorted(diagnostics.items())),
            "env": environment(),
            "git": self.git,
            "execution": {**self.executor.describe(), **({"timeout_per_question": self.cfg.timeout_per_question}
                                                          if self.cfg.timeout_per_question else {})},
        }))



def _protocol_name(version: str | None) -> str:
    return protocols.VERSIONS.get(version or "", "discriminative")


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
    """Run one evaluation and return its record (also written to <results_dir>/runs/<run_id>/run.json)."""
    return Run(cfg, progress).execute()
