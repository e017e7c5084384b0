"""Exact gradient-noise moments of a deep linear net on the Gaussian task (spec (D1), App. E).

For ``y = V x + eps`` with Gaussian ``x ~ N(0, Sigma_x)`` independent of ``eps ~ N(0, Sigma_eps)``,
``M = P - V`` and ``r = P x - y = M x - eps``, Isserlis' theorem gives, for symmetric ``B``,

    E[(x^T B x) r r^T] = M (Tr[B Sigma_x] Sigma_x + 2 Sigma_x B Sigma_x) M^T
                         + Tr[B Sigma_x] Sigma_eps
    E[(r^T B r) x x^T] = Tr[M^T B M Sigma_x] Sigma_x + 2 Sigma_x M^T B M Sigma_x
                         + Tr[B Sigma_eps] Sigma_x.

The per-sample gradient of layer i is ``g_i = 2 xi_i^T r x^T h_i^T``, so

    E[g_i g_i^T] = 4 xi_i^T E[(x^T h_i^T h_i x) r r^T] xi_i,
    E[g_i^T g_i] = 4 h_i E[(r^T xi_i xi_i^T r) x x^T] h_i^T,
    grad_i L = 2 xi_i^T M Sigma_x h_i^T.

A minibatch of S i.i.d. samples has ``E[hat g hat g^T] = grad grad^T + (E[g g^T] - grad grad^T)/S``
(spec (D1)), which makes the conditional expected charge drift exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gdlab.symmetry.charges import layer_charges
from gdlab.symmetry.checks import check_int, per_run
from gdlab.symmetry.linear import Params, prefix_products, suffix_products
from gdlab.symmetry.tasks import GaussianTask

__all__ = [
    "LayerMoments",
    "expected_charge_drift",
    "input_weighted",
    "layer_moments",
    "output_weighted",
]


def _tr(mat: torch.Tensor) -> torch.Tensor:
    return torch.diagonal(mat, dim1=-2, dim2=-1).sum(-1)[..., None, None]


def output_weighted(
    M: torch.Tensor, cov_x: torch.Tensor, cov_eps: torch.Tensor, B: torch.Tensor
) -> torch.Tensor:
    """``E[(x^T B x) r r^T]`` for ``r = M x - eps`` (Isserlis); B symmetric (dx, dx)."""
    tbs = _tr(B @ cov_x)
    return M @ (tbs * cov_x + 2 * cov_x @ B @ cov_x) @ M.transpose(-1, -2) + tbs * cov_eps


def input_weighted(
    M: torch.Tensor, cov_x: torch.Tensor, cov_eps: torch.Tensor, B: torch.Tensor
) -> torch.Tensor:
    """``E[(r^T B r) x x^T]`` for ``r = M x - eps`` (Isserlis); B symmetric (dy, dy)."""
    mbm = M.transpose(-1, -2) @ B @ M
    return _tr(mbm @ cov_x) * cov_x + 2 * cov_x @ mbm @ cov_x + _tr(B @ cov_eps) * cov_x


@dataclass
class LayerMoments:
    """Per-sample gradient moments of every layer at one parameter point (K runs).

    Attributes
    ----------
    mean : ``grad_i L`` (K, d_i, d_{i-1}) per layer.
    outer : ``E[g_i g_i^T]`` (K, d_i, d_i) per layer (second moment, not covariance).
    inner : ``E[g_i^T g_i]`` (K, d_{i-1}, d_{i-1}) per layer.
    """

    mean: list[torch.Tensor]
    outer: list[torch.Tensor]
    inner: list[torch.Tensor]

    def minibatch(self, batch_size: int) -> LayerMoments:
        """The moments of the mean gradient over ``batch_size`` i.i.d. samples."""
        S = check_int("batch_size", batch_size, minimum=1)
        mo = [g @ g.transpose(-1, -2) for g in self.mean]
        mi = [g.transpose(-1, -2) @ g for g in self.mean]
        return LayerMoments(
            self.mean,
            [m + (o - m) / S for m, o in zip(mo, self.outer, strict=True)],
            [m + (o - m) / S for m, o in zip(mi, self.inner, strict=True)],
        )

    def noise_trace(self) -> torch.Tensor:
        """``Tr Sigma_i = E||g_i||^2 - ||grad_i L||^2`` per layer: (K, D)."""
        return torch.stack(
            [
                torch.diagonal(o, dim1=-2, dim2=-1).sum(-1) - (g**2).sum((-1, -2))
                for o, g in zip(self.outer, self.mean, strict=True)
            ],
            dim=-1,
        )


def layer_moments(params: Params, task: GaussianTask) -> LayerMoments:
    """Exact :class:`LayerMoments` of a :class:`~gdlab.symmetry.linear.DeepLinear` chain."""
    if not isinstance(task, GaussianTask):
        raise TypeError(f"exact moments need a GaussianTask, got {type(task).__name__}")
    h = prefix_products(params)
    xi = suffix_products(params)
    M = h[-1] - task.V
    mean, outer, inner = [], [], []
    for i in range(len(params)):
        hi, xii = h[i], xi[i + 1]
        P = hi.transpose(-1, -2) @ hi
        Q = xii @ xii.transpose(-1, -2)
        mean.append(2 * xii.transpose(-1, -2) @ M @ task.cov_x @ hi.transpose(-1, -2))
        outer.append(
            4 * xii.transpose(-1, -2) @ output_weighted(M, task.cov_x, task.cov_eps, P) @ xii
        )
        inner.append(4 * hi @ input_weighted(M, task.cov_x, task.cov_eps, Q) @ hi.transpose(-1, -2))
    return LayerMoments(mean, outer, inner)


def expected_charge_drift(
    params: Params,
    task: GaussianTask,
    *,
    eta: float | torch.Tensor,
    batch_size: int,
    gamma: float | torch.Tensor = 0.0,
) -> list[torch.Tensor]:
    """``E[D_i' - D_i | theta]`` for one SGD step, exactly (spec (D1) with (D4/D5)).

    ``((1 - 2 eta gamma)^2 - 1) D_i + eta^2 (E[hat g_{i+1}^T hat g_{i+1}] - E[hat g_i hat g_i^T])``.
    """
    K = params[0].shape[0]
    eta_k = per_run("eta", eta, K, params[0], nonneg=True)[:, None, None]
    gamma_k = per_run("gamma", gamma, K, params[0], nonneg=True)[:, None, None]
    mom = layer_moments(params, task).minibatch(batch_size)
    shrink = (1 - 2 * eta_k * gamma_k) ** 2 - 1
    return [
        shrink * D + eta_k**2 * (mom.inner[i + 1] - mom.outer[i])
        for i, D in enumerate(layer_charges(params))
    ]
