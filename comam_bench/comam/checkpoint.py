"""CoMAM checkpoints: what a trainer writes and `--system comam --system-arg checkpoint=DIR` loads.

Layout (relative paths, so a checkpoint directory can be moved or copied):
    DIR/comam_checkpoint.json
    DIR/adapters/<extraction|profile|retrieval>/    one peft LoRA adapter per agent ("separate" policy)
    DIR/adapters/shared/                             one adapter for every agent ("shared" policy)
The JSON names the base model spec (and optionally a different spec per agent), the adapter of each
agent (null = that agent runs its base model as is), the policy layout, the prompt version the adapters
were trained with, and optional system arguments the policy was trained under (budgets, ablation flags).
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from comam_bench.comam.agents import AGENTS
from comam_bench.comam.prompts import PROMPT_VERSION
from comam_bench.errors import ComamBenchError

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "comam_checkpoint.json"
CHECKPOINT_FORMAT = 1
POLICIES = ("separate", "shared")


class CheckpointError(ComamBenchError, ValueError):
    """A checkpoint directory that cannot be read or written as asked; the message says why."""


@dataclass
class Checkpoint:
    """A loaded checkpoint; paths are absolute."""

    path: Path
    base_model: str | None
    adapters: dict[str, Path | None]
    policy: str = "separate"
    models: dict[str, str | None] = field(default_factory=dict)  # per-agent base, where it differs
    prompt_version: str = PROMPT_VERSION
    system_args: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # free trainer notes (steps, rewards, seed)

    def system_kwargs(self) -> dict[str, Any]:
        """The CoMAM arguments this checkpoint stands for (explicit --system-args override them)."""
        args: dict[str, Any] = dict(self.system_args)
        args["policy_model"] = self.base_model
        for agent in AGENTS:
            if self.models.get(agent):
                args[f"{agent}_model"] = self.models[agent]
        if self.policy == "shared":
            args["shared_policy"] = True
            shared = next((p for p in self.adapters.values() if p is not None), None)
            args["policy_adapter"] = str(shared) if shared else None
        else:
            for agent, adapter in self.adapters.items():
                args[f"{agent}_adapter"] = str(adapter) if adapter else None
        return args


def _source_key(source: Any) -> tuple:
    """Equal directories (however written) or the same model object count as one adapter."""
    return ("model", id(source)) if hasattr(source, "save_pretrained") else ("dir", str(Path(source).resolve()))


def _put_adapter(source: Any, target: Path) -> None:
    """Copy an adapter directory, or save a peft model (anything with save_pretrained), to `target`."""
    if target.exists():
        shutil.rmtree(target)
    if hasattr(source, "save_pretrained"):
        source.save_pretrained(str(target))
        return
    src = Path(source)
    if not (src / "adapter_config.json").is_file():
        raise CheckpointError(f"{src} is not a peft adapter directory (no adapter_config.json)")
    shutil.copytree(src, target)


def save_checkpoint(directory: str | Path, *, base_model: str | None, adapters: Mapping[str, Any],
                    policy: str = "separate", models: Mapping[str, str | None] | None = None,
                    system_args: Mapping[str, Any] | None = None, info: Mapping[str, Any] | None = None,
                    prompt_version: str = PROMPT_VERSION) -> Path:
    """Write a checkpoint. `adapters` maps agent -> adapter (a directory or an object with
    save_pretrained) or None; for policy="shared" give one adapter, under "shared" or under any agent.
    Returns the JSON file's path."""
    if policy not in POLICIES:
        raise CheckpointError(f"policy must be one of {POLICIES}, got {policy!r}")
    unknown = set(adapters) - set(AGENTS) - ({"shared"} if policy == "shared" else set())
    if unknown:
        raise CheckpointError(f"unknown agents {sorted(unknown)}; agents are {AGENTS}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, str | None] = {}
    if policy == "shared":
        sources = {_source_key(a): a for a in adapters.values() if a is not None}
        if len(sources) != 1:
            raise CheckpointError(f"a shared policy has exactly one adapter; got {len(sources)}")
        _put_adapter(next(iter(sources.values())), root / "adapters" / "shared")
        written = {agent: "adapters/shared" for agent in AGENTS}
    else:
        for agent in AGENTS:
            if adapters.get(agent) is not None:
                _put_adapter(adapters[agent], root / "adapters" / agent)
                written[agent] = f"adapters/{agent}"
            else:
                written[agent] = None
    doc = {"format": CHECKPOINT_FORMAT, "system": "comam", "base_model": base_model, "policy": policy,
           "adapters": written, "models": {a: m for a, m in (models or {}).items() if m},
           "prompt_version": prompt_version, "system_args": dict(system_args or {}), "info": dict(info or {})}
    path = root / CHECKPOINT_FILE
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """Read and check a checkpoint directory; adapter paths come back absolute."""
    root = Path(directory).expanduser().resolve()
    path = root / CHECKPOINT_FILE
    if not path.is_file():
        raise CheckpointError(f"{root} is not a CoMAM checkpoint: {CHECKPOINT_FILE} is missing")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from None
    if doc.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {doc.get('format')!r}; this version reads {CHECKPOINT_FORMAT}")
    policy = doc.get("policy", "separate")
    if policy not in POLICIES:
        raise CheckpointError(f"{path}: policy must be one of {POLICIES}, got {policy!r}")
    adapters: dict[str, Path | None] = {}
    for agent, rel in (doc.get("adapters") or {}).items():
        if agent not in AGENTS:
            raise CheckpointError(f"{path}: unknown agent {agent!r}; agents are {AGENTS}")
        adapters[agent] = _adapter_path(root, rel, path)
    version = doc.get("prompt_version", "")
    if version != PROMPT_VERSION:
        log.warning("checkpoint %s was trained with prompts %r; this code has %r", root, version, PROMPT_VERSION)
    return Checkpoint(root, doc.get("base_model"), adapters, policy, dict(doc.get("models") or {}), version,
                      dict(doc.get("system_args") or {}), dict(doc.get("info") or {}))


def _adapter_path(root: Path, rel: str | None, path: Path) -> Path | None:
    if rel is None:
        return None
    adapter = (root / rel).resolve()
    if not (adapter / "adapter_config.json").is_file():
        raise CheckpointError(f"{path}: adapter {rel!r} has no adapter_config.json at {adapter}")
    return adapter
