"""The statistics of a training comparison: pure functions of plain numbers and per-question rows, the one
module benchmarks and summaries import for them.

- `interval`: a mean with its 95% Student-t interval (seeds are few, so t, not the normal).
- `slope`: the least-squares slope of a curve with its 95% t interval (n - 2 degrees of freedom): "the
  training reward rises" means the interval lies above 0.
- `paired`: after - before on the same held-out questions, with the t interval of the mean difference and
  how many questions moved each way (for 0/1 accuracy the moved counts are McNemar's discordant pairs).
- `plateau`: Table 5's "steps until the validation reward stops improving": the first evaluated step at
  which the curve reaches its best value (nothing later beats it).
- `measure` and `versus`: one held-out measure's before/after change over seeds, and a mode against a base
  mode after training, each with a t interval over the seeds (the seed is the unit that varies) and a
  percentile interval with validation *sessions* resampled (`bootstrap_by_session`: questions of one
  session share their memory, so they are not independent), plus the smallest change each design could
  tell from zero (`detectable`: 80% power at 5%).
- `call` and `verdict`: what one interval, and two intervals together, say of a change.
Nothing here reads files or knows about modes; training.summary and the benchmark scripts do that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

BOOTSTRAP = 2000
Z_POWER = 1.96 + 0.8416  # two-sided 5% test with 80% power, normal approximation


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided Student-t quantile for `df` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float | None  # None when n < 2: no spread to estimate
    high: float | None
    n: int

    def as_dict(self, digits: int = 4) -> dict:
        r = (lambda x: None if x is None else round(x, digits))
        return {"mean": r(self.mean), "ci95": None if self.low is None else [r(self.low), r(self.high)], "n": self.n}

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)


def interval(values: Sequence[float], level: float = 0.95) -> Interval | None:
    """Mean and t interval of `values` (None when empty)."""
    xs = [float(v) for v in values if v is not None]
    n = len(xs)
    if n == 0:
        return None
    m = sum(xs) / n
    if n < 2:
        return Interval(m, None, None, n)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    half = t_quantile(n - 1, level) * sd / math.sqrt(n)
    return Interval(m, m - half, m + half, n)


def slope(xs: Sequence[float], ys: Sequence[float], level: float = 0.95) -> Interval | None:
    """OLS slope of ys on xs with its t interval (None with fewer than 2 points or constant xs)."""
    pts = [(float(x), float(y)) for x, y in zip(xs, ys) if y is not None]
    n = len(pts)
    if n < 2:
        return None
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx
    if n < 3:
        return Interval(b, None, None, n)
    resid = sum((y - my - b * (x - mx)) ** 2 for x, y in pts)
    se = math.sqrt(resid / (n - 2) / sxx)
    half = t_quantile(n - 2, level) * se
    return Interval(b, b - half, b + half, n)


@dataclass(frozen=True)
class Paired:
    difference: Interval
    better: int  # questions whose value rose
    worse: int  # fell


def paired(before: dict[str, float], after: dict[str, float], level: float = 0.95) -> Paired | None:
    """after - before over the keys (question ids) both have; None when they share none."""
    keys = [k for k in before if k in after]
    if not keys:
        return None
    diffs = [after[k] - before[k] for k in keys]
    return Paired(interval(diffs, level), sum(d > 0 for d in diffs), sum(d < 0 for d in diffs))


def plateau(steps: Sequence[int], values: Sequence[float]) -> int | None:
    """The first step at which `values` reaches its maximum (None for an empty curve)."""
    pts = [(s, v) for s, v in zip(steps, values) if v is not None]
    if not pts:
        return None
    best = max(v for _, v in pts)
    return min(s for s, v in pts if v == best)


# --------------------------------------------------------------------------- held-out changes
def measure(pairs: Sequence[tuple[dict, dict]], key: str, seed: int = 0) -> dict[str, Any] | None:
    """The summary shape of one held-out measure over runs (one (before, after) pair per seed)."""
    per_seed, cells = [], []
    for before, after in pairs:
        common = [q for q in after if q in before and key in after[q] and key in before[q]]
        if not common:
            continue
        b = sum(before[q][key] for q in common) / len(common)
        a = sum(after[q][key] for q in common) / len(common)
        per_seed.append((b, a))
        cells += [(after[q].get("session", q), after[q][key] - before[q][key]) for q in common]
    if not per_seed:
        return None
    changes = [a - b for b, a in per_seed]
    over_seeds = interval(changes)
    boot = bootstrap_by_session(cells, seed)
    out = {"before": rounded(mean_of([b for b, _ in per_seed])),
           "after": rounded(mean_of([a for _, a in per_seed])),
           "change": rounded(mean_of(changes)), "seeds": len(per_seed),
           "questions_per_seed": len(cells) // len(per_seed),
           "ci95_over_seeds": None if over_seeds is None or over_seeds.low is None else
           [rounded(over_seeds.low), rounded(over_seeds.high)],
           "ci95_bootstrap_session": boot["ci95"], "sessions": boot["sessions"]}
    out["detectable_over_seeds"] = detectable(over_seeds)
    out["detectable_bootstrap_session"] = rounded(Z_POWER * boot["se"]) if boot["se"] is not None else None
    return out


def bootstrap_by_session(cells: Sequence[tuple[str, float]], seed: int = 0, n: int = BOOTSTRAP) -> dict[str, Any]:
    """Percentile interval and standard error of the mean of `cells` ((session, value), pooled over seeds)
    when whole sessions are resampled with replacement; seeded, so it reproduces."""
    from comam_bench.scores import percentile_ci95, resampled_means

    groups: dict[str, list[float]] = {}
    for session, value in cells:
        groups.setdefault(session, []).append(value)
    sessions = sorted(groups)
    if len(sessions) < 2:
        return {"ci95": None, "se": None, "sessions": len(sessions)}
    means = resampled_means([(len(groups[s]), sum(groups[s])) for s in sessions], f"comam-bench-bootstrap/{seed}", n)
    mu = sum(means) / n
    se = (sum((m - mu) ** 2 for m in means) / (n - 1)) ** 0.5
    return {"ci95": [rounded(x) for x in percentile_ci95(means)], "se": se, "sessions": len(sessions)}


def detectable(iv) -> float | None:
    """The smallest true mean change a t test over these seeds would find with 80% power at 5% (two-sided):
    (t_.975 + t_.80) x the standard error of the mean."""
    if iv is None or iv.low is None:
        return None
    df = iv.n - 1
    se = (iv.high - iv.mean) / t_quantile(df)
    return rounded((t_quantile(df) + t_quantile(df, 0.6)) * se)


def versus(pairs_by_seed: dict[str, dict[int, tuple[dict, dict]]], mode: str, key: str, base: str = "joint",
           seed: int = 0) -> dict[str, Any] | None:
    """mode − base after training on the same questions, seed by seed, with both intervals."""
    seeds = sorted(set(pairs_by_seed.get(mode, {})) & set(pairs_by_seed.get(base, {})))
    diffs, cells = [], []
    for s in seeds:
        m_after, b_after = pairs_by_seed[mode][s][1], pairs_by_seed[base][s][1]
        common = [q for q in m_after if q in b_after and key in m_after[q] and key in b_after[q]]
        if common:
            d = [m_after[q][key] - b_after[q][key] for q in common]
            diffs.append(sum(d) / len(d))
            cells += [(m_after[q].get("session", q), x) for q, x in zip(common, d)]
    if not diffs:
        return None
    iv = interval(diffs)
    boot = bootstrap_by_session(cells, seed)
    return {"difference": rounded(iv.mean), "seeds": iv.n,
            "ci95_over_seeds": None if iv.low is None else [rounded(iv.low), rounded(iv.high)],
            "ci95_bootstrap_session": boot["ci95"], "detectable_over_seeds": detectable(iv),
            "detectable_bootstrap_session": rounded(Z_POWER * boot["se"]) if boot["se"] is not None else None}


# --------------------------------------------------------------------------- reading intervals
def call(ci: list | None) -> str:
    """What one 95% interval says of a change: rises, falls, inside the noise, or constant (no spread)."""
    if not ci:
        return ""
    lo, hi = ci
    if lo == hi:
        return "constant"
    return "inside the noise" if lo <= 0 <= hi else ("rises" if lo > 0 else "falls")


def verdict(m: dict[str, Any] | None) -> str:
    """What the change's two intervals say together: a direction only when both agree on it."""
    m = m or {}
    calls = {call(c) for c in (m.get("ci95_over_seeds"), m.get("ci95_bootstrap_session")) if c}
    return calls.pop() if len(calls) == 1 else ("inside the noise" if calls else "")


# --------------------------------------------------------------------------- helpers
def mean_of(xs: Sequence[float | None]) -> float | None:
    """The mean of the values that are not None (None when there are none)."""
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def rounded(x: float | None, digits: int = 4) -> float | None:
    """`x` to `digits` places, as every summary number is written (None stays None)."""
    return None if x is None else round(float(x), digits)
