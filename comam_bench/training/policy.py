"""The trainable policies: LoRA adapters on a shared base model, the frozen reference, and exact token ids.

One `PolicyBase` is one loaded transformers model with LoRA adapters injected: one per agent (the paper's
separate policies) or one named "shared" (the single-policy ablation). The reference policy of the KL term,
and the "base" judge, are the same weights with every adapter disabled: no second copy in memory.

`AgentLLM` is an agent's view for the CoMAM Pipeline: it samples with its adapter active, using the hf
backend's own prompt building and decoding loop, and records the exact prompt and completion token ids of
every sample (the Pipeline keeps only text; re-tokenising text can differ from the sampled tokens).
torch and peft are imported here at module level: only the local trainer imports this module.
"""
from __future__ import annotations

import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from comam_bench.api import LLM, Chat, Generation
from comam_bench.comam.models import adapter_active
from comam_bench.llm.hf import TransformersLLM


@dataclass
class Sample:
    """One sampled completion: the prompt ids as the model saw them and the completion ids (EOS included)."""

    prompt_ids: list[int]
    completion_ids: list[int]
    text: str


class Recorder:
    """Collects the samples of every generate call, in call order, until taken."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def take(self) -> list[Sample]:
        out, self.samples = self.samples, []
        return out


class PolicyBase:
    """A base model with named LoRA adapters; `active(name)` switches, `active(None)` is the reference."""

    def __init__(self, llm: TransformersLLM, names: Sequence[str], lora: Any, resume: dict[str, Path] | None = None,
                 gradient_checkpointing: bool = False) -> None:
        self.llm = llm
        self.model = llm.model  # the inner model: peft injects LoRA layers into it in place
        config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=list(lora.target_modules), bias="none", task_type="CAUSAL_LM")
        resume = resume or {}
        self.peft: PeftModel | None = None
        for name in names:
            self._add(name, config, resume.get(name))
        self.names = list(names)
        for p in self.model.parameters():  # the base stays frozen; adapters are made trainable per update
            p.requires_grad_(False)
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

    def active(self, name: str | None):
        """Within the block the model runs with adapter `name`, or with none (the reference) for None."""
        return adapter_active(self.peft, name)

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

    # ------------------------------------------------------------------ sampling
    def sample(self, chats: Sequence[Chat], max_new_tokens: int, temperature: float, seed: int | None,
               recorder: Recorder | None, stop_at_eos: bool = True) -> list[Generation]:
        """The hf backend's generate, keeping every sample's token ids (same prompts, same decoding loop)."""
        llm = self.llm
        prompts = [llm._prompt_ids(chat, max_new_tokens) for chat in chats]
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        generator = llm._generator(seed) if temperature > 0 else None
        tokens: list[list[int]] = [[] for _ in prompts]
        for start in range(0, len(order), llm.batch_size):
            rows = order[start:start + llm.batch_size]
            outputs = llm._decode([prompts[i] for i in rows], max_new_tokens, temperature, generator,
                                  None if stop_at_eos else [])
            for i, out in zip(rows, outputs):
                tokens[i] = out
        gens = [Generation(llm._text(t), len(p), len(t)) for p, t in zip(prompts, tokens)]
        if recorder is not None:
            recorder.samples += [Sample(p, t, g.text) for p, t, g in zip(prompts, tokens, gens)]
        return gens

    @property
    def pad_id(self) -> int:
        return self.llm._pad


class AgentLLM(LLM):
    """One agent's policy for the Pipeline: its adapter (None = the base as is) on a PolicyBase."""

    def __init__(self, base: PolicyBase, adapter: str | None, recorder: Recorder | None = None) -> None:
        self.base = base
        self.adapter = adapter
        self.recorder = recorder
        self.spec = base.llm.spec
        self.context_window = base.llm.context_window

    def generate(self, chats: Sequence[Chat], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> list[Generation]:
        with self.base.active(self.adapter), torch.no_grad():
            return self.base.sample(chats, max_new_tokens, temperature, seed, self.recorder)

    def count_tokens(self, text: str) -> int:
        return self.base.llm.count_tokens(text)

    def count_chat_tokens(self, chat: Chat) -> int:
        return self.base.llm.count_chat_tokens(chat)

    def identity(self) -> dict[str, Any]:
        return {**self.base.llm.identity(), "adapter": self.adapter}


# --------------------------------------------------------------------------- log-probabilities
def completion_logprobs(model: Any, samples: Sequence[Sample], pad_id: int, grad: bool = True,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(completion token | prefix) for each sample, as [B, C] with a 0/1 mask [B, C].

    Prompts are left-padded and completions right-padded, positions count real tokens only (as in
    sampling), and only the last C + 1 positions' logits are computed."""
    from comam_bench.training.grpo import token_logprobs

    width_p = max(len(s.prompt_ids) for s in samples)
    width_c = max(max(len(s.completion_ids) for s in samples), 1)
    ids = torch.full((len(samples), width_p + width_c), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, s in enumerate(samples):
        p, c = s.prompt_ids, s.completion_ids
        ids[row, width_p - len(p):width_p] = torch.tensor(p, dtype=torch.long)
        ids[row, width_p:width_p + len(c)] = torch.tensor(c, dtype=torch.long)
        mask[row, width_p - len(p):width_p + len(c)] = 1
    device = next(model.parameters()).device
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with nullcontext() if grad else torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                       logits_to_keep=width_c + 1).logits[:, :-1]
        logp = token_logprobs(logits, ids[:, width_p:])
    return logp, mask[:, width_p:].to(logp.dtype)
