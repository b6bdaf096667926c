"""The comparison statistics against hand-worked numbers (t quantiles from tables: t(2) = 4.302653)."""
import pytest

from comam_bench.training.compare import interval, paired, plateau, slope

T2 = 4.302653  # two-sided 95%, 2 degrees of freedom


def test_interval_of_three_seeds():
    # mean 2, sd 1, se 1/sqrt(3): half-width 4.302653 / sqrt(3) = 2.484138
    iv = interval([1, 2, 3])
    assert iv.mean == 2 and iv.n == 3
    assert iv.low == pytest.approx(2 - 2.484138, abs=1e-5) and iv.high == pytest.approx(2 + 2.484138, abs=1e-5)
    assert not iv.excludes_zero
    assert interval([0.5]).low is None and interval([]) is None


def test_slope_with_its_interval():
    # x 0..3, y 0,1,1,3: b = Sxy/Sxx = 4.5/5 = 0.9; residuals .1,.2,-.7,.4 (SSR .70);
    # se = sqrt(.70 / 2 / 5) = 0.264575, half-width 4.302653 * 0.264575 = 1.138375
    iv = slope([0, 1, 2, 3], [0, 1, 1, 3])
    assert iv.mean == pytest.approx(0.9)
    assert iv.high - iv.mean == pytest.approx(T2 * 0.0700 ** 0.5, abs=1e-6)
    rising = slope([0, 1, 2, 3, 4], [0.0, 1.1, 1.9, 3.1, 4.0])
    assert rising.excludes_zero and rising.low > 0
    assert slope([1, 1], [0, 1]) is None and slope([0], [1]) is None


def test_paired_uses_only_shared_questions():
    # a: 0 -> 1, b: 1 -> 1, c: 0 -> 1 (d only after): differences 1, 0, 1
    p = paired({"a": 0, "b": 1, "c": 0}, {"a": 1, "b": 1, "c": 1, "d": 0})
    assert p.difference.n == 3 and p.difference.mean == pytest.approx(2 / 3)
    assert (p.better, p.worse) == (2, 0)
    assert paired({"a": 1}, {"b": 1}) is None


def test_plateau_is_the_first_step_at_the_best_value():
    assert plateau([0, 5, 10, 15], [0.1, 0.3, 0.3, 0.2]) == 5
    assert plateau([0, 5, 10], [0.4, 0.2, 0.1]) == 0  # never improved
    assert plateau([], []) is None
