"""Local and global rewards of CoMAM (comam.md Eqs. 9, 11, 12): plain text in, floats out, no model.

The paper does not say what a unit of M_f or E'_q is, nor when an output "contains" an evidence utterance.
Our rule, made explicit and tested:
- Units. An agent output is split into lines, and a line again before every inline speaker tag
  ("... User: ...", as when a model writes a whole conversation on one line); lines with no content words
  are dropped. |M_f| (or |E'_q|) is the number of units. E_q is the set of evidence utterances (messages).
- Normalisation. Lower-case, drop a leading speaker prefix ("User:", "Therapist:"), turn every
  non-alphanumeric character into a space, split, and drop a short stop-word list.
- Match. A unit u matches an evidence utterance e when the F1 of their word sets is >= threshold (0.5):
  a compressed utterance (precision 1, recall 0.6: F1 0.75) matches; a whole pasted session (recall 1,
  precision 0.1) does not, so copying everything into one line cannot buy coverage.
- Intersection. |M ∩ E| is the size of a maximum one-to-one matching between units and evidence
  (augmenting paths; deterministic). One-to-one keeps |M ∩ E| <= min(|M|, |E|), so the Jaccard term
  |M ∩ E| / |M ∪ E|, with |M ∪ E| = |M| + |E| - |M ∩ E|, stays in [0, 1].
The global reward is the evaluator's scorer itself (protocol.is_correct).
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


@dataclass(frozen=True)
class Overlap:
    """|M|, |E| and |M ∩ E| of one output against one evidence set."""

    units: int
    evidence: int
    matched: int

    def reward(self, weight: float) -> float:
        """weight·|M∩E|/|E| + (1−weight)·|M∩E|/|M∪E| (Eq. 9 with α, Eq. 11 with β); 0 if either side is empty."""
        if self.units == 0 or self.evidence == 0:
            return 0.0
        union = self.units + self.evidence - self.matched
        return weight * self.matched / self.evidence + (1 - weight) * self.matched / union


def overlap(output: str | None, evidence: Sequence[str], threshold: float = 0.5) -> Overlap:
    """Count units of `output` and evidence utterances matched one-to-one (token-set F1 >= threshold)."""
    unit_words = [words(u) for u in units(output)]
    ev_words = [words(e) for e in evidence if words(e)]
    edges = [[j for j, e in enumerate(ev_words) if f1(u, e) >= threshold] for u in unit_words]
    return Overlap(len(unit_words), len(ev_words), max_matching(edges, len(ev_words)))


# --------------------------------------------------------------------------- the rewards
def extraction_reward(m_f: str | None, evidence: Sequence[str], alpha: float = 0.8, threshold: float = 0.5) -> float:
    """Eq. 9: coverage-leaning overlap of the fine-grained memory M_f with the gold evidence E_q."""
    return overlap(m_f, evidence, threshold).reward(alpha)


def retrieval_reward(information: str | None, evidence: Sequence[str], beta: float = 0.2,
                     threshold: float = 0.5) -> float:
    """Eq. 11: precision-leaning overlap of the retrieved evidence E'_q (<information>) with E_q."""
    return overlap(information, evidence, threshold).reward(beta)


def answer_reward(response: str, gold: str) -> float:
    """Eq. 12: 1 when the response names exactly the gold option, by the harness's own scorer."""
    return 1.0 if is_correct(response, gold) else 0.0
