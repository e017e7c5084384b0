"""The auxiliary margins of Theorem 2.2's proof (spec §1, eqs. (9), (10); App. A.3).

``gamma^b = -log(2 n e^kappa L)/||w||`` and ``gamma^c = e^{Phi(L)}/||w||`` are defined only for
``L < 1/(2 n e^kappa)`` and are NaN elsewhere; they sandwich the normalized margin
``gamma-bar = q_min/||w||`` of eq. (3), which the engine records
(``Trajectory.normalized_margin``), as ``gamma^c <= gamma^b <= gamma-bar`` (Lemma A.10).
Both are computed from ``log L`` (``Trajectory.log_risk``), so risks far below 1e-300 give
exact values. Functions take scalars, NumPy arrays or torch tensors and return NumPy values.
"""

from __future__ import annotations

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

__all__ = ["gamma_b", "gamma_c"]


def gamma_b(
    log_risk: ArrayLike | Tensor, param_norm: ArrayLike | Tensor, c: ProblemConstants
) -> Array:
    """Eq. (9): ``gamma^b(w) = -log(2 n e^kappa L(w)) / ||w||``; NaN if ``L >= 1/(2 n e^kappa)``."""
    ell = log_scaled_risk(c, log_risk)
    return unwrap_scalar(np.where(ell < 0, -ell / as_float_array(param_norm), np.nan))


def gamma_c(
    log_risk: ArrayLike | Tensor, param_norm: ArrayLike | Tensor, c: ProblemConstants
) -> Array:
    """Eq. (10): ``gamma^c(w) = e^{Phi(L(w))} / ||w||`` (:func:`~gdlab.stepsize.theory.Phi`,
    which depends on ``c.lr``); NaN if ``L >= 1/(2 n e^kappa)``."""
    return unwrap_scalar(np.exp(Phi(c, log_x=log_risk)) / as_float_array(param_norm))
