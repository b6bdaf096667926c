"""The evaluation runner: a task's protocol over a memory system, with incremental memory and resume.

`Run` is the driver. `prepare` builds the run's frozen plan (comam_bench.plan) from the RunConfig, which it
leaves as given, and opens the run folder; `execute` has an executor (comam_bench.execution) drive context
workers (comam_bench.worker) built from that plan, and is the only writer of the run folder: each row a
worker hands back is appended as it completes (`emit`), so a killed run resumes with nothing lost or
duplicated, and the record is built from those rows (`build_record`).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Callable

from comam_bench.api import Question, TaskData
from comam_bench.errors import RunError
from comam_bench.execution import executor_for
from comam_bench.llm.defaults import DEFAULT_EMBEDDER, DEFAULT_MODEL  # noqa: F401 - the CLI imports them here
from comam_bench.llm.meter import Cost
from comam_bench import latency, protocols
from comam_bench.plan import RunPlan, WorkerPlan, checked_system, default_model, system_record
from comam_bench.llm.spec import split_transport
from comam_bench.portable import portable_obj
from comam_bench.protocols import ProtocolError
from comam_bench.provenance import system_code
from comam_bench.data.recorded import recorded_data_dir
from comam_bench.redact import redact_obj
from comam_bench.keep import DEFAULT_KEEP_CHARS, should_keep
from comam_bench.registry import load_task_spec, project_root
from comam_bench.record import (SPEC_FORMAT_VERSION, CostBlock, ModelBlock, ProtocolBlock, RunRecord, Scores,
                                 SystemBlock, TaskBlock, observe_data)
from comam_bench.results import (RunDir, RunLock, default_results_dir, environment,
                                  first_by_key, git_state, now_iso, spec_hash)
from comam_bench.run_checks import check_run_options, model_label, spec_differences
from comam_bench.selection import Selection, read_questions_file
from comam_bench.worker import QuestionTimeout  # noqa: F401 - its historical home


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
    limit: int | None = None  # the first N questions of the selection, in run order
    limit_per_context: int | None = None  # up to N per context, spread over types and positions (selection.py)
    questions_file: str | None = None  # only the question ids this file lists (selection.read_questions_file)
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
    return Selection(limit=limit).apply(data)


def selection_of(cfg: RunConfig) -> Selection:
    """The config's question selection, its questions file read (RunError for a bad file)."""
    qfile = read_questions_file(cfg.questions_file) if cfg.questions_file is not None else None
    return Selection(limit=cfg.limit, per_context=cfg.limit_per_context, questions=qfile)


