"""Reuse the rollout's frozen lower layers in the update (recipe key train.reuse_rollout_states).

LoRA adapts only the top `lora.top_layers` decoder layers, so everything below them is the frozen base,
the same for every adapter: the hidden state entering the first adapted layer (the "boundary") depends on
the tokens alone. The rollout already computed it for every prompt and completion token it fed the model;
the update then ran the same tokens through all the layers again. With this option the hf backend keeps
each sample's boundary states while it samples (`Recorder`, keyed by the exact token ids), and the update
runs only the adapted layers on them (`top_logits`): the same log-probabilities and LoRA gradients (float
rounding aside: the rollout computed them in a KV-cached batch), at the adapted layers' share of the
forward cost. Samples without recorded states go the plain way.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch


def _decoder(model: Any) -> Any:
    """The decoder stack of a causal LM (Llama-style: .model with layers, rotary_emb and norm), or None."""
    inner = getattr(model, "model", None)
    ok = all(hasattr(inner, a) for a in ("layers", "rotary_emb", "norm")) and hasattr(model, "lm_head")
    return inner if ok else None


def supported(model: Any) -> bool:
    """Whether `model`'s layers can be run from a boundary (else the update takes the plain path)."""
    return _decoder(model) is not None


class Recorder:
    """Boundary hidden states of generated samples: (prompt ids, completion ids) -> [P + C - 1, hidden]
    (the last completion token is never fed to the model, and no logit needs it)."""

    def __init__(self, layer: int) -> None:
        self.layer = int(layer)
        self.states: dict[tuple[tuple[int, ...], tuple[int, ...]], torch.Tensor] = {}

    @contextmanager
    def watch(self, model: Any) -> Iterator[list[torch.Tensor]]:
        """Collect the boundary layer's input of every model call made inside the block."""
        calls: list[torch.Tensor] = []
        layer = _decoder(model).layers[self.layer]
        handle = layer.register_forward_pre_hook(lambda _m, args: calls.append(args[0].detach()))
        try:
            yield calls
        finally:
            handle.remove()

    def store(self, prompts: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]],
              calls: Sequence[torch.Tensor]) -> None:
        """File one decoding loop's calls per row: calls[0] is the left-padded prefill (one row when the
        prompt was shared), calls[k] the step that fed row r's completion token k - 1."""
        if not calls:
            return
        prefill, width = calls[0], calls[0].shape[1]
        with torch.inference_mode(False):  # normal tensors: the update's autograd may save them
            prompt_states = [prefill[row].clone() for row in range(prefill.shape[0])]
            for row, (prompt, out) in enumerate(zip(prompts, outputs)):
                if not out:
                    continue
                p = prompt_states[min(row, len(prompt_states) - 1)][width - len(prompt):]
                fed = [calls[k][row, -1] for k in range(1, len(out))]
                rest = torch.stack(fed).clone() if fed else p[:0]
                self.states[(tuple(prompt), tuple(out))] = torch.cat([p, rest])

    def lookup(self, samples: Sequence[Any]) -> list[torch.Tensor] | None:
        """Every sample's states, or None when one of them has none (the caller then goes the plain way)."""
        found = [self.states.get((tuple(s.prompt_ids), tuple(s.completion_ids))) for s in samples]
        return None if any(f is None for f in found) else found

    def clear(self) -> None:
        self.states.clear()


def boundary_inputs(samples: Sequence[Any], states: Sequence[torch.Tensor], device: Any,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int]:
    """(hidden [B, Wp + Wc - 1, H], attention mask, completion ids [B, Wc], Wp, Wc): prompts' states
    left-padded, completions' right-padded, laid out as completion_logprobs lays out its ids."""
    width_p = max(len(s.prompt_ids) for s in samples)
    width_c = max(max(len(s.completion_ids) for s in samples), 1)
    size = states[0].shape[-1]
    hidden = torch.zeros((len(samples), width_p + width_c - 1, size), dtype=states[0].dtype)
    mask = torch.zeros(hidden.shape[:2], dtype=torch.long)
    targets = torch.zeros((len(samples), width_c), dtype=torch.long)
    for row, (s, h) in enumerate(zip(samples, states)):
        p, c = len(s.prompt_ids), len(s.completion_ids)
        hidden[row, width_p - p:width_p + c - 1] = h
        mask[row, width_p - p:width_p + c - 1] = 1
        targets[row, :c] = torch.tensor(s.completion_ids, dtype=torch.long)
    return hidden.to(device), mask.to(device), targets.to(device), width_p, width_c


def _run_top(model: Any, hidden: torch.Tensor, mask: torch.Tensor | None, positions: torch.Tensor, start: int,
             cache: Any = None) -> torch.Tensor:
    """Decoder layers start.. on boundary `hidden` (filling `cache` when given), then the final norm."""
    from transformers.masking_utils import create_causal_mask

    inner = _decoder(model)
    causal = create_causal_mask(config=model.config, inputs_embeds=hidden, attention_mask=mask,
                                past_key_values=cache, position_ids=positions, layer_idx=start)
    rotary = inner.rotary_emb(hidden, position_ids=positions)
    for layer in inner.layers[start:model.config.num_hidden_layers]:
        hidden = layer(hidden, attention_mask=causal, position_embeddings=rotary, position_ids=positions,
                       past_key_values=cache, use_cache=cache is not None)
    return inner.norm(hidden)


def top_logits(model: Any, hidden: torch.Tensor, mask: torch.Tensor, start: int, keep: int) -> torch.Tensor:
    """The logits of the last `keep` positions, running only decoder layers start.. on boundary `hidden`
    (what model(...).logits gives for the same tokens, padding and positions)."""
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return model.lm_head(_run_top(model, hidden, mask, positions, start)[:, -keep:])


def shared_top_logits(model: Any, prompt: torch.Tensor, rest: torch.Tensor, start: int) -> torch.Tensor:
    """top_logits for rows of one prompt: its states [P, H] run the adapted layers once (KV cached, the
    cache repeated per row, gradients flowing back through it), then the rows' completion states
    [B, Wc - 1, H], right-padded after it (causal attention never lets a real token see a pad).
    Returns the logits of the prompt's last position and the completions' [B, Wc, V]."""
    from transformers.cache_utils import DynamicCache

    cache = DynamicCache(config=model.config)
    length, rows = prompt.shape[0], rest.shape[0]
    head = _run_top(model, prompt[None], None, torch.arange(length, device=prompt.device)[None], start, cache)
    first = model.lm_head(head[:, -1:]).expand(rows, -1, -1)
    if rest.shape[1] == 0:
        return first
    cache.batch_repeat_interleave(rows)
    positions = torch.arange(length, length + rest.shape[1], device=rest.device)[None].expand(rows, -1)
    return torch.cat([first, model.lm_head(_run_top(model, rest, None, positions, start, cache))], dim=1)
