"""One typed argument builder: values from the CLI, YAML specs and checkpoints become the types that a
dataclass's fields or a constructor's parameters declare. Recipes, CoMAM's arguments and every memory
system go through it, so a bad value gets the same error everywhere: it names the argument, lists the
accepted ones and suggests a close match (an ArgumentError, which the CLI prints as one paragraph).

    build(CoMAMArgs, {"memory_tokens": "512"}, "comam")         -> CoMAMArgs(memory_tokens=512, ...)
    typed_args(RAG, {"top_k": "5", "retriever": "bm25"}, "rag")  -> {"top_k": 5, "retriever": "bm25"}
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import re
import typing
from typing import Any, Mapping

from comam_bench.registry import RegistryError, did_you_mean

NONE_TEXTS = ("", "none", "null")
TRUE_TEXTS, FALSE_TEXTS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
SKIPPED = ("self", "resources", "progress")  # constructor parameters the harness passes itself
# Integer arguments whose name says they count something (top_k, retrieve_k, answer_tokens, chunk_size,
# short_term_capacity, lpa_iters...): 0 or less is never meant, so `top_k=-3` is refused rather than run.
COUNTING = re.compile(r"(^|_)(k|tokens|size|capacity|pages|segments|rounds|iters|level|links)$|^top_[a-z]$")


class ArgumentError(RegistryError, TypeError, ValueError):
    """An unknown argument or a value of the wrong type; the message names it and lists the accepted ones.

    Also a TypeError (unknown keyword) and a ValueError (bad value), as the constructors raised before."""


def accepted(target: Any) -> dict[str, Any]:
    """name -> declared type of what `target` accepts: a dataclass's fields, or a class's constructor
    parameters (up its bases while a constructor passes **kwargs on) plus the fields of its `arguments`
    dataclass (CoMAM takes `checkpoint` and CoMAMArgs). The interfaces' own constructors accept nothing more."""
    if dataclasses.is_dataclass(target):
        hints = typing.get_type_hints(target)
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(target)}
    out: dict[str, Any] = {}
    for klass in target.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is object or klass.__module__ == "comam_bench.api":
            break
        hints, params = typing.get_type_hints(init), inspect.signature(init).parameters.values()
        for p in params:
            if p.name not in SKIPPED and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                out.setdefault(p.name, hints.get(p.name, Any))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    extra = getattr(target, "arguments", None)
    return {**out, **accepted(extra)} if dataclasses.is_dataclass(extra) else out


def typed_args(target: Any, args: Mapping[str, Any], owner: str, error: type[Exception] = ArgumentError,
               ) -> dict[str, Any]:
    """`args` checked against what `target` accepts and converted to the declared types."""
    kinds = accepted(target)
    out = {}
    for name, value in args.items():
        if name not in kinds:
            raise error(f"{owner}: unknown argument {name!r}.{did_you_mean(name, kinds, 1)} "
                        f"Accepted: {', '.join(sorted(kinds))}.")
        kind = kinds[name]
        where = f"{owner}: {name}"
        if dataclasses.is_dataclass(kind):
            out[name] = build(kind, value, where, error)
        else:
            out[name] = coerce(kind, value, where, error, kinds)
    return out


def build(cls: Any, data: Any, owner: str, error: type[Exception] = ArgumentError) -> Any:
    """A dataclass from a mapping, nested dataclass sections built the same way."""
    if not isinstance(data, Mapping):
        raise error(f"{owner}: expected a mapping, got {data!r}")
    return cls(**typed_args(cls, data, owner, error))


def coerce(kind: Any, value: Any, where: str, error: type[Exception] = ArgumentError,
           kinds: Mapping[str, Any] | None = None) -> Any:
    """`value` as type `kind` ("512" -> 512, "true" -> True, 3 -> 3.0, "null" -> None where optional)."""
    args = typing.get_args(kind)
    optional = type(None) in args
    if optional:  # X | None: check against X
        kind = next(a for a in args if a is not type(None))
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in NONE_TEXTS):
        if optional:
            return None
        raise error(f"{where} cannot be empty" + _accepted(kinds))
    if typing.get_origin(kind) is typing.Literal:
        if value not in typing.get_args(kind):
            raise error(f"{where} must be one of {', '.join(map(str, typing.get_args(kind)))}, got {value!r}")
        return value
    base = typing.get_origin(kind) or kind
    converted = _convert(base, value)
    if converted is _BAD:
        name = getattr(base, "__name__", str(base))
        raise error(f"{where} must be of type {name}, got {value!r}" + _accepted(kinds))
    return converted


_BAD = object()


def _convert(base: Any, value: Any) -> Any:
    """The converted value, or _BAD."""
    if base is bool:
        text = str(value).strip().lower()
        return value if isinstance(value, bool) else True if text in TRUE_TEXTS else \
            False if text in FALSE_TEXTS else _BAD
    if isinstance(value, bool) and base in (int, float, str):
        return _BAD  # a YAML true is never a number or a name
    if base is int and isinstance(value, float):
        return int(value) if value.is_integer() else _BAD
    if base in (int, float):
        try:
            return base(value)  # a number, or its text ("512", "1e-5": YAML 1.1 reads the latter as a string)
        except (TypeError, ValueError):
            return _BAD
    if base is str:
        return value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else _BAD
    if base in (dict, list):
        return copy.deepcopy(value) if isinstance(value, base) else _BAD
    return copy.deepcopy(value)  # Any, or a type this builder does not check


def _accepted(kinds: Mapping[str, Any] | None) -> str:
    return f". Accepted arguments: {', '.join(sorted(kinds))}." if kinds else ""


def check_counts(target: Any, values: Mapping[str, Any], owner: str, error: type[Exception] = ArgumentError) -> None:
    """Refuse a counting argument (see COUNTING) below 1; None stays allowed where the type is optional."""
    kinds = accepted(target)
    for name, value in values.items():
        kind = kinds.get(name)
        ints = kind is int or int in typing.get_args(kind)
        if ints and COUNTING.search(name) and isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise error(f"{owner}: {name}={value} is out of range: it counts something, so it must be 1 or more")
