"""Named, lazily imported implementations; plugins through entry points; YAML specs; "did you mean".

Built-ins are listed here as "module:Class" strings so that listing them imports nothing heavy.
Third-party systems use the entry-point group `comam_bench.systems` (the same mechanism), or are
named directly as `package.module:Class`.
"""
from __future__ import annotations

import difflib
import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml

SYSTEM_GROUP = "comam_bench.systems"
TRAINER_GROUP = "comam_bench.trainers"

# name -> "module:Class". Built-ins are resolved exactly like plugins; modules import nothing heavy at
# top level, so reading a class's `description` stays cheap.
BUILTIN_SYSTEMS: dict[str, str] = {
    "no-memory": "comam_bench.systems.sanity:NoMemory",
    "full-context": "comam_bench.systems.sanity:FullContext",
    "longest-option": "comam_bench.systems.sanity:LongestOption",
    "longest-option-sni": "comam_bench.systems.sanity:LongestOptionSNI",
    "oracle-evidence": "comam_bench.systems.sanity:OracleEvidence",
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


class RegistryError(LookupError):
    """An unknown name; the message carries suggestions."""


def project_root() -> Path:
    """Where tasks/, baselines/, trainers/ and results/ live: $COMAM_BENCH_HOME, else the source checkout."""
    env = os.environ.get("COMAM_BENCH_HOME")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1]


def spec_dir(kind: str) -> Path:
    return project_root() / kind


def suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return hint + f" Known: {', '.join(sorted(choices))}."


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


def _entry_point_systems() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=SYSTEM_GROUP)}


def _yaml_system_specs() -> dict[str, Path]:
    folder = spec_dir("baselines")
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def system_names() -> list[str]:
    return sorted(set(BUILTIN_SYSTEMS) | set(_entry_point_systems()) | set(_yaml_system_specs()))


def resolve_system(name: str, args: dict[str, Any] | None = None, _depth: int = 0) -> SystemSpec:
    """Resolve a system name: built-in, entry point, YAML spec in baselines/, or `package.module:Class`."""
    args = dict(args or {})
    if _depth > 8:
        raise RegistryError(f"system spec {name!r} includes itself")
    if name in BUILTIN_SYSTEMS:
        return SystemSpec(name, BUILTIN_SYSTEMS[name], args, "", "builtin")
    eps = _entry_point_systems()
    if name in eps:
        return SystemSpec(name, eps[name], args, "", "entry-point")
    specs = _yaml_system_specs()
    if name in specs:
        data = yaml.safe_load(specs[name].read_text()) or {}
        if "system" not in data:
            raise RegistryError(f"{specs[name]}: a system spec needs a 'system:' key naming its implementation")
        base = resolve_system(str(data["system"]), {**(data.get("args") or {}), **args}, _depth + 1)
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
    return _load_yaml_with_include(path)


def _load_yaml_with_include(path: Path, depth: int = 0) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    include = data.pop("include", None)
    if include and depth < 8:
        base = _load_yaml_with_include(path.parent / include, depth + 1)
        base.pop("name", None)  # a template's name is never the including spec's name
        base.update(data)
        data = base
    if depth == 0:
        data.setdefault("name", path.stem)
    return data


def trainer_names() -> list[str]:
    return sorted(set(BUILTIN_TRAINERS) | {ep.name for ep in entry_points(group=TRAINER_GROUP)})


def trainer_target(name: str) -> str:
    eps = {ep.name: ep.value for ep in entry_points(group=TRAINER_GROUP)}
    if name in BUILTIN_TRAINERS:
        return BUILTIN_TRAINERS[name]
    if name in eps:
        return eps[name]
    if ":" in name:
        return name
    raise RegistryError(f"Unknown trainer backend {name!r}." + suggest(name, trainer_names()))
