"""Checking `--system-arg` names and value types against what a system's constructor accepts, before any run
directory exists (Contract C: the error is a RegistryError naming the argument, the accepted ones and a
close match).

The accepted names are read from the `__init__` signatures along the class's MRO, down to MemorySystem, as
long as each level forwards `**kwargs` to the next (the convention every built-in follows; MemorySystem
rejects what is left). A system whose constructor hands `**kwargs` elsewhere (CoMAM: to CoMAMArgs) says what
it accepts with a classmethod `accepted_args() -> {name: annotation}`.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any

from comam_bench.registry import RegistryError, SystemSpec


class SystemArgError(RegistryError):
    """A system argument the system does not take, or a value of the wrong type."""


def accepted_args(cls: type) -> dict[str, Any]:
    """name -> annotation (a string under `from __future__ import annotations`) of every keyword `cls` takes."""
    from comam_bench.api import MemorySystem

    hook = getattr(cls, "accepted_args", None)
    if callable(hook):
        return dict(hook())
    out: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass is MemorySystem or klass is object:
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())[2:]  # self, resources
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                out.setdefault(p.name, p.annotation)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return out


def check_system_args(cls: type, spec: SystemSpec) -> None:
    """Raise SystemArgError for an argument `cls` does not take or a value that cannot be of its type."""
    accepted = accepted_args(cls)
    listing = ", ".join(sorted(accepted)) or "none"
    for key, value in spec.args.items():
        if key not in accepted:
            close = difflib.get_close_matches(key, list(accepted), n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SystemArgError(f"system {spec.name!r} has no argument {key!r} (--system-arg {key}=...).{hint} "
                                 f"Accepted: {listing}.")
        problem = _type_problem(accepted[key], value)
        if problem:
            raise SystemArgError(f"--system-arg {key}={value!r} for system {spec.name!r}: {problem}. "
                                 f"Accepted: {listing}.")


_SIMPLE = {"int", "float", "bool", "str"}


def _type_problem(annotation: Any, value: Any) -> str | None:
    """Why `value` cannot be of the simple type `annotation` names (int, float, bool, str, X | None), else None."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    kinds = {part.strip() for part in str(text).replace("Optional[", "").rstrip("]").split("|")}
    if not kinds or not kinds <= _SIMPLE | {"None"}:
        return None  # anything richer is the system's own business
    if value is None:
        return None if "None" in kinds else f"expected {_names(kinds)}, got nothing"
    if isinstance(value, bool):
        ok = "bool" in kinds
    elif isinstance(value, int):
        ok = bool(kinds & {"int", "float", "str"})
    elif isinstance(value, float):
        ok = "float" in kinds or "str" in kinds or ("int" in kinds and value.is_integer())
    elif isinstance(value, str):
        ok = "str" in kinds
    else:
        ok = False
    return None if ok else f"expected {_names(kinds)}, got {type(value).__name__} {value!r}"


def _names(kinds: set[str]) -> str:
    return " or ".join(sorted(k for k in kinds if k != "None")) + (" (or null)" if "None" in kinds else "")
