"""Noether charges ``C = theta^T A theta`` of exponential symmetries (Definition 4.1, Eq. 6).

An exponential symmetry has generator ``J(theta) = A theta`` with ``A`` symmetric, its charge is
``C(theta) = theta^T A theta`` and its orbit is ``theta_lambda = exp(lambda A) theta``.
For a linear chain the neighbouring pair ``(W_i, W_{i+1})`` carries a whole matrix of charges
(Eq. 10-11): for every symmetric ``B``, ``C_B = Tr[B D_i]`` with

    D_i = W_{i+1}^T W_{i+1} - W_i W_i^T            (d_i x d_i).

For the two-layer net (``W_1 = W``, ``W_2 = U``) this is ``D = U^T U - W W^T`` of spec (D4), and
for the scalar toy it is ``C = u^2 - w^2`` (D3). (Spec (D5) writes the negative of ``D_i``.)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

__all__ = [
    "charge",
    "check_generator",
    "flatten",
    "layer_charges",
    "pair_generator",
]


def flatten(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """All parameters of each run as one vector: (K, p)."""
    return torch.cat([p.reshape(p.shape[0], -1) for p in params], dim=1)


def check_generator(A: torch.Tensor, p: int) -> None:
    """``A`` is a symmetric (p, p) generator acting on ``theta`` of p entries (else ValueError)."""
    if A.shape != (p, p):
        raise ValueError(f"A must have shape ({p}, {p}) to act on theta, got {tuple(A.shape)}")
    if not torch.equal(A, A.transpose(0, 1)):
        raise ValueError("A must be symmetric (Definition 4.1: J = A theta with A symmetric)")


def charge(theta: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """``C = theta^T A theta`` (Eq. 6) for ``theta`` of shape (K, p); returns (K,)."""
    check_generator(A, theta.shape[1])
    return ((theta @ A) * theta).sum(-1)


def pair_generator(params: Sequence[torch.Tensor], i: int) -> torch.Tensor:
    """``A`` of the rescaling ``W_{i+1} -> e^lambda W_{i+1}``, ``W_i -> e^-lambda W_i`` (1-based i).

    Acting on :func:`flatten` (params); its charge is ``||W_{i+1}||_F^2 - ||W_i||_F^2 = Tr D_i``.
    """
    if not 1 <= i < len(params):
        raise ValueError(f"pair index i must be in 1..{len(params) - 1}, got {i}")
    signs = [
        torch.full((p[0].numel(),), 1.0 if j == i else (-1.0 if j == i - 1 else 0.0))
        for j, p in enumerate(params)
    ]
    diag = torch.cat(signs).to(dtype=params[0].dtype, device=params[0].device)
    return torch.diag(diag)


def layer_charges(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``[D_1, ..., D_{D-1}]``, ``D_i = W_{i+1}^T W_{i+1} - W_i W_i^T`` of shape (K, d_i, d_i)."""
    return [
        upper.transpose(-1, -2) @ upper - lower @ lower.transpose(-1, -2)
        for lower, upper in itertools.pairwise(params)
    ]
