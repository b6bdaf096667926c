"""MemoryOS's mid-term memory: pages, topic segments, heat, merging and search. No LLM, no embedder.

Pure math (checked by hand in tests/systems/test_memoryos.py):
- heat(segment) = alpha·N_visit + beta·L_interaction + gamma·exp(-Δt / tau), Δt = now - last visit;
- merge score = cos(segment summary, new summary) + keyword_weight · Jaccard(segment keywords, new keywords);
  a Jaccard with an empty side is 0 (as in the original).
Time is in sessions (days), see memorybank_turns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from comam_bench.retrieval import dense_scores, top_k


@dataclass
class Page:
    """One dialogue page: a query/response pair (or a system note) with its day and chain overview."""

    id: int
    query: str
    response: str
    day: int
    kind: str = "dialogue"
    meta: str = ""  # the dialogue chain's running overview ("meta info")
    chain: int | None = None  # id of the chain the page belongs to
    analyzed: bool = False  # already sent to the long-term profile/knowledge update
    vec: np.ndarray | None = None

    def text(self) -> str:
        if self.kind == "system":
            return f"System note: {self.query}"
        return "\n".join(part for part in (self.query and f"User: {self.query}",
                                           self.response and f"Assistant: {self.response}") if part)

    def dated(self) -> str:
        return f"[day {self.day}] {self.text()}"


@dataclass
class Segment:
    """A topic segment of mid-term memory."""

    id: int
    summary: str
    keywords: frozenset[str]
    vec: np.ndarray
    pages: list[Page] = field(default_factory=list)
    n_visit: int = 0
    l_interaction: int = 0
    last_visit: float = 0.0
    access: int = 0  # retrievals, for least-frequently-used eviction


@dataclass(frozen=True)
class HeatParams:
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    tau: float = 1.0  # recency time constant, in sessions


def recency(dt: float, tau: float) -> float:
    """exp(-Δt / tau); a negative Δt counts as 0."""
    return math.exp(-max(dt, 0.0) / tau)


def heat(n_visit: float, l_interaction: float, dt: float, p: HeatParams = HeatParams()) -> float:
    """alpha·visits + beta·interactions + gamma·recency."""
    return p.alpha * n_visit + p.beta * l_interaction + p.gamma * recency(dt, p.tau)


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def merge_score(seg_vec, seg_keywords, vec, keywords, keyword_weight: float = 1.0) -> float:
    """Cosine of unit-norm summary vectors plus the weighted keyword Jaccard."""
    return float(np.dot(seg_vec, vec)) + keyword_weight * jaccard(seg_keywords, keywords)


def normalize_keywords(keywords) -> frozenset[str]:
    return frozenset(k.strip().lower() for k in keywords or () if isinstance(k, str) and k.strip())


class MidTermMemory:
    """Topic segments; pages join the best-matching segment above `threshold`, else open a new one."""

    def __init__(self, capacity: int = 2000, threshold: float = 0.6, keyword_weight: float = 1.0,
                 heat_params: HeatParams = HeatParams()) -> None:
        self.capacity = capacity
        self.threshold = threshold
        self.keyword_weight = keyword_weight
        self.heat_params = heat_params
        self.segments: dict[int, Segment] = {}
        self._next_id = 0
        self.evicted = 0

    def heat_of(self, seg: Segment, now: float) -> float:
        return heat(seg.n_visit, seg.l_interaction, now - seg.last_visit, self.heat_params)

    def best_match(self, vec, keywords: frozenset[str]) -> tuple[Segment | None, float]:
        """The segment with the highest merge score (the oldest on ties) and that score."""
        best, best_score = None, -math.inf
        for seg in self.segments.values():
            score = merge_score(seg.vec, seg.keywords, vec, keywords, self.keyword_weight)
            if score > best_score:
                best, best_score = seg, score
        return best, best_score

    def insert(self, summary: str, keywords, vec, pages: list[Page], now: float) -> Segment:
        """Add pages under a topic summary: merge into the best segment if it scores >= threshold."""
        keywords = normalize_keywords(keywords)
        seg, score = self.best_match(vec, keywords)
        if seg is not None and score >= self.threshold:
            seg.pages.extend(pages)
            seg.l_interaction += len(pages)
            seg.last_visit = now
            return seg
        seg = Segment(self._next_id, summary, keywords, np.asarray(vec, dtype=np.float32), list(pages),
                      l_interaction=len(pages), last_visit=now)
        self._next_id += 1
        self.segments[seg.id] = seg
        if len(self.segments) > self.capacity:
            self.evict_lfu()
        return seg

    def evict_lfu(self) -> None:
        """Drop the least-retrieved segment (the oldest on ties), as the original's LFU policy."""
        victim = min(self.segments.values(), key=lambda s: (s.access, s.id))
        del self.segments[victim.id]
        self.evicted += 1

    def hottest(self, now: float, eligible: Callable[[Segment], bool] = lambda s: True):
        """(segment, heat) of the hottest eligible segment (the oldest on ties), or None."""
        best = None
        for seg in self.segments.values():
            if eligible(seg):
                h = self.heat_of(seg, now)
                if best is None or h > best[1]:
                    best = (seg, h)
        return best

    def search(self, qvec, now: float, top_segments: int = 5, segment_threshold: float = 0.1,
               page_threshold: float = 0.1) -> list[tuple[float, Page]]:
        """(score, page) for pages >= page_threshold inside the top segments >= segment_threshold.

        A segment that contributes a page counts a visit: N_visit += 1, last visit = now, access += 1.
        """
        segs = list(self.segments.values())
        if not segs:
            return []
        sims = dense_scores(qvec, np.stack([s.vec for s in segs]))
        hits: list[tuple[float, Page]] = []
        for i in top_k(sims, top_segments):
            seg = segs[i]
            if sims[i] < segment_threshold or not seg.pages:
                continue
            page_sims = dense_scores(qvec, np.stack([p.vec for p in seg.pages]))
            matched = [(float(s), p) for s, p in zip(page_sims, seg.pages) if s >= page_threshold]
            if matched:
                seg.n_visit += 1
                seg.last_visit = now
                seg.access += 1
                hits.extend(matched)
        return hits

    def pages(self) -> list[Page]:
        return [p for seg in self.segments.values() for p in seg.pages]
