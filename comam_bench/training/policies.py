"""The trainable policies: LoRA adapters on shared base models, built from a recipe; checkpoints written and resumed.

One `PolicyBase` is one loaded transformers model with trainable LoRA adapters injected (the inference
AdapterSet of comam.models, plus fresh or resumed adapters, their parameters and saving). The reference
policy of the KL term, and the "base" judge, are the same weights with every adapter disabled: no second
copy in memory. Each agent samples through comam.models.AdapterLLM, whose hf backend returns the exact
prompt and completion token ids with every generation (re-tokenising text can differ from the samples).

Agents on the same base spec share one loaded model (PolicyBase). With policy "separate" each trained
agent gets its own adapter, named after it; agents that are not trained run their base as is. With policy
"shared" one adapter, "shared", plays every agent (all agents must then share one base). Checkpoints use
CoMAM's format (comam.checkpoint) so `comam-bench run --system comam --system-arg checkpoint=DIR` loads
them; optimizer states and the step counters sit beside it (optimizer.pt, trainer_state.json) for resuming.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from comam_bench.comam.agents import AGENTS
from comam_bench.comam.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from comam_bench.comam.models import AdapterLLM, AdapterSet
from comam_bench.llm import load_llm
from comam_bench.llm.hf import TransformersLLM
from comam_bench.training.recipe import Recipe, RecipeError
from comam_bench.training.tiny import save_tiny_model

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"


class PolicyBase(AdapterSet):
    """A base model with named trainable LoRA adapters; `active(name)` switches, `active(None)` is the reference."""

    def __init__(self, llm: TransformersLLM, names: Sequence[str], lora: Any, resume: dict[str, Path] | None = None,
                 gradient_checkpointing: bool = False) -> None:
        super().__init__(llm)
        self.model = llm.model  # the inner model: peft injects LoRA layers into it in place
        config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=list(lora.target_modules), bias="none", task_type="CAUSAL_LM",
                            layers_to_transform=top_layers(self.model, getattr(lora, "top_layers", None)))
        resume = resume or {}
        for name in names:
            self._add(name, config, resume.get(name))
        self.names = list(names)
        for p in self.model.parameters():  # the base stays frozen; adapters are made trainable per update
            p.requires_grad_(False)
        self.first_adapted = first_adapted_layer(self.model)
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
            self.model.enable_input_require_grads()

    def _add(self, name: str, config: LoraConfig, directory: Path | None) -> None:
        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.model, str(directory), adapter_name=name, is_trainable=True) \
                if directory else get_peft_model(self.model, config, adapter_name=name)
        elif directory:
            self.peft.load_adapter(str(directory), adapter_name=name, is_trainable=True)
        else:
            self.peft.add_adapter(name, config)

    def parameters(self, name: str) -> list[torch.nn.Parameter]:
        """The LoRA parameters of one adapter (peft names them `...lora_A.<name>.weight`)."""
        if self.peft is None:
            return []
        return [p for n, p in self.peft.named_parameters() if f".{name}." in n and "lora_" in n]

    def save_adapter(self, name: str, target: Path) -> None:
        """Write one adapter as a standalone peft adapter directory (adapter_config.json at its top)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            self.peft.save_pretrained(tmp, selected_adapters=[name])
            folder = Path(tmp) / name
            if target.exists():
                shutil.rmtree(target)
            shutil.move(str(folder), str(target))

    @property
    def pad_id(self) -> int:
        return self.base.pad_id


@contextmanager
def reusing_states(policies: Policies, on: bool = True) -> Iterator[None]:
    """While the block runs (a step's rollout, scoring and update), each base's hf backend records the hidden
    states entering its first adapted layer and the update reuses them (train.reuse_rollout_states,
    boundary.py); afterwards they are dropped. Off, or with every layer adapted, nothing changes."""
    from comam_bench.training.boundary import Recorder, supported

    bases = [b for b in policies.bases.values() if on and b.first_adapted > 0 and supported(b.model)]
    for b in bases:
        b.base.recorder = Recorder(b.first_adapted)
    try:
        yield
    finally:
        for b in bases:
            b.base.recorder = None


