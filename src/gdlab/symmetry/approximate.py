"""Approximate symmetry (§5.4, toy T6): the scalar net of T1 with an anchor on one layer.

The per-sample loss is ``l = (u w x - y)^2 + (zeta/2) (u - u0)^2`` with ``y = v x + eps``. Its
first term has the rescaling symmetry ``A = diag(1, -1)`` on ``theta = (u, w)`` (charge
``C = u^2 - w^2``); the anchor is deterministic and breaks it. The anchor's gradient is
``zeta (u - u0)``, so ``(grad l_2)^T A theta = zeta (u - u0) u`` and the §5.4 equilibrium reads

    zeta (u - u0) u = sigma^2 Tr[Sigma A],      sigma^2 = eta / (2S),
    Tr[Sigma A] = Sigma_uu - Sigma_ww = 4 Var[r x] (w^2 - u^2)

(per-sample gradients ``2 r x w`` and ``2 r x u``, ``r = u w x - y``). Exactly, one SGD step
changes the charge by ``-2 eta zeta u (u - u0) + eta^2 [(g_u + zeta (u - u0))^2 - g_w^2]`` (the
cross term of the symmetric part vanishes, spec (D0)); its expectation vanishes at
stationarity, and dropping the ``O(eta)`` terms gives the equation above. Near the minimum
``theta* = (u0, v / u0)`` of the whole loss, ``Var[r x] = var_eps var_x`` and the shift of ``u``
from ``u0`` is

    s = sigma^2 Tr[Sigma(theta*) A] / (zeta u0)

to first order in ``sigma^2``. Full-batch GD has no noise: it converges to ``theta*`` itself, the
shift is absent.
"""

from __future__ import annotations

import torch

from gdlab.symmetry.checks import check_int, check_real, per_run
from gdlab.symmetry.linear import DeepLinear, Params
from gdlab.symmetry.tasks import FiniteTask, GaussianTask

__all__ = ["AnchoredProduct", "anchored_shift", "scalar_noise_trace"]


class AnchoredProduct(DeepLinear):
    """``f = u w x`` (``params = (W, U)``, each (K, 1, 1)) trained on ``(u w x - y)^2`` plus the
    deterministic anchor ``(zeta/2) (u - u0)^2`` (``zeta`` per run, (K,) or a float)."""

    name = "anchored-product"

    def __init__(self, zeta: float | torch.Tensor, u0: float) -> None:
        self.zeta, self.u0 = zeta, check_real("u0", u0)

    def _anchor(self, params: Params) -> Params:
        W, U = params
        if W.shape[1:] != (1, 1) or U.shape[1:] != (1, 1):
            raise ValueError(
                f"the anchored toy is scalar: W and U must be (K, 1, 1), got {tuple(W.shape)} "
                f"and {tuple(U.shape)}"
            )
        zeta = per_run("zeta", self.zeta, U.shape[0], U, nonneg=True)[:, None, None]
        return torch.zeros_like(W), zeta * (U - self.u0)

    def grad(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params:
        """Minibatch gradient of the product loss plus the anchor's (exact, deterministic)."""
        return tuple(
            g + a for g, a in zip(super().grad(params, x, y), self._anchor(params), strict=True)
        )

    def population_grad(self, params: Params, task: GaussianTask | FiniteTask) -> Params:
        """Full-batch gradient of the product risk plus the anchor's."""
        return tuple(
            g + a
            for g, a in zip(
                super().population_grad(params, task), self._anchor(params), strict=True
            )
        )


def scalar_noise_trace(u: float, w: float, *, v: float, var_x: float, var_eps: float) -> float:
    """``Tr[Sigma A] = 4 Var[r x] (w^2 - u^2)`` at ``(u, w)`` for ``r = (u w - v) x - eps``:
    ``Var[r x] = 2 (u w - v)^2 var_x^2 + var_eps var_x`` (Isserlis)."""
    m = check_real("u", u) * check_real("w", w) - check_real("v", v)
    vx = check_real("var_x", var_x, positive=True)
    var_rx = 2 * m**2 * vx**2 + check_real("var_eps", var_eps, nonneg=True) * vx
    return 4 * var_rx * (w**2 - u**2)


def anchored_shift(
    *, eta: float, batch_size: int, zeta: float, u0: float, v: float, var_x: float, var_eps: float
) -> float:
    """The §5.4 shift ``s = sigma^2 Tr[Sigma(theta*) A] / (zeta u0)`` of ``u`` from ``u0`` at the
    SGD equilibrium, ``theta* = (u0, v/u0)``, ``sigma^2 = eta/(2S)`` (first order in sigma^2)."""
    sigma2 = check_real("eta", eta, positive=True) / (
        2 * check_int("batch_size", batch_size, minimum=1)
    )
    u0 = check_real("u0", u0)
    if u0 == 0:
        raise ValueError("u0 must be nonzero (the minimum is theta* = (u0, v/u0)), got 0")
    zeta = check_real("zeta", zeta, positive=True)
    trace = scalar_noise_trace(u0, v / u0, v=v, var_x=var_x, var_eps=var_eps)
    return sigma2 * trace / (zeta * u0)
