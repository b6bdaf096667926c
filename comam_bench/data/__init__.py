"""PersonaMem data: load a task for a run, or validate its files.

    load_task("personamem-32k", data_dir="path/to/files")   -> api.TaskData
    validate_task("personamem-128k", data_dir=...)          -> ValidationReport

A task name resolves through tasks/NAME.yaml (comam_bench.registry.load_task_spec). Real-data tasks read
a local --data-dir or the pinned Hugging Face revision; synthetic tasks generate into a cache folder.
Only the standard library is imported here; huggingface_hub loads only when the hub is used.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from comam_bench.data.personamem import DataError

if TYPE_CHECKING:
    from comam_bench.api import TaskData
    from comam_bench.data.validate import ValidationReport

__all__ = ["DataError", "load_task", "resolve_spec", "validate_task"]


def resolve_spec(name: str | dict[str, Any]) -> dict[str, Any]:
    """A task spec by name (tasks/NAME.yaml, include resolved) or an already-resolved dict."""
    if isinstance(name, dict):
        return dict(name)
    from comam_bench.registry import load_task_spec

    return load_task_spec(name)


def _info(spec: dict[str, Any], located) -> dict[str, Any]:
    return {"task": spec.get("name"), "size": spec.get("size"), **located.info()}


def load_task(name: str | dict[str, Any], data_dir: str | Path | None = None) -> TaskData:
    """Load a task for a run: sound questions, the contexts they use, bad rows counted, file hashes.

    Raises DataError when the files cannot be found or read, when the contexts file is missing,
    or when a question_type label is unknown.
    """
    from comam_bench.data.hub import locate
    from comam_bench.data.personamem import load_files

    spec = resolve_spec(name)
    if spec.get("source") == "locomo":  # one JSON file, read from --data-dir only (see data/locomo.py)
        from comam_bench.data.locomo import load_locomo, locate_file

        return load_locomo(str(spec.get("name", "")), locate_file(spec, data_dir), {"task": spec.get("name")})
    located = locate(spec, data_dir)
    return load_files(str(spec.get("name", "")), located.questions, located.contexts, located.evidence,
                      info=_info(spec, located))


def validate_task(name: str | dict[str, Any], data_dir: str | Path | None = None) -> ValidationReport:
    """Validate a task's files: facts, bad rows with ids; a missing contexts file is reported, not raised."""
    from comam_bench.data.hub import locate
    from comam_bench.data.validate import validate_files

    spec = resolve_spec(name)
    if spec.get("source") == "locomo":
        from comam_bench.data.locomo import validate_locomo

        return validate_locomo(spec, data_dir)
    located = locate(spec, data_dir)
    notes = [f"source {located.source}, folder {located.data_dir}", *located.notes]
    report = validate_files(located.questions, located.contexts, located.evidence,
                            task=str(spec.get("name", "")), notes=notes)
    report.notes += _expectation_notes(spec, report.facts)
    return report


def _expectation_notes(spec: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """Notes where the files differ from the release sizes the spec states (a pre-release copy, a sample)."""
    expected = spec.get("expected") or {}
    found = {"questions": facts.get("rows"), "contexts": facts.get("contexts_referenced")}
    return [f"{found[k]} {k}, but the {spec.get('name')} release has {expected[k]}: not the released file?"
            for k in ("questions", "contexts") if k in expected and found[k] != expected[k]]
