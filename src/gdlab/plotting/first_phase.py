"""Figures of the chapter on the finite first phase (study ``first-phase``).

Each function takes the study's :class:`~gdlab.experiments.study.Result` and returns a figure
drawn for the book's content column (at most 7.2 in wide; panels side by side); the panel
titles come from the result's config. :func:`risk_curves` and :func:`legend_below` are shared
with the acceleration chapter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, quiet_minor, stepsize_colors, subplots

__all__ = [
    "COLUMN_WIDTH",
    "LEGEND_SIZE",
    "average_risk",
    "exit_times",
    "figures",
    "horizon",
    "legend_below",
    "risk_curves",
    "softplus_curves",
    "xor_curves",
]

#: Width of the book's content column in inches: a figure is drawn at most this wide.
COLUMN_WIDTH = 7.2
#: Legend font size in points: at least 9 pt at the printed size.
LEGEND_SIZE = 9


def legend_below(ax: Axes, ncols: int = 3) -> None:
    """A legend under the axes (constrained layout makes room for it)."""
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=ncols, frameon=False,
        fontsize=LEGEND_SIZE,
    )  # fmt: skip


def _panels(count: int, height: float = 3.0) -> tuple[Figure, np.ndarray]:
    """``count`` panels side by side, together as wide as the content column."""
    if count < 1:
        raise ValueError(f"a figure needs at least one panel, got {count}")
    return subplots(ncols=count, width=COLUMN_WIDTH / max(count, 2), height=height)


def _titles(result: Result) -> dict[str, str]:
    """The separable data sets of the result: key -> panel title."""
    return {key: spec["title"] for key, spec in result.config["datasets"].items()}


def average_risk(result: Result) -> Figure:
    """Theorem 3.2: running mean ``(1/t) sum_{k<t} L(w_k)`` (solid) and its bound (dashed) for
    the runs drawn by the study; dotted: ``L(w_0)``."""
    titles = _titles(result)
    fig, axes = _panels(len(titles), height=3.4)
    a = result.arrays
    for ax, (key, title) in zip(axes, titles.items(), strict=True):
        etas, t = a[f"{key}.average_eta"], a[f"{key}.average_t"]
        for i, color in enumerate(stepsize_colors(etas)):
            ax.loglog(t, a[f"{key}.average"][i], color=color, label=rf"$\eta$ = {etas[i]:.3g}")
            ax.loglog(t, a[f"{key}.average_bound"][i], color=color, ls="--", lw=1)
        ax.axhline(float(a[f"{key}.L0"]), color="gray", ls=":", lw=1)
        label_axes(ax, "step $t$", "running mean of $L$", title)
        legend_below(ax, ncols=2)
    return fig


def horizon(result: Result) -> Figure:
    """Theorem 3.2 on the run whose bound falls below ``L(w_0)`` soonest: running mean (solid),
    bound (dashed), ``L(w_0)`` (dotted), the informative horizon (vertical line)."""
    titles = _titles(result)
    keys = [key for key in result.config["horizon"] if f"{key}.horizon_t" in result.arrays]
    fig, axes = _panels(max(len(keys), 1), height=3.0)
    if not keys:
        axes[0].text(0.5, 0.5, "no horizon run in these settings", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    a, v = result.arrays, result.values
    for ax, key in zip(axes, keys, strict=True):
        t = a[f"{key}.horizon_t"]
        ax.loglog(t, a[f"{key}.horizon_mean"], color="tab:blue", label="running mean of $L$")
        ax.loglog(t, a[f"{key}.horizon_bound"], "--", color="tab:red", label="Theorem 3.2")
        ax.axhline(float(a[f"{key}.L0"]), color="gray", ls=":", lw=1, label=r"$L(\mathbf{w}_0)$")
        ax.axvline(v[f"horizon_T_{key}"], color="black", lw=0.8)
        label_axes(
            ax, "step $t$", "risk", rf"{titles[key]}, $\eta$ = {v[f'horizon_eta_{key}']:.3g}"
        )
        legend_below(ax, ncols=2)
    return fig


def exit_times(result: Result) -> Figure:
    """When the first phase ends, against ``eta``: the exit step of the oscillating runs (after
    it the risk never increases; filled), ``r*`` of eq. (4) (crosses), ``s*`` of eq. (5)
    (open) and Theorem 4.1's ``tau`` (line)."""
    titles = _titles(result)
    fig, axes = _panels(len(titles), height=3.4)
    a = result.arrays
    for ax, (key, title) in zip(axes, titles.items(), strict=True):
        eta, osc = a[f"{key}.eta"], a[f"{key}.oscillates"]
        ax.loglog(eta, a[f"{key}.tau"], color="black", lw=1.2, label=r"$\tau$ (Theorem 4.1)")
        ax.loglog(eta, a[f"{key}.s_star"], "s", mfc="none", color="tab:blue", label="$s^*$ (5)")
        ax.loglog(eta, a[f"{key}.r_star"], "x", color="tab:green", label="$r^*$ (4)")
        ax.loglog(eta[osc], a[f"{key}.monotone_from"][osc], "o", color="tab:red", label="last peak")
        label_axes(ax, r"per-neuron stepsize $\eta$", "step", title)
        quiet_minor(ax)
        legend_below(ax, ncols=2)
    return fig


def risk_curves(result: Result, keys: Sequence[str], titles: Sequence[str]) -> Figure:
    """Risk curves ``L(w_t)`` against ``t + 1`` (log-log) of the runs the study drew for each of
    ``keys`` (arrays ``<key>.steps``, ``<key>.curve_eta``, ``<key>.curve_risk``), one panel each."""
    fig, axes = _panels(len(keys))
    a = result.arrays
    for ax, key, title in zip(axes, keys, titles, strict=True):
        t, etas = a[f"{key}.steps"], a[f"{key}.curve_eta"]
        for i, color in enumerate(stepsize_colors(etas)):
            ax.plot(
                t + 1, a[f"{key}.curve_risk"][i], color=color, lw=1.0,
                label=rf"$\eta$ = {etas[i]:.3g}",
            )  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        label_axes(ax, "step $t + 1$", r"risk $L(\mathbf{w}_t)$", title)
        legend_below(ax, ncols=2)
    return fig


def _contrast_curves(result: Result, keys: Sequence[str]) -> Figure:
    runs = result.config["contrast"]["runs"]
    return risk_curves(result, keys, [runs[key]["title"] for key in keys])


def xor_curves(result: Result) -> Figure:
    """Risk curves on the (non-separable) XOR data."""
    return _contrast_curves(result, ["xor"])


def softplus_curves(result: Result) -> Figure:
    """Risk curves on the two-point data with plain softplus (alpha = 0) and leaky softplus."""
    return _contrast_curves(result, ["softplus", "leaky"])


def figures(result: Result) -> dict[str, Figure]:
    """The chapter's figures by name."""
    return {
        "average_risk": average_risk(result),
        "horizon": horizon(result),
        "exit_times": exit_times(result),
        "xor": xor_curves(result),
        "softplus": softplus_curves(result),
    }
