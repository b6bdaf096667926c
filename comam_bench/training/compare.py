"""The statistics of a training comparison (benchmarks/train_comam.py): pure functions of plain numbers.

- `interval`: a mean with its 95% Student-t interval (seeds are few, so t, not the normal).
- `slope`: the least-squares slope of a curve with its 95% t interval (n - 2 degrees of freedom): "the
  training reward rises" means the interval lies above 0.
- `paired`: after - before on the same held-out questions, with the t interval of the mean difference and
  how many questions moved each way (for 0/1 accuracy the moved counts are McNemar's discordant pairs).
- `plateau`: Table 5's "steps until the validation reward stops improving": the first evaluated step at
  which the curve reaches its best value (nothing later beats it).
Nothing here reads files or knows about modes; the benchmark script does that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


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
