"""A run's frozen plan: what is run (the resolved spec), on which questions, with which system and model.

`Run.prepare` (comam_bench.runner) builds a RunPlan once, before any run folder exists, from the user's
RunConfig, which it never changes: defaults (the model, the protocol) are resolved into the plan. The
plan's WorkerPlan is all a context worker needs (comam_bench.worker); it pickles, so a Ray worker is
built from the same plan as a thread, and the lm-eval model builds one too (`system_plan`), so every way
of answering checks the system's arguments the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from comam_bench.api import Question
from comam_bench.keep import DEFAULT_KEEP_CHARS
from comam_bench.registry import SystemSpec


@dataclass(frozen=True)
class WorkerPlan:
    """What a context worker needs: the system (checked, typed arguments), the protocol and the run's knobs."""

    system: str  # as the user named it (in messages)
    system_spec: SystemSpec
    system_cls: type
    system_args: dict[str, Any]  # typed by the system's annotations (comam_bench.args)
    proto: Any  # a comam_bench.protocols.Protocol
    model: str | None  # the resolved model spec (None: the system needs no model)
    embedder: str
    seed: int = 0
    batch_size: int = 4
    rebuild_per_question: bool = False
    timeout_per_question: float | None = None
    keep_memory: bool = False
    keep_chars: int = DEFAULT_KEEP_CHARS
    context_order: tuple[str, ...] = ()  # the run's contexts in order (a progress display's "context i/n")

    def load_llm(self, given=None):
        """The model workers use: `given` (an already-loaded one), else the plan's model loaded; None for a
        system that needs no model."""
        if not self.system_cls.needs_llm:
            return None
        if given is not None:
            return given
        from comam_bench.llm import load_llm

        return load_llm(self.model)

    def worker(self, models, event: Callable[..., None] | None = None):
        """A context worker over `models` (comam_bench.worker.Models)."""
        from comam_bench.worker import ContextWorker

        return ContextWorker(self, models, event)


@dataclass(frozen=True)
class RunPlan:
    """A prepared run: its resolved spec and hash, its id, the questions in run order (and how they were
    selected) and the worker plan."""

    task_spec: dict[str, Any]
    questions: tuple[Question, ...]
    spec: dict[str, Any]
    digest: str
    run_id: str
    code: dict[str, Any] | None  # a plugin system's code provenance (comam_bench.provenance)
    git: dict[str, Any]
    worker: WorkerPlan
    # How `questions` were chosen and how many per context (comam_bench.selection.Selection.record): the
    # record's `selection` block.
    selection: dict[str, Any] = field(default_factory=dict)

    def system_record(self) -> dict[str, Any]:
        return system_record(self.worker.system_spec, self.code)


def system_record(spec: SystemSpec, code: dict[str, Any] | None) -> dict[str, Any]:
    """The resolved system, with its code's provenance when it is a plugin (so an edit changes the hash)."""
    return {**spec.as_dict(), **({"code": code} if code else {})}


def checked_system(system: str, system_args: dict[str, Any]) -> tuple[SystemSpec, type, dict[str, Any]]:
    """The resolved system spec, its class and its arguments typed and checked (bad names, types and counts
    fail here with the reason, before anything is loaded)."""
    from comam_bench.args import check_counts, typed_args
    from comam_bench.registry import resolve_system, system_class

    spec = resolve_system(system, system_args)
    cls = system_class(spec)
    args = typed_args(cls, spec.args, spec.name)  # the spec records the arguments as given
    check_counts(cls, args, spec.name)  # top_k=0, answer_tokens=-5
    return spec, cls, args


def default_model(system_cls: type, spec: SystemSpec, model: str | None) -> str | None:
    """`model`, else the system's default_model(args) (a checkpoint's base), else DEFAULT_MODEL; None when
    the system needs no model and none was named."""
    from comam_bench.llm.defaults import DEFAULT_MODEL

    if model is None and system_cls.needs_llm:
        return system_cls.default_model(dict(spec.args)) or DEFAULT_MODEL
    return model
