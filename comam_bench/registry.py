"""Named, lazily imported implementations; plugins through entry points; YAML specs; "did you mean".

One `Registry` serves every kind of name (memory systems and trainers here, LLM backends in llm.spec,
embedders in llm.embedders), the way lm-eval names "hf" -> "lm_eval.models.huggingface:HFLM": built-ins
are "module:attr" strings in a plain dict, so listing them imports nothing heavy and adding one is a
one-line entry; third-party ones come through the kind's entry-point group (the same mechanism), or are
named directly as `package.module:Class`. An unknown name gets close matches and the known names.
"""
from __future__ import annotations

import copy
import difflib
import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterable

import yaml
from comam_bench.errors import ComamBenchError

SYSTEM_GROUP = "comam_bench.systems"
TRAINER_GROUP = "comam_bench.trainers"
INCLUDE_DEPTH = 8  # how deep `include:` and `system:` chains may go (deeper is a cycle)

# name -> "module:Class". Built-ins are resolved exactly like plugins; modules import nothing heavy at
# top level, so reading a class's `description` stays cheap.
BUILTIN_SYSTEMS: dict[str, str] = {
    "no-memory": "comam_bench.systems.sanity:NoMemory",
    "full-context": "comam_bench.systems.sanity:FullContext",
    "longest-option": "comam_bench.systems.sanity:LongestOption",
    "longest-option-sni": "comam_bench.systems.sanity:LongestOptionSNI",
    "oracle-evidence": "comam_bench.systems.sanity:OracleEvidence",
    "not-mentioned": "comam_bench.systems.sanity:NotMentioned",
    "rag": "comam_bench.systems.rag:RAG",
    "recency": "comam_bench.systems.recency:Recency",
    "memorybank": "comam_bench.systems.memorybank:MemoryBank",
    "a-mem": "comam_bench.systems.amem:AMem",
    "cam": "comam_bench.systems.cam:CAM",
    "mem0": "comam_bench.systems.mem0:Mem0",
    "memoryos": "comam_bench.systems.memoryos:MemoryOS",
    "mem1": "comam_bench.systems.mem1:Mem1",
    "memory-r1": "comam_bench.systems.memory_r1:MemoryR1",
    "comam": "comam_bench.comam.system:CoMAM",
}

BUILTIN_TRAINERS: dict[str, str] = {
    "local": "comam_bench.training.local:LocalTrainer",
    "openrlhf": "comam_bench.training.openrlhf.trainer:OpenRLHFTrainer",
}


class RegistryError(ComamBenchError, LookupError):
    """An unknown name; the message carries suggestions."""


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """" Did you mean 'a', 'b'?" for the close matches of `name`, or "" when none is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def suggest(name: str, choices: Iterable[str], known: str | None = None) -> str:
    """Close matches, then every known name (or the `known` text where a kind lists itself differently)."""
    choices = list(choices)
    return did_you_mean(name, choices) + " " + (known or f"Known: {', '.join(sorted(choices))}.")


class Registry:
    """Names -> lazily imported objects: `builtins` ("module:attr" strings), then an entry-point group.

    `builtins` is kept by reference, so whatever the dict holds when a name is looked up counts."""

    def __init__(self, kind: str, builtins: dict[str, str], group: str | None = None,
                 error: type[Exception] = RegistryError) -> None:
        self.kind, self.builtins, self.group, self.error = kind, builtins, group, error

    def plugins(self) -> dict[str, str]:
        """name -> "module:attr" registered by installed packages under the entry-point group."""
        if not self.group:
            return {}
        return {name: claims[0][2] for name, claims in entry_point_claims(self.group).items()}

    def names(self) -> list[str]:
        return sorted(set(self.builtins) | set(self.plugins()))

    def find(self, name: str) -> tuple[str, str] | None:
        """(target, "builtin" | "entry-point") for a registered name, else None."""
        if name in self.builtins:
            return self.builtins[name], "builtin"
        target = self.plugins().get(name)
        return (target, "entry-point") if target else None

    def target(self, name: str, known: str | None = None, import_paths: bool = True) -> str:
        """The "module:attr" a name stands for (a `package.module:Class` name stands for itself)."""
        found = self.find(name)
        if found:
            return found[0]
        if import_paths and ":" in name:
            return name
        raise self.error(f"Unknown {self.kind} {name!r}." + suggest(name, self.names(), known))

    def load(self, name: str, known: str | None = None, import_paths: bool = True) -> Any:
        """The object a name stands for, imported now."""
        return load_object(self.target(name, known, import_paths))


SYSTEMS = Registry("memory system", BUILTIN_SYSTEMS, SYSTEM_GROUP)
TRAINERS = Registry("trainer backend", BUILTIN_TRAINERS, TRAINER_GROUP)


def project_root() -> Path:
    """Where tasks/, baselines/, trainers/ and results/ live: $COMAM_BENCH_HOME, else the source checkout."""
    env = os.environ.get("COMAM_BENCH_HOME")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1]


def spec_dir(kind: str) -> Path:
    return project_root() / kind


def load_object(target: str) -> Any:
    """Import "package.module:Attr" and return the attribute."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise RegistryError(f"{target!r} is not of the form package.module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"cannot import {module_name!r} for {target!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise RegistryError(f"module {module_name!r} has no attribute {attr!r}") from exc


# --------------------------------------------------------------------------- systems
@dataclass
class SystemSpec:
    """A resolved system: what to build and with which arguments."""

    name: str
    target: str
    args: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = "builtin"  # builtin | entry-point | import-path | spec:<file>

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "args": self.args, "source": self.source}


