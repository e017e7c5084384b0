"""Theorem 5.4 (deep linear nets at the noise equilibrium), printed and corrected (spec §3.3).

At a global minimum (``r = -eps``) with gamma = 0 the equilibrium of pair (i, i+1) is Eq. (122):

    W_{i+1}^T xi^T Sigma_eps xi W_{i+1} / Tr[xi^T Sigma_eps xi]
        = W_i h Sigma_x h^T W_i^T / Tr[h Sigma_x h^T],        xi = W_D...W_{i+2}, h = W_{i-1}...W_1.

Corrected Theorem 5.4 (adopted, spec §7.3): with ``bar V' = sqrt(bar Sigma_eps) V sqrt(bar Sigma_x)
= L S R`` (rank d) and orthogonal ``U_i``,

    sqrt(bar Sigma_eps) W_D = L Sigma_D U_{D-1}^T,  W_i = U_i Sigma_i U_{i-1}^T,
    W_1 sqrt(bar Sigma_x) = U_1 Sigma_1 R,
    Sigma_1 = Sigma_D = (Tr S)^{-(D-2)/(2D)} sqrt(S),  Sigma_i = (Tr S)^{1/D} I_d.

The printed theorem uses the un-normalised ``V' = sqrt(Sigma_eps) V sqrt(Sigma_x) = L S' R`` and
``Sigma_1 = Sigma_D = (d / Tr S')^{(D-2)/(2D)} sqrt(S')``, ``Sigma_i = (Tr S' / d)^{1/D} I``; the
two agree when ``Tr Sigma_x = Tr Sigma_eps = d``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gdlab.symmetry.checks import check_choice, check_int
from gdlab.symmetry.linear import Params, prefix_products, suffix_products
from gdlab.symmetry.tasks import GaussianTask, normalized, sqrtm_psd

__all__ = [
    "THEOREM_5_4_VERSIONS",
    "LayerPrediction",
    "anisotropy",
    "eq122_sides",
    "random_orthogonal",
    "theorem_5_4",
]

THEOREM_5_4_VERSIONS = ("corrected", "printed")


@dataclass
class LayerPrediction:
    """Theorem 5.4 for one task (K runs) and depth D.

    Attributes
    ----------
    end_singular : (K, d) the diagonal of ``Sigma_1 = Sigma_D``.
    middle_singular : (K,) the common singular value of the middle layers.
    layer_sq_norms : (K, D) predicted ``||W_i||_F^2`` of every layer.
    params : an explicit chain in the theorem's form (random orthogonal ``U_i``), or None.
    """

    end_singular: torch.Tensor
    middle_singular: torch.Tensor
    layer_sq_norms: torch.Tensor
    params: Params | None


def random_orthogonal(
    K: int, d: int, like: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """K random orthogonal (d, d) matrices (Haar: QR of a Gaussian matrix, signs fixed by R's
    diagonal), in the dtype and on the device of ``like``."""
    z = torch.randn(K, d, d, generator=generator, dtype=like.dtype, device=like.device)
    q, r = torch.linalg.qr(z)
    return q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)


def theorem_5_4(
    task: GaussianTask,
    depth: int,
    *,
    version: str = "corrected",
    generator: torch.Generator | None = None,
) -> LayerPrediction:
    """The layers of Theorem 5.4 (``version`` 'corrected' or 'printed'), for ``depth`` >= 2.

    The rank d is the number of singular values above ``1e-12`` times the largest (float64
    rounding of the SVD); with ``generator`` an explicit chain of width d is built.
    """
    check_choice("version", version, THEOREM_5_4_VERSIONS)
    D = check_int("depth", depth, minimum=2)
    corrected = version == "corrected"
    cx = normalized(task.cov_x) if corrected else task.cov_x
    ce = normalized(task.cov_eps) if corrected else task.cov_eps
    L, s, R = torch.linalg.svd(sqrtm_psd(ce) @ task.V @ sqrtm_psd(cx), full_matrices=False)
    d = int((s > 1e-12 * s.amax(-1, keepdim=True)).sum(-1).max())
    L, s, R = L[..., :d], s[..., :d], R[..., :d, :]
    tr = s.sum(-1)
    if corrected:
        end = tr[:, None] ** (-(D - 2) / (2 * D)) * torch.sqrt(s)
        mid = tr ** (1 / D)
    else:
        end = (d / tr[:, None]) ** ((D - 2) / (2 * D)) * torch.sqrt(s)
        mid = (tr / d) ** (1 / D)
    K = s.shape[0]
    first = (end[..., :, None] * R) @ sqrtm_psd(cx, -0.5)  # Sigma_1 R Sigma_x^{-1/2} (U_1 = I)
    last = sqrtm_psd(ce, -0.5) @ (L * end[..., None, :])  # Sigma_eps^{-1/2} L Sigma_D
    norms = [(first**2).sum((-1, -2))] + [d * mid**2] * (D - 2) + [(last**2).sum((-1, -2))]
    params = None
    if generator is not None:
        rot = [random_orthogonal(K, d, s, generator) for _ in range(D - 1)]
        middle = [
            mid[:, None, None] * rot[i] @ rot[i - 1].transpose(-1, -2) for i in range(1, D - 1)
        ]
        params = (rot[0] @ first, *middle, last @ rot[-1].transpose(-1, -2))
    return LayerPrediction(end, mid, torch.stack(norms, dim=-1), params)


def eq122_sides(params: Params, task: GaussianTask) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Both sides of Eq. (122) for every neighbouring pair (i, i+1): each (K, d_i, d_i)."""
    h = prefix_products(params)
    xi = suffix_products(params)
    out = []
    for i in range(len(params) - 1):
        up = xi[i + 1]  # W_D ... W_{i+2} W_{i+1} (0-based layer i+1)
        left = up.transpose(-1, -2) @ task.cov_eps @ up
        inner = xi[i + 2]  # W_D ... W_{i+2}
        lnorm = _trace(inner.transpose(-1, -2) @ task.cov_eps @ inner)
        hi = h[i + 1]  # W_i ... W_1 (0-based layer i and below)
        right = hi @ task.cov_x @ hi.transpose(-1, -2)
        rnorm = _trace(h[i] @ task.cov_x @ h[i].transpose(-1, -2))
        out.append((left / lnorm, right / rnorm))
    return out


def _trace(mat: torch.Tensor) -> torch.Tensor:
    return torch.diagonal(mat, dim1=-2, dim2=-1).sum(-1)[:, None, None]


def anisotropy(singular_values: torch.Tensor) -> torch.Tensor:
    """``sum_i (s_i^2 - mean s^2)^2 / (mean s^2)^2`` over the last axis: 0 iff ``W^T W`` is a
    multiple of the identity (a scaled orthogonal map, as Theorem 5.4 says of middle layers).

    Linear in the fluctuation variance, so its O(eta) stationary value extrapolates to 0 as
    eta -> 0, unlike the individual ordered singular values (which repel each other).
    """
    sq = singular_values**2
    mean = sq.mean(-1, keepdim=True)
    return ((sq - mean) ** 2).sum(-1) / mean[..., 0] ** 2
