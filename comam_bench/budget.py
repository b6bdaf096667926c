"""Fitting text to a token budget: the helpers every memory system and CoMAM's agents share.

Two families: over one text (`head_within` / `tail_within` keep the longest word prefix / suffix within a
limit, `split_long` cuts it into pieces) and over a list of texts (`fit_head` / `fit_tail` keep ranked or
newest texts, `fit_lines` joins the newest lines, `Packer` / `pack` fill chunks greedily). `count` is a
tokenizer's count_tokens; the `llm` variants take an LLM and use its tokenizer. Nothing here imports numpy.
"""
from __future__ import annotations

from typing import Callable, Sequence

CountTokens = Callable[[str], int]


def head_within(text: str, limit: int, count: CountTokens) -> str:
    """The longest word prefix of `text` with at most `limit` tokens ("" if not even one word fits)."""
    words = text.split(" ")
    lo, hi = 0, len(words)  # invariant: words[:lo] fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid])) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def tail_within(text: str, limit: int, count: CountTokens) -> str:
    """The longest word suffix of `text` with at most `limit` tokens ("" if not even one word fits)."""
    words = text.split(" ")
    lo, hi = 0, len(words)  # invariant: words[hi:] fits
    while lo < hi:  # the smallest start whose suffix fits
        mid = (lo + hi) // 2
        if count(" ".join(words[mid:])) <= limit:
            hi = mid
        else:
            lo = mid + 1
    return " ".join(words[lo:])


def split_long(text: str, limit: int, count: CountTokens) -> list[str]:
    """Split `text` at spaces into consecutive pieces of at most `limit` tokens each.

    A single word longer than `limit` becomes a piece of its own (over the limit) rather than being lost.
    """
    pieces: list[str] = []
    rest = text
    while rest:
        piece = head_within(rest, limit, count)
        if not piece:  # one word over the limit: take it whole
            piece = rest.split(" ", 1)[0]
        if piece:
            pieces.append(piece)
        rest = rest[len(piece) + 1:]
    return pieces


class Packer:
    """Greedy, incremental packing of texts (lines) into chunks of at most `limit` tokens.

    A text costs count(text) + 1 (its newline). A text joins the open chunk while it fits, else opens a new
    chunk; a text longer than the limit is first split at spaces. Because each decision depends only on the
    open chunk and the next text, feeding texts one by one gives exactly the chunks of feeding them at once.
    """

    def __init__(self, limit: int, count: CountTokens) -> None:
        if limit < 2:
            raise ValueError(f"chunk limit must be at least 2 tokens, got {limit}")
        self.limit = limit
        self.count = count
        self.sizes: list[int] = []  # tokens per chunk

    def add(self, text: str) -> list[tuple[int, str, int]]:
        """Place one text; returns (chunk index, piece, piece tokens) for each piece placed."""
        n = self.count(text) + 1
        pieces = [(text, n)] if n <= self.limit else [
            (p, self.count(p) + 1) for p in split_long(text, self.limit - 1, self.count)]
        placed = []
        for piece, m in pieces:
            if not self.sizes or (self.sizes[-1] and self.sizes[-1] + m > self.limit):
                self.sizes.append(0)
            self.sizes[-1] += m
            placed.append((len(self.sizes) - 1, piece, m))
        return placed


def pack(texts: Sequence[str], limit: int, count: CountTokens) -> list[str]:
    """One-shot packing: texts joined by newlines into chunks of at most `limit` tokens (see Packer)."""
    packer = Packer(limit, count)
    chunks: list[list[str]] = []
    for text in texts:
        for i, piece, _ in packer.add(text):
            if i == len(chunks):
                chunks.append([])
            chunks[i].append(piece)
    return ["\n".join(c) for c in chunks]


def fit_tail(llm, texts: Sequence[str], budget: int) -> tuple[list[str], bool]:
    """Keep the newest texts whose tokens fit `budget`; returns (kept, truncated?)."""
    kept: list[str] = []
    used = 0
    for text in reversed(texts):
        n = llm.count_tokens(text) + 1
        if used + n > budget:
            return list(reversed(kept)), True
        kept.append(text)
        used += n
    return list(reversed(kept)), False


def fit_head(llm, texts: Sequence[str], budget: int) -> tuple[list[str], bool]:
    """Keep texts in the given (ranked) order while they fit `budget`; returns (kept, truncated?)."""
    kept: list[str] = []
    used = 0
    for text in texts:
        n = llm.count_tokens(text) + 1
        if used + n > budget:
            return kept, True
        kept.append(text)
        used += n
    return kept, False


def input_budget(llm, limit: int, max_new_tokens: int, reserve: int = 96) -> int:
    """Tokens a prompt's variable part may use: `limit`, and never more than the window allows."""
    return max(min(limit, llm.context_window - max_new_tokens - reserve), 16)


def fit_lines(llm, lines: Sequence[str], budget: int, resources=None, problem: str = "") -> str:
    """The newest lines that fit `budget` tokens, joined; counts `problem` when anything is cut.

    MemoryBank cut an over-long prompt to its tail after a context-length error; keeping the newest
    lines is the same choice made up front. A single line longer than the budget keeps its tail.
    """
    kept, truncated = fit_tail(llm, list(lines), budget)
    if not kept and lines:
        kept = [tail_within(lines[-1], max(budget - 1, 1), llm.count_tokens)]
    if truncated and resources is not None and problem:
        resources.count(problem)
    return "\n".join(kept)