def entry_point_claims(group: str = SYSTEM_GROUP) -> dict[str, list[tuple[str, str, str]]]:
    """name -> [(distribution, version, "module:Class"), ...] for every entry point of `group`.

    Claims are sorted by distribution name, and the first one is the one used: the winner of a name two
    plugins register does not depend on the order of sys.path or of the file system.
    """
    claims: dict[str, list[tuple[str, str, str]]] = {}
    for ep in entry_points(group=group):
        dist = getattr(ep, "dist", None)
        name = (dist.metadata["Name"] if dist is not None else None) or "?"
        claims.setdefault(ep.name, []).append((name, dist.version if dist is not None else "?", ep.value))
    return {k: sorted(v) for k, v in claims.items()}


def system_conflicts(only: str | None = None) -> list[str]:
    """One sentence per system name claimed more than once (by plugins, or a plugin and a built-in)."""
    out = []
    for name, claims in sorted(entry_point_claims().items()):
        if only is not None and name != only:
            continue
        who = ", ".join(f"{d} {v} ({target})" for d, v, target in claims)
        if name in BUILTIN_SYSTEMS:
            out.append(f"system {name!r} is built in and also registered by {who}: the built-in wins "
                       "(built-ins are resolved first); name a plugin's class as package.module:Class to use it.")
        elif len(claims) > 1:
            out.append(f"system {name!r} is registered by {len(claims)} plugins: {who}. {claims[0][0]} wins "
                       "(the first distribution by name); name the other as package.module:Class to use it.")
    return out


def _yaml_system_specs() -> dict[str, Path]:
    folder = spec_dir("baselines")
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def system_names() -> list[str]:
    return sorted(set(SYSTEMS.names()) | set(_yaml_system_specs()))


def resolve_system(name: str, args: dict[str, Any] | None = None, _depth: int = 0) -> SystemSpec:
    """Resolve a system name: built-in, entry point, YAML spec in baselines/, or `package.module:Class`."""
    args = dict(args or {})
    if _depth > INCLUDE_DEPTH:
        raise RegistryError(f"system spec {name!r} names itself through more than {INCLUDE_DEPTH} specs (a cycle?)")
    found = SYSTEMS.find(name)
    if found:
        return SystemSpec(name, found[0], args, "", found[1])
    specs = _yaml_system_specs()
    if name in specs:
        data = read_spec(specs[name])
        if "system" not in data:
            raise RegistryError(f"{specs[name]}: a system spec needs a 'system:' key naming its implementation")
        base = resolve_system(str(data["system"]), deep_merge(data.get("args") or {}, args), _depth + 1)
        return SystemSpec(name, base.target, base.args, data.get("description", base.description), f"spec:{specs[name].name}")
    if ":" in name:
        return SystemSpec(name, name, args, "", "import-path")
    raise RegistryError(f"Unknown memory system {name!r}." + suggest(name, system_names()) +
                        " A plugin can also be named as package.module:Class.")


def describe_system(spec: SystemSpec) -> str:
    if spec.description:
        return spec.description
    try:
        return getattr(load_object(spec.target), "description", "") or ""
    except RegistryError as exc:
        return f"(cannot load: {exc})"


def system_class(spec: SystemSpec):
    from comam_bench.api import MemorySystem

    cls = load_object(spec.target)
    if not (isinstance(cls, type) and issubclass(cls, MemorySystem)):
        raise RegistryError(f"{spec.target!r} is not a comam_bench.api.MemorySystem subclass")
    return cls


# --------------------------------------------------------------------------- tasks and trainers
def task_names() -> list[str]:
    folder = spec_dir("tasks")
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_task_spec(name: str) -> dict[str, Any]:
    """A task spec from tasks/NAME.yaml (or a path to a YAML file), with `include:` resolved."""
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = spec_dir("tasks") / f"{name}.yaml"
        if not path.exists():
            raise RegistryError(f"Unknown task {name!r}." + suggest(name, task_names()))
    data = read_spec(path)
    data.setdefault("name", path.stem)
    return data


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, section by section (a nested mapping merges, anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_spec(path: Path, error: type[Exception] = RegistryError, depth: int = 0) -> dict[str, Any]:
    """A YAML spec (task, system or recipe) with `include: OTHER` (relative to it) deep-merged underneath.

    The one include rule: the included file's name and description are never inherited, and a chain
    deeper than INCLUDE_DEPTH (a cycle) is an error, not a silent stop."""
    data = _read_yaml(path, error)
    if not isinstance(data, dict):
        raise error(f"{path}: a spec is a YAML mapping")
    include = data.pop("include", None)
    if include:
        if depth >= INCLUDE_DEPTH:
            raise error(f"{path}: include nests deeper than {INCLUDE_DEPTH} (a cycle?)")
        target = path.parent / str(include)
        if not target.is_file():
            raise error(f"{path}: include: {include} names no file ({target} does not exist); fix the name or "
                        "remove the include: line")
        base = read_spec(target, error, depth + 1)
        base.pop("name", None)
        base.pop("description", None)
        data = deep_merge(base, data)
    return data


def _read_yaml(path: Path, error: type[Exception]) -> Any:
    """A YAML file's data; a file that is not YAML (or cannot be read) is an `error` naming the line."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read ({exc}); fix or remove the file") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise error(f"{path} is not valid YAML{where} ({problem}); fix the file or remove it") from None
