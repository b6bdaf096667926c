"""The context worker: one system instance answering one shared context at a time, for every executor.

A worker is built from a frozen WorkerPlan (comam_bench.plan) and the models it is given; it never writes a
file. Per context it resets the system, ingests each message once in history order and answers the questions
at each end index, handing every row (ingest events, samples, kept memory) to the `emit(name, rows)` callback
of whoever drives it: the runner's one writer in this process (sequential, threads), a Ray worker's stream
back to the driver, or the lm-eval model, which keeps the answers for lm-eval.
"""
from __future__ import annotations

import threading
import time
from itertools import groupby
from typing import Any, Callable, Iterator, Sequence

from comam_bench.api import Question, Resources
from comam_bench.errors import RunError
from comam_bench.keep import MEMORY_FILE, kept_row, public_info
from comam_bench.llm.meter import Cost, Meter
from comam_bench.protocols import ProtocolError

Emit = Callable[[str, list], None]  # emit(file name, rows)
EventFn = Callable[..., None]  # event(name, **fields): "context", "ingest", "answering" (a progress display)


class QuestionTimeout(RunError):
    """A system call ran past --timeout-per-question; its context is abandoned and recorded in errors.jsonl."""


class Models:
    """The model and the (lazily loaded) embedder one process shares among its workers.

    `share` wraps a model for use from several threads at once (see comam_bench.llm.shared); `llm` stays
    unwrapped, for the record and for closing."""

    def __init__(self, llm, embedder: str, share: Callable[[Any], Any] = lambda model: model) -> None:
        self.llm, self.spec, self.share = llm, embedder, share
        self.embedder = None
        self.lock = threading.Lock()
        self.shared_llm = share(llm) if llm is not None else None

    def embedder_factory(self):
        """The embedder, loaded on first use (once, whichever worker asks first)."""
        from comam_bench.llm import load_embedder

        with self.lock:
            if self.embedder is None:
                self.embedder = load_embedder(self.spec)
            return self.share(self.embedder)

    def identities(self) -> dict[str, Any]:
        """What the record says about the model and the embedder (None where not loaded)."""
        return {"model": self.llm.identity() if self.llm is not None else None,
                "embedder": self.embedder.identity() if self.embedder is not None else None}