def first_adapted_layer(model: Any) -> int:
    """The lowest decoder layer holding any LoRA module (of any adapter, resumed ones included): the layers
    below it are the frozen base for every adapter. 0 when a LoRA sits outside the numbered layers."""
    found = [re.search(r"\.layers\.(\d+)\.", name) for name, _ in model.named_modules() if "lora_" in name]
    return min((int(m.group(1)) if m else 0 for m in found), default=0)


def top_layers(model: Any, n: int | None) -> list[int] | None:
    """Indices of the top `n` decoder layers of `model` (None: every layer)."""
    if n is None:
        return None
    total = int(model.config.num_hidden_layers)
    if not 1 <= n <= total:
        raise RecipeError(f"lora.top_layers={n}: the model has {total} decoder layers; use 1 to {total} or null")
    return list(range(total - n, total))


def with_options(spec: str, window: int | None, dtype: str) -> str:
    """The spec with the recipe's window and dtype appended as hf options (unless it sets them itself)."""
    parts = [spec]
    if window and "window=" not in spec:
        parts.append(f"window={window}")
    if dtype != "auto" and "dtype=" not in spec:
        parts.append(f"dtype={dtype}")
    return ",".join(parts)


@dataclass
class Policies:
    """The loaded bases, each agent's LLM for the Pipeline, the adapters' optimizers, and the judge."""

    base_spec: str
    specs: dict[str, str]  # agent -> base spec
    bases: dict[str, PolicyBase]  # base spec -> loaded base with its adapters
    adapter_of: dict[str, str | None]  # agent -> adapter name (None: runs its base as is)
    llms: dict[str, AdapterLLM]
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)  # adapter name -> optimizer
    judge: Any = None

    def base_of(self, agent: str) -> PolicyBase:
        return self.bases[self.specs[agent]]

    def adapter_base(self, adapter: str) -> PolicyBase:
        agent = next(a for a, name in self.adapter_of.items() if name == adapter)
        return self.base_of(agent)


def build_policies(recipe: Recipe, out_dir: Path, texts: Iterable[str], resume: Checkpoint | None) -> Policies:
    """Load every base once, inject the adapters (fresh, or from `resume`), make the optimizers and judge."""
    m, t = recipe.model, recipe.train
    base = m.base
    if base == "tiny-random":
        base = save_tiny_model(out_dir / "base_model", texts, window=m.window or 4096, seed=recipe.seed)
    base = with_options(base, m.window if m.base != "tiny-random" else None, m.dtype)
    specs = {a: with_options(m.agents.get(a, ""), m.window, m.dtype) if m.agents.get(a) else base for a in AGENTS}
    if t.policy == "shared":
        if len(set(specs.values())) > 1:
            raise RecipeError("a shared policy plays every agent, so every agent needs the same base model")
        adapter_of = {a: "shared" for a in AGENTS}
    else:
        adapter_of = {a: (a if a in t.agents else None) for a in AGENTS}
    resume_dirs = resume.adapters if resume else {}
    bases = {}
    for spec in dict.fromkeys(specs.values()):
        names = list(dict.fromkeys(adapter_of[a] for a in AGENTS if specs[a] == spec and adapter_of[a]))
        dirs = {n: resume_dirs.get(n if n != "shared" else AGENTS[0]) for n in names}
        bases[spec] = PolicyBase(_load_hf(spec), names, recipe.lora, {n: d for n, d in dirs.items() if d},
                                 m.gradient_checkpointing)
    llms = {a: AdapterLLM(bases[specs[a]], adapter_of[a]) for a in AGENTS}
    policies = Policies(base, specs, bases, adapter_of, llms)
    for name in dict.fromkeys(n for a, n in adapter_of.items() if n and a in t.agents):
        params = policies.adapter_base(name).parameters(name)
        policies.optimizers[name] = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    policies.judge = AdapterLLM(bases[base], None) if recipe.rewards.judge == "base" else load_llm(recipe.rewards.judge)
    return policies


