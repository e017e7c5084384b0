"""Normalised and auxiliary margins of the two-layer network (spec §1, eqs. (3), (8)-(10)).

``gamma-bar = q_min/||w||`` (eq. 3), ``gamma^a = -log L/||w||``, ``gamma^b = -log(2 n e^kappa
L)/||w||`` and ``gamma^c = e^{Phi(L)}/||w||`` (eqs. 8-10, App. A.3). ``gamma^b`` and
``gamma^c`` are defined only for ``L < 1/(2 n e^kappa)`` and are NaN elsewhere. Everything is
computed from ``log L`` (``Trajectory.log_risk``), so risks far below 1e-300 give exact values.
Functions take scalars, NumPy arrays or torch tensors and return NumPy values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from torch import Tensor

from gdlab.stepsize.theory import (
    Array,
    Phi,
    ProblemConstants,
    as_float_array,
    log_scaled_risk,
    unwrap_scalar,
)
from gdlab.stepsize.trajectory import Trajectory

__all__ = ["Margins", "Phi", "gamma_a", "gamma_b", "gamma_bar", "gamma_c", "trajectory_margins"]


def gamma_bar(min_margin: ArrayLike | Tensor, param_norm: ArrayLike | Tensor) -> Array:
    """Eq. (3): ``gamma-bar(w) = min_i y_i f(w; x_i) / ||w||``."""
    return unwrap_scalar(as_float_array(min_margin) / as_float_array(param_norm))


def gamma_a(log_risk: ArrayLike | Tensor, param_norm: ArrayLike | Tensor) -> Array:
    """Eq. (8): ``gamma^a(w) = -log L(w) / ||w||``."""
    return unwrap_scalar(-as_float_array(log_risk) / as_float_array(param_norm))


def gamma_b(
    log_risk: ArrayLike | Tensor, param_norm: ArrayLike | Tensor, c: ProblemConstants
) -> Array:
    """Eq. (9): ``gamma^b(w) = -log(2 n e^kappa L(w)) / ||w||``; NaN if ``L >= 1/(2 n e^kappa)``."""
    ell = log_scaled_risk(c, log_risk)
    return unwrap_scalar(np.where(ell < 0, -ell / as_float_array(param_norm), np.nan))


def gamma_c(
    log_risk: ArrayLike | Tensor, param_norm: ArrayLike | Tensor, c: ProblemConstants
) -> Array:
    """Eq. (10): ``gamma^c(w) = e^{Phi(L(w))} / ||w||`` (:func:`Phi`, which depends on ``c.lr``);
    NaN if ``L >= 1/(2 n e^kappa)``."""
    return unwrap_scalar(np.exp(Phi(c, log_x=log_risk)) / as_float_array(param_norm))


@dataclass(frozen=True)
class Margins:
    """The four margins of a trajectory, each a (K, S) array over runs and recorded steps."""

    gamma_bar: Array
    gamma_a: Array
    gamma_b: Array
    gamma_c: Array


def trajectory_margins(traj: Trajectory, c: ProblemConstants) -> Margins:
    """``gamma-bar, gamma^a, gamma^b, gamma^c`` of every run of ``traj``.

    ``c`` supplies n, kappa, rho, beta; the stepsize of run k is ``traj.lr[k]`` (``c.lr`` is
    ignored), so one call covers a whole stepsize sweep.
    """
    log_risk, norm = as_float_array(traj.log_risk), as_float_array(traj.param_norm)
    gc = np.stack(
        [gamma_c(log_risk[k], norm[k], c.with_lr(float(lr))) for k, lr in enumerate(traj.lr)]
    )
    return Margins(
        gamma_bar=gamma_bar(traj.min_margin, norm),
        gamma_a=gamma_a(log_risk, norm),
        gamma_b=gamma_b(log_risk, norm, c),
        gamma_c=gc,
    )
