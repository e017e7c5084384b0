"""Horizons from which a bound of Part I says something (spec §3.2, §3.3).

A risk bound that exceeds the initial risk ``L(w_0)`` tells nothing about a run whose risk does not
grow. These functions solve ``bound(t) = level`` for the step (Theorem 3.2) or the budget
(Corollary 4.2) from which the bound is below ``level``, typically ``L(w_0) ~ log 2``.
"""

from __future__ import annotations

import math

import numpy as np

from gdlab.stepsize import theory as th
from gdlab.stepsize.theory import ProblemConstants

__all__ = [
    "corollary42_informative_from",
    "theorem32_fastest_informative",
    "theorem32_informative_from",
]

#: Points of the geometric grid on which Theorem 3.2's bound is scanned before bisection.
_SCAN_POINTS = 4001


def _positive_level(level: float) -> float:
    if not (math.isfinite(level) and level > 0):
        raise ValueError(f"level={level!r} must be finite and > 0")
    return float(level)


def theorem32_informative_from(
    c: ProblemConstants, level: float = math.log(2), t_max: float = 1e15
) -> float:
    """The first step ``t`` from which Theorem 3.2's bound stays at or below ``level``.

    The bound ``(A + 8 log^2(g t)/alpha^2)/(g t) + ||w_0||^2/(m eta t)`` (``g = gamma^2 eta``,
    ``A = 1 + 8 kappa^2/alpha^2 + eta^2``) decreases in ``t`` once ``g t >= e^2``; below
    ``level = L(w_0) ~ log 2`` it says more than "the risk did not grow". Returns the integer
    step (the bound is scanned on a geometric grid up to ``t_max``, then bisected), ``inf`` when
    the bound is still above ``level`` at ``t_max``.
    """
    level = _positive_level(level)
    if not (math.isfinite(t_max) and t_max > 1):
        raise ValueError(f"t_max={t_max!r} must be finite and > 1")
    t = np.geomspace(1.0, t_max, _SCAN_POINTS)
    above = np.flatnonzero(th.theorem32_average_risk_bound(c, t) > level)
    if above.size == 0:
        return 1.0
    if above[-1] == t.size - 1:
        return math.inf
    lo, hi = math.floor(t[above[-1]]), math.ceil(t[above[-1] + 1])
    while hi - lo > 1:  # invariant: bound(lo) > level >= bound(hi)
        mid = (lo + hi) // 2
        if th.theorem32_average_risk_bound(c, mid) > level:
            lo = mid
        else:
            hi = mid
    return float(hi)


def corollary42_informative_from(
    c: ProblemConstants,
    level: float = math.log(2),
    factor: float = th.COROLLARY42_FACTORS["safe"],
) -> float:
    """The budget ``T`` from which Corollary 4.2's bound ``K/T^2`` is at or below ``level``:
    ``T = sqrt(K/level)`` with ``K = factor (1 + 4 kappa) c_2/(alpha^4 gamma^4)`` (the bound at
    ``T = 1``); below it the bound exceeds ``level`` (for ``level = L(w_0)``: it is vacuous)."""
    level = _positive_level(level)
    return math.sqrt(float(th.corollary42_risk_bound(c, 1.0, factor)) / level)


def theorem32_fastest_informative(
    c: ProblemConstants,
    level: float = math.log(2),
    eta_range: tuple[float, float] = (1e-2, 1e4),
    per_decade: int = 40,
) -> tuple[float, float]:
    """The per-neuron stepsize whose Theorem 3.2 bound falls to ``level`` soonest, and that step.

    Minimises :func:`theorem32_informative_from` over ``eta`` on a geometric grid of
    ``per_decade`` points per decade of ``eta_range`` (``c``'s other constants kept, GD stepsize
    ``lr = m eta``). The bound trades ``eta^2/(gamma^2 eta t)`` (large steps) against
    ``8 log^2(gamma^2 eta t)/(alpha^2 gamma^2 eta t)`` (small steps), so the minimiser is
    interior; the returned step is exact for the returned grid stepsize. Returns
    ``(eta, step)``; ``step`` is ``inf`` when no grid stepsize gets below ``level``.
    """
    lo, hi = eta_range
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"eta_range={eta_range!r} must be finite with 0 < low < high")
    if isinstance(per_decade, bool) or not isinstance(per_decade, int) or per_decade < 1:
        raise ValueError(f"per_decade={per_decade!r} must be an int >= 1")
    count = math.ceil(per_decade * math.log10(hi / lo)) + 1
    etas = np.geomspace(lo, hi, count)
    steps = [theorem32_informative_from(c.with_lr(c.m * eta), level) for eta in etas]
    best = int(np.argmin(steps))
    return float(etas[best]), float(steps[best])
