"""One model per agent at inference: which LLM each of extraction, profile and retrieval calls.

The split with its neighbours: comam.checkpoint is the on-disk format a trainer writes and this module's
caller loads; training.policies extends AdapterSet with trainable adapters and drives the same AdapterLLM.

An agent's model is a model spec (None = the run's `--model`), optionally with a peft LoRA adapter.
Agents on the same base share one loaded model: its weights are loaded once, every adapter is loaded
into it under its own name (peft multi-adapter), and each agent's LLM switches to its adapter (or turns
adapters off) for the duration of its own generate call. A different base per agent is simply another
`load_llm(spec)`. Every agent LLM is metered into the run's meter, so per-agent cost lands in the record.

torch and peft are imported only when an adapter is actually loaded.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from comam_bench.api import LLM, Chat, Generation, OptionScore, Resources
from comam_bench.errors import ComamBenchError

RUN_MODEL = "<run model>"  # the key of agents that use the run's own --model


@contextmanager
def adapter_active(peft, name: str | None) -> Iterator[None]:
    """Run a peft model with adapter `name`, or with adapters disabled for None (a model without peft as is).

    Shared by inference (per-agent LLMs) and training (policies and the KL reference)."""
    if peft is None:
        yield
    elif name is None:
        with peft.disable_adapter():
            yield
    else:
        peft.set_adapter(name)
        yield


class AdapterError(ComamBenchError, ValueError):
    """An adapter that cannot be used: no such directory, or a backend without LoRA support."""


def unwrap(llm: LLM) -> LLM:
    """The backend under any wrappers (MeteredLLM keeps it in `.inner`)."""
    while hasattr(llm, "inner"):
        llm = llm.inner
    return llm


def folder_sha256(folder: str | Path) -> str:
    """One hash over every file of a small folder (an adapter), for identities and checkpoints."""
    folder = Path(folder)
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(folder)).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


class AdapterSet:
    """A loaded transformers LLM and the LoRA adapters loaded into it, each under its own name."""

    def __init__(self, base: LLM) -> None:
        if not (hasattr(base, "model") and hasattr(base, "tokenizer")):
            raise AdapterError(f"LoRA adapters need a local transformers model (hf: backend); "
                               f"{base.spec!r} is a {type(base).__name__}")
        self.base = base
        self.peft = None  # the PeftModel; its LoRA layers live inside base.model, so base.generate uses them
        self.dirs: dict[str, str] = {}  # adapter name -> directory

    def add(self, name: str, directory: str | Path) -> None:
        """Load an adapter under `name` (once: the same name again is a no-op)."""
        if name in self.dirs:
            return
        path = Path(directory)
        if not (path / "adapter_config.json").is_file():
            raise AdapterError(f"no peft adapter at {path} (adapter_config.json missing)")
        try:
            from peft import PeftModel
        except ImportError:
            raise AdapterError("loading an adapter needs peft: `pip install comam-bench[local]`") from None
        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.base.model, str(path), adapter_name=name)
            self.peft.eval()
        else:
            self.peft.load_adapter(str(path), adapter_name=name)
        self.dirs[name] = str(path.resolve())

    def active(self, name: str | None):
        """Within the block the base model runs with adapter `name`, or with no adapter for None."""
        return adapter_active(self.peft, name)


class AdapterLLM(LLM):
    """An agent's view of a shared base model: generates with its own adapter active (or none)."""

    def __init__(self, adapters: AdapterSet, name: str | None) -> None:
        self.adapters = adapters
        self.name = name
        self.spec = adapters.base.spec
        self.context_window = adapters.base.context_window

    @property
    def supports_prefix(self) -> bool:
        return self.adapters.base.supports_prefix

    @property
    def shared_model(self) -> Any:
        """The underlying model object (the same one for every agent on this base)."""
        return self.adapters.base.model

    def generate(self, chats: Sequence[Chat], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> list[Generation]:
        with self.adapters.active(self.name):
            return self.adapters.base.generate(chats, max_new_tokens=max_new_tokens, temperature=temperature,
                                               seed=seed, **kwargs)

    def loglikelihood(self, chat: Chat, continuations: Sequence[str], **kwargs: Any) -> list[OptionScore]:
        with self.adapters.active(self.name):
            return self.adapters.base.loglikelihood(chat, continuations, **kwargs)

    def count_tokens(self, text: str) -> int:
        return self.adapters.base.count_tokens(text)

    def count_chat_tokens(self, chat: Chat) -> int:
        return self.adapters.base.count_chat_tokens(chat)

    def identity(self) -> dict[str, Any]:
        out = dict(self.adapters.base.identity())
        directory = self.adapters.dirs.get(self.name)
        if directory is not None:
            out.update(adapter=self.name, adapter_dir=directory, adapter_sha256=folder_sha256(directory))
        elif self.name is not None:  # an adapter being trained: not on disk yet
            out["adapter"] = self.name
        return out


def load_model(spec: str) -> LLM:
    """Load a model spec (imported late: loading may pull in torch)."""
    from comam_bench.llm import load_llm

    return load_llm(spec)


class AgentModels:
    """Builds the LLM of every agent from specs and adapters; bases are loaded once and shared."""

    def __init__(self, resources: Resources, models: Mapping[str, str | None],
                 adapters: Mapping[str, str | None], loader=load_model) -> None:
        self.resources = resources
        self.models = dict(models)
        self.adapters = {a: (str(d) if d else None) for a, d in adapters.items()}
        self.loader = loader
        self.bases: dict[str, LLM] = {}  # key (spec or RUN_MODEL) -> unwrapped backend
        self.adapter_sets: dict[str, AdapterSet] = {}
        self.llms = {agent: self._build(agent) for agent in self.models}

    def _key(self, spec: str | None) -> str:
        run = self.resources.llm
        if spec is None or (run is not None and spec.strip() == run.spec):
            return RUN_MODEL
        return spec.strip()

    def _base(self, key: str, agent: str) -> LLM:
        if key not in self.bases:
            if key == RUN_MODEL:
                if self.resources.llm is None:
                    raise ValueError(f"comam: the {agent} agent has no model; pass --model or {agent}_model=SPEC")
                self.bases[key] = unwrap(self.resources.llm)
            else:
                self.bases[key] = self.loader(key)
        return self.bases[key]

    def _adapter_name(self, agent: str, directory: str) -> str:
        """Agents naming the same directory share one loaded adapter (a shared policy)."""
        users = [a for a, d in self.adapters.items() if d and Path(d).resolve() == Path(directory).resolve()]
        return users[0] if len(users) == 1 else "shared"

    def _build(self, agent: str) -> LLM:
        key = self._key(self.models.get(agent))
        base = self._base(key, agent)
        # Once any adapter is loaded into a base, its LoRA layers sit inside the model: every agent on that
        # base must then go through an AdapterLLM, which turns adapters off when the agent has none.
        on_base = [a for a in self.models if self._key(self.models.get(a)) == key]
        if any(self.adapters.get(a) for a in on_base):
            if key not in self.adapter_sets:
                self.adapter_sets[key] = AdapterSet(base)
                for a in on_base:
                    if self.adapters.get(a):
                        self.adapter_sets[key].add(self._adapter_name(a, self.adapters[a]), self.adapters[a])
            directory = self.adapters.get(agent)
            llm: LLM = AdapterLLM(self.adapter_sets[key], self._adapter_name(agent, directory) if directory else None)
        else:
            llm = base
        return self.resources.meter_llm(llm)

    def close(self) -> None:
        """Free the bases this object loaded itself (never the run's own model, which the runner closes)."""
        for key, llm in self.bases.items():
            if key != RUN_MODEL:
                llm.close()
        self.bases.clear()

    def describe(self) -> dict[str, Any]:
        """Per agent: its model spec (None = the run's), adapter directory and hash, and which agents share
        a loaded base (for the run record)."""
        out: dict[str, Any] = {}
        for agent in self.models:
            key = self._key(self.models.get(agent))
            directory = self.adapters.get(agent)
            out[agent] = {"model": None if key == RUN_MODEL else key,
                          "adapter": str(Path(directory).resolve()) if directory else None,
                          "adapter_sha256": folder_sha256(directory) if directory else None}
        out["bases_loaded"] = len([k for k in self.bases if k != RUN_MODEL])
        return out
