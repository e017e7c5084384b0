"""Tests of gdlab.stats.loglog_fit on values below the float64 range (given as logarithms)."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.stats import loglog_fit


def test_power_fit_survives_underflow() -> None:
    x = np.array([10.0, 100.0, 1000.0])
    log_y = -2.0 * np.log(x) - 2000.0  # y = e^-2000 x^-2: zero in float64
    fit = loglog_fit(x, log_y=log_y)
    # Exact line through rescaled logs: float64 rounding of O(2000) values.
    assert fit.slope == pytest.approx(-2.0, rel=1e-12)
    assert fit.intercept == pytest.approx(-2000.0, rel=1e-12)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="exactly one"):
        loglog_fit(x, np.exp(log_y), log_y=log_y)
