"""Scores of one run: accuracy with Wilson intervals, overall and per group (by_context_topic: the clusters
the leaderboard bootstraps, see bootstrap_clusters), and cost per question.

Pure functions over the per-question sample dicts the runner writes to samples.jsonl. Floats are
rounded (`DIGITS`) so that the same samples always give the same run record, byte for byte.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Sequence

from comam_bench.api import QUESTION_TYPES

DIGITS = 4
Z95 = 1.959964  # two-sided 95% normal quantile
UNKNOWN = "unknown"


def wilson_from_rate(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for an observed rate p over n trials (n may be fractional, e.g. a mean).

    Wilson rather than the normal approximation: it stays inside [0, 1] and is sensible at p = 0 or 1,
    which per-type buckets of a few dozen questions hit often.
    """
    if n <= 0:
        return (0.0, 1.0)
    z2n = z * z / n
    denom = 1.0 + z2n
    centre = (p + z2n / 2.0) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    # At p = 0 (p = 1) the lower (upper) bound is exactly 0 (1); floating error would leave 1e-17 off it.
    lo = 0.0 if p <= 0.0 else max(0.0, centre - half)
    hi = 1.0 if p >= 1.0 else min(1.0, centre + half)
    return (lo, hi)


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n; (0.0, 1.0) when n == 0."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    return wilson_from_rate(k / n, n, z)


def _round(x: float) -> float:
    return round(float(x), DIGITS)


def bucket(correct: Iterable[bool]) -> dict[str, Any]:
    """{"n", "correct", "accuracy", "ci95"} for a sequence of 0/1 outcomes (accuracy 0.0 when empty)."""
    flags = [bool(c) for c in correct]
    n, k = len(flags), sum(flags)
    lo, hi = wilson_interval(k, n)
    return {"n": n, "correct": k, "accuracy": _round(k / n) if n else 0.0, "ci95": [_round(lo), _round(hi)]}


def type_order(t: str) -> tuple[int, str]:
    """Sort key for query types: canonical ones in api.QUESTION_TYPES order, others after them."""
    # Canonical types in the paper's order; anything else (should not happen) after them, alphabetically.
    return (QUESTION_TYPES.index(t), "") if t in QUESTION_TYPES else (len(QUESTION_TYPES), t)


def _distance_key(blocks: Any) -> str:
    return UNKNOWN if blocks is None else str(int(blocks))


def _distance_order(key: str) -> tuple[int, int]:
    return (1, 0) if key == UNKNOWN else (0, int(key))


def group_by(samples: list[dict], key: Callable[[dict], str], order: Callable[[str], Any] = str) -> dict[str, dict]:
    """Buckets of samples by key(sample), in the given key order."""
    groups: dict[str, list[bool]] = {}
    for s in samples:
        groups.setdefault(key(s), []).append(bool(s.get("correct")))
    return {k: bucket(groups[k]) for k in sorted(groups, key=order)}


def aggregate(samples: list[dict], chance: float = 0.25) -> dict[str, Any]:
    """Accuracy overall, per query type, per distance in blocks and per context, with 95% Wilson intervals.

    Types follow api.QUESTION_TYPES order (only those present); distances sort numerically with a null
    distance as "unknown" last; contexts sort by id.
    """
    out = bucket(s.get("correct") for s in samples)
    out["chance"] = chance
    out["by_type"] = group_by(samples, lambda s: str(s.get("type")), type_order)
    out["by_distance_blocks"] = group_by(samples, lambda s: _distance_key(s.get("distance_blocks")), _distance_order)
    out["by_context"] = group_by(samples, lambda s: str(s.get("context_id")))
    out["by_context_topic"] = group_by(samples, cluster_key)
    out["extraction_failures"] = sum(1 for s in samples if s.get("extracted") is None)
    return out


