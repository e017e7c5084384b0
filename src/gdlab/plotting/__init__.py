"""One figure style for the whole book; plotting functions take results and return figures.

Chapter-specific plotting lives in submodules (``gdlab.plotting.<topic>``); this module holds
the shared style and small helpers every figure uses.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

__all__ = [
    "STYLE",
    "apply_style",
    "label_axes",
    "quiet_minor",
    "stepsize_colors",
    "subplots",
    "thin",
]

STYLE: dict[str, object] = {
    "figure.dpi": 90,  # a 7.2 in figure is 648 px: it fits the 676 px content column
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "figure.constrained_layout.use": True,
}


def apply_style() -> None:
    """Set the book's matplotlib style (idempotent)."""
    mpl.rcParams.update(STYLE)


def subplots(
    ncols: int = 1, nrows: int = 1, width: float = 3.6, height: float = 2.8
) -> tuple[Figure, np.ndarray]:
    """Styled figure with a flat array of ``nrows * ncols`` axes, each ``width x height`` inches."""
    apply_style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes.ravel()


def stepsize_colors(values: Sequence[float]) -> list[tuple[float, float, float, float]]:
    """One color per stepsize from a sequential colormap, ordered small (light) to large (dark)."""
    cmap = mpl.colormaps["viridis_r"]
    k = len(values)
    order = np.argsort(np.argsort(np.asarray(values, dtype=float)))
    return [cmap(0.15 + 0.8 * (i / max(k - 1, 1))) for i in order]


def label_axes(ax: Axes, xlabel: str, ylabel: str, title: str | None = None) -> Axes:
    """Set the labels (and title) of one axes and return it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def quiet_minor(*axes: Axes) -> None:
    """No labels on the minor ticks of log axes (they overlap on short log ranges)."""
    for ax in axes:
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())


def thin(t: np.ndarray, y: np.ndarray, bins: int = 300) -> np.ndarray:
    """Indices of a long series to draw on a log-t axis without losing its oscillations: in
    each of ``bins`` log-spaced bins of ``t`` keep the first point, the minimum and the maximum
    of ``y`` (in time order), so the envelope of an oscillating curve is drawn exactly."""
    t, y = np.asarray(t), np.asarray(y)
    if t.size <= 3 * bins:
        return np.arange(t.size)
    edges = np.searchsorted(t, np.geomspace(max(t[0], 1), t[-1] + 1, bins + 1))
    keep = [np.arange(edges[0] + 1)]
    for a, b in itertools.pairwise(edges):
        if b > a:
            seg = y[a:b]
            keep.append(a + np.array([0, np.nanargmin(seg), np.nanargmax(seg)]))
    keep.append(np.array([t.size - 1]))
    return np.unique(np.concatenate(keep))
