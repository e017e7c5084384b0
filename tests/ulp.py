"""Comparisons in units in the last place (ulps), for two different computations of one value.

Two computations of the same quantity (a batch of runs against one run, float64 against a cast,
one function on an array against it on a scalar) may round differently on some machines:
vectorised kernels evaluate the last elements of a tensor by a scalar path (``exp``, ``log1p``,
``sigmoid`` then differ by an ulp), and libraries choose summation orders by shape and CPU.
Tests compare such results with :func:`assert_ulp_close`, an explicit bound in ulps and its
reason; bitwise equality is kept for a call repeated exactly (determinism) and for integers.

Imported as ``from ulp import ...``: pytest's default ``prepend`` import mode puts this folder
(it has no ``__init__.py``) on ``sys.path`` for the test modules next to it.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["assert_ulp_close", "ulp_distance"]


def _as_array(value: object) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def ulp_distance(actual: object, expected: object, floor: float = 0.0) -> np.ndarray:
    """``|a - b| / spacing(max(|a|, |b|, floor))`` elementwise, in the arrays' float type.

    Equal values (infinities of one sign, NaN against NaN) are 0 ulps apart; any other pair
    with a non-finite member is infinitely far. ``floor`` measures values near 0 (where a
    difference comes from cancellation, not from rounding of the value itself) in ulps of
    ``floor``.
    """
    a, b = _as_array(actual), _as_array(expected)
    if a.shape != b.shape or a.dtype != b.dtype or a.dtype.kind != "f":
        raise ValueError(
            f"ulp_distance needs two float arrays of one shape and dtype, got {a.dtype}"
            f"{a.shape} and {b.dtype}{b.shape}"
        )
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore", over="ignore"):
        scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), a.dtype.type(floor))
        dist = np.abs(a - b) / np.spacing(scale)
    return np.where(same, 0.0, np.where(np.isfinite(dist), dist, np.inf))


def assert_ulp_close(
    actual: object, expected: object, max_ulp: float, reason: str, *, floor: float = 0.0
) -> None:
    """Assert ``actual`` and ``expected`` (same shape and float dtype) are at most ``max_ulp``
    ulps apart elementwise (:func:`ulp_distance`); ``reason`` says why the bound is what it is
    and is part of the failure message, with the worst entry."""
    if not reason:
        raise ValueError("assert_ulp_close needs the reason for its bound, got an empty reason")
    dist = ulp_distance(actual, expected, floor)
    if dist.size == 0 or float(dist.max()) <= max_ulp:
        return
    where = np.unravel_index(int(np.argmax(dist)), dist.shape)
    a, b = _as_array(actual)[where], _as_array(expected)[where]
    raise AssertionError(
        f"{float(dist.max()):.4g} ulps apart at index {tuple(int(i) for i in where)} "
        f"({a!r} vs {b!r}), more than the bound {max_ulp} ulps ({reason}); "
        f"{int((dist > max_ulp).sum())} of {dist.size} entries beyond it"
    )
