"""How a run's contexts are executed: one after another, several at once in threads, or as Ray work.

Contexts are independent (a system's memory is per context), so they may run in any order and at the same
time; within a context the one context worker (comam_bench.worker) keeps questions in history order. In every
mode a worker, built from the run's frozen plan, runs contexts on its own system instance and hands its rows
to the one writer, `Run.emit`, in the driver's thread, so samples.jsonl lines are never torn or interleaved,
progress counts every worker's questions, and the run record (built from the rows in run order) is the same
in every mode but for timings and its `execution` section.

A context that fails is recorded (a row in errors.jsonl) and the run goes on to the next one, in every mode;
the run then ends with one error naming each failed context. `--resume` then finishes the run with nothing
lost or duplicated.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any, Sequence

from comam_bench.api import Question
from comam_bench.errors import RunError
from comam_bench.pool import WorkerPool, raise_failures
from comam_bench.worker import CallTimedOut, call_within  # noqa: F401 - their historical home

Todo = Sequence[tuple[str, Sequence[Question]]]
JOIN_SECONDS = 10.0  # after Ctrl-C, how long workers get to finish the step they are in


def executor_for(run) -> "SequentialExecutor":
    """The executor `run.cfg` asks for; bad execution options fail here, before any work."""
    from comam_bench.llm.shared import SHARING

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
        self.pool: WorkerPool | None = None

    def connect(self) -> None:
        """Nothing to reach."""

    def start(self) -> None:
        self.pool = pool_for(self.run, 1)

    def run_contexts(self, todo: Todo) -> None:
        run = self.run
        failures: list[tuple[str, BaseException]] = []
        for cid, questions in todo:
            try:
                self.pool.run_context(cid, run.data.contexts[cid], questions, run.done, run.emit)
            except Exception as exc:  # noqa: BLE001 - one failed context is recorded; the others still run
                failures.append((cid, exc))
        raise_failures(failures, [], len(todo), run)

    def facts(self) -> dict[str, Any]:
        """What the record says about the model, embedder and system (see WorkerPool.facts)."""
        return self.pool.facts()

    def close(self) -> None:
        if self.pool is not None:  # nothing was loaded when the run stops before its start
            self.pool.close()
            self.pool = None

    def describe(self) -> dict[str, Any]:
        """The record's `execution` section."""
        return {"mode": self.mode, "parallel": 1, "workers": 1}


def pool_for(run, size: int) -> "WorkerPool":
    """A pool of `size` context workers over the run's plan, in the driver (sequential and threads)."""
    return WorkerPool(run.plan.worker, size, run.cfg.llm_sharing, given_llm=run.given_llm, event=run.worker_event)


class _Stopped(Exception):
    """Raised in a worker thread at its next row once the run is stopping."""


class ThreadExecutor(SequentialExecutor):
    """Up to `parallel` contexts at once in this process, sharing one model (see comam_bench.llm.shared)."""

    mode = "threads"

    def start(self) -> None:
        self.pool = pool_for(self.run, self.run.cfg.parallel)

    def run_contexts(self, todo: Todo) -> None:
        events: queue.Queue = queue.Queue()
        stop = threading.Event()
        pending = deque(todo)
        take = threading.Lock()
        done = frozenset(self.run.done)  # answered before this session: what workers skip or replay
        contexts = self.run.data.contexts

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
                    self.pool.run_context(cid, contexts[cid], questions, done, emit)
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

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "parallel": self.run.cfg.parallel, "workers": 1,
                "llm_sharing": self.pool.sharing()}
