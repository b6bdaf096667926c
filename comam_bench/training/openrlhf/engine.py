"""The policy behind OpenRLHF's async rollout engine, as a comam_bench LLM the CoMAM Pipeline can call.

The Pipeline is synchronous (one batched `generate` per agent step); OpenRLHF's engine is a coroutine
`await engine.generate(prompt_token_ids, sampling_params)` on the rollout actor's event loop. The
coordinator runs the Pipeline in a worker thread, and this class hands each batch back to the loop
(`run_coroutine_threadsafe`), all of a batch's requests at once, so vLLM batches them. Every Generation
carries the engine's token ids, log-probabilities and finish reason, and so does the pipeline step made
from it: those, not the re-encoded text, are what OpenRLHF trains on.

Chats are rendered with the policy tokenizer's chat template (generation prompt added), exactly as the
transformers backend renders them for the local trainer and for evaluation. The text handed to the
Pipeline is decoded without special tokens; the token ids keep the end-of-turn token, so the policy
learns to stop.
"""
from __future__ import annotations

import asyncio
import copy
from typing import Any, Sequence

from comam_bench.api import LLM, Chat, Generation


def _token_logprobs(output: Any, token_ids: Sequence[int]) -> list[float] | None:
    """vLLM's per-position {token_id: Logprob} dicts -> the sampled tokens' log-probabilities."""
    if getattr(output, "logprobs", None) is None:
        return None
    out = []
    for tok, entry in zip(token_ids, output.logprobs):
        lp = entry.get(tok) if hasattr(entry, "get") else None
        out.append(float(lp.logprob) if lp is not None else 0.0)
    return out


class EngineLLM(LLM):
    """Generation through the OpenRLHF rollout engine of this executor (the policy being trained)."""

    def __init__(self, engine: Any, tokenizer: Any, sampling_params: Any, loop: asyncio.AbstractEventLoop,
                 max_length: int, spec: str = "openrlhf:policy") -> None:
        self.engine = engine
        self.tokenizer = tokenizer
        self.sampling_params = sampling_params
        self.loop = loop
        self.context_window = int(max_length)
        self.truncated_prompts = 0  # prompts cut to the window (their tail kept), for the logs
        self.spec = spec

    def render(self, chat: Chat) -> list[int]:
        """The chat's prompt token ids: the template's text tokenized without adding special tokens (the
        template writes them), as the transformers backend and OpenRLHF's own executors tokenize."""
        text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_chat_tokens(self, chat: Chat) -> int:
        return len(self.render(chat))

    def _params(self, max_new_tokens: int, temperature: float, room: int) -> Any:
        params = copy.deepcopy(self.sampling_params)
        params.max_tokens = max(1, min(int(max_new_tokens), room))
        params.temperature = float(temperature)
        # No per-request seed: G copies of one prompt with one seed would be G identical samples.
        return params

    def generate(self, chats: Sequence[Chat], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> list[Generation]:
        """Called from a worker thread: submit every chat to the engine at once, wait for all."""
        prompts = []
        for chat in chats:
            ids = self.render(chat)
            if len(ids) > self.context_window - 1:  # as OpenRLHF's own executors do: keep the tail
                self.truncated_prompts += 1
                ids = ids[-(self.context_window - 1):]
            prompts.append(ids)
        futures = [asyncio.run_coroutine_threadsafe(
            self.engine.generate(ids, self._params(max_new_tokens, temperature, self.context_window - len(ids))),
            self.loop) for ids in prompts]
        out = []
        for ids, fut in zip(prompts, futures):
            result = fut.result().outputs[0]
            tokens = list(result.token_ids)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            out.append(Generation(text, len(ids), len(tokens), ids, tokens, _token_logprobs(result, tokens),
                                  getattr(result, "finish_reason", None)))
        return out
