"""The transformers backend (`hf:`): a local directory, a `.gguf` file, or a hub id (online only).

Generation is our own small decoding loop rather than `model.generate`, so that sampling draws from a
`torch.Generator` seeded per call (the global RNG stays untouched), token counts are exact (completion
tokens run up to and including the end-of-sequence token, padding excluded), and prompts longer than the
window are cut from the left instead of crashing. Batches are left-padded and run in micro-batches of
similar length. torch and transformers are imported only when a model is built.
"""
from __future__ import annotations

import hashlib
import json
import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Sequence

from comam_bench.api import LLM, Chat, Generation, OptionScore
from comam_bench.llm.spec import ModelLoadError, ModelSpec, choice, file_sha256, take_options
from comam_bench.llm.threads import configure_threads

log = logging.getLogger(__name__)

OPTIONS = {
    "dtype": choice("auto", "float32", "bfloat16", "float16"),
    "device": choice("auto", "cpu", "cuda"),
    "window": int,
    "batch_size": int,
    "adapter": str,
    "gguf_file": str,
}
DEFAULTS = {"dtype": "auto", "device": "auto", "window": None, "batch_size": 8, "adapter": None, "gguf_file": None}
HASH_WEIGHTS_UP_TO = 20 << 30  # bigger checkpoints are identified by file sizes only (hashing takes minutes)


