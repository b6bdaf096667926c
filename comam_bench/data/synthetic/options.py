"""Turn four option stems into the release's labelled, shuffled options without leaking the answer.

All four stems of a question come from one template and differ only in their slots (synthetic_templates);
each gets a closing filler sentence. The fillers are picked so that the correct option's length rank
among the four is drawn uniformly at random: the longest option is then right ~25% of the time, and so
is the shortest (the two option-only heuristics that score 52% and 67% on the real 32k release).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from comam_bench.api import LETTERS
from comam_bench.data.synthetic.templates import FILLERS

FILLER_SLOT = "{filler}"
MAX_TRIES = 400  # random filler draws per question; a hit usually comes within a few dozen


@dataclass(frozen=True)
class Options:
    """Labelled options "(a) ..".."(d) ..", the gold letter in release form "(x)", and the raw cell."""

    labelled: tuple[str, ...]
    gold: str

    @property
    def raw(self) -> str:
        """all_options as upstream wrote it: str() of the Python list, i.e. its repr."""
        return str(list(self.labelled))


def length_rank(texts: list[str], i: int) -> int:
    """How many options are strictly longer than option i (0 = the longest)."""
    return sum(len(t) > len(texts[i]) for j, t in enumerate(texts) if j != i)


def _fill(stems: list[str], fillers: list[str]) -> list[str]:
    return [s.replace(FILLER_SLOT, f).strip() for s, f in zip(stems, fillers)]


def balance(rng: random.Random, stems: list[str]) -> list[str]:
    """Fill the filler slot of each stem so that stem 0 (the correct one) gets a uniform random length rank.

    Ties with the correct option are avoided, so "longest" and "shortest" are well defined for it.
    Falls back to the closest rank seen if no draw hits the target (rare: needs extreme slot lengths).
    """
    target = rng.randrange(len(stems))
    best, best_gap = None, None
    for _ in range(MAX_TRIES):
        texts = _fill(stems, rng.sample(FILLERS, len(stems)))
        tie = any(len(t) == len(texts[0]) for t in texts[1:])
        gap = abs(length_rank(texts, 0) - target) + (0.5 if tie else 0)
        if best_gap is None or gap < best_gap:
            best, best_gap = texts, gap
        if gap == 0:
            break
    return best


def finish(rng: random.Random, stems: list[str]) -> Options:
    """Balance lengths, shuffle with the seeded RNG, label (a)..(d). stems[0] must be the correct one."""
    if len(stems) != 4 or len(set(stems)) != 4:
        raise ValueError(f"need four distinct option stems, got {stems!r}")
    texts = balance(rng, stems)
    order = list(range(4))
    rng.shuffle(order)
    labelled = tuple(f"({LETTERS[k]}) {texts[i]}" for k, i in enumerate(order))
    return Options(labelled, f"({LETTERS[order.index(0)]})")