def _load_hf(spec: str) -> TransformersLLM:
    llm = load_llm(spec)
    if not isinstance(llm, TransformersLLM):
        raise RecipeError(f"the local trainer needs a transformers model (hf: spec or smollm2); {spec!r} is a "
                          f"{type(llm).__name__}")
    return llm


def adapter_snapshot(policies: Policies) -> dict[str, list[torch.Tensor]]:
    """A copy of every trained adapter's parameters (a few MB of LoRA), to measure what training changed."""
    return {n: [p.detach().clone() for p in policies.adapter_base(n).parameters(n)] for n in policies.optimizers}


def adapter_changes(policies: Policies, start: dict[str, list[torch.Tensor]]) -> dict[str, float]:
    """adapter/<name>/delta_norm: the L2 norm of (now - start) over the adapter's parameters, and
    adapter/<name>/changed_frac: the share of its parameter tensors that moved at all."""
    out: dict[str, float] = {}
    for name, before in start.items():
        now = policies.adapter_base(name).parameters(name)
        deltas = [(p.detach() - b).float() for p, b in zip(now, before)]
        out[f"adapter/{name}/delta_norm"] = float(sum((d * d).sum() for d in deltas) ** 0.5) if deltas else 0.0
        out[f"adapter/{name}/changed_frac"] = sum(bool(d.abs().max() > 0) for d in deltas) / max(len(deltas), 1)
    return out


# --------------------------------------------------------------------------- checkpoints
class _Export:
    """An adapter as comam.checkpoint.save_checkpoint wants it: an object with save_pretrained(target)."""

    def __init__(self, base: PolicyBase, name: str) -> None:
        self.base, self.name = base, name

    def save_pretrained(self, target: str) -> None:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        self.base.save_adapter(self.name, Path(target))


def save(policies: Policies, recipe: Recipe, directory: Path, state: dict[str, Any]) -> Path:
    """A CoMAM checkpoint of the trained adapters, plus optimizer states and counters for resuming."""
    shared = recipe.train.policy == "shared"
    names = list(policies.optimizers)
    adapters: dict[str, Any] = {n: _Export(policies.adapter_base(n), n) for n in names}
    save_checkpoint(directory, base_model=policies.base_spec, adapters=adapters,
                    policy="shared" if shared else "separate",
                    models={a: s for a, s in policies.specs.items() if s != policies.base_spec},
                    system_args=recipe.pipeline,
                    info={"trainer": "local", "recipe": recipe.name, "mode": recipe.train.mode,
                          "credit": recipe.credit.mode, "global_step": state["global_step"]})
    torch.save({n: opt.state_dict() for n, opt in policies.optimizers.items()}, directory / OPTIMIZER_FILE)
    (directory / STATE_FILE).write_text(json.dumps({**state, "recipe": recipe.as_dict()}, indent=2, default=str))
    return directory


def load_resume(directory: str | None) -> tuple[Checkpoint | None, dict[str, Any]]:
    """(the checkpoint, its trainer state) to resume from; (None, fresh state) for no directory."""
    fresh = {"global_step": 0, "phase_steps": {}}  # phase_steps: phase index (as a str) -> steps taken
    if not directory:
        return None, fresh
    try:
        ckpt = load_checkpoint(directory)
    except CheckpointError as exc:
        raise RecipeError(f"resume: {exc}") from None
    state_file = Path(directory) / STATE_FILE
    if not state_file.is_file():
        raise RecipeError(f"{directory} is a CoMAM checkpoint but not one this trainer can resume "
                          f"({STATE_FILE} is missing)")
    state = json.loads(state_file.read_text())
    return ckpt, {k: state.get(k, v) for k, v in fresh.items()}


def load_optimizers(policies: Policies, directory: str | None) -> None:
    """Restore the optimizer states saved beside a resumed checkpoint (where present)."""
    path = Path(directory) / OPTIMIZER_FILE if directory else None
    if path is None or not path.is_file():
        return
    states = torch.load(path, map_location="cpu", weights_only=True)
    for name, opt in policies.optimizers.items():
        if name in states:
            opt.load_state_dict(states[name])
