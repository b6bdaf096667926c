"""One model shared by several threads (a parallel run's contexts): a lock, or a batching queue.

A backend marked `thread_safe = True` (the HTTP backend) is shared as it is. Any other LLM gets either
- `LockedLLM`: one call at a time; or
- `BatchingLLM`: calls that arrive while the model is busy are merged into the next single call, so a
  transformers model decodes the requests of several contexts in one batch. Only greedy calls with the same
  settings are merged: a sampled call's draws would depend on what else was in its batch, so sampling
  keeps a call to itself and stays reproducible by seed.
Embedders are always shared behind a lock (a fast tokenizer is not safe to call from several threads).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

from comam_bench.api import LLM, Chat, Embedder, Generation
from comam_bench.llm.wrapped import WrappedLLM

SHARING = ("lock", "batch")
DEFAULT_SHARING = "batch"  # measured faster than the lock: benchmarks/llm_sharing.py (see docs/scale-out.md)


class Sharer:
    """Wraps each model once (the same wrapper, and so the same lock, for every worker that asks)."""

    def __init__(self, how: str = DEFAULT_SHARING) -> None:
        if how not in SHARING:
            raise ValueError(f"llm sharing {how!r}: expected one of {', '.join(SHARING)}")
        self.how = how
        self._wrapped: dict[int, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, model: Any) -> Any:
        if model is None or getattr(model, "thread_safe", False):
            return model
        with self._lock:
            if id(model) not in self._wrapped:
                self._wrapped[id(model)] = self._wrap(model)
            return self._wrapped[id(model)]

    def _wrap(self, model: Any) -> Any:
        if isinstance(model, Embedder):
            return LockedEmbedder(model)
        if isinstance(model, LLM):
            return BatchingLLM(model) if self.how == "batch" else LockedLLM(model)
        return model

    def describe(self, model: Any) -> str | None:
        """How `model` is shared: "thread-safe", "lock", "batch", or None when there is no model."""
        if model is None:
            return None
        return "thread-safe" if getattr(model, "thread_safe", False) else self.how


class LockedLLM(WrappedLLM):
    """An LLM called by one thread at a time; token counting does not wait for a generation."""

    thread_safe = True

    def __init__(self, inner: LLM) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()

    def generate(self, chats: Sequence[Chat], **kwargs: Any) -> list[Generation]:
        with self._lock:
            return self.inner.generate(chats, **kwargs)

    def loglikelihood(self, chat: Chat, continuations: Sequence[str], **kwargs: Any):
        """Likelihood scoring (where the backend has it), under the same lock as generation."""
        with self._lock:
            return self.inner.loglikelihood(chat, continuations, **kwargs)

    def close(self) -> None:
        """Nothing: the run closes the model it loaded, once."""


@dataclass
class _Request:
    chats: list[Chat]
    key: tuple
    done: bool = False
    result: list[Generation] = field(default_factory=list)
    error: BaseException | None = None


class BatchingLLM(LockedLLM):
    """Merges the greedy calls waiting for the model into one call (no timer: the thread that gets the model
    takes every compatible request queued by then, its own included, and hands each caller its answers)."""

    def __init__(self, inner: LLM) -> None:
        super().__init__(inner)
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self.calls = 0  # model calls made (fewer than generate() calls when batching helped)

    def generate(self, chats: Sequence[Chat], **kwargs: Any) -> list[Generation]:
        if float(kwargs.get("temperature", 0.0) or 0.0) > 0:
            with self._lock:
                self.calls += 1
                return self.inner.generate(chats, **kwargs)
        request = _Request(list(chats), _settings_key(kwargs))
        with self._queue_lock:
            self._queue.append(request)
        with self._lock:
            if not request.done:
                self._serve(request.key, kwargs)
        if request.error is not None:
            raise request.error
        return request.result

    def _serve(self, key: tuple, kwargs: dict[str, Any]) -> None:
        with self._queue_lock:
            batch = [r for r in self._queue if r.key == key]
            self._queue = [r for r in self._queue if r.key != key]
        chats = [c for r in batch for c in r.chats]
        self.calls += 1
        try:
            out = self.inner.generate(chats, **kwargs) if chats else []
        except BaseException as exc:  # every caller of the merged call sees its failure
            for r in batch:
                r.error, r.done = exc, True
            return
        start = 0
        for r in batch:
            r.result, r.done = out[start:start + len(r.chats)], True
            start += len(r.chats)


def _settings_key(kwargs: dict[str, Any]) -> tuple:
    """Calls merge only when every generation setting is the same (the seed does not matter when greedy)."""
    return tuple(sorted((k, repr(v)) for k, v in kwargs.items() if k != "seed"))


class LockedEmbedder(Embedder):
    """An embedder called by one thread at a time."""

    thread_safe = True

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.spec = inner.spec
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]):
        with self._lock:
            return self.inner.embed(texts)

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def __getattr__(self, name: str) -> Any:
        # Systems may read embedder attributes (dimension...); the inner object answers.
        if name == "inner":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)
