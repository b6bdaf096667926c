"""How a run's contexts are executed: one after another, several at once in threads, or as Ray work.

Contexts are independent (a system's memory is per context), so they may run in any order and at the same
time; within a context the runner's own `Run.run_context` keeps questions in history order. In every mode a
worker runs contexts on its own system instance and sends its rows back to the one writer, `Run.emit`, in
the driver's thread, so samples.jsonl lines are never torn or interleaved, progress counts every worker's
questions, and the run record (built from the rows in run order) is the same in every mode but for timings
and its `execution` section.

A context that fails is recorded (a row in errors.jsonl) and the run goes on to the next one, in every mode;
the run then ends with one error naming each failed context. `--resume` then finishes the run with nothing
lost or duplicated.
"""
from __future__ import annotations

import copy
import queue
import threading
from collections import deque
from typing import Any, Callable, Sequence

from comam_bench.api import Question, TaskData

Todo = Sequence[tuple[str, Sequence[Question]]]
JOIN_SECONDS = 10.0  # after Ctrl-C, how long workers get to finish the step they are in


def executor_for(run) -> "SequentialExecutor":
    """The executor `run.cfg` asks for; bad execution options fail here, before any work."""
    from comam_bench.llm.shared import SHARING
    from comam_bench.runner import RunError

    cfg = run.cfg
    if not isinstance(cfg.parallel, int) or cfg.parallel < 1:
        raise RunError(f"--parallel {cfg.parallel!r}: give a whole number of contexts in flight, 1 or more")
    if cfg.llm_sharing not in ("auto", *SHARING):
        raise RunError(f"--llm-sharing {cfg.llm_sharing!r}: expected auto, {', '.join(SHARING)}")
    if cfg.ray is None:
        if cfg.ray_workers is not None or cfg.ray_num_gpus or cfg.ray_num_cpus != 1.0:
            raise RunError("--ray-workers, --ray-num-cpus and --ray-num-gpus apply to Ray runs only: add --ray auto "
                           "(a running cluster), --ray local or --ray ADDRESS")
        return ThreadExecutor(run) if cfg.parallel > 1 else SequentialExecutor(run)
    from comam_bench.ray_exec import RayExecutor

    return RayExecutor(run)


class SequentialExecutor:
    """One context after another, in this thread (what a run always did)."""

    mode = "sequential"

    def __init__(self, run) -> None:
        self.run = run

    def connect(self) -> None:
        """Nothing to reach."""

    def start(self) -> None:
        self.run.load_models()

    def run_contexts(self, todo: Todo) -> None:
        failures: list[tuple[str, BaseException]] = []
        for cid, questions in todo:
            try:
                self.run.run_context(cid, questions)
            except Exception as exc:  # noqa: BLE001 - one failed context is recorded; the others still run
                failures.append((cid, exc))
        raise_failures(failures, [], len(todo), self.run)

    def close(self) -> None:
        if hasattr(self.run, "system"):  # nothing was loaded when the run stops before its start
            self.run.close_models()

    def describe(self) -> dict[str, Any]:
        """The record's `execution` section."""
        return {"mode": self.mode, "parallel": 1, "workers": 1}


class WorkerPool:
    """`size` system instances over one loaded model in this process; a context runs on a free one.

    Used by the thread executor in the driver and by each Ray worker."""

    def __init__(self, run, size: int) -> None:
        from comam_bench.llm.shared import DEFAULT_SHARING, Sharer

        how = run.cfg.llm_sharing if run.cfg.llm_sharing != "auto" else DEFAULT_SHARING
        self.sharer = Sharer(how)
        self.run = run
        run.load_models(share=self.sharer if size > 1 else (lambda model: model))
        shared = self.sharer(run.llm) if size > 1 else run.llm
        self.free: queue.Queue = queue.Queue()
        for i in range(size):
            worker = copy.copy(run)  # the first shares run.system (so the record's config is a worker's)
            if i:
                worker.attach_system(shared)
            self.free.put(worker)
        self.size = size

    def run_context(self, cid: str, questions: Sequence[Question], done, emit: Callable,
                    context=None) -> None:
        """Run one context on a free system instance; rows go to `emit`, `done` holds answered ids.
        `context`: the messages, where this process holds no task data (a Ray worker)."""
        worker = self.free.get()
        try:
            worker.emit, worker.done = emit, done
            if context is not None:
                worker.data = TaskData(name=self.run.task_spec["name"], questions=[], contexts={cid: context})
            worker.run_context(cid, questions)
        finally:
            self.free.put(worker)

    def sharing(self) -> str | None:
        """How the model is shared by this pool's threads (None: one thread, or no model)."""
        return self.sharer.describe(self.run.llm) if self.size > 1 else None

    def close(self) -> None:
        """Close every system instance, then the model (once)."""
        others = [w for w in list(self.free.queue) if w.system is not self.run.system]
        for worker in others:
            worker.system.close()
        self.run.close_models()


