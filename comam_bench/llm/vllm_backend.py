"""The in-process vLLM backend (`vllm:`), for GPU machines. vllm is imported only when this backend is built.

`vllm:MODEL_DIR_OR_HUB_ID[,tensor_parallel_size=1,gpu_memory_utilization=0.9,max_model_len=N,dtype=auto,
window=N]`. Chats go through the model's chat template here (not inside vLLM) so prompts longer than the
window are cut from the left exactly as the hf backend cuts them, instead of vLLM rejecting them.
Request i of a batch samples with seed + i. `loglikelihood` reads vLLM's prompt log-probabilities
(SamplingParams.prompt_logprobs) of prefix + option token ids, all options in one generate call.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

from comam_bench.api import LLM, Chat, Generation, OptionScore
from comam_bench.llm.spec import ModelLoadError, ModelSpec, choice, take_options

log = logging.getLogger(__name__)

OPTIONS = {"tensor_parallel_size": int, "gpu_memory_utilization": float, "max_model_len": int,
           "dtype": choice("auto", "float32", "bfloat16", "float16"), "window": int}
DEFAULTS = {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.9, "max_model_len": None, "dtype": "auto",
            "window": None}
INSTALL_HINT = "the vLLM backend needs a GPU machine with `pip install vllm` (or `pip install comam-bench[vllm]`)"


class VLLMLLM(LLM):
    """vllm.LLM behind the LLM interface; `.engine` is the vllm.LLM, `.tokenizer` its tokenizer."""

    def __init__(self, engine: Any, *, spec: str = "", window: int | None = None, model: str = "") -> None:
        """Wrap an already-built vllm.LLM (from_spec builds one)."""
        self.engine = engine
        self.tokenizer = engine.get_tokenizer()
        self.spec = spec
        self.model_name = model
        self.context_window = int(window or engine.llm_engine.model_config.max_model_len)
        self.truncated_prompts = 0

    @classmethod
    def from_spec(cls, ms: ModelSpec) -> "VLLMLLM":
        """Build vllm.LLM from a parsed `vllm:` spec; ModelLoadError when vllm is missing or loading fails."""
        opts = take_options(ms, OPTIONS, DEFAULTS)
        if not ms.target:
            raise ModelLoadError(f"{str(ms)!r} names no model: write vllm:/path/to/model or vllm:org/name")
        try:
            import vllm
        except ImportError as exc:
            raise ModelLoadError(f"cannot load {str(ms)!r}: {INSTALL_HINT} (import failed: {exc})") from None
        window = opts.pop("window")
        kwargs = {k: v for k, v in opts.items() if v is not None}
        try:
            engine = vllm.LLM(model=ms.target, **kwargs)
        except Exception as exc:  # CUDA missing, out of memory, unknown architecture...
            raise ModelLoadError(f"vLLM could not load {str(ms)!r} ({type(exc).__name__}: {str(exc)[:300]}). "
                                 "Check the GPU, gpu_memory_utilization= and max_model_len=.") from exc
        return cls(engine, spec=str(ms), window=window, model=ms.target)

    # ------------------------------------------------------------------ tokens
    def count_tokens(self, text: str) -> int:
        """Tokens of a plain text, without special tokens."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def count_chat_tokens(self, chat: Chat) -> int:
        """Tokens of the chat through the chat template, with the generation prompt."""
        return len(self._chat_ids(chat))

    def _chat_ids(self, chat: Chat) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(chat), add_generation_prompt=True, tokenize=False)
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _prompt_ids(self, chat: Chat, max_new_tokens: int) -> list[int]:
        ids = self._chat_ids(chat)
        limit = max(1, self.context_window - max_new_tokens)
        if len(ids) > limit:
            if self.truncated_prompts == 0:
                log.warning("%s: prompt of %d tokens cut to its last %d", self.spec, len(ids), limit)
            self.truncated_prompts += 1
            ids = ids[-limit:]
        return ids

    # ------------------------------------------------------------------ generation
    def generate(self, chats: Sequence[Chat], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> list[Generation]:
        """The whole batch in one vllm call (vLLM schedules it); greedy at temperature 0."""
        from vllm import SamplingParams

        prompts = [{"prompt_token_ids": self._prompt_ids(chat, max_new_tokens)} for chat in chats]
        params = [SamplingParams(max_tokens=max_new_tokens, temperature=temperature,
                                 seed=None if seed is None else seed + i, stop=kwargs.get("stop"),
                                 ignore_eos=bool(kwargs.get("ignore_eos")))
                  for i in range(len(prompts))]
        outputs = self.engine.generate(prompts, params, use_tqdm=False)
        return [Generation(out.outputs[0].text, len(out.prompt_token_ids), len(out.outputs[0].token_ids))
                for out in outputs]

    def loglikelihood(self, chat: Chat, continuations: Sequence[str], **kwargs: Any) -> list[OptionScore]:
        """Each continuation's summed prompt log-probability after the chat's tokens (encoded apart, as the
        hf backend does); greedy = every continuation token has rank 1. One generate call, 1 token each."""
        from vllm import SamplingParams

        conts = [list(self.tokenizer.encode(c, add_special_tokens=False)) for c in continuations]
        prefix = self._prompt_ids(chat, max((len(c) for c in conts), default=0))
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        outputs = self.engine.generate([{"prompt_token_ids": prefix + c} for c in conts], params, use_tqdm=False)
        return [self._option_score(out.prompt_logprobs, len(prefix), c, text)
                for out, c, text in zip(outputs, conts, continuations)]

    @staticmethod
    def _option_score(prompt_logprobs: Any, start: int, cont: list[int], text: str) -> OptionScore:
        """Sum the entries for the continuation's tokens (prompt_logprobs[i]: {token id: Logprob} at i)."""
        total, greedy = 0.0, True
        for k, token in enumerate(cont):
            entry = prompt_logprobs[start + k][token]
            total += float(entry.logprob)
            greedy = greedy and entry.rank == 1
        return OptionScore(total, len(cont), len(text), greedy)

    def identity(self) -> dict[str, Any]:
        """Spec, model, window and dtype."""
        config = self.engine.llm_engine.model_config
        return {"spec": self.spec, "backend": "vllm", "model": self.model_name, "window": self.context_window,
                "dtype": str(getattr(config, "dtype", "")).removeprefix("torch.")}

    def close(self) -> None:
        """Drop the engine so its GPU memory can be reclaimed."""
        self.engine = None
