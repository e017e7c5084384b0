"""One figure style for the whole book; plotting functions take results and return figures.

Chapter-specific plotting lives in submodules (``gdlab.plotting.<topic>``); this module holds
the shared style and small helpers every figure uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["STYLE", "apply_style", "label_axes", "stepsize_colors", "subplots"]

STYLE: dict[str, object] = {
    "figure.dpi": 110,
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
