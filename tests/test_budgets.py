"""Tests of gdlab.stepsize.budgets: where Theorem 3.2's and Corollary 4.2's bounds become
informative."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab.stepsize import theory as th
from gdlab.stepsize.budgets import (
    corollary42_informative_from,
    theorem32_fastest_informative,
    theorem32_informative_from,
)
from gdlab.stepsize.theory import ProblemConstants


def _linear(eta: float = 2.0) -> ProblemConstants:
    """The linear special case of spec §3.3 (m = 1, phi = identity, R = 1)."""
    return ProblemConstants(
        n=2, m=1, d=2, lr=eta, eta=eta, rho=1.0, beta=0.0, kappa=0.0, alpha=1.0,
        beta_tilde=0.0, sup_dphi=1.0, R=1.0, gamma=0.5, w0_norm=1.0,
    )  # fmt: skip


def test_informative_from_is_the_last_crossing() -> None:
    c = _linear()
    level = 0.1
    t = theorem32_informative_from(c, level)
    assert t == int(t) and t > 1
    assert (
        th.theorem32_average_risk_bound(c, t) <= level < th.theorem32_average_risk_bound(c, t - 1)
    )
    later = np.geomspace(t, 1e12, 500)
    assert np.all(th.theorem32_average_risk_bound(c, later) <= level)


def test_informative_from_edge_cases() -> None:
    c = _linear()
    assert theorem32_informative_from(c, level=1e9) == 1.0  # below the level from the start
    assert theorem32_informative_from(c, level=1e-9, t_max=1e3) == math.inf
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="level"):
            theorem32_informative_from(c, level=bad)
    with pytest.raises(ValueError, match="t_max"):
        theorem32_informative_from(c, t_max=1.0)


@pytest.mark.parametrize("factor", sorted(th.COROLLARY42_FACTORS.values()))
def test_corollary42_informative_from_solves_bound_equals_level(factor: float) -> None:
    c = _linear()
    level = math.log(2)
    T = corollary42_informative_from(c, level, factor)
    # bound(T) = K / T^2 with T = sqrt(K / level): a square root and a square, a few ulps.
    assert float(th.corollary42_risk_bound(c, T, factor)) == pytest.approx(level, rel=1e-12)
    assert float(th.corollary42_risk_bound(c, 0.99 * T, factor)) > level
    with pytest.raises(ValueError, match="level"):
        corollary42_informative_from(c, level=0.0)


def test_fastest_informative_minimises_over_the_grid() -> None:
    c = _linear()
    level = 0.5
    eta, t = theorem32_fastest_informative(c, level, (0.1, 100.0), per_decade=20)
    assert t == theorem32_informative_from(c.with_lr(c.m * eta), level)
    # Every grid stepsize needs at least as many steps, and the optimum is interior: the eta^2
    # term penalises large steps, the log^2 term small ones.
    grid = np.geomspace(0.1, 100.0, 61)
    steps = [theorem32_informative_from(c.with_lr(c.m * e), level) for e in grid]
    assert t == min(steps) and grid[0] < eta < grid[-1]
    for bad in ((0.0, 1.0), (2.0, 1.0), (1.0, math.inf)):
        with pytest.raises(ValueError, match="eta_range"):
            theorem32_fastest_informative(c, level, bad)
    with pytest.raises(ValueError, match="per_decade"):
        theorem32_fastest_informative(c, level, per_decade=0)