def cluster_key(sample: Mapping[str, Any]) -> str:
    """The unit a question's outcome is correlated within: its history and topic (`context_id|topic`).

    PersonaMem builds a history from topic blocks and asks each question about one topic, so the questions
    of one topic share their evidence sessions (and, for a memory system, their memories): they are not
    independent draws, and an interval over questions would be too narrow. The leaderboard resamples these."""
    return f"{sample.get('context_id')}|{sample.get('topic')}"


def resampled_means(clusters: Sequence[tuple[float, float]], rng_key: str, reps: int = 2000) -> list[float]:
    """The sorted means of `reps` resamples of whole clusters, each (count, total), drawn with replacement as
    many as there are, from random.Random(rng_key): the one bootstrap behind the leaderboard's rows
    (bootstrap_clusters) and the training summaries' sessions (training.compare.bootstrap_by_session)."""
    import random

    rng = random.Random(rng_key)
    means = []
    for _ in range(reps):
        drawn = [clusters[rng.randrange(len(clusters))] for _ in clusters]
        means.append(sum(t for _, t in drawn) / sum(n for n, _ in drawn))
    means.sort()
    return means


def percentile_ci95(sorted_means: Sequence[float]) -> tuple[float, float]:
    """The 2.5th and 97.5th of sorted bootstrap means."""
    reps = len(sorted_means)
    return (sorted_means[int(0.025 * reps)], sorted_means[int(0.975 * reps) - 1])


def bootstrap_clusters(counts: Iterable[tuple[int, int]], seed: int = 0, reps: int = 2000) -> tuple[float, float]:
    """95% percentile interval of a pooled accuracy when whole clusters ((n, correct) each) are resampled
    with replacement; seeded, so the same counts give the same interval."""
    cells = [(int(n), int(k)) for n, k in counts if int(n) > 0]
    if not cells:
        return (0.0, 1.0)
    return percentile_ci95(resampled_means(cells, f"comam-bench-clusters/{seed}", reps))


# Two-sided 95% Student-t quantiles by degrees of freedom (scipy.stats.t.ppf(0.975, df)); the leaderboard is
# core and scipy is not, and a leaderboard row has few seeds. Past the table the normal quantile.
T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.306, 9: 2.2622,
        10: 2.2281, 12: 2.1788, 15: 2.1314, 20: 2.086, 30: 2.0423}


def t_interval(values: Iterable[float]) -> tuple[float, float] | None:
    """95% Student-t interval of the mean of `values` (e.g. one accuracy per seed); None below two values.
    A df between table entries takes the next smaller one's (larger) quantile: never too narrow."""
    xs = [float(v) for v in values]
    if len(xs) < 2:
        return None
    df = len(xs) - 1
    t = T975[max(d for d in T975 if d <= df)] if df <= 30 else Z95
    m = sum(xs) / len(xs)
    half = t * math.sqrt(sum((x - m) ** 2 for x in xs) / df / len(xs))
    return (m - half, m + half)


def per_question_cost(ingest: Mapping[str, Any], answer: Mapping[str, Any], n: int,
                      wall_seconds: float | None = None) -> dict[str, float | None]:
    """A run's mean cost per question: the ingestion and answering totals (calls, tokens) over its `n`
    questions, and `wall_seconds` (the run's wall time in both phases) over them (None where unknown).

    Memory is built once per context and shared by that context's questions, so ingestion has no single
    owner: dividing its total by the number of questions is the only split that sums back to the run's cost.
    The one computation behind the run record's cost.per_question and the leaderboard's cost columns."""
    n = max(int(n), 1)

    def mean(key: str) -> float:
        return (float(ingest.get(key) or 0) + float(answer.get(key) or 0)) / n

    return {"calls": round(mean("calls"), 3), "prompt_tokens": round(mean("prompt_tokens"), 1),
            "completion_tokens": round(mean("completion_tokens"), 1),
            "seconds": None if wall_seconds is None else round(wall_seconds / n, 3)}
