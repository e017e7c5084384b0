"""Measured criteria that several Part I studies share (the phase threshold, margin improvement
and the paper's figures), with the chosen tolerances they are judged by.

These are *chosen* criteria for observations the paper states in words (Figure 2(b): the rate
"levels off"; Figure 2(c): the normalized margin increases "almost monotonically"), not
constants of a theorem; each tolerance says what it admits.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DIP_TOLERANCE", "PLATEAU_TOLERANCE", "largest_drop", "largest_relative_dip",
           "rate_spread"]  # fmt: skip

#: "tilde-eta t L_t levels off" (Figure 2(b)): over the last half of the horizon its max/min
#: is at most this. A power law ``L ~ t^-p`` passes it on ``[T/2, T]`` iff
#: ``|p - 1| <= log2(1.25) ~ 0.32``.
PLATEAU_TOLERANCE = 1.25
#: "gamma-bar is nearly monotone" (Figure 2(c)): its largest relative one-step drop after
#: ``s*`` is at most this.
DIP_TOLERANCE = 0.01


def rate_spread(lrs: np.ndarray, steps: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """``max / min`` of ``tilde-eta t L_t`` over the recorded steps ``t >= T/2``, per run (K,).

    The quantity of "tilde-eta t L_t levels off" (Figure 2(b), Theorem 4.1's ``1/(eta t)`` rate):
    at most :data:`PLATEAU_TOLERANCE` means the rate has set in. ``lrs`` (K,), ``steps`` (S,),
    ``risk`` (K, S).
    """
    steps = np.asarray(steps)
    half = steps >= steps[-1] / 2
    etl = np.asarray(lrs, dtype=float)[:, None] * np.maximum(steps[half], 1) * risk[:, half]
    return etl.max(axis=1) / etl.min(axis=1)


def largest_drop(series: np.ndarray) -> float:
    """``max_t (x_t - x_{t+1})`` over consecutive entries, 0 if the series never decreases."""
    x = np.asarray(series, dtype=float)
    if x.size < 2:
        return 0.0
    return max(0.0, float(np.max(x[:-1] - x[1:])))


def largest_relative_dip(series: np.ndarray) -> float:
    """``max_t (x_t - x_{t+1}) / |x_t|`` (0 if the series never decreases), the quantity
    judged against :data:`DIP_TOLERANCE`."""
    x = np.asarray(series, dtype=float)
    if x.size < 2:
        return 0.0
    return max(0.0, float(np.max((x[:-1] - x[1:]) / np.abs(x[:-1]))))
