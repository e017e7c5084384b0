"""Figures of the chapter "Deep linear networks and beyond" (study ``deep-linear``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, subplots

__all__ = [
    "balance_heatmaps",
    "digits_norms",
    "figures",
    "layer_norms",
    "neuron_balance",
    "vector_norms",
]


def layer_norms(
    steps: np.ndarray,
    norm_sq: np.ndarray,
    titles: Sequence[str],
    predictions: dict[str, np.ndarray] | None = None,
) -> Figure:
    """Per-layer squared norms ``norm_sq`` (K, T, D) over training, one panel per run; optional
    predictions as horizontal lines (dashed: corrected, dotted: others)."""
    ncols = min(len(titles), 2)  # panels in rows of two: the figure fits the content column
    fig, axes = subplots(ncols, -(-len(titles) // ncols))
    for ax in axes[len(titles) :]:
        fig.delaxes(ax)
    for k, (ax, title) in enumerate(zip(axes, titles, strict=False)):
        for i in range(norm_sq.shape[-1]):
            ax.plot(steps, norm_sq[k, :, i], label=f"layer {i + 1}")
        for name, values in (predictions or {}).items():
            for i, v in enumerate(values):
                ax.axhline(v, color=f"C{i}", lw=0.8, ls="--" if name == "corrected" else ":")
        label_axes(ax, "step $t$", r"$\|W_i\|_F^2$", title)
    axes[0].legend(fontsize=7)
    return fig


def vector_norms(result: Result) -> Figure:
    """The vector chain's layer norms under SGD at the first eta, with both versions of
    Theorem 5.4 (dashed: corrected, dotted: printed)."""
    a, eta = result.arrays, result.config["vector"]["etas"][0]
    n = a["vector.norm_sq"].shape[0]
    titles = [rf"SGD, init {k + 1}, $\eta = {eta:g}$" for k in range(n)]
    predictions = {"corrected": a["vector.corrected"], "printed": a["vector.printed"]}
    return layer_norms(a["vector.steps"], a["vector.norm_sq"], titles, predictions)


def digits_norms(result: Result) -> Figure:
    """The digits runs' layer norms, from equal and from unequal initial norms."""
    titles = ["digits, equal initial norms", "digits, unequal initial norms"]
    return layer_norms(result.arrays["digits.steps"], result.arrays["digits.norm_sq"], titles)


def balance_heatmaps(result: Result, activation: str = "tanh") -> Figure:
    """Figure 6 analogue: heatmaps of ``W bar S_x W^T`` and ``U^T bar S_eps U`` (run 0,
    averaged over the window) under SGD (top row) and GD (bottom row)."""
    a = result.arrays
    fig, axes = subplots(2, 2, width=2.6, height=2.4)
    for row, method in enumerate(("sgd", "gd")):
        left, right = a[f"ae.{activation}.{method}.left0"], a[f"ae.{activation}.{method}.right0"]
        vmax = float(max(np.abs(left).max(), np.abs(right).max()))
        sides = ((left, r"$W\bar\Sigma_x W^\top$"), (right, r"$U^\top\bar\Sigma_\epsilon U$"))
        for col, (mat, label) in enumerate(sides):
            ax = axes[2 * row + col]
            ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_title(f"{activation} {method.upper()}: {label}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    return fig


def neuron_balance(result: Result) -> Figure:
    """Figures 6 and 9, per neuron: ``(U^T bar S_eps U)_jj`` against ``(W bar S_x W^T)_jj`` for
    every neuron of every seed, SGD and GD, one panel per activation (log scales); the dashed line
    is the balance."""
    a, acts = result.arrays, result.config["autoencoder"]["activations"]
    ncols = min(len(acts), 2)
    fig, axes = subplots(ncols, -(-len(acts) // ncols), width=3.3, height=2.6)
    for ax in axes[len(acts) :]:
        fig.delaxes(ax)
    for ax, act in zip(axes, acts, strict=False):
        values = []
        for method, color in (("sgd", "C0"), ("gd", "C1")):
            left, right = a[f"ae.{act}.{method}.left"], a[f"ae.{act}.{method}.right"]
            ax.scatter(left.ravel(), right.ravel(), s=5, color=color, label=method.upper())
            values += [left.ravel(), right.ravel()]
        span = np.concatenate(values)
        span = span[span > 0]
        ends = [float(span.min()), float(span.max())]
        ax.plot(ends, ends, color="0.4", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        label_axes(
            ax,
            r"$(W\bar\Sigma_xW^\top)_{jj}$",
            r"$(U^\top\bar\Sigma_\epsilon U)_{jj}$",
            act.replace("_", " "),
        )
    axes[0].legend(fontsize=7)
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The chapter's figures by name."""
    return {
        "vector_norms": vector_norms(result),
        "digits_norms": digits_norms(result),
        "balance_heatmaps": balance_heatmaps(result),
        "neuron_balance": neuron_balance(result),
    }
