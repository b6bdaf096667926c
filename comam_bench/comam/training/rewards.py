"""Local and global rewards of CoMAM (comam.md Eqs. 9, 11, 12): plain text in, floats out, no model.

The paper does not say what a unit of M_f or E'_q is, nor when an output "contains" an evidence utterance.
Our rule, made explicit and tested:
- Units. An agent output is split into lines, and a line again before every inline speaker tag
  ("... User: ...", as when a model writes a whole conversation on one line); lines with no content words
  are dropped. |M_f| (or |E'_q|) is the number of units. E_q is the set of evidence utterances (messages).
- Normalisation. Lower-case, drop a leading speaker prefix ("User:", "Therapist:"), turn every
  non-alphanumeric character into a space, split, and drop a short stop-word list.
- Intersection, two named rules (recipe key rewards.overlap):
  graded (default): |M ∩ E| is the largest sum of token-set F1 over a one-to-one assignment of units to
    evidence utterances (scipy's linear_sum_assignment). A unit that is half an utterance earns half a
    match, so near misses rank above nothing and GRPO has a gradient; at exact copies (F1 1 or 0) it
    equals the thresholded count.
  threshold: a unit matches an utterance when their F1 >= match_threshold (0.5), and |M ∩ E| is the size
    of a maximum one-to-one matching (augmenting paths; deterministic). A compressed utterance (precision 1,
    recall 0.6: F1 0.75) matches; a whole pasted session (recall 1, precision 0.1) does not.
  Either way one-to-one keeps |M ∩ E| <= min(|M|, |E|), so the Jaccard term |M ∩ E| / |M ∪ E|, with
  |M ∪ E| = |M| + |E| - |M ∩ E|, stays in [0, 1], and pasting everything into one unit buys little.
The global reward is the evaluator's scorer itself: protocol.is_correct on the written letter ("letter"),
or the likelihood protocol's choice after the retrieved evidence (answer.py, "likelihood").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from comam_bench.protocol import is_correct

SPEAKERS = ("user", "assistant", "patient", "therapist", "system")
_LEADING_SPEAKER = re.compile(r"^\s*(?:current user persona|" + "|".join(SPEAKERS) + r")\s*:", re.IGNORECASE)
_INLINE_SPEAKER = re.compile(r"(?<=\S)\s+(?=(?:" + "|".join(s.capitalize() for s in SPEAKERS) + r"):)")
_NON_WORD = re.compile(r"[^0-9a-z]+")
STOPWORDS = frozenset("""a an the and or but if of to in on at for with from by as is are was were be been am
i me my we our you your it its this that these those so do did does have has had not no""".split())


# --------------------------------------------------------------------------- text units
def words(text: str) -> frozenset[str]:
    """The normalised content-word set of one utterance or unit."""
    text = _LEADING_SPEAKER.sub(" ", text.lower())
    return frozenset(w for w in _NON_WORD.sub(" ", text).split() if w not in STOPWORDS)


def units(text: str | None) -> list[str]:
    """An output's units: its lines, split again before inline speaker tags; empty ones dropped."""
    out = []
    for line in (text or "").splitlines():
        out += [u.strip() for u in _INLINE_SPEAKER.split(line) if words(u)]
    return out


def f1(a: frozenset[str], b: frozenset[str]) -> float:
    """F1 of two word sets (0 when either is empty)."""
    common = len(a & b)
    return 0.0 if common == 0 else 2 * common / (len(a) + len(b))


def max_matching(edges: Sequence[Sequence[int]], n_right: int) -> int:
    """Size of a maximum bipartite matching; edges[i] lists the right nodes left node i may take."""
    owner = [-1] * n_right

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges[i]:
            if j not in seen:
                seen.add(j)
                if owner[j] < 0 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(edges)))


OVERLAP_RULES = ("graded", "threshold")


def max_f1_assignment(scores: Sequence[Sequence[float]]) -> float:
    """The largest sum of scores[i][j] over a one-to-one assignment of rows to columns (0 when empty)."""
    if not scores or not scores[0]:
        return 0.0
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(scores, maximize=True)
    return float(sum(scores[i][j] for i, j in zip(rows, cols)))


@dataclass(frozen=True)
class Overlap:
    """|M|, |E| and |M ∩ E| of one output against one evidence set (matched is fractional when graded)."""

    units: int
    evidence: int
    matched: float

    def reward(self, weight: float) -> float:
        """weight·|M∩E|/|E| + (1−weight)·|M∩E|/|M∪E| (Eq. 9 with α, Eq. 11 with β); 0 if either side is empty."""
        if self.units == 0 or self.evidence == 0:
            return 0.0
        union = self.units + self.evidence - self.matched
        return weight * self.matched / self.evidence + (1 - weight) * self.matched / union


def overlap(output: str | None, evidence: Sequence[str], threshold: float = 0.5, rule: str = "graded") -> Overlap:
    """Units of `output`, evidence utterances, and how much of them match one-to-one under `rule`."""
    unit_words = [words(u) for u in units(output)]
    ev_words = [words(e) for e in evidence if words(e)]
    scores = [[f1(u, e) for e in ev_words] for u in unit_words]
    if rule == "graded":
        matched: float = max_f1_assignment(scores)
    elif rule == "threshold":
        matched = max_matching([[j for j, s in enumerate(row) if s >= threshold] for row in scores], len(ev_words))
    else:
        raise ValueError(f"unknown overlap rule {rule!r}; one of {', '.join(OVERLAP_RULES)}")
    return Overlap(len(unit_words), len(ev_words), matched)


# --------------------------------------------------------------------------- the rewards
def extraction_reward(m_f: str | None, evidence: Sequence[str], alpha: float = 0.8, threshold: float = 0.5,
                      rule: str = "graded") -> float:
    """Eq. 9: coverage-leaning overlap of the fine-grained memory M_f with the gold evidence E_q."""
    return overlap(m_f, evidence, threshold, rule).reward(alpha)


def retrieval_reward(information: str | None, evidence: Sequence[str], beta: float = 0.2,
                     threshold: float = 0.5, rule: str = "graded") -> float:
    """Eq. 11: precision-leaning overlap of the retrieved evidence E'_q (<information>) with E_q."""
    return overlap(information, evidence, threshold, rule).reward(beta)


def answer_reward(response: str, gold: str) -> float:
    """Eq. 12, rule "letter": 1 when the response names exactly the gold option, by the harness's own scorer."""
    return 1.0 if is_correct(response, gold) else 0.0
