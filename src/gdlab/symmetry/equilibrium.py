"""Noise-equilibrium predictions for linear nets: Theorem 5.2, its solution, T1 and T2' (spec §3.2).

Theorem 5.2 (two-layer net ``U W x``, weights ``W_1 = W``, ``W_2 = U``): every charge is
stationary when

    U^T Gamma_U U = W Gamma_W W^T,

with, in the adopted form derived from (D4) (spec §7.2),

    Gamma_W = (eta/S) E[||r||^2 x x^T] + gamma I,      Gamma_U = (eta/S) E[||x||^2 r r^T] + gamma I.

The paper's main text prints ``E[.] + 2 gamma I`` and its App. C ``eta E[.] + gamma I``; all three
agree for gamma = 0. At a global minimum with gamma = 0 (``r = -eps``) this is Eq. (14),
``W bar Sigma_x W^T = U^T bar Sigma_eps U``, solved by ``U' = sqrt(bar Sigma_eps) U = L sqrt(S) F``,
``W' = W sqrt(bar Sigma_x) = F^T sqrt(S) R`` where ``bar V' = L S R`` is the SVD of
``sqrt(bar Sigma_eps) V sqrt(bar Sigma_x)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gdlab.symmetry.checks import check_choice, check_int, check_real
from gdlab.symmetry.linear import Params, end_to_end
from gdlab.symmetry.moments import input_weighted, output_weighted
from gdlab.symmetry.tasks import GaussianTask, normalized, sqrtm_psd

__all__ = [
    "THEOREM_5_2_VERSIONS",
    "NoiseBalance",
    "balance_residual",
    "noise_balance",
    "scalar_decay_rate",
    "scalar_gradient_moment",
    "theorem_5_2_gammas",
    "theorem_5_2_norms",
    "width_one_ratio",
]

THEOREM_5_2_VERSIONS = ("adopted", "main", "appendix")


def theorem_5_2_gammas(
    task: GaussianTask,
    *,
    eta: float,
    batch_size: int,
    gamma: float = 0.0,
    params: Params | None = None,
    version: str = "adopted",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Gamma_U, Gamma_W)`` of Theorem 5.2.

    With ``params`` the expectations are exact at those parameters (``r = U W x - y``); without,
    at a global minimum (``r = -eps``: ``E||x||^2 r r^T = Tr Sigma_x Sigma_eps`` and
    ``E||r||^2 x x^T = Tr Sigma_eps Sigma_x``). ``version``: 'adopted' ``(eta/S) E + gamma I``,
    'main' ``E + 2 gamma I``, 'appendix' ``eta E + gamma I``.
    """
    check_choice("version", version, THEOREM_5_2_VERSIONS)
    eta = check_real("eta", eta, positive=True)
    S = check_int("batch_size", batch_size, minimum=1)
    gamma = check_real("gamma", gamma, nonneg=True)
    cx, ce = task.cov_x, task.cov_eps
    if params is None:
        M = torch.zeros_like(task.V)
    else:
        M = end_to_end(params) - task.V
    e_u = output_weighted(M, cx, ce, torch.eye(task.dx, dtype=cx.dtype, device=cx.device))
    e_w = input_weighted(M, cx, ce, torch.eye(task.dy, dtype=cx.dtype, device=cx.device))
    scale, decay = {
        "adopted": (eta / S, gamma),
        "main": (1.0, 2 * gamma),
        "appendix": (eta, gamma),
    }[version]
    eye_u = torch.eye(task.dy, dtype=cx.dtype, device=cx.device)
    eye_w = torch.eye(task.dx, dtype=cx.dtype, device=cx.device)
    return scale * e_u + decay * eye_u, scale * e_w + decay * eye_w