class _Stopped(Exception):
    """Raised in a worker thread at its next row once the run is stopping."""


class ThreadExecutor(SequentialExecutor):
    """Up to `parallel` contexts at once in this process, sharing one model (see comam_bench.llm.shared)."""

    mode = "threads"

    def start(self) -> None:
        self.pool = WorkerPool(self.run, self.run.cfg.parallel)

    def run_contexts(self, todo: Todo) -> None:
        events: queue.Queue = queue.Queue()
        stop = threading.Event()
        pending = deque(todo)
        take = threading.Lock()
        done = frozenset(self.run.done)  # answered before this session: what workers skip or replay

        def emit(name: str, rows: list[dict]) -> None:
            if stop.is_set():
                raise _Stopped
            events.put(("rows", name, rows))

        def work() -> None:
            while not stop.is_set():
                with take:
                    if not pending:
                        break
                    cid, questions = pending.popleft()
                try:
                    self.pool.run_context(cid, questions, done, emit)
                except _Stopped:
                    break
                except BaseException as exc:  # noqa: BLE001 - reported to the driver, which decides
                    events.put(("failed", cid, exc))
            events.put(("exit",))

        threads = [threading.Thread(target=work, name=f"context-worker-{i}", daemon=True)
                   for i in range(min(self.run.cfg.parallel, len(todo)))]
        for t in threads:
            t.start()
        failures: list[tuple[str, BaseException]] = []
        try:
            live = len(threads)
            while live:
                try:
                    event = events.get(timeout=0.2)  # a timeout keeps Ctrl-C prompt in this thread
                except queue.Empty:
                    continue
                if event[0] == "rows":
                    self.run.emit(event[1], event[2])
                elif event[0] == "failed":
                    if isinstance(event[2], KeyboardInterrupt):
                        raise KeyboardInterrupt
                    failures.append((event[1], event[2]))
                else:
                    live -= 1
        except BaseException:
            stop.set()
            for t in threads:
                t.join(JOIN_SECONDS / max(1, len(threads)))
            raise
        raise_failures(failures, [], len(todo), self.run)

    def close(self) -> None:
        if hasattr(self, "pool"):
            self.pool.close()

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "parallel": self.run.cfg.parallel, "workers": 1,
                "llm_sharing": self.pool.sharing()}


class CallTimedOut(Exception):
    """call_within's call is still running after its time."""


def call_within(call: Callable[[], Any], seconds: float) -> Any:
    """call()'s result (or its exception), waiting at most `seconds`. Python cannot stop a thread: a call
    past its time is left running in a daemon thread named "system-call" (the CLI's exit knows the name,
    see cli/errors.exit_now) and CallTimedOut is raised."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="system-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise CallTimedOut
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


MAX_LISTED = 5  # failed contexts named in the error; errors.jsonl has them all


def raise_failures(failed: list[tuple[str, BaseException]], lost: list[tuple[str, str]], total: int,
                   run=None) -> None:
    """End a run whose contexts did not all finish with one error that names them and says what to do;
    each is first recorded in the run's errors.jsonl (`run.record_failure`)."""
    from comam_bench.runner import RunError

    if not failed and not lost:
        return
    if run is not None:
        for cid, exc in failed:
            run.record_failure(cid, f"{type(exc).__name__}: {_short(exc)}")
        for cid, why in lost:
            run.record_failure(cid, why)
    parts = [f"context {cid} failed: {type(exc).__name__}: {_short(exc)}" for cid, exc in failed]
    parts += [f"context {cid} was lost: {why}" for cid, why in lost]
    n = len(failed) + len(lost)
    if n > MAX_LISTED:
        parts = parts[:MAX_LISTED] + [f"and {n - MAX_LISTED} more, listed in the run's errors.jsonl"]
    message = (f"{n} of {total} contexts to run did not finish ({'; '.join(parts)}). Every other context that "
               "started is complete and every answered question is saved in samples.jsonl; fix the cause and "
               "rerun the same command with --resume to finish the run.")
    raise RunError(message) from (failed[0][1] if failed else None)


def _short(exc: BaseException, n: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= n else text[:n] + "..."
