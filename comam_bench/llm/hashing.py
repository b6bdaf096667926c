"""A deterministic bag-of-words hashing embedder: no model, no torch. For tests and quick offline runs."""
from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from comam_bench.api import Embedder

_WORD = re.compile(r"[a-z0-9]+")


class HashEmbedder(Embedder):
    """Each lower-cased word hashes to one of `dim` buckets (signed); rows are L2-normalised."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.spec = f"hash:{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)