class TransformersLLM(LLM):
    """A causal LM from transformers behind the LLM interface; `.model` and `.tokenizer` stay public."""

    supports_prefix = True

    def __init__(self, model: Any, tokenizer: Any, *, spec: str = "", window: int | None = None,
                 batch_size: int = 8, source: dict[str, Any] | None = None) -> None:
        """Wrap an already-loaded model and tokenizer (tests build tiny ones; `load` reads checkpoints)."""
        self.model = model
        self.model.eval()
        self.tokenizer = tokenizer
        self.spec = spec
        self.context_window = int(window or _config_window(model))
        self.batch_size = max(1, int(batch_size))
        self.source = dict(source or {})  # where the weights came from; hashed lazily by identity()
        self.truncated_prompts = 0
        self.forward_tokens = 0  # tokens fed to the model by loglikelihood (benchmarks read it)
        self.share_prefill = True  # identical prompts of one micro-batch prefill once (benchmarks turn it off)
        self.growing_cache = True  # decode on hf_cache's in-place KV cache (benchmarks turn it off to compare)
        self.recorder = None  # set by a trainer: keeps each sample's hidden states (training/boundary.py)
        self._eos = _eos_ids(model, tokenizer)
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self._eos[0]

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_spec(cls, ms: ModelSpec) -> "TransformersLLM":
        """Build from a parsed `hf:` spec."""
        if not ms.target:
            raise ModelLoadError(f"model spec {str(ms)!r} names no model: "
                                 "write hf:/path/to/dir, hf:file.gguf or hf:org/name")
        return cls.load(ms.target, spec=str(ms), **take_options(ms, OPTIONS, DEFAULTS))

    @classmethod
    def load(cls, target: str, *, dtype: str = "auto", device: str = "auto", window: int | None = None,
             batch_size: int = 8, adapter: str | None = None, gguf_file: str | None = None,
             spec: str = "") -> "TransformersLLM":
        """Load a directory, a GGUF file or a hub id, optionally with a peft LoRA adapter on top."""
        spec = spec or f"hf:{target}"
        where, gguf, source = _resolve_target(target, gguf_file, spec)
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise ModelLoadError(f"the hf backend needs torch and transformers ({exc}); "
                                 "install them with `pip install comam-bench[local]`") from None
        device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        dtype = ("bfloat16" if device == "cuda" else "float32") if dtype == "auto" else dtype
        if device == "cpu":
            configure_threads()  # before the first forward pass: a busy machine gets one thread (threads.py)
        kwargs = {"gguf_file": gguf} if gguf else {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(where, dtype=getattr(torch, dtype), **kwargs)
        except Exception as exc:  # transformers raises OSError, ValueError, HF hub errors...
            raise ModelLoadError(_load_hint(spec, target, source, exc)) from exc
        model.to(device)
        if adapter:
            model = _apply_adapter(model, adapter, spec)
            source.update({"adapter": str(Path(adapter).resolve())})
        return cls(model, tokenizer, spec=spec, window=window, batch_size=batch_size, source=source)

    # ------------------------------------------------------------------ tokens
    def count_tokens(self, text: str) -> int:
        """Tokens of a plain text, without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_chat_tokens(self, chat: Chat) -> int:
        """Tokens of the chat exactly as the model sees it: chat template plus generation prompt."""
        return len(self._chat_ids(chat))

    def _chat_text(self, chat: Chat) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(list(chat), add_generation_prompt=True, tokenize=False)
        # A base model without a template: a plain transcript ending where the assistant speaks.
        return "".join(f"{m['role']}: {m['content']}\n" for m in chat) + "assistant:"

    def _chat_ids(self, chat: Chat) -> list[int]:
        # The template already writes the special tokens (BOS, role markers); adding them again would double BOS.
        return list(self.tokenizer(self._chat_text(chat), add_special_tokens=False)["input_ids"])

    def _prompt_ids(self, chat: Chat, max_new_tokens: int, prefix: str | None = None) -> list[int]:
        """The chat's tokens (then `prefix`'s, the start of the assistant turn), cut from the left so that
        prompt plus answer fit the window."""
        ids = self._chat_ids(chat)
        if prefix:
            ids += self.tokenizer(prefix, add_special_tokens=False)["input_ids"]
        limit = max(1, self.context_window - max_new_tokens)
        if len(ids) > limit:
            if self.truncated_prompts == 0:
                log.warning("%s: prompt of %d tokens cut to its last %d (window %d, %d new tokens)",
                            self.spec, len(ids), limit, self.context_window, max_new_tokens)
            self.truncated_prompts += 1
            ids = ids[-limit:]
        return ids

    # ------------------------------------------------------------------ generation
    def generate(self, chats: Sequence[Chat], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> list[Generation]:
        """Greedy when temperature == 0, else sampling from a generator seeded with `seed`.

        Every Generation carries its prompt and completion token ids (a trainer scores exactly these).
        `ignore_eos=True` keeps generating to max_new_tokens (throughput measurements, toy RL tasks).
        `prefix` is written as the start of the assistant turn (its tokens end the prompt ids); a completion
        also ends once its text contains one of `stop` (strings, kept in the completion)."""
        stop = [] if kwargs.get("ignore_eos") else self._eos
        prompts = [self._prompt_ids(chat, max_new_tokens, kwargs.get("prefix")) for chat in chats]
        stop_texts = tuple(kwargs.get("stop") or ())
        # Longest first, so each micro-batch holds similar lengths and little padding.
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        generator = self._generator(seed) if temperature > 0 else None
        results: list[Generation | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            outputs = self._decode([prompts[i] for i in rows], max_new_tokens, temperature, generator, stop,
                                   stop_texts)
            for i, tokens in zip(rows, outputs):
                results[i] = Generation(self._text(tokens), len(prompts[i]), len(tokens), prompts[i], tokens)
        return results  # type: ignore[return-value]

    @property
    def pad_id(self) -> int:
        """The id that pads batches (the tokenizer's pad token, else the first end-of-sequence id)."""
        return self._pad

    def _generator(self, seed: int | None):
        import torch

        generator = torch.Generator(device=self.model.device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
        return generator

    def _text(self, tokens: list[int]) -> str:
        if tokens and tokens[-1] in self._eos:
            tokens = tokens[:-1]
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def _decode(self, prompts: list[list[int]], max_new_tokens: int, temperature: float, generator,
                stop: list[int] | None = None, stop_texts: Sequence[str] = ()) -> list[list[int]]:
        """One left-padded micro-batch through prefill and a KV-cached decoding loop; a row ends at a `stop`
        id or once its decoded tail contains one of `stop_texts`."""
        import torch

        from comam_bench.llm.hf_cache import growing_cache

        stop_ids = torch.tensor(self._eos if stop is None else stop, dtype=torch.long, device=self.model.device)
        device = self.model.device
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt):] = 1
        ids, mask = ids.to(device), mask.to(device)
        # Positions count real tokens only, so a padded row sees the same positions as when run alone.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        outputs: list[list[int]] = [[] for _ in prompts]
        done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
        past = growing_cache(max_new_tokens) if self.growing_cache else None
        # G samples of one prompt (a GRPO group) share its prefill: one row runs, its cache is repeated.
        shared = self.share_prefill and len(prompts) > 1 and all(p == prompts[0] for p in prompts)
        recorder = self.recorder
        with torch.inference_mode(), (recorder.watch(self.model) if recorder else nullcontext()) as calls:
            for step in range(max_new_tokens):
                if step == 0 and shared:
                    out = self.model(input_ids=ids[:1], attention_mask=mask[:1], position_ids=positions[:1],
                                     past_key_values=past, use_cache=True, logits_to_keep=1)
                    out.past_key_values.batch_repeat_interleave(len(prompts))
                    logits = out.logits[:, -1, :].float().expand(len(prompts), -1)
                else:
                    out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                     past_key_values=past, use_cache=True, logits_to_keep=1)
                    logits = out.logits[:, -1, :].float()
                past = out.past_key_values
                token = _pick(logits, temperature, generator)
                token = torch.where(done, torch.full_like(token, self._pad), token)
                for row, t in enumerate(token.tolist()):
                    if not done[row]:
                        outputs[row].append(t)
                        if stop_texts and self._ends_in(outputs[row], stop_texts):
                            done[row] = True
                done |= torch.isin(token, stop_ids)
                if bool(done.all()):
                    break
                ids = token[:, None]
                positions = positions[:, -1:] + 1
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        if recorder:
            recorder.store(prompts, outputs, calls)
        return outputs

    def _ends_in(self, tokens: list[int], stop_texts: Sequence[str]) -> bool:
        """Whether the last few tokens' text holds a stop string (a stop spans at most its length in tokens)."""
        tail = self.tokenizer.decode(tokens[-max(len(t) for t in stop_texts) - 2:], skip_special_tokens=True)
        return any(t in tail for t in stop_texts)

    # ------------------------------------------------------------------ likelihood
    def loglikelihood(self, chat: Chat, continuations: Sequence[str], *, reuse_prefix: bool = True,
                      prefix: str | None = None, **kwargs: Any) -> list[OptionScore]:
        """Each continuation's log-probability as the start of the assistant turn after `chat`.

        The chat's tokens (template + generation prompt) and each continuation's tokens are encoded apart,
        so the prefix is exactly the same for every option. With `reuse_prefix` (default) the prefix runs
        once and the options run as one batch on its KV cache; False runs prefix + option per option.
        A prefix too long for the window is cut from the left, as generation prompts are. `prefix` (text)
        starts the assistant turn before every continuation, encoded apart from them."""
        from comam_bench.llm.hf_likelihood import score_separately, score_shared_prefix

        conts = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        ids = self._prompt_ids(chat, max((len(c) for c in conts), default=0), prefix)
        score = score_shared_prefix if reuse_prefix else score_separately
        scored, fed = score(self.model, ids, conts)
        self.forward_tokens += fed
        return [OptionScore(lp, len(ids), len(text), greedy)
                for (lp, greedy), ids, text in zip(scored, conts, continuations)]

    # ------------------------------------------------------------------ identity
    def identity(self) -> dict[str, Any]:
        """Spec, architecture, size, dtype, and hashes of the weights (and adapter) it came from.

        Recomputed on each call (file hashes are cached), so adapters attached to `.model` later show up."""
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return {
            "spec": self.spec,
            "backend": "hf",
            "architecture": (getattr(base.config, "architectures", None) or [type(base).__name__])[0],
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "dtype": str(next(self.model.parameters()).dtype).removeprefix("torch."),
            "device": str(self.model.device),
            "window": self.context_window,
            **_hash_source(self.source),
        }

    def close(self) -> None:
        """Drop the weights so their memory can be reclaimed."""
        self.model = None
        self.tokenizer = None


