"""Adaptive credit assignment (comam.md §4.3, Eqs. 13-15, Algorithm 1) and GRPO group advantages.

Plain lists in, plain lists out: no torch, so any backend (the local one, a future OpenRLHF one) reuses it.

For one group of G trajectories of the same (H, q):
    v_n = NDCG of agent n's local-reward ranking, gains = global rewards      (Eq. 13)
    w   = softmax over the agents of v_n / temperature                       (Eq. 14)
    r_final,n = r_n + w_n · r_ans                                            (Eq. 15; form "eq15")
            or  r_ans + w_n · r_n                                            (Algorithm 1 line 15; "algorithm1")
Decisions where the paper is silent:
- Ties in the local ranking: tied trajectories share their positions' discounts equally (each gets the mean
  gain of its tie group), i.e. the expected DCG over every order of the tie. Deterministic and independent of
  trajectory order, unlike breaking ties by index.
- All global rewards equal and zero: IDCG = 0 and NDCG is undefined; v_n = 0 for every agent, so the
  weights are equal. (All equal and nonzero: every ranking is ideal, v_n = 1, also equal weights.) Under
  Eq. 15 the choice cannot move the gradient anyway: w_n · r_ans is then constant within the group, and
  group normalisation removes constants.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence


# --------------------------------------------------------------------------- NDCG (Eq. 13)
def _discount(position: int) -> float:
    """1 / log2(rank + 1) for a 0-based position (rank = position + 1)."""
    return 1.0 / math.log2(position + 2)


def dcg_with_ties(scores: Sequence[float], gains: Sequence[float]) -> float:
    """DCG of the ranking by `scores` (high first); tied items share their positions' discounts."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    total, start = 0.0, 0
    while start < len(order):
        end = start
        while end < len(order) and scores[order[end]] == scores[order[start]]:
            end += 1
        mean_gain = sum(gains[i] for i in order[start:end]) / (end - start)
        total += mean_gain * sum(_discount(p) for p in range(start, end))
        start = end
    return total


def ndcg(scores: Sequence[float], gains: Sequence[float]) -> float | None:
    """NDCG of ranking by `scores` against the ideal order of `gains`; None when IDCG = 0."""
    if len(scores) != len(gains):
        raise ValueError(f"ndcg: {len(scores)} scores but {len(gains)} gains")
    ideal = sum(g * _discount(p) for p, g in enumerate(sorted(gains, reverse=True)))
    if ideal <= 0:
        return None
    return dcg_with_ties(scores, gains) / ideal


# --------------------------------------------------------------------------- weights (Eq. 14)
def softmax(values: Sequence[float], temperature: float = 1.0) -> list[float]:
    """Numerically stable softmax of values / temperature."""
    top = max(values)
    exps = [math.exp((v - top) / temperature) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


@dataclass
class Credit:
    """One group's credit: per agent the NDCG v_n (None = undefined), the weight w_n, the final rewards."""

    ndcg: dict[str, float | None]
    weights: dict[str, float]
    final: dict[str, list[float]]


def agent_weights(local: Mapping[str, Sequence[float]], answer: Sequence[float], mode: str = "adaptive",
                  temperature: float = 1.0, fixed: Mapping[str, float] | float | None = None,
                  ) -> tuple[dict[str, float | None], dict[str, float]]:
    """(v_n, w_n) for every agent of `local` under a credit mode (see CREDIT_MODES in recipe.py)."""
    agents = list(local)
    v = {a: ndcg(local[a], answer) for a in agents}
    if mode == "adaptive":
        w = dict(zip(agents, softmax([v[a] or 0.0 for a in agents], temperature)))
    elif mode == "equal":
        w = {a: 1.0 / len(agents) for a in agents}
    elif mode == "fixed":
        if fixed is None:
            raise ValueError("credit mode 'fixed' needs weights")
        w = {a: float(fixed if isinstance(fixed, (int, float)) else fixed[a]) for a in agents}
    elif mode in ("local", "global"):
        w = {a: 0.0 if mode == "local" else 1.0 for a in agents}
    else:
        raise ValueError(f"unknown credit mode {mode!r}")
    return v, w


def assign_credit(local: Mapping[str, Sequence[float]], answer: Sequence[float], mode: str = "adaptive",
                  form: str = "eq15", temperature: float = 1.0,
                  fixed: Mapping[str, float] | float | None = None) -> Credit:
    """Final rewards of every agent for one group.

    mode "local": r_n only; "global": r_ans only; otherwise Eq. 15 (form "eq15") or its Algorithm 1 swap
    (form "algorithm1") with weights from `agent_weights`."""
    v, w = agent_weights(local, answer, mode, temperature, fixed)
    final: dict[str, list[float]] = {}
    for agent, rewards in local.items():
        if mode == "local":
            final[agent] = [float(r) for r in rewards]
        elif mode == "global":
            final[agent] = [float(g) for g in answer]
        elif form == "eq15":
            final[agent] = [r + w[agent] * g for r, g in zip(rewards, answer)]
        elif form == "algorithm1":
            final[agent] = [g + w[agent] * r for r, g in zip(rewards, answer)]
        else:
            raise ValueError(f"unknown credit form {form!r}")
    return Credit(v, w, final)


# --------------------------------------------------------------------------- GRPO advantages
def group_advantages(rewards: Sequence[float], eps: float = 1e-6) -> list[float]:
    """(r - mean) / (std + eps) within one group; std with Bessel's correction (as torch.std and TRL).

    A group whose rewards are all equal (or a group of one) gets exact zeros: floating-point noise in
    r - mean divided by eps would otherwise become a large, meaningless advantage."""
    n = len(rewards)
    if n < 2 or max(rewards) - min(rewards) < 1e-12:
        return [0.0] * n
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (n - 1))
    return [(r - mean) / (std + eps) for r in rewards]
