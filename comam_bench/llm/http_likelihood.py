"""Continuation scores from an OpenAI-compatible /completions endpoint with prompt log-probabilities.

The request is the legacy completions one that vLLM (and the OpenAI API for its older models) serves:
`prompt` = chat-template text + continuation, `echo: true`, `logprobs: 1`, `max_tokens: 1`. The answer's
`logprobs` gives every prompt token with its text offset and log-probability; the continuation's tokens
are those that cover any of its characters. A server that answers without them gets a clear error,
never a made-up score.
"""
from __future__ import annotations

from typing import Any

from comam_bench.api import OptionScore
from comam_bench.llm.spec import BackendError

NO_LOGPROBS = ("the server at {url} returned no prompt log-probabilities for /completions with echo=true and "
               "logprobs=1 ({why}). The likelihood protocol needs a server that returns them, such as vLLM's "
               "OpenAI-compatible server; use --protocol discriminative with this one, or another backend.")


def request_body(model: str, context: str, continuations: list[str]) -> dict[str, Any]:
    """One request scoring every continuation (a list prompt: one choice per continuation)."""
    return {"model": model, "prompt": [context + c for c in continuations], "echo": True, "logprobs": 1,
            "max_tokens": 1, "temperature": 0.0}


def parse_scores(data: Any, context: str, continuations: list[str], url: str) -> list[OptionScore]:
    """OptionScores from a completions answer, in continuation order; BackendError when it lacks logprobs."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or len(choices) != len(continuations):
        raise BackendError(NO_LOGPROBS.format(url=url, why=f"{len(choices or [])} choices for "
                                                         f"{len(continuations)} prompts"))
    ordered = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    return [_score(choice, context, cont, url) for choice, cont in zip(ordered, continuations)]


def _score(choice: Any, context: str, continuation: str, url: str) -> OptionScore:
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    if not isinstance(lp, dict) or not lp.get("token_logprobs") or not lp.get("text_offset"):
        raise BackendError(NO_LOGPROBS.format(url=url, why="no logprobs.token_logprobs / text_offset in the answer"))
    text = choice.get("text") or ""
    start = text.find(context + continuation)  # the echo may carry a BOS token's text before the prompt
    if start < 0:
        raise BackendError(NO_LOGPROBS.format(url=url, why="the answer does not echo the prompt"))
    boundary, end = start + len(context), start + len(context) + len(continuation)
    offsets, logprobs = lp["text_offset"], lp["token_logprobs"]
    tops = lp.get("top_logprobs") or [None] * len(offsets)
    total, tokens, greedy = 0.0, 0, True
    for i, offset in enumerate(offsets):
        token_end = offsets[i + 1] if i + 1 < len(offsets) else len(text)
        if offset >= end or token_end <= boundary:
            continue  # a context token, or the one generated token after the prompt
        if logprobs[i] is None:
            raise BackendError(NO_LOGPROBS.format(url=url, why=f"token {i} of the continuation has no logprob"))
        total += float(logprobs[i])
        tokens += 1
        top = tops[i] if i < len(tops) else None
        greedy = greedy and isinstance(top, dict) and bool(top) and logprobs[i] >= max(top.values()) - 1e-6
    return OptionScore(total, tokens, len(continuation), greedy and tokens > 0 or not continuation)
