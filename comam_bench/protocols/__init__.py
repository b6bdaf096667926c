"""The Protocol seam: what a system is asked, how its reply is judged, how a run's scores are summarised.

A protocol is an object named in a registry (lazy "module:Class" strings, like systems), so the runner asks
`for_run(name, task_spec, system_cls)` for one and then only calls its methods:

    answers(system, batch)            -> list[api.Answer]   what the system is asked (its hook for this protocol)
    judge(batch, answers, resources)  -> list[dict]         per question, the fields of its samples.jsonl row
    summarise(samples)                -> dict               run.json's "scores"
    extra_scores(samples)             -> dict               further top-level record keys ({} for most)
    record()                          -> dict               run.json's "protocol"

Built in: "discriminative" and "likelihood" (PersonaMem's multiple choice; thin wrappers over
comam_bench.protocol and comam_bench.likelihood, so their records are exactly what they were) and
"open-ended" (LoCoMo: a free-text answer scored with LoCoMo's F1, BLEU-1 and an optional LLM judge).
A task spec's `protocol:` names a protocol or one of its versions; multiple-choice tasks take the two
multiple-choice protocols, open-ended tasks the open-ended one.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

from comam_bench.api import Answer, MemorySystem, Question, Resources
from comam_bench.registry import Registry
from comam_bench.errors import ComamBenchError

BUILTIN_PROTOCOLS: dict[str, str] = {
    "discriminative": "comam_bench.protocols.personamem:Discriminative",
    "likelihood": "comam_bench.protocols.personamem:Likelihood",
    "open-ended": "comam_bench.protocols.open_ended:OpenEnded",
}
# Versions a task spec may name, without importing the classes (kept equal to their `version`; a test checks).
VERSIONS: dict[str, str] = {
    "personamem-discriminative-v1": "discriminative",
    "personamem-likelihood-v1": "likelihood",
    "locomo-open-ended-v1": "open-ended",
}
MULTIPLE_CHOICE = ("discriminative", "likelihood")


class ProtocolError(ComamBenchError, ValueError):
    """A protocol that does not exist, or does not fit the task or the system; the message says what to do."""


PROTOCOL_REGISTRY = Registry("protocol", BUILTIN_PROTOCOLS, None, ProtocolError)


class Protocol:
    """Base class: the multiple-choice defaults are in protocols.personamem, the open-ended ones in open_ended."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = ""
    open_ended: ClassVar[bool] = False  # True: questions have no options, the answer is free text

    def __init__(self, **options: Any) -> None:
        self.options = options

    def check_system(self, system_cls: type[MemorySystem]) -> None:
        """Raise ProtocolError when the system cannot answer under this protocol."""

    def answers(self, system: MemorySystem, batch: Sequence[Question]) -> list[Answer]:
        return system.answer(batch)

    def judge(self, batch: Sequence[Question], answers: Sequence[Answer], resources: Resources) -> list[dict]:
        raise NotImplementedError

    def summarise(self, samples: list[dict]) -> dict[str, Any]:
        raise NotImplementedError

    def extra_scores(self, samples: list[dict]) -> dict[str, Any]:
        return {}

    def record(self) -> dict[str, Any]:
        raise NotImplementedError


def protocol_name(value: str | None) -> str:
    """A protocol name from a name or a version string (ProtocolError naming the choices otherwise)."""
    value = VERSIONS.get(str(value), str(value))
    if value not in BUILTIN_PROTOCOLS:
        raise ProtocolError(f"unknown protocol {value!r}; choose one of {', '.join(BUILTIN_PROTOCOLS)} "
                            f"(a task spec may also give a version: {', '.join(VERSIONS)})")
    return value


def resolve(asked: str | None, task_spec: dict | None = None) -> str:
    """The protocol a run uses: the one asked for, else the task spec's, else discriminative; asking a
    multiple-choice task for the open-ended protocol, or the reverse, is refused with the reason."""
    task_spec = task_spec or {}
    native = protocol_name(task_spec.get("protocol") or "discriminative")
    name = protocol_name(asked) if asked is not None else native
    if (name == "open-ended") != (native == "open-ended"):
        kind = "open-ended (free-text answers)" if native == "open-ended" else "multiple choice"
        fits = "open-ended" if native == "open-ended" else " or ".join(MULTIPLE_CHOICE)
        raise ProtocolError(f"task {task_spec.get('name')!r} is {kind}, so it cannot run under the {name} "
                            f"protocol; use --protocol {fits} (or leave --protocol out)")
    return name


def get(name: str, **options: Any) -> Protocol:
    """The protocol object for a name (or version), built with its options."""
    return PROTOCOL_REGISTRY.load(protocol_name(name), import_paths=False)(**options)


def for_run(asked: str | None, task_spec: dict | None, system_cls: type[MemorySystem], **options: Any) -> Protocol:
    """resolve() then get(), and the system checked against it: what Run.prepare calls."""
    proto = get(resolve(asked, task_spec), **options)
    proto.check_system(system_cls)
    return proto
