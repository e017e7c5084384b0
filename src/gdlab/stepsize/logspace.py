"""Stable-phase quantities of Theorem 2.2 in log space, where their values leave float64.

For large stepsizes the modified margin ``gamma^c`` of eq. (10) carries a factor
``e^{-k_1/2}`` with ``k_1 = 1 + (4 rho^2 + 2 beta) lr`` and underflows, Lemma A.10's constant
``c`` carries ``e^{k_1}`` and overflows, and Lemma A.14's upper bound, which divides by
``gamma^c(w_s)^2``, overflows with it. Their logarithms stay finite:

- :func:`log_gamma_c`: ``log gamma^c = Phi(L) - log ||w||`` (eq. 10);
- :func:`log10_lemma_a10_constant`: ``log10 c`` of Lemma A.10;
- :func:`log10_lemma_a14_bounds`: ``log10`` of both bounds of Lemma A.14 from a step ``s``;
- :func:`lemma_a15_lower`: Lemma A.15's lower bound on ``||w_t||`` from ``log gamma^c(w_s)``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from gdlab.stepsize import theory as th

__all__ = ["lemma_a15_lower", "log10_lemma_a10_constant", "log10_lemma_a14_bounds", "log_gamma_c"]


def log_gamma_c(c: th.ProblemConstants, log_risk: ArrayLike, param_norm: ArrayLike) -> np.ndarray:
    """``log gamma^c(w) = Phi(L(w)) - log ||w||`` (eq. 10), finite where ``gamma^c`` underflows;
    NaN where ``L >= 1/(2 n e^kappa)`` (``gamma^c`` undefined)."""
    return np.asarray(th.Phi(c, log_x=log_risk)) - np.log(param_norm)


def log10_lemma_a10_constant(c: th.ProblemConstants) -> float:
    """``log10`` of Lemma A.10's ``c = (k_2 + k_1 e^{k_1} + k_2 k_1 e^{k_1})(k_2 + 1)``, exact
    in log space (``c`` itself overflows float64 once ``k_1`` exceeds about 700):
    ``log c = k_1 + log(k_1 (1 + k_2) + k_2 e^{-k_1}) + log(k_2 + 1)``."""
    _, k1, k2 = th.lemma_a10_constant(c)
    return (k1 + math.log(k1 * (1 + k2) + k2 * math.exp(-k1)) + math.log(k2 + 1)) / math.log(10)


def log10_lemma_a14_bounds(
    c: th.ProblemConstants, t: ArrayLike, s: int, log_risk_s: float, log_gamma_c_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """``log10`` of Lemma A.14's bounds at steps ``t >= s`` from ``s`` in the (5)-regime:
    ``1/(1/L_s + 3 lr rho^2 (t-s)) <= L_t <= 2/((t-s) lr gamma^c(w_s)^2)``. The upper bound is
    :func:`~gdlab.stepsize.theory.lemma_a14_bounds` at ``gamma^c = 1`` divided by
    ``gamma^c(w_s)^2`` in log space (``+inf`` at ``t = s``)."""
    lower, upper = th.lemma_a14_bounds(c, t, s, log_risk_s, 1.0)
    with np.errstate(divide="ignore"):  # upper = inf at t = s
        return np.log10(lower), np.log10(upper) - 2 * log_gamma_c_s / math.log(10)


def lemma_a15_lower(
    c: th.ProblemConstants, t: ArrayLike, s: int, log_gamma_c_s: float, param_norm_s: float
) -> np.ndarray:
    """Lemma A.15's lower bound ``log[(t - s) lr gamma^c(w_s)^2 / (2n)] / (2 B_0)`` on
    ``||w_t||`` at steps ``t > s`` from ``s`` in the (5)-regime, with ``log gamma^c(w_s)``
    given (finite where ``gamma^c`` underflows) and ``B_0`` of Lemma A.12 at
    ``||w_s|| = param_norm_s`` (:func:`~gdlab.stepsize.theory.lemma_a12_b0`)."""
    dt = np.asarray(t, dtype=float) - s
    if np.any(dt <= 0):
        raise ValueError(f"Lemma A.15 needs t > s = {s}, got t = {np.min(np.asarray(t))}")
    b0 = th.lemma_a12_b0(c, param_norm_s)
    return (np.log(dt * c.lr / (2 * c.n)) + 2 * log_gamma_c_s) / (2 * b0)