class ContextWorker:
    """Answers contexts on its own system instance over shared Models; rows go to the caller's `emit`."""

    def __init__(self, plan, models: Models, event: EventFn | None = None) -> None:
        """`plan`: a comam_bench.plan.WorkerPlan (built by its `worker()`); `event`: a progress display's hook."""
        self.plan, self.models = plan, models
        self.event = event or (lambda name, **fields: None)
        self.emit: Emit = lambda name, rows: None
        self.done: Any = frozenset()
        self.new_system()

    def new_system(self) -> None:
        """A fresh meter, Resources and system instance (also after a timeout: a hung call keeps the old one)."""
        plan = self.plan
        self.meter = Meter()
        llm = self.models.shared_llm
        metered = self.meter.wrap(llm) if llm is not None else None
        self.resources = Resources(metered, self.models.embedder_factory, seed=plan.seed, meter=self.meter)
        self.meter.counts = self.resources.diagnostics  # what the meter counts lands in the run's diagnostics
        self.system = plan.system_cls(self.resources, **plan.system_args)

    def config(self) -> Any:
        """The system's settings, for the record."""
        return self.system.config()

    def close(self) -> None:
        self.system.close()

    # ------------------------------------------------------------------ one context
    def run_context(self, cid: str, context: Sequence, questions: Sequence[Question], done, emit: Emit) -> None:
        """Ingest up to each question position once, answer the questions not in `done` there."""
        self.emit, self.done = emit, done
        for batch in self.batches(cid, context, questions):
            self.answer(batch)

    def batches(self, cid: str, context: Sequence, questions: Sequence[Question]) -> Iterator[list[Question]]:
        """The memory loop: reset, ingest to each end index (each message once), then yield the batches of
        questions to answer there. Questions already answered (in `done`) are replayed, when the system's
        answers change its memory, and never yielded."""
        order = self.plan.context_order
        self.event("context", index=order.index(cid) + 1 if cid in order else 1, contexts=len(order) or 1,
                   context_id=cid, questions=len(questions))
        self.system.reset(cid)
        pos = 0
        for end, group in groupby(questions, key=lambda q: q.end_index):
            if self.plan.rebuild_per_question:
                self.system.reset(cid)
                pos = 0
            self.ingest(cid, context, pos, end)
            pos = end
            group = list(group)
            if self.plan.system_cls.answer_mutates_memory:
                self.replay([q for q in group if q.id in self.done])
            yield from _chunks([q for q in group if q.id not in self.done], self.plan.batch_size)

    def ingest(self, cid: str, context: Sequence, start: int, end: int) -> None:
        self.meter.phase = "ingest"
        before = dict(self.resources.diagnostics)
        t0 = time.perf_counter()
        if end > start:
            self.event("ingest", start=start, end=end, length=len(context))
            self.system.ingest(context[start:end], start)
        wall = time.perf_counter() - t0
        cost, agents = self.meter.take()
        key = f"{cid}:{start}:{end}" + (":rebuild" if self.plan.rebuild_per_question else "")
        self.emit("ingest.jsonl", [{
            "key": key, "context_id": cid, "start": start, "end": end, "wall_seconds": round(wall, 4),
            "cost": cost.as_dict(), "agents": {a: c.as_dict() for a, c in agents.items()},
            "memory": self.system.memory_stats(), "diagnostics": _delta(before, self.resources.diagnostics),
        }])

    def replay(self, answered: Sequence[Question]) -> None:
        """Re-ask recorded questions only for their effect on memory; outputs and cost are discarded."""
        for batch in _chunks(answered, self.plan.batch_size):
            self.plan.proto.answers(self.system, batch)
            self.meter.take()

    # ------------------------------------------------------------------ one batch of questions
    def answer(self, batch: Sequence[Question]) -> list[dict]:
        """Ask, check and judge one batch; emits (and returns) its sample rows."""
        self.meter.phase = "answer"
        self.event("answering", batch=len(batch))
        before = dict(self.resources.diagnostics)
        t0 = time.perf_counter()
        answers = self.bounded(lambda: self.plan.proto.answers(self.system, batch), batch)
        self.check_answers(batch, answers)
        judged = self.judge(batch, answers)  # under likelihood the scoring is answer time too
        wall = time.perf_counter() - t0
        cost, agents = self.meter.take()
        n = len(batch)
        diag = _delta(before, self.resources.diagnostics)
        rows = [{
            "question_id": q.id, "context_id": q.context_id, "type": q.type, "topic": q.topic,
            "distance_blocks": q.distance_blocks, "end_index": q.end_index, "gold": q.gold,
            "raw_output": a.text, **verdict,
            # A batch's cost is shared evenly by its questions (the meter cannot split one call).
            "cost": _share(cost, n, wall), "agents": {k: _share(c, n) for k, c in agents.items()},
            "info": public_info(a.info), "diagnostics": diag if i == 0 else {},
        } for i, (q, a, verdict) in enumerate(zip(batch, answers, judged))]
        if self.plan.keep_memory:  # before the samples: a question answered again after a crash keeps its last row
            self.emit(MEMORY_FILE, [kept_row(q, a, self.plan.keep_chars) for q, a in zip(batch, answers)])
        self.emit("samples.jsonl", rows)
        return rows

    def check_answers(self, batch: Sequence[Question], answers) -> None:
        """One Answer per question, each holding text: a system that breaks the contract is named."""
        name = self.plan.system
        if len(answers) != len(batch):
            raise RunError(f"system {name!r} returned {len(answers)} answers for {len(batch)} questions")
        for a in answers:
            if not isinstance(getattr(a, "text", None), str):
                raise RunError(f"system {name!r} returned an answer whose text is "
                               f"{type(getattr(a, 'text', None)).__name__}, not str: answer() must return "
                               "Answer(text=...) objects holding the model's reply as text")

    def judge(self, batch: Sequence[Question], answers) -> list[dict[str, Any]]:
        """Per question, the protocol's verdict fields (see comam_bench.protocols)."""
        try:
            return self.plan.proto.judge(batch, answers, self.resources)
        except ProtocolError as exc:
            raise RunError(str(exc)) from None

    def bounded(self, call: Callable[[], Any], batch: Sequence[Question]) -> Any:
        """call() within --timeout-per-question x len(batch) seconds, else QuestionTimeout. A hung call cannot be
        stopped (see call_within): this worker's system is replaced by a fresh instance, so the contexts still
        to come never share state with it."""
        limit = self.plan.timeout_per_question
        if not limit:
            return call()
        try:
            return call_within(call, limit * len(batch))
        except CallTimedOut:
            self.new_system()
            raise QuestionTimeout(f"system {self.plan.system!r} did not answer question(s) "
                                  f"{', '.join(q.id for q in batch)} within {limit:g} s per question "
                                  "(--timeout-per-question); the rest of its context was abandoned") from None


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

    thread = threading.Thread(target=target, name="system-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise CallTimedOut
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


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