def balance_residual(
    params: Params, gamma_u: torch.Tensor, gamma_w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(U^T Gamma_U U, W Gamma_W W^T)`` for ``params = (W, U)``; each (K, d, d)."""
    if len(params) != 2:
        raise ValueError(f"Theorem 5.2 is about two-layer nets (W, U), got {len(params)} layers")
    W, U = params
    return U.transpose(-1, -2) @ gamma_u @ U, W @ gamma_w @ W.transpose(-1, -2)


@dataclass
class NoiseBalance:
    """The gamma = 0 noise equilibrium at the global minimum (Eq. 14 and App. C).

    Attributes
    ----------
    nuclear : ``||sqrt(bar Sigma_eps) V sqrt(bar Sigma_x)||_*`` (K,), equal to
        ``||sqrt(bar Sigma_eps) U||_F^2 = ||W sqrt(bar Sigma_x)||_F^2`` at equilibrium.
    u_sq, w_sq : predicted ``||U||_F^2`` and ``||W||_F^2`` (K,) (independent of the gauge F).
    sharpness : Proposition 5.3 at the equilibrium (K,), see :func:`noise_balance`.
    singular_values : (K, r) singular values S of ``bar V'``, descending: the eigenvalues of
        ``U^T bar Sigma_eps U = W bar Sigma_x W^T`` at equilibrium.
    """

    nuclear: torch.Tensor
    u_sq: torch.Tensor
    w_sq: torch.Tensor
    sharpness: torch.Tensor
    singular_values: torch.Tensor


def noise_balance(task: GaussianTask) -> NoiseBalance:
    """Predicted norms at the gamma = 0 SGD equilibrium on the global minimum ``U W = V``.

    ``U = bar Sigma_eps^{-1/2} L sqrt(S) F`` and ``W = F^T sqrt(S) R bar Sigma_x^{-1/2}``, so
    ``||U||_F^2 = Tr[sqrt(S) L^T bar Sigma_eps^{-1} L sqrt(S)]``,
    ``||W||_F^2 = Tr[sqrt(S) R bar Sigma_x^{-1} R^T sqrt(S)]`` and the Proposition 5.3
    sharpness ``d_y ||W Sigma_x^{1/2}||_F^2 + ||U||_F^2 Tr Sigma_x`` with
    ``||W Sigma_x^{1/2}||_F^2 = Tr Sigma_x * nuclear``. Needs invertible covariances.
    """
    nx, ne = normalized(task.cov_x), normalized(task.cov_eps)
    vbar = sqrtm_psd(ne) @ task.V @ sqrtm_psd(nx)
    L, s, R = torch.linalg.svd(vbar, full_matrices=False)
    rs = torch.sqrt(s)
    left = rs[..., :, None] * L.transpose(-1, -2) @ sqrtm_psd(ne, -0.5)
    right = rs[..., :, None] * R @ sqrtm_psd(nx, -0.5)
    trace_x = torch.diagonal(task.cov_x, dim1=-2, dim2=-1).sum(-1)
    u_sq = (left**2).sum((-1, -2))
    nuclear = s.sum(-1)
    return NoiseBalance(
        nuclear=nuclear,
        u_sq=u_sq,
        w_sq=(right**2).sum((-1, -2)),
        sharpness=task.dy * trace_x * nuclear + u_sq * trace_x,
        singular_values=s,
    )


def theorem_5_2_norms(
    task: GaussianTask, *, eta: float, batch_size: int, gamma: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted ``(||U||_F^2, ||W||_F^2)`` (each (K,)) at the adopted Theorem 5.2 equilibrium on
    the global minimum ``U W = V``, weight decay ``gamma`` included.

    With the Gammas of :func:`theorem_5_2_gammas` at the minimum, App. C's construction
    ``Gamma_U^{1/2} V Gamma_W^{1/2} = L S R``, ``U = Gamma_U^{-1/2} L sqrt(S) F``,
    ``W = F^T sqrt(S) R Gamma_W^{-1/2}`` gives ``||U||^2 = Tr[sqrt(S) L^T Gamma_U^{-1} L sqrt(S)]``
    and ``||W||^2 = Tr[sqrt(S) R Gamma_W^{-1} R^T sqrt(S)]``. For gamma = 0 the common factor
    ``eta/S`` cancels and this is :func:`noise_balance`.
    """
    gu, gw = theorem_5_2_gammas(task, eta=eta, batch_size=batch_size, gamma=gamma)
    L, s, R = torch.linalg.svd(sqrtm_psd(gu) @ task.V @ sqrtm_psd(gw), full_matrices=False)
    rs = torch.sqrt(s)
    left = rs[..., :, None] * L.transpose(-1, -2) @ sqrtm_psd(gu, -0.5)
    right = rs[..., :, None] * R @ sqrtm_psd(gw, -0.5)
    return (left**2).sum((-1, -2)), (right**2).sum((-1, -2))


def width_one_ratio(
    *,
    eta: float,
    gamma: float,
    batch_size: int,
    dx: int,
    dy: int,
    var_x: float,
    var_eps: float,
    version: str = "adopted",
) -> float:
    """T2': ``||u||^2 / ||w||^2`` at equilibrium for ``f = u (w^T x)`` with isotropic covariances.

    Adopted: ``(gamma + eta dy s / S) / (gamma + eta dx s / S)``; main text:
    ``(2 gamma + dy s) / (2 gamma + dx s)``; appendix: ``(gamma + eta dy s)/(gamma + eta dx s)``;
    ``s = var_x var_eps``. (From ``u^T Gamma_U u = w Gamma_W w^T`` with the minimum's Gammas.)
    """
    check_choice("version", version, THEOREM_5_2_VERSIONS)
    S = check_int("batch_size", batch_size, minimum=1)
    check_int("dx", dx, minimum=1)
    check_int("dy", dy, minimum=1)
    s = check_real("var_x", var_x, positive=True) * check_real("var_eps", var_eps, positive=True)
    eta = check_real("eta", eta, positive=True)
    gamma = check_real("gamma", gamma, nonneg=True)
    scale, decay = {
        "adopted": (eta / S, gamma),
        "main": (1.0, 2 * gamma),
        "appendix": (eta, gamma),
    }[version]
    # Gamma_U = decay + scale dx s and Gamma_W = decay + scale dy s (scalars times I), and
    # ||u||^2 Gamma_U = ||w||^2 Gamma_W.
    return (decay + scale * dy * s) / (decay + scale * dx * s)


def scalar_decay_rate(
    *, eta: float, batch_size: int, var_x: float, var_eps: float, version: str = "eq5"
) -> float:
    """T1: per-step decay rate of ``log |C|``, ``C = u^2 - w^2``, at the minimum of ``u w x``.

    From (D3), ``E[-log(1 - 4 eta^2 m^2)] = 4 eta^2 Var[r x] / S + O(eta^4)`` with
    ``Var[r x] = var_eps var_x``: the Eq. (5) prefactor ``2 sigma^2``. The Eq. (7) prefactor
    ``sigma^2`` (``version='eq7'``) gives half of it.
    """
    check_choice("version", version, ("eq5", "eq7"))
    S = check_int("batch_size", batch_size, minimum=1)
    rate = 4 * check_real("eta", eta, positive=True) ** 2 * var_x * var_eps / S
    check_real("var_x", var_x, positive=True)
    check_real("var_eps", var_eps, positive=True)
    return rate if version == "eq5" else rate / 2


def scalar_gradient_moment(
    M: torch.Tensor, *, batch_size: int, var_x: float, var_eps: float
) -> torch.Tensor:
    """T1: ``E[G^2 | theta]`` for the minibatch ``G = (2/S) sum_s r_s x_s`` of ``u w x`` at
    ``M = u w - v`` (spec (D3), the noise at the visited state in Eq. (5)).

    With ``r = M x - eps`` Gaussian (Isserlis): ``E[r x] = M var_x`` and
    ``E[(r x)^2] = 3 M^2 var_x^2 + var_eps var_x``, so
    ``E[G^2] = 4 (M^2 var_x^2 (1 + 2/S) + var_eps var_x / S)``; at the minimum (M = 0) the rate
    ``eta^2 E[G^2]`` is :func:`scalar_decay_rate`.
    """
    S = check_int("batch_size", batch_size, minimum=1)
    check_real("var_x", var_x, positive=True)
    check_real("var_eps", var_eps, positive=True)
    return 4 * (M**2 * var_x**2 * (1 + 2 / S) + var_eps * var_x / S)
