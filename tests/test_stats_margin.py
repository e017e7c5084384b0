"""Tests of gdlab.stats.semilog_fit (the ||w_t|| ~ log t fit of the margin chapter)."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.stats import semilog_fit


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