# ---------------------------------------------------------------------- helpers
def _pick(logits, temperature: float, generator):
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every id that ends an answer: the generation config's (may be a list) and the tokenizer's."""
    ids: list[int] = []
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (gen_eos if isinstance(gen_eos, list) else [gen_eos]) + [tokenizer.eos_token_id]:
        if value is not None and value not in ids:
            ids.append(int(value))
    if not ids:
        raise ModelLoadError("the tokenizer has no end-of-sequence token, so generation could never stop")
    return ids


def _config_window(model: Any) -> int:
    config = model.get_base_model().config if hasattr(model, "get_base_model") else model.config
    return int(getattr(config, "max_position_embeddings", None) or 2048)


def _resolve_target(target: str, gguf_file: str | None, spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """(what to pass to from_pretrained, the GGUF file name or None, a source record for identity)."""
    path = Path(target).expanduser()
    if target.endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"{spec!r}: no GGUF file at {path}. Check the path.")
        return str(path.parent), path.name, {"gguf": str(path.resolve())}
    if path.is_dir():
        if gguf_file:
            return _resolve_target(str(path / gguf_file), None, spec)
        if (path / "config.json").is_file():
            return str(path), None, {"directory": str(path.resolve())}
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return _resolve_target(str(ggufs[0]), None, spec)
        raise ModelLoadError(f"{spec!r}: {path} has no config.json and {len(ggufs)} .gguf files; "
                             "name one with gguf_file=NAME or point at a checkpoint directory.")
    if target.startswith((".", "/", "~")) or path.suffix in (".bin", ".safetensors"):
        raise ModelLoadError(f"{spec!r}: nothing at {path}. "
                             "Check the path (a directory with config.json, or a .gguf file).")
    return target, gguf_file, {"hub_id": target}


def _load_hint(spec: str, target: str, source: dict[str, Any], exc: Exception) -> str:
    if "hub_id" in source:
        return (f"Could not load {spec!r}: {target!r} is not a local file or directory, and loading it as a "
                f"Hugging Face hub id failed ({type(exc).__name__}: {str(exc)[:300]}). This machine may be offline: "
                "download the model where there is internet and pass a local directory (hf:/path/to/dir) or a "
                ".gguf file, or use the embedded default model 'smollm2'.")
    return (f"Could not load {spec!r} ({type(exc).__name__}: {str(exc)[:300]}). Check that the files are a "
            "complete transformers checkpoint (or a GGUF file of an architecture transformers can read).")


def _apply_adapter(model: Any, adapter: str, spec: str) -> Any:
    try:
        from peft import PeftModel
    except ImportError:
        raise ModelLoadError(f"{spec!r} names an adapter, which needs peft: `pip install comam-bench[local]`") from None
    if not Path(adapter).is_dir():
        raise ModelLoadError(f"{spec!r}: no adapter directory at {adapter}")
    try:
        return PeftModel.from_pretrained(model, adapter).eval()
    except Exception as exc:
        raise ModelLoadError(f"{spec!r}: could not apply the adapter at {adapter}: {exc}") from exc


def _hash_source(source: dict[str, Any]) -> dict[str, Any]:
    """Hashes for identity(): file sha256 for a GGUF, config (+ weights) hashes for a directory."""
    out: dict[str, Any] = {}
    if "gguf" in source:
        out.update(file=Path(source["gguf"]).name, sha256=file_sha256(source["gguf"]))
    if "directory" in source:
        folder = Path(source["directory"])
        out.update(directory=folder.name, config_sha256=file_sha256(folder / "config.json"),
                   **_weights_identity(folder))
    if "hub_id" in source:
        out["hub_id"] = source["hub_id"]
    if "adapter" in source:
        out.update(adapter=source["adapter"], adapter_sha256=_folder_sha256(Path(source["adapter"])))
    return out


def _weights_identity(folder: Path) -> dict[str, Any]:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pt") and p.is_file())
    total = sum(p.stat().st_size for p in files)
    if total > HASH_WEIGHTS_UP_TO:
        return {"weights_bytes": total}
    return {"weights_bytes": total, "weights_sha256": _combine({p.name: file_sha256(p) for p in files})}


def _folder_sha256(folder: Path) -> str:
    """One hash over every file of a (small) folder such as a LoRA adapter."""
    return _combine({str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()})


def _combine(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
