"""Statistics shared by the studies: power-law fits, stationary-window means, eta -> 0
extrapolation and z-test thresholds.

- :func:`loglog_fit` fits ``y ~ C x^p`` by least squares on logs (rates of Part I).
- :func:`time_average` is the mean of an autocorrelated series over a stationary window with
  its batch-means standard error: splitting the window into ``blocks`` contiguous blocks and
  treating the block means as independent (valid once blocks are longer than the correlation
  time) gives ``std(block means) / sqrt(blocks)``, where the naive ``std / sqrt(T)`` understates
  the error of SGD iterates.
- :func:`linear_extrapolation` removes the O(eta) bias of an SGD equilibrium (spec Part II §6).
- :func:`critical_z` is the Bonferroni threshold for a family of z-scores.
- :func:`semilog_fit` fits ``y ~ a log x + b`` by least squares (``||w_t|| ~ log t``, Part I).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "LineFit",
    "SemilogFit",
    "critical_z",
    "linear_extrapolation",
    "loglog_fit",
    "semilog_fit",
    "time_average",
]


def _int_at_least(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class LineFit:
    """Least-squares line ``log y = slope * log x + intercept`` (natural logs)."""

    slope: float
    intercept: float
    r2: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """The fitted power law ``exp(intercept) * x**slope``."""
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope


def loglog_fit(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray | None = None,
    *,
    log_y: Sequence[float] | np.ndarray | None = None,
) -> LineFit:
    """Fit ``y ~ C x^slope`` by least squares on ``(log x, log y)``; needs >= 2 points.

    Give either ``y > 0`` or its natural log ``log_y`` (for risks below the float64 range, which
    the engine records exactly as ``log L``).
    """
    if (y is None) == (log_y is None):
        raise ValueError("give exactly one of y and log_y")
    x_arr = np.asarray(x, dtype=float)
    if y is not None:
        y_arr = np.asarray(y, dtype=float)
        if np.any(y_arr <= 0):
            raise ValueError("loglog_fit needs y > 0 (pass log_y for underflowing values)")
        ly = np.log(y_arr)
    else:
        ly = np.asarray(log_y, dtype=float)
    if x_arr.shape != ly.shape or x_arr.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {x_arr.shape}, {ly.shape}")
    if x_arr.size < 2 or np.any(x_arr <= 0) or not np.all(np.isfinite(ly)):
        raise ValueError("loglog_fit needs at least two points with x > 0 and finite log y")
    lx = np.log(x_arr)
    slope, intercept = np.polyfit(lx, ly, 1)
    resid = ly - (slope * lx + intercept)
    total = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 1.0
    return LineFit(float(slope), float(intercept), r2)


def time_average(series: torch.Tensor, blocks: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the time axis (dim 1) of a (K, T, ...) series and its batch-means std error.

    The last ``T mod blocks`` points are dropped so that all blocks have equal length.
    """
    blocks = _int_at_least("blocks", blocks, 2)
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

    comparisons = _int_at_least("comparisons", comparisons, 1)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    q = 1 - alpha / (2 * comparisons)
    if dof is None:
        return float(stats.norm.ppf(q))
    return float(stats.t.ppf(q, _int_at_least("dof", dof, 1)))


@dataclass(frozen=True)
class SemilogFit:
    """Least-squares line ``y = slope * log x + intercept`` (natural log)."""

    slope: float
    intercept: float
    r2: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """The fitted ``slope * log x + intercept``."""
        return self.slope * np.log(np.asarray(x, dtype=float)) + self.intercept


def semilog_fit(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> SemilogFit:
    """Fit ``y = slope log x + intercept`` by least squares on ``(log x, y)``; needs at least 3
    points with ``x > 0`` (a line through 2 points has no residual to judge it by)."""
    x_arr, y_arr = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x_arr.shape != y_arr.shape or x_arr.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {x_arr.shape}, {y_arr.shape}")
    if x_arr.size < 3 or np.any(x_arr <= 0):
        raise ValueError(f"semilog_fit needs at least 3 points with x > 0, got {x_arr.size}")
    lx = np.log(x_arr)
    slope, intercept = np.polyfit(lx, y_arr, 1)
    resid = y_arr - (slope * lx + intercept)
    total = float(np.sum((y_arr - y_arr.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 1.0
    return SemilogFit(float(slope), float(intercept), r2)
