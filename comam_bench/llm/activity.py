"""What the models are doing right now: calls in flight and counts, for the progress heartbeat.

A model call can take minutes on a loaded CPU (one batch of SmolLM2 answers, 700 messages embedded), and
nothing else happens meanwhile. The metered LLM and the embedders mark each call here, so the progress
display (comam_bench/cli/progress.py) can say "model call in flight for 2:10" instead of nothing. It is
process-wide, counts only, and never holds text: nothing here reaches a record.
"""
from __future__ import annotations

import itertools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Snapshot:
    calls: int  # model calls finished so far (generate, loglikelihood, embed)
    in_flight: int  # calls started and not yet returned
    oldest: str  # what the longest-running call in flight is ("" when none)
    oldest_since: float  # its start, on time.monotonic()


class Activity:
    """Thread-safe register of model calls in flight (parallel contexts make several at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._flight: dict[int, tuple[str, float]] = {}
        self.calls = 0

    @contextmanager
    def call(self, what: str) -> Iterator[None]:
        """Mark a call (`what`: a few words, e.g. "generating 4 answers") for as long as the block runs."""
        with self._lock:
            token = next(self._ids)
            self._flight[token] = (what, time.monotonic())
        try:
            yield
        finally:
            with self._lock:
                self._flight.pop(token, None)
                self.calls += 1

    def snapshot(self) -> Snapshot:
        with self._lock:
            if not self._flight:
                return Snapshot(self.calls, 0, "", 0.0)
            what, since = min(self._flight.values(), key=lambda item: item[1])
            return Snapshot(self.calls, len(self._flight), what, since)


ACTIVITY = Activity()


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def generating(chats: int, agent: str) -> str:
    """The words for a generate call of `chats` chats tagged `agent`."""
    who = "" if agent in ("main", "") else f" ({agent})"
    return f"generating {chats} {'reply' if chats == 1 else 'replies'}{who}"


def embedding(texts: int) -> str:
    """The words for an embed call of `texts` texts."""
    return f"embedding {_plural(texts, 'text')}"
