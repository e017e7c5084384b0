"""Statistics shared by the studies: power-law fits, stationary-window means, eta -> 0
extrapolation and z-test thresholds.

- :func:`loglog_fit` fits ``y ~ C x^p`` by least squares on logs (rates of Part I).
- :func:`time_average` is the mean of an autocorrelated series over a stationary window with
  its batch-means standard error: splitting the window into ``blocks`` contiguous blocks and
  treating the block means as independent (valid once blocks are longer than the correlation
  time) gives ``std(block means) / sqrt(blocks)``, where the naive ``std / sqrt(T)`` understates
  the error of SGD iterates.
- :func:`weighted_line` is the weighted least-squares line with coefficient errors and chi^2;
  :func:`linear_extrapolation` reads it at 0 to remove the O(eta) bias of an SGD equilibrium
  (spec Part II §6), and :func:`power_law` fits it on logs (an exponent with its error).
- :func:`critical_z` is the Bonferroni threshold for a family of z-scores.
- :func:`semilog_fit` fits ``y ~ a log x + b`` by least squares (``||w_t|| ~ log t``, Part I).
- :func:`increment_exponent` is the exponent ``p`` of ``y = a + b x^p`` from the increments of
  ``y``, free of the offset ``a`` (the ``1/L_t`` of Part I's stable phase).
- :func:`doubling_ratio` compares the growth of a series over the last two doublings of ``x``
  (1 for ``log x``, ``sqrt 2`` for ``sqrt x``, 2 for ``x``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "IncrementExponent",
    "LineFit",
    "SemilogFit",
    "WeightedLine",
    "critical_z",
    "doubling_ratio",
    "increment_exponent",
    "linear_extrapolation",
    "loglog_fit",
    "power_law",
    "semilog_fit",
    "time_average",
    "weighted_line",
]


def _int_at_least(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class LineFit:
    """Least-squares line ``log y = slope * log x + intercept`` (natural logs).

    ``stderr`` is the slope's standard error from the residuals ``r`` of the ``points`` points,
    ``sqrt(sum r^2 / (points - 2) / sum (log x - mean)^2)`` (the scatter about a power law);
    NaN with two points, which always fit.
    """

    slope: float
    intercept: float
    r2: float
    stderr: float
    points: int

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
    spread = float(np.sum((lx - lx.mean()) ** 2))
    stderr = math.sqrt(float(resid @ resid) / (lx.size - 2) / spread) if lx.size > 2 else math.nan
    return LineFit(float(slope), float(intercept), r2, stderr, int(lx.size))


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


@dataclass(frozen=True)
class WeightedLine:
    """Weighted least-squares line ``y = intercept + slope * x`` through points with errors.

    ``chi2`` is the weighted residual sum of squares and ``dof = n - 2`` its degrees of freedom.
    """

    intercept: float
    intercept_se: float
    slope: float
    slope_se: float
    chi2: float
    dof: int

    @property
    def misfit_scale(self) -> float:
        """``max(1, sqrt(chi2 / dof))`` (the PDG scale factor; 1 with two points): errors
        multiplied by it widen when the points scatter about the line more than their own
        errors allow, instead of the misfit hiding in the fitted values."""
        return max(1.0, math.sqrt(self.chi2 / self.dof)) if self.dof > 0 else 1.0


def weighted_line(x: torch.Tensor, y: torch.Tensor, stderr: torch.Tensor) -> WeightedLine:
    """Weighted least squares (weights ``1 / stderr^2``) of ``y`` on ``x``: the line, the
    standard errors of its coefficients (from the inverse normal matrix) and its chi^2."""
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
    chi2 = float((w * (y - X @ coef) ** 2).sum())
    a_se, b_se = (float(v) for v in cov.diagonal().sqrt())
    return WeightedLine(float(coef[0]), a_se, float(coef[1]), b_se, chi2, x.numel() - 2)


def linear_extrapolation(
    x: torch.Tensor, y: torch.Tensor, stderr: torch.Tensor
) -> tuple[float, float, float]:
    """:func:`weighted_line` read at ``x = 0``: ``(a, se(a), b)``, the extrapolated value with
    its standard error and the slope."""
    line = weighted_line(x, y, stderr)
    return line.intercept, line.intercept_se, line.slope


def power_law(x: Sequence[float], y: torch.Tensor, stderr: torch.Tensor) -> tuple[float, float]:
    """Exponent ``p`` of ``y = c x^p`` and its standard error: :func:`weighted_line` of
    ``log y`` on ``log x`` with the delta-method errors ``stderr / y`` of ``log y``; needs at
    least 3 points (two always fit, so their exponent has no check of the law)."""
    if len(x) < 3 or y.shape != (len(x),) or stderr.shape != y.shape:
        raise ValueError(
            f"power_law needs at least 3 points x with y and stderr of the same length, got "
            f"{len(x)} x, y {tuple(y.shape)}, stderr {tuple(stderr.shape)}"
        )
    if (y <= 0).any() or (stderr <= 0).any():
        raise ValueError(f"power_law needs y > 0 and stderr > 0, got {y.tolist()}")
    y64, se64 = y.double().cpu(), stderr.double().cpu()
    lx = torch.tensor([math.log(float(v)) for v in x], dtype=torch.float64)
    line = weighted_line(lx, y64.log(), se64 / y64)
    return line.slope, line.slope_se


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


# ----------------------------------------------------------------------------- Part II estimates
# Equilibria of SGD are time averages with batch-means errors (time_average) or means over
# independent replicas; they are compared through z-scores and extrapolated to eta -> 0.

__all__ += [
    "extrapolate_to_zero",
    "mean_of_estimates",
    "pairwise_z",
    "relative_difference",
    "replica_mean",
    "sum_of_estimates",
    "z_score",
]


def replica_mean(values: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of independent replicas along ``dim`` and its standard error ``std / sqrt(n)``
    (sample std, ``n - 1`` degrees of freedom); needs n >= 2."""
    n = _int_at_least(f"the number of replicas (size of dim {dim})", values.shape[dim], 2)
    return values.mean(dim), values.std(dim) / math.sqrt(n)