def _slug(text: str, n: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[-n:] or "none"


def default_run_id(cfg: RunConfig, digest: str, needs_llm: bool = True, model: str | None = None,
                   protocol: str | None = None, selection: Selection | None = None) -> str:
    """task--system--model--seed[--qCOUNT-IDHASH][--pcN][--nLIMIT][--rebuild][--likelihood]--hash; `model`
    and `protocol`: the resolved ones where the config left them to defaults; `selection`: the plan's (the
    config's limits without a questions file when not given)."""
    model = model or cfg.model
    model = model_label(model) if model and needs_llm else "no-llm"
    parts = [_slug(cfg.task), _slug(cfg.system), _slug(model), f"s{cfg.seed}"]
    selection = selection or Selection(limit=cfg.limit, per_context=cfg.limit_per_context)
    parts += selection.run_id_tags()
    if cfg.rebuild_per_question:
        parts.append("rebuild")
    if (protocol or cfg.protocol) == "likelihood":  # discriminative ids stay as they always were
        parts.append("likelihood")
    return "--".join(parts + [digest[:8]])


class Run:
    """One evaluation run, driven from this process: `prepare()` builds its frozen RunPlan and opens the run
    folder; `execute()` has the executor's workers answer the contexts, writes every row they hand back
    (`emit`, the one writer) and the record, and returns the record."""

    def __init__(self, cfg: RunConfig, progress: ProgressFn | None = None, llm=None,
                 events: EventFn | None = None) -> None:
        """`llm`: an already-loaded model to use instead of loading cfg.model (a trainer's final evaluation,
        benchmarks); cfg.model still names it in the spec. `events(name, **fields)` hears each phase as it
        starts (for a progress display; see comam_bench/cli/progress.py). `cfg` is never changed."""
        self.cfg = cfg
        self.progress = progress or (lambda done, total: None)
        hook = events or (lambda name, **fields: None)
        # Events reach a terminal (and maybe a log): a model spec in them is shown with its secrets masked.
        self.event = lambda name, **fields: hook(name, **redact_obj(fields))
        self.given_llm = llm
        self.plan: RunPlan | None = None
        self.session_started = time.perf_counter()  # the record's resources.session_wall_seconds

    # ------------------------------------------------------------------ the plan, as attributes
    @property
    def questions(self) -> list[Question]:
        return list(self.plan.questions)

    @property
    def spec(self) -> dict[str, Any]:
        return self.plan.spec

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    # ------------------------------------------------------------------ set-up
    def prepare(self) -> None:
        """Build the plan (bad options, names, arguments and data fail here, before any model loads), then
        the executor and the run folder."""
        self.plan = self.make_plan()
        results = Path(self.cfg.results_dir) if self.cfg.results_dir else default_results_dir()
        self.dir = RunDir(results / "runs" / self.plan.run_id)
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

    def make_plan(self) -> RunPlan:
        """The frozen plan of this run: defaults (model, protocol) resolved into it, the config left as given."""
        from comam_bench.data import load_task

        cfg = self.cfg
        check_run_options(cfg, self.given_llm is not None)  # bad options fail before any data or model loads
        selection = selection_of(cfg)  # a bad --questions file too
        self.task_spec = load_task_spec(cfg.task)
        system_spec, self.system_cls, system_args = checked_system(cfg.system, cfg.system_args)
        code = system_code(system_spec, self.system_cls)
        self.data = load_task(self.task_spec, cfg.data_dir)
        # The code is loaded now: its commit is this one, whatever is committed while the run goes on.
        git = git_state(project_root())
        self.set_protocol()
        model = default_model(self.system_cls, system_spec, cfg.model)
        questions = selection.apply(self.data)
        if not questions:
            rows = self.data.info.get("rows_read")
            what = "no question rows (only a header)" if rows == 0 else \
                f"no usable questions ({len(self.data.bad_rows)} bad rows)"
            raise RunError(f"task {cfg.task!r} has {what}; a run refuses it. "
                           f"Run `comam-bench data validate --task {cfg.task}` to see why.")
        worker = WorkerPlan(
            system=cfg.system, system_spec=system_spec, system_cls=self.system_cls, system_args=system_args,
            proto=self.proto, model=model, embedder=cfg.embedder, seed=cfg.seed, batch_size=cfg.batch_size,
            rebuild_per_question=cfg.rebuild_per_question, timeout_per_question=cfg.timeout_per_question,
            keep_memory=should_keep(cfg.keep_memory, len(questions)), keep_chars=cfg.keep_chars,
            context_order=tuple(dict.fromkeys(q.context_id for q in questions)))
        spec = resolved_spec(cfg, self.task_spec, self.data, system_record(system_spec, code), worker, selection)
        digest = spec_hash(spec)
        run_id = cfg.run_id or default_run_id(cfg, digest, self.system_cls.needs_llm, model, self.proto.name,
                                              selection)
        return RunPlan(task_spec=self.task_spec, questions=tuple(questions), spec=spec, digest=digest,
                       run_id=run_id, code=code, git=git, worker=worker,
                       selection=selection.record(self.data, questions))

    def set_protocol(self) -> None:
        """Resolve --protocol against the task spec into the run's Protocol object (comam_bench.protocols);
        a system that cannot run under it, or a judge asked of a protocol without one, fails here."""
        try:
            name = protocols.resolve(self.cfg.protocol, self.task_spec)
            options = {}
            if self.cfg.judge is not None:
                from comam_bench.protocols.judge import judge_for

                options["judge"] = judge_for(name, self.cfg.judge)
            self.proto = protocols.for_run(name, self.task_spec, self.system_cls, **options)
        except ProtocolError as exc:
            raise RunError(str(exc)) from None

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
        d, cfg, plan = self.dir, self.cfg, self.plan
        run_id, protocol = plan.run_id, plan.spec["protocol"]
        if cfg.overwrite or (d.exists() and not d.is_complete() and not d.has_answers()):
            d.clear()  # an unanswered run (a crash while loading) has nothing to keep: start afresh
        elif d.exists() and d.stored_protocol() not in (None, protocol):
            raise RunError(f"run {run_id!r} at {d.path} was started under the protocol {d.stored_protocol()!r}; "
                           f"it cannot be resumed under {protocol!r}. Resume it with --protocol "
                           f"{_protocol_name(d.stored_protocol())}, or use --run-id NAME for a new run.")
        elif d.exists() and d.stored_hash() != plan.digest and (cfg.resume or d.is_complete()):
            raise RunError(f"run {run_id!r} at {d.path} was started with a different spec; it cannot be "
                           f"resumed with this one ({spec_differences(d.stored_spec(), plan.spec)}). "
                           "Use --run-id NAME for a new run, or --overwrite.")
        elif d.is_complete() and cfg.resume:
            self.already_complete = True
            return
        elif d.is_complete():
            raise RunError(f"run {run_id!r} is already complete at {d.path}. Pass --overwrite to redo it, "
                           "or --run-id NAME to keep both.")
        elif d.exists() and not cfg.resume:
            raise RunError(f"an interrupted run {run_id!r} exists at {d.path}. Pass --resume to continue it "
                           "(nothing answered is redone), or --overwrite to start again.")
        d.start(plan.spec, plan.digest)

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

    # ------------------------------------------------------------------ the loop
    def execute(self) -> dict[str, Any]:
        """Answer every question not yet answered and write the record; a complete run's record is returned as is."""
        if self.plan is None:
            self.prepare()
        if self.already_complete:
            self.release(failed=False)
            return RunRecord.read(self.dir.record_path).to_dict()  # an older format: migrated in memory
        self.done = first_by_key(self.dir.read("samples.jsonl"), "question_id")
        self.ingested = first_by_key(self.dir.read("ingest.jsonl"), "key")
        failed = True
        try:
            self.event("load", model=self.plan.worker.model if self.system_cls.needs_llm else None)
            self.start_workers()  # loads the models here, or in the Ray workers (the CLI may have done it)
            self.started = time.perf_counter()
            total = len(self.plan.questions)
            contexts = [(cid, list(group)) for cid, group in groupby(self.plan.questions, key=lambda q: q.context_id)]
            self.event("start", done=self._answered(), total=total, contexts=len(contexts))
            self.progress(self._answered(), total)
            # A context finished before an interruption is not replayed.
            todo = [(cid, qs) for cid, qs in contexts if not all(q.id in self.done for q in qs)]
            self.executor.run_contexts(todo)  # every row comes back through self.emit, in this thread
            # Before closing: the models say who they are (and Ray workers how much memory they used).
            record = self.build_record(self.executor.facts())
            self.dir.finish(record)
            failed = False
        finally:
            try:
                self.executor.close()
            finally:
                self.release(failed)
        return record

    def emit(self, name: str, rows: list[dict]) -> None:
        """The one writer of a run's JSONL files: append rows, count answered questions, report progress.
        Every worker hands its rows here, in this thread (see comam_bench.execution)."""
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
            self.event("answered", done=self._answered(), total=len(self.plan.questions))
            self.progress(self._answered(), len(self.plan.questions))

    def worker_event(self, name: str, **fields: Any) -> None:
        """A worker's phase, for the progress display; a batch being answered is placed in the run's count."""
        if name == "answering":
            n, answered = fields.pop("batch"), self._answered()
            fields = {"first": answered + 1, "last": answered + n, "total": len(self.plan.questions)}
        self.event(name, **fields)

    def record_failure(self, cid: str, message: str) -> None:
        """A row in errors.jsonl for a context that did not finish: why, and its questions still unanswered
        (which --resume answers)."""
        todo = [q.id for q in self.plan.questions if q.context_id == cid and q.id not in self.done]
        self.dir.append(ERRORS_FILE, [redact_obj({"context_id": cid, "error": message, "questions": todo,
                                                  "time": now_iso()})])

    def _answered(self) -> int:
        return sum(q.id in self.done for q in self.plan.questions)

    # ------------------------------------------------------------------ the record
    def build_record(self, facts: dict[str, Any]) -> dict[str, Any]:
        """run.json, from the rows written and what the workers report (`facts`: the model's and embedder's
        identities, the system's config, Ray workers' memory and CPU time; see the executors' facts())."""
        from comam_bench.resources import resources_block
        from comam_bench.scores import per_question_cost

        plan, cfg, proto = self.plan, self.cfg, self.plan.worker.proto
        # In run order, whatever order parallel workers wrote them in: the record is the same either way.
        samples = [self.done[q.id] for q in plan.questions if q.id in self.done]
        order = {cid: i for i, cid in enumerate(plan.worker.context_order)}
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
        model = facts["model"]
        # Redacted as a whole: a model's identity or a system's config may echo a URL with credentials; and no
        # absolute path of this machine (a checkpoint, the data cache) is recorded: see comam_bench.portable.
        data_dir = recorded_data_dir(cfg.data_dir, self.dir.path.parent.parent)
        return portable_obj(redact_obj(RunRecord(
            run_id=plan.run_id,
            created=now_iso(),
            spec=plan.spec,
            spec_hash=plan.digest,
            task=TaskBlock({"name": plan.task_spec["name"], "size": plan.task_spec.get("size"),
                            "n_questions": len(samples), "n_contexts": len({s["context_id"] for s in samples}),
                            "files": self.data.files, "info": self.data.info, "data_dir": data_dir}),
            # Which data, by content; generated data also by generator and seed, so no reader regenerates it.
            data=observe_data(plan.task_spec, self.data.files, data_dir, [cfg.seed, plan.task_spec.get("seed")]),
            system=SystemBlock({**plan.system_record(), "config": facts["config"]}),
            model=ModelBlock(model if model is not None else {"spec": None}),
            # How the model was reached (timeout=, retries=...): recorded, but outside the spec and its hash.
            transport=split_transport(plan.worker.model)[1] if model is not None and plan.worker.model else {},
            embedder=facts["embedder"],
            seed=cfg.seed,
            limit=cfg.limit,
            selection=plan.selection,
            resources=resources_block(self.session_started, facts.get("worker_usage")),
            protocol=ProtocolBlock(proto.record()),
            scores=Scores(proto.summarise(samples)),
            scores_by_norm=proto.extra_scores(samples).get("scores_by_norm"),
            cost=CostBlock({
                "ingest": ingest.as_dict(), "answer": answer.as_dict(),
                "per_agent": {k: v.as_dict() for k, v in sorted(agents.items())},
                "per_question": per_question_cost(vars(ingest), vars(answer), len(samples), wall_ingest + wall_answer),
                "wall_seconds": {"ingest": round(wall_ingest, 3), "answer": round(wall_answer, 3)},
                # p50/p95 per question by phase, ingestion given to the question that first needed it
                "latency": latency.summary(events, samples),
            }),
            memory=_final_memory(events),
            skipped={"count": len(self.data.bad_rows), "rows": [vars(b) for b in self.data.bad_rows[:200]]},
            diagnostics=dict(sorted(diagnostics.items())),
            env=environment(),
            git=plan.git,
            execution={**self.executor.describe(), **({"timeout_per_question": cfg.timeout_per_question}
                                                      if cfg.timeout_per_question else {})},
        ).to_dict()))


def resolved_spec(cfg: RunConfig, task_spec: dict, data: TaskData, system_record: dict,
                  worker: WorkerPlan, selection: Selection | None = None) -> dict[str, Any]:
    """What was run, redacted (no credential from a URL) and with portable paths (a checkpoint under the
    project is recorded relative to it), so the hash depends on neither a secret nor the machine."""
    proto = worker.proto
    return portable_obj(redact_obj({
        "format_version": SPEC_FORMAT_VERSION,
        "protocol": proto.version,
        "task": {k: v for k, v in task_spec.items() if k != "description"},
        "data_files": dict(sorted(data.files.items())),
        "system": system_record,
        "model": split_transport(worker.model)[0] if worker.system_cls.needs_llm and worker.model else None,
        "embedder": cfg.embedder,
        "seed": cfg.seed,
        "limit": cfg.limit,
        "rebuild_per_question": cfg.rebuild_per_question,
        # Only for a per-context or file selection (a plain run's spec, and hash, stay as they were).
        **({"selection": selection.spec()} if selection is not None and selection.spec() else {}),
        # Only when a judge is used (other specs, and their hashes, stay as they were): a resumed run then
        # cannot mix two judges' verdicts.
        **({"judge": proto.options["judge"].identity()} if proto.options.get("judge") else {}),
    }))


def _protocol_name(version: str | None) -> str:
    return protocols.VERSIONS.get(version or "", "discriminative")


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
