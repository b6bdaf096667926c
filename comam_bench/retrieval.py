"""Retrieval scoring shared by memory systems and CoMAM: dense scores, BM25, reciprocal-rank fusion, top-k,
and an embedding cache (token budgets live in comam_bench.budget).

Generic on purpose (no Message, no Question): a system keeps its own items and hands texts, vectors or
rankings to these functions. Rankings are lists of item indices, best first. bm25s is imported lazily,
only when a BM25 index is first scored, so dense-only systems never need it.
"""
from __future__ import annotations

import functools
import re
from typing import Callable, Sequence

import numpy as np


# --------------------------------------------------------------------------- ranking


def dense_scores(query_vec, matrix) -> np.ndarray:
    """Cosine scores of one unit-norm query vector against unit-norm rows: a dot product per row."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.size == 0:
        return np.zeros(len(matrix), dtype=np.float32)
    return matrix @ np.asarray(query_vec, dtype=np.float32).reshape(-1)


def top_k(scores, k: int | None = None) -> list[int]:
    """Indices of the `k` highest scores, best first; ties go to the lower index (deterministic).

    k=None (or k larger than the number of scores) ranks everything.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    # A stable sort on the negated scores keeps equal scores in index order.
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in (order if k is None else order[: max(k, 0)])]


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    """Reciprocal-rank fusion (Cormack et al., 2009): score(d) = sum over rankings of 1 / (k + rank_d).

    Ranks start at 1; an item missing from a ranking gets nothing from it. Returns every item that appears
    in any ranking, best first; equal fused scores go to the lower item index.
    """
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused, key=lambda item: (-fused[item], item))


# --------------------------------------------------------------------------- BM25

_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern


def _bm25s():
    """Import bm25s (an optional dependency: the `local` extra) with a message that says how to get it."""
    try:
        import bm25s
        import bm25s.stopwords
    except ImportError as exc:
        raise ImportError("BM25 retrieval needs bm25s: pip install 'comam-bench[local]'") from exc
    return bm25s


def bm25_tokenize(text: str) -> list[str]:
    """Lower-cased words of two or more characters, English stopwords removed (bm25s's defaults, no stemmer).

    No stemming: PyStemmer is not a dependency, and results must not depend on what happens to be installed.
    """
    stop = _stopwords()
    return [w for w in _WORD.findall(str(text).lower()) if w not in stop]


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return frozenset(_bm25s().stopwords.STOPWORDS_EN)


class BM25Index:
    """A BM25 index over a growing, editable list of documents; bm25s does the scoring.

    `add` and `set` only store tokens; the bm25s index is rebuilt lazily by the next `scores` call, and
    only when a document changed since the last build. Documents keep their positions (ids 0..n-1).
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, method: str = "lucene") -> None:
        self.k1, self.b, self.method = k1, b, method
        self.docs: list[list[str]] = []
        self._bm25 = None
        self._stale = True
        self.builds = 0  # how many times the index was rebuilt (for tests and diagnostics)

    def __len__(self) -> int:
        return len(self.docs)

    def add(self, text: str) -> int:
        """Append a document; returns its id."""
        self.docs.append(bm25_tokenize(text))
        self._stale = True
        return len(self.docs) - 1

    def set(self, i: int, text: str) -> None:
        """Replace document `i` (e.g. a chunk that grew), or append it when i == len(self)."""
        if i == len(self.docs):
            self.add(text)
            return
        tokens = bm25_tokenize(text)
        if tokens != self.docs[i]:
            self.docs[i] = tokens
            self._stale = True

    def _build(self) -> None:
        bm25s = _bm25s()
        self._bm25 = None
        if any(self.docs):  # bm25s cannot index a corpus without a single token
            self._bm25 = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
            self._bm25.index(self.docs, show_progress=False)
        self._stale = False
        self.builds += 1

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for `query` (zeros where no query term occurs)."""
        if self._stale:
            self._build()
        if self._bm25 is None:
            return np.zeros(len(self.docs), dtype=np.float32)
        ids = self._bm25.get_tokens_ids(bm25_tokenize(query))
        if not ids:  # no query term is in the vocabulary
            return np.zeros(len(self.docs), dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)


def bm25_scores(query: str, docs: Sequence[str]) -> np.ndarray:
    """One-shot BM25 scores of `docs` for `query` (builds a throwaway index)."""
    index = BM25Index()
    for doc in docs:
        index.add(doc)
    return index.scores(query)


# --------------------------------------------------------------------------- embeddings


class EmbeddingCache:
    """Embeds each distinct text once; `vectors(texts)` embeds only the missing ones, in one batch.

    `embedder` is a zero-argument callable (e.g. `lambda: resources.embedder`) so that a system that never
    needs an embedding never builds the model.
    """

    def __init__(self, embedder: Callable[[], object]) -> None:
        self._embedder = embedder
        self._vecs: dict[str, np.ndarray] = {}
        self.embedded = 0  # texts sent to the embedder so far

    def __len__(self) -> int:
        return len(self._vecs)

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm rows for `texts`, in order ([0, 0] array for no texts)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vecs))
        if missing:
            rows = np.asarray(self._embedder().embed(missing), dtype=np.float32)
            self._vecs.update(zip(missing, rows))
            self.embedded += len(missing)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vecs[t] for t in texts])

    def clear(self) -> None:
        self._vecs.clear()
