"""The base of the harness's LLM wrappers (comam_bench.llm.meter's MeteredLLM, comam_bench.llm.shared's
LockedLLM and BatchingLLM): what they do not change goes to the wrapped model as it is."""
from __future__ import annotations

from typing import Any

from comam_bench.api import LLM, Chat


class WrappedLLM(LLM):
    """An LLM around `inner`: its spec, window, prefix support, token counts, identity and close are the inner
    model's. Subclasses define generate and loglikelihood (what they meter or serialise)."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.context_window = inner.context_window

    @property
    def supports_prefix(self) -> bool:
        return self.inner.supports_prefix

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def count_chat_tokens(self, chat: Chat) -> int:
        return self.inner.count_chat_tokens(chat)

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def close(self) -> None:
        self.inner.close()
