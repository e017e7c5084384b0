"""Sharpness ``Tr Hessian`` of the two-layer linear net: Proposition 5.3 and Eq. (15) (spec §3.2).

Convention (spec §7.4): Proposition 5.3 is stated for the 1/2-loss,

    S(theta) = d_y ||W Sigma_x^{1/2}||_F^2 + ||U||_F^2 Tr Sigma_x,

which is half the Hessian trace of this book's loss ``L = E||U W x - y||^2`` (no 1/2). For this
quadratic-in-each-layer loss the identity holds at *every* theta, not only at minima: the
cross-layer blocks of the Hessian do not enter the trace. :func:`hessian_trace` checks it
against autograd.

Eq. (15), autoencoding (``d_x = d_y``) with isotropic covariances, Gaussian init variances
``sigma_U^2, sigma_W^2``:  ``E S_init = d_x d (sigma_U^2 + sigma_W^2) Tr Sigma_x`` and, at the
norm-balanced minimum of rank ``min(d, d_x)`` with unit singular values,
``S_end = 2 min(d, d_x) Tr Sigma_x``.
"""

from __future__ import annotations

import torch

from gdlab.symmetry.checks import check_choice, check_int
from gdlab.symmetry.linear import DeepLinear, Params
from gdlab.symmetry.tasks import GaussianTask, sqrtm_psd

__all__ = ["INITS", "eq15_sharpness", "hessian_trace", "init_std", "sharpness", "top_eigenvalue"]

INITS = ("kaiming", "xavier")


def sharpness(
    params: Params, cov_x: torch.Tensor, root_x: torch.Tensor | None = None
) -> torch.Tensor:
    """Proposition 5.3 (1/2-loss convention): ``d_y ||W Sigma_x^{1/2}||^2 + ||U||^2 Tr Sigma_x``.

    ``root_x``: ``Sigma_x^{1/2}`` if already known (an observer called at every record passes it
    once instead of an eigendecomposition per call)."""
    if len(params) != 2:
        raise ValueError(f"Proposition 5.3 is about two-layer nets (W, U), got {len(params)}")
    W, U = params
    wx = W @ (sqrtm_psd(cov_x) if root_x is None else root_x)
    trace_x = torch.diagonal(cov_x, dim1=-2, dim2=-1).sum(-1)
    return U.shape[1] * (wx**2).sum((-1, -2)) + (U**2).sum((-1, -2)) * trace_x


def hessian_trace(params: Params, task: GaussianTask) -> torch.Tensor:
    """Exact ``Tr Hessian`` of the population loss ``E||U W x - y||^2`` by autograd, (K,).

    Uses one Hessian-vector product per coordinate (for small nets, in tests and chapters).
    """
    model = DeepLinear()
    K = params[0].shape[0]
    out = torch.zeros(K, dtype=params[0].dtype, device=params[0].device)
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    grads = torch.autograd.grad(
        model.population_loss(tuple(leaves), task).sum(), leaves, create_graph=True
    )
    for leaf, g in zip(leaves, grads, strict=True):
        flat = g.reshape(K, -1)
        for idx in range(flat.shape[1]):
            second = torch.autograd.grad(flat[:, idx].sum(), leaf, retain_graph=True)[0]
            out += second.reshape(K, -1)[:, idx].detach()
    return out.cpu()


def init_std(scheme: str, *, dx: int, d: int, dy: int) -> tuple[float, float]:
    """``(sigma_W, sigma_U)`` for W (d x dx) and U (dy x d).

    Kaiming: ``sigma_W^2 = 1/d_x``, ``sigma_U^2 = 1/d`` (fan-in; spec §7.5 corrects the printed
    ``sigma_U^2 = 1``). Xavier: ``sigma_W^2 = 1/(d + d_x)``, ``sigma_U^2 = 1/(d_y + d)``.
    """
    check_choice("scheme", scheme, INITS)
    for name, v in (("dx", dx), ("d", d), ("dy", dy)):
        check_int(name, v, minimum=1)
    if scheme == "kaiming":
        return (1 / dx) ** 0.5, (1 / d) ** 0.5
    return (1 / (d + dx)) ** 0.5, (1 / (dy + d)) ** 0.5


def eq15_sharpness(scheme: str, *, dx: int, d: int, trace_x: float) -> tuple[float, float]:
    """Eq. (15): ``(E S_init, S_end)`` for autoencoding with ``d_x = d_y`` and init ``scheme``."""
    sw, su = init_std(scheme, dx=dx, d=d, dy=dx)
    return dx * d * (su**2 + sw**2) * trace_x, 2 * min(d, dx) * trace_x


def top_eigenvalue(params: Params, cov_x: torch.Tensor, iters: int = 100) -> torch.Tensor:
    """Largest eigenvalue of the Gauss-Newton matrix ``2 J^T (Sigma_x) J`` of ``E||U W x - y||^2``.

    It is the Hessian at every global minimum (the residual term has zero mean there), and GD
    near such a minimum is stable only if ``eta * top_eigenvalue < 2``. Power iteration with the
    closed-form product ``H (dW, dU) = 2 (U^T dP Sigma_x, dP Sigma_x W^T)``,
    ``dP = dU W + U dW``; returns (K,).
    """
    check_int("iters", iters, minimum=1)
    W, U = params
    gen = torch.Generator(device=W.device).manual_seed(0)
    dW = torch.randn(W.shape, generator=gen, dtype=W.dtype, device=W.device)
    dU = torch.randn(U.shape, generator=gen, dtype=U.dtype, device=U.device)
    lam = torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
    for _ in range(iters):
        norm = torch.sqrt((dW**2).sum((-1, -2)) + (dU**2).sum((-1, -2)))[:, None, None]
        dW, dU = dW / norm, dU / norm
        dP = dU @ W + U @ dW
        hW = 2 * U.transpose(-1, -2) @ dP @ cov_x
        hU = 2 * dP @ cov_x @ W.transpose(-1, -2)
        lam = (hW * dW).sum((-1, -2)) + (hU * dU).sum((-1, -2))
        dW, dU = hW, hU
    return lam.cpu()
