"""Tests of gdlab.stepsize.criteria: the measures and tolerances the Part I claims are judged
by, against the alternatives each tolerance says it rules out."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.stats import doubling_ratio, increment_exponent
from gdlab.stepsize.criteria import (
    DIP_TOLERANCE,
    DRAWDOWN_TOLERANCE,
    LOG_GROWTH_BAND,
    PLATEAU_TOLERANCE,
    RATE_EXPONENT_TOL,
    SETTLED_FRACTION,
    largest_drop,
    largest_relative_dip,
    largest_relative_drawdown,
)


def test_largest_drop() -> None:
    assert largest_drop(np.array([1.0, 2.0, 3.0])) == 0.0
    assert largest_drop(np.array([1.0, 3.0, 2.5, 4.0])) == pytest.approx(0.5)
    assert largest_drop(np.array([1.0])) == 0.0


def test_largest_relative_dip() -> None:
    assert largest_relative_dip(np.array([1.0, 2.0, 3.0])) == 0.0
    assert largest_relative_dip(np.array([2.0, 4.0, 3.0, 5.0])) == pytest.approx(0.25)
    assert largest_relative_dip(np.array([-2.0, -3.0])) == pytest.approx(0.5)  # |x_t| below
    assert largest_relative_dip(np.array([1.0])) == 0.0


def test_largest_relative_drawdown_catches_a_slow_decline() -> None:
    assert largest_relative_drawdown(np.array([1.0, 2.0, 3.0])) == 0.0
    assert largest_relative_drawdown(np.array([2.0, 4.0, 3.0, 5.0])) == pytest.approx(0.25)
    # 5% in all at 0.005% per step: the one-step dip is tiny, the drawdown is not.
    decline = 1.0 - np.linspace(0.0, 0.05, 1001)
    assert largest_relative_dip(decline) < DIP_TOLERANCE
    assert largest_relative_drawdown(decline) == pytest.approx(0.05)
    assert largest_relative_drawdown(decline) > DRAWDOWN_TOLERANCE
    with pytest.raises(ValueError, match="never 0"):
        largest_relative_drawdown(np.array([0.0, 1.0]))


def test_log_growth_band_separates_log_from_sqrt_and_linear() -> None:
    t = np.arange(1, 8001, dtype=float)
    low, high = LOG_GROWTH_BAND
    assert low <= doubling_ratio(t, 3 + 2 * np.log(t)) <= high
    # sqrt t (1.41), t (2) and a norm converging like 1 - 1/t (0.5) fall outside
    for y in (np.sqrt(t), t, 1 - 1 / t):
        assert not low <= doubling_ratio(t, y) <= high
    # the band ends halfway (geometrically) between log t (1) and sqrt t (sqrt 2)
    assert high == pytest.approx(np.sqrt(np.sqrt(2))) and low * high == pytest.approx(1.0)


def test_rate_tolerance_rules_out_a_log_factor_and_the_plateau_band() -> None:
    t = np.arange(5000, 10001, dtype=float)
    for log_inverse_risk, caught in (
        (np.log(t), False),  # 1/t
        (np.log(t) + np.log(np.log(t)), True),  # 1/(t log t)
        (0.75 * np.log(t), True),  # t^-0.75: a plateau ratio of 2^0.25 = 1.19 <= 1.25
    ):
        p = increment_exponent(t, log_inverse_risk).exponent
        assert (abs(p - 1) > RATE_EXPONENT_TOL) == caught
    assert 2**0.25 <= PLATEAU_TOLERANCE  # what the former criterion admitted
    assert SETTLED_FRACTION <= 0.25  # the norm's doubling windows start at T/4
