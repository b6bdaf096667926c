"""A pool of context workers in one process, and how a run whose contexts did not all finish ends.

The sequential and thread executors (comam_bench.execution) hold one pool in the driver; each Ray worker
(comam_bench.ray_exec) holds its own. Every worker of a pool is built from the run's frozen WorkerPlan and
shares the pool's one loaded model.
"""
from __future__ import annotations

import queue
from typing import Any, Callable, Sequence

from comam_bench.api import Question
from comam_bench.errors import RunError
from comam_bench.worker import Models


class WorkerPool:
    """`size` context workers over one loaded model in this process; a context runs on a free one.

    Used by the sequential and thread executors in the driver and by each Ray worker."""

    def __init__(self, plan, size: int, sharing: str = "auto", given_llm=None, event=None) -> None:
        """`plan`: the run's WorkerPlan; `given_llm`: an already-loaded model (else the plan's is loaded and
        closed with the pool); `event`: where the workers report their phases (a progress display)."""
        from comam_bench.llm.shared import DEFAULT_SHARING, Sharer

        self.sharer = Sharer(sharing if sharing != "auto" else DEFAULT_SHARING)
        self.owns_llm = given_llm is None
        self.models = Models(plan.load_llm(given_llm), plan.embedder,
                             share=self.sharer if size > 1 else (lambda model: model))
        self.workers = [plan.worker(self.models, event) for _ in range(size)]
        self.free: queue.Queue = queue.Queue()
        for worker in self.workers:
            self.free.put(worker)
        self.size = size

    def run_context(self, cid: str, context, questions: Sequence[Question], done, emit: Callable) -> None:
        """Run one context on a free worker; rows go to `emit`, `done` holds the answered question ids."""
        worker = self.free.get()
        try:
            worker.run_context(cid, context, questions, done, emit)
        finally:
            self.free.put(worker)

    def facts(self) -> dict[str, Any]:
        """The model's and embedder's identities and the first worker's system settings, for the record."""
        return {**self.models.identities(), "config": self.workers[0].config(), "sharing": self.sharing()}

    def sharing(self) -> str | None:
        """How the model is shared by this pool's threads (None: one thread, or no model)."""
        return self.sharer.describe(self.models.llm) if self.size > 1 else None

    def close(self) -> None:
        """Close every system instance, then the model (once, and only one this pool loaded)."""
        for worker in self.workers:
            worker.close()
        if self.models.llm is not None and self.owns_llm:
            self.models.llm.close()


MAX_LISTED = 5  # failed contexts named in the error; errors.jsonl has them all


def raise_failures(failed: list[tuple[str, BaseException]], lost: list[tuple[str, str]], total: int,
                   run=None) -> None:
    """End a run whose contexts did not all finish with one error that names them and says what to do;
    each is first recorded in the run's errors.jsonl (`run.record_failure`)."""

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
