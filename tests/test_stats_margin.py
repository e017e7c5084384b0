"""Tests of the Part I fits in gdlab.stats: semilog_fit (the ||w_t|| ~ log t line of the margin
chapter), increment_exponent (the offset-free rate exponent) and doubling_ratio (log t against
sqrt t and t)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab.stats import doubling_ratio, increment_exponent, semilog_fit


def test_semilog_fit_recovers_a_log_law() -> None:
    t = np.arange(10, 1001, dtype=float)
    fit = semilog_fit(t, 3.0 + 2.0 * np.log(t))
    assert fit.slope == pytest.approx(2.0) and fit.intercept == pytest.approx(3.0)
    assert fit.r2 == pytest.approx(1.0) and fit(np.e) == pytest.approx(5.0)
    # A power law is not affine in log t: R^2 drops well below 1.
    assert semilog_fit(t, t).r2 < 0.9


def test_semilog_fit_rejects_bad_input() -> None:
    t = np.arange(1.0, 11.0)
    with pytest.raises(ValueError, match="at least 3"):
        semilog_fit(t[:2], t[:2])
    with pytest.raises(ValueError, match="x > 0"):
        semilog_fit(t - 1, t)
    with pytest.raises(ValueError, match="equal length"):
        semilog_fit(t, t[:-1])


@pytest.mark.parametrize("p", [0.5, 0.75, 1.0, 2.0])
def test_increment_exponent_recovers_p_whatever_the_offset(p: float) -> None:
    x = np.arange(1000, 2001, dtype=float)
    for offset in (0.0, 5.0, 1e9):  # 1/L_t = 1/L_s + b t^p: the offset of Lemma A.14's form
        fit = increment_exponent(x, np.log(offset + 2.0 * x**p))
        # integer sub-interval edges make the log-widths unequal by O(1/1000)
        assert fit.exponent == pytest.approx(p, abs=1e-4) and fit.stderr < 1e-3
        assert fit.windows == 8


def test_increment_exponent_survives_overflow_and_flags_curvature() -> None:
    x = np.arange(100, 1001, dtype=float)
    huge = 800.0 + np.log(x)  # y = e^800 x: overflows float64, its log does not
    assert increment_exponent(x, huge).exponent == pytest.approx(1.0, abs=1e-6)
    # a transient (two regimes) is not a power law: a large standard error says so
    bent = np.log(np.where(x < 400, 5 * x, 1500 + (x - 300)))
    assert increment_exponent(x, bent).stderr > 0.05


def test_increment_exponent_rejects_bad_input() -> None:
    x = np.arange(1.0, 101.0)
    with pytest.raises(ValueError, match="increasing over every"):
        increment_exponent(x, -np.log(x))
    with pytest.raises(ValueError, match="increasing x > 0"):
        increment_exponent(x[::-1], np.log(x))
    with pytest.raises(ValueError, match="windows"):
        increment_exponent(x, np.log(x), windows=2)
    with pytest.raises(ValueError, match="3 sub-intervals"):
        increment_exponent(x[:3], np.log(x[:3]))


def test_doubling_ratio_of_log_sqrt_and_linear_growth() -> None:
    x = np.arange(0, 10001, dtype=float)
    assert doubling_ratio(x[1:], np.log(x[1:])) == pytest.approx(1.0)
    assert doubling_ratio(x, np.sqrt(x)) == pytest.approx(math.sqrt(2))
    assert doubling_ratio(x, 7 + 3 * x) == pytest.approx(2.0)
    assert doubling_ratio(x, np.ones_like(x)) == math.inf  # no growth over [X/4, X/2]
    with pytest.raises(ValueError, match="X/4"):
        doubling_ratio(x[5000:], x[5000:])
    with pytest.raises(ValueError, match="equal length"):
        doubling_ratio(x, x[:-1])
