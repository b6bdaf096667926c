"""CoMAM's memory M = {M_f, M_c} and the budgeted text the retrieval agent reads.

M_f is a list of per-session entries (one extraction per session, because a 128K or 1M history does not
fit the window); M_c is one profile, updated session by session. The retrieval agent gets the profile
(always) plus the M_f entries that fit `budget` tokens, taken in rank order against the question
(bm25 | dense | recency) and then shown in chronological order: preference questions depend on which
statement came last, so the order of the sessions must stay visible.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from comam_bench.api import Message
from comam_bench.budget import head_within
from comam_bench.comam.prompts import COARSE_HEADER, FINE_HEADER, RAW_HEADER, memory_sections
from comam_bench.retrieval import bm25_scores, dense_scores

RANKINGS = ("bm25", "dense", "recency")
MIN_CLIP = 16  # a clipped entry shorter than this many tokens is not worth showing

CountTokens = Callable[[str], int]
_SPEAKER = re.compile(r"^\s*\w[\w ]{0,24}:")


@dataclass(frozen=True)
class Entry:
    """One session's fine-grained memory (or its raw text, without extraction); `session` is 0-based."""

    session: int
    text: str

    def line(self) -> str:
        """The entry as shown to the retrieval agent, labelled with its (1-based) session number."""
        return f"[session {self.session + 1}] {self.text}"


@dataclass(frozen=True)
class Memory:
    """M = {M_f, M_c}: entries in session order, and the profile."""

    entries: tuple[Entry, ...] = ()
    profile: str = ""

    def with_entry(self, entry: Entry) -> "Memory":
        """M with one more entry; an empty one adds nothing (an extraction that kept nothing stays empty)."""
        return Memory(self.entries + (entry,), self.profile) if entry.text.strip() else self

    def with_profile(self, profile: str) -> "Memory":
        return Memory(self.entries, profile)


# --------------------------------------------------------------------------- sessions


def is_session_start(message: Message) -> bool:
    """PersonaMem opens every session with a system message ("Current user persona: ...")."""
    return message.role == "system"


def render_session(messages: Sequence[Message]) -> str:
    """A session as text, one message per line. PersonaMem contents carry their own speaker prefix
    ("User: ...", "Therapist: ..."), so the role is added only where a content has none."""
    lines = []
    for m in messages:
        text = str(m.content).strip()
        lines.append(text if _SPEAKER.match(text) else f"{m.role.capitalize()}: {text}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- ranking


def rank_entries(entries: Sequence[Entry], query: str, ranking: str,
                 embed: Callable[[list[str]], np.ndarray] | None = None) -> list[int]:
    """Entry indices, best first. Equal scores go to the newer session (a later statement supersedes an
    earlier one), so bm25 with no shared term falls back to recency."""
    n = len(entries)
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
    if ranking == "recency" or n == 0:
        return list(range(n - 1, -1, -1))
    texts = [e.text for e in entries]
    if ranking == "bm25":
        scores = bm25_scores(query, texts)
    else:
        if embed is None:
            raise ValueError("dense ranking needs an embedder")
        vectors = embed(texts + [query])
        scores = dense_scores(vectors[-1], vectors[:-1])
    return sorted(range(n), key=lambda i: (-float(scores[i]), -i))


# --------------------------------------------------------------------------- assembly


@dataclass
class Assembled:
    """The memory text for one question and how it was chosen."""

    text: str
    picked: list[int] = field(default_factory=list)  # entry indices taken, in rank order
    tokens: int = 0  # what the text costs under the budget's accounting
    profile_truncated: bool = False
    clipped: bool = False  # the top entry was cut to fit (nothing whole fitted)


def _cost(text: str, count: CountTokens) -> int:
    return count(text) + 1  # its newline


def assemble(memory: Memory, order: Sequence[int], budget: int, count: CountTokens, raw: bool = False) -> Assembled:
    """Profile always (cut to the budget if it alone is too big); then entries in `order` that fit whole,
    skipping those that do not; if no entry fitted whole, the top-ranked one clipped to what is left.

    Accounting: each header and each line costs count(text) + 1, so the text's size is checkable by hand.
    """
    budget = max(int(budget), 0)
    profile, truncated, used = memory.profile.strip(), False, 0
    if profile:
        room = budget - _cost(COARSE_HEADER, count) - 1  # the profile's own newline
        if count(profile) > room:
            profile, truncated = head_within(profile, max(room, 0), count), True
        used = _cost(COARSE_HEADER, count) + _cost(profile, count) if profile else 0
    header = _cost(RAW_HEADER if raw else FINE_HEADER, count)
    left = budget - used - header
    picked: list[int] = []
    for i in order:
        n = _cost(memory.entries[i].line(), count)
        if n <= left:
            picked.append(i)
            left -= n
    lines = {i: memory.entries[i].line() for i in picked}
    clipped = False
    if not picked and order and left - 1 >= MIN_CLIP:
        top = order[0]
        lines[top] = head_within(memory.entries[top].line(), left - 1, count)
        picked, clipped = [top], True
    shown = [lines[i] for i in sorted(picked)]  # chronological: entries are in session order
    text = "\n\n".join(memory_sections(shown, profile, raw=raw))
    tokens = used + (header + sum(_cost(s, count) for s in shown) if shown else 0)
    return Assembled(text, picked, tokens, truncated, clipped)
