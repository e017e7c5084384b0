"""Time averages over a stationary window, with batch-means standard errors.

SGD iterates are autocorrelated, so the naive ``std / sqrt(T)`` understates the error of a time
average. Splitting the window into ``blocks`` contiguous blocks and treating the block means as
independent (valid once blocks are longer than the correlation time) gives the batch-means
standard error ``std(block means) / sqrt(blocks)``.
"""

from __future__ import annotations

import math

import torch

from gdlab.symmetry.checks import check_int

__all__ = ["critical_z", "linear_extrapolation", "time_average"]


def time_average(series: torch.Tensor, blocks: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the time axis (dim 1) of a (K, T, ...) series and its batch-means std error.

    The last ``T mod blocks`` points are dropped so that all blocks have equal length.
    """
    check_int("blocks", blocks, minimum=2)
    T = series.shape[1]
    if T < blocks:
        raise ValueError(f"need at least blocks={blocks} time points, got {T}")
    size = T // blocks
    chunks = series[:, : size * blocks].reshape(series.shape[0], blocks, size, *series.shape[2:])
    means = chunks.mean(2)
    return means.mean(1), means.std(1) / math.sqrt(blocks)


def linear_extrapolation(
    x: torch.Tensor, y: torch.Tensor, stderr: torch.Tensor
) -> tuple[float, float, float]:
    """Weighted least-squares line ``y = a + b x`` through points with errors ``stderr``.

    Returns ``(a, se(a), b)``: the value extrapolated to ``x = 0`` with its standard error.
    Used to remove the O(eta) bias of SGD equilibria (spec §6: report residuals against eta).
    """
    if not (x.shape == y.shape == stderr.shape) or x.dim() != 1 or x.numel() < 2:
        raise ValueError(
            f"x, y, stderr must be 1-D of equal length >= 2, got {tuple(x.shape)}, "
            f"{tuple(y.shape)}, {tuple(stderr.shape)}"
        )
    if (stderr <= 0).any():
        raise ValueError(f"stderr must be > 0, got {stderr.tolist()}")
    X = torch.stack([torch.ones_like(x), x], dim=1)
    w = 1.0 / stderr**2
    cov = torch.linalg.inv(X.T @ (w[:, None] * X))
    coef = cov @ X.T @ (w * y)
    return float(coef[0]), float(cov[0, 0].sqrt()), float(coef[1])


def critical_z(comparisons: int, dof: int | None, alpha: float = 0.01) -> float:
    """Two-sided threshold for ``comparisons`` z-scores at family-wise false-alarm rate alpha.

    Bonferroni over the comparisons; each z is Student-t with ``dof`` degrees of freedom (batch
    means with ``blocks - 1``, replicas with ``replicas - 1``), or normal if ``dof`` is None.
    A claim that holds fails a check at this threshold with probability at most ``alpha``.
    """
    from scipy import stats

    check_int("comparisons", comparisons, minimum=1)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    q = 1 - alpha / (2 * comparisons)
    if dof is None:
        return float(stats.norm.ppf(q))
    return float(stats.t.ppf(q, check_int("dof", dof, minimum=1)))