def mean_of_estimates(
    means: torch.Tensor, stderr: torch.Tensor, dim: int = -1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of n independent estimates along ``dim``: ``(mean, sqrt(mean(se^2)) / sqrt(n))``."""
    _same_shape(means, stderr)
    n = means.shape[dim]
    return means.mean(dim), (stderr**2).mean(dim).sqrt() / math.sqrt(n)


def sum_of_estimates(
    means: torch.Tensor, stderr: torch.Tensor, dim: int = -1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of independent estimates along ``dim``: ``(sum, sqrt(sum(se^2)))``."""
    _same_shape(means, stderr)
    return means.sum(dim), stderr.pow(2).sum(dim).sqrt()


def z_score(
    a: torch.Tensor, b: torch.Tensor, se_a: torch.Tensor, se_b: torch.Tensor | None = None
) -> torch.Tensor:
    """``|a - b| / sqrt(se_a^2 + se_b^2)``: the z-score of the difference of two independent
    estimates (``se_b`` None: ``b`` is exact, ``|a - b| / se_a``); broadcasts."""
    if se_b is None:
        return (a - b).abs() / se_a
    return (a - b).abs() / (se_a**2 + se_b**2).sqrt()


def pairwise_z(means: torch.Tensor, stderr: torch.Tensor) -> torch.Tensor:
    """(n, n, ...) :func:`z_score` of every pair of the n independent estimates along dim 0;
    0 on the diagonal (an estimate does not differ from itself, even with a zero error)."""
    _same_shape(means, stderr)
    z = z_score(means[:, None], means[None, :], stderr[:, None], stderr[None, :])
    eye = torch.eye(means.shape[0], dtype=torch.bool, device=means.device)
    return z.masked_fill(eye.view(*eye.shape, *([1] * (means.dim() - 1))), 0.0)


def extrapolate_to_zero(
    x: Sequence[float], means: torch.Tensor, stderr: torch.Tensor, *, misfit: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every entry of ``means`` (n, ...) measured at the n values ``x`` (e.g. learning rates),
    extrapolated linearly to ``x = 0`` by :func:`weighted_line`: ``(value, se)``, each of
    shape ``means.shape[1:]``. Removes the O(eta) bias of an SGD equilibrium (spec Part II §6);
    with two points it is the line through them, ``(x2 y1 - x1 y2) / (x2 - x1)``. With
    ``misfit=True`` each error is multiplied by its line's
    :attr:`WeightedLine.misfit_scale`: a bias that is not linear over the x's widens the error of
    the x -> 0 value instead of hiding in it."""
    _same_shape(means, stderr)
    xs = torch.tensor([float(v) for v in x], dtype=means.dtype)
    if means.dim() < 1 or means.shape[0] != xs.numel():
        raise ValueError(
            f"means must have {xs.numel()} rows (one per x = {list(x)}), got {tuple(means.shape)}"
        )
    flat_m, flat_s = means.reshape(xs.numel(), -1).cpu(), stderr.reshape(xs.numel(), -1).cpu()
    value, err = torch.empty_like(flat_m[0]), torch.empty_like(flat_m[0])
    for j in range(flat_m.shape[1]):
        line = weighted_line(xs, flat_m[:, j], flat_s[:, j])
        value[j] = line.intercept
        err[j] = line.intercept_se * (line.misfit_scale if misfit else 1.0)
    return value.reshape(means.shape[1:]), err.reshape(means.shape[1:])


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||a - b||_F / ||b||_F``: how far ``a`` is from ``b``, relative to ``b``."""
    _same_shape(a, b)
    return float((a - b).norm() / b.norm())


def _same_shape(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"the two tensors must have one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


@dataclass(frozen=True)
class IncrementExponent:
    """The exponent of ``y = a + b x^p`` from :func:`increment_exponent`: ``exponent`` (p), its
    least-squares standard error ``stderr``, and the number of sub-intervals it was fitted on."""

    exponent: float
    stderr: float
    windows: int


def increment_exponent(
    x: Sequence[float] | np.ndarray, log_y: Sequence[float] | np.ndarray, windows: int = 8
) -> IncrementExponent:
    """The exponent ``p`` of an increasing series ``y = a + b x^p`` (``b > 0``), free of ``a``.

    ``[x_0, x_end]`` is cut into ``windows`` log-spaced sub-intervals (at recorded points); the
    mean slope of ``y`` over ``[u, v]`` is ``b (v^p - u^p)/(v - u)``, proportional to
    ``sqrt(u v)^(p-1)`` when ``v/u`` is the same for every sub-interval, so the least-squares
    slope of its log against ``log sqrt(u v)`` is ``p - 1``; ``stderr`` is that slope's standard
    error from the residuals (``windows - 2`` degrees of freedom), which a series that is not a
    power law plus an offset makes large. ``y`` enters as ``log y`` (``y = 1/L_t`` overflows
    float64 where ``L_t`` underflows). ValueError unless ``y`` increases across every
    sub-interval and at least three sub-intervals remain.
    """
    windows = _int_at_least("windows", windows, 3)
    x_arr, ly = np.asarray(x, dtype=float), np.asarray(log_y, dtype=float)
    if x_arr.shape != ly.shape or x_arr.ndim != 1:
        raise ValueError(f"x and log_y must be 1-D of equal length, got {x_arr.shape}, {ly.shape}")
    if x_arr.size < 2 or x_arr[0] <= 0 or np.any(np.diff(x_arr) <= 0):
        raise ValueError("increment_exponent needs increasing x > 0 with at least two points")
    edges = np.unique(np.searchsorted(x_arr, np.geomspace(x_arr[0], x_arr[-1], windows + 1)))
    edges = np.unique(np.minimum(edges, x_arr.size - 1))
    if edges.size < 4:
        raise ValueError(f"increment_exponent needs 3 sub-intervals, got {edges.size - 1}")
    u, v = x_arr[edges[:-1]], x_arr[edges[1:]]
    lu, lv = ly[edges[:-1]], ly[edges[1:]]
    if not np.all(np.isfinite(ly[edges])) or np.any(lv <= lu):
        raise ValueError("increment_exponent needs y finite and increasing over every sub-interval")
    log_rate = lv + np.log1p(-np.exp(lu - lv)) - np.log(v - u)  # log((y_v - y_u)/(v - u))
    mid = 0.5 * (np.log(u) + np.log(v))
    slope, intercept = np.polyfit(mid, log_rate, 1)
    resid = log_rate - (slope * mid + intercept)
    dof = mid.size - 2
    spread = float(np.sum((mid - mid.mean()) ** 2))
    stderr = math.sqrt(float(np.sum(resid**2)) / dof / spread) if dof > 0 else math.inf
    return IncrementExponent(float(1 + slope), stderr, int(mid.size))


def doubling_ratio(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """``(y(X) - y(X/2)) / (y(X/2) - y(X/4))`` with ``X`` the last ``x`` (``y`` read at the first
    ``x >= X/2``, ``X/4``): the growth over the last doubling of ``x`` against the doubling
    before. It is 1 for ``y = a + b log x``, ``sqrt 2`` for ``sqrt x``, 2 for ``x``, ``2^p`` for
    ``x^p``; ``inf`` when ``y`` did not grow over ``[X/4, X/2]``. ValueError unless ``x``
    increases and starts at or below ``X/4``."""
    x_arr, y_arr = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x_arr.shape != y_arr.shape or x_arr.ndim != 1 or x_arr.size < 3:
        raise ValueError(
            f"x and y must be 1-D of equal length >= 3, got {x_arr.shape}, {y_arr.shape}"
        )
    X = x_arr[-1]
    if np.any(np.diff(x_arr) <= 0) or not 0 <= x_arr[0] <= X / 4:
        raise ValueError(f"doubling_ratio needs increasing x from at most X/4 = {X / 4:g}")
    i4, i2 = np.searchsorted(x_arr, [X / 4, X / 2])
    early = y_arr[i2] - y_arr[i4]
    return float((y_arr[-1] - y_arr[i2]) / early) if early > 0 else math.inf
