"""Figures of Part II (parameter symmetry and the noise equilibrium of SGD).

Every function takes results computed by :mod:`gdlab.symmetry` and returns a matplotlib figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from gdlab.plotting import label_axes, subplots

__all__ = [
    "plot_balance_heatmaps",
    "plot_layer_norms",
]

METHOD_STYLE = {"sgd": dict(ls="-"), "gd": dict(ls="--")}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def plot_layer_norms(
    run, titles: Sequence[str], predictions: dict[str, np.ndarray] | None = None
) -> Figure:
    """Per-layer squared norms over training, one panel per run; optional dashed predictions."""
    fig, axes = subplots(len(titles))
    steps = _np(run.steps)
    depth = run.series["norm_sq"].shape[-1]
    for k, (ax, title) in enumerate(zip(axes, titles, strict=True)):
        for i in range(depth):
            ax.plot(steps, _np(run.series["norm_sq"][k, :, i]), label=f"layer {i + 1}")
        for name, values in (predictions or {}).items():
            for i, v in enumerate(values):
                ax.axhline(v, color=f"C{i}", lw=0.8, ls="--" if name == "corrected" else ":")
        label_axes(ax, "step t", "‖W_i‖_F²", title)
    axes[0].legend(fontsize=7)
    return fig


def plot_balance_heatmaps(sides: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Figure:
    """Figures 6 and 9: heatmaps of ``W bar S_x W^T`` and ``U^T bar S_eps U`` per run."""
    fig, axes = subplots(2, len(sides), width=2.6, height=2.4)
    for row, (name, (lhs, rhs)) in enumerate(sides.items()):
        vmax = float(max(lhs.abs().max(), rhs.abs().max()))
        for col, (mat, label) in enumerate(((rhs, "W Σ̄x Wᵀ"), (lhs, "Uᵀ Σ̄ε U"))):
            ax = axes[2 * row + col]
            ax.imshow(_np(mat), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    return fig
