"""Figures of the chapter on acceleration (study ``acceleration``).

Each function takes the study's :class:`~gdlab.experiments.study.Result` and returns a figure
drawn for the book's content column (rows of two panels, one row per data set); the panel
titles come from the result's config. Risks are drawn as ``log10 L``: with large stepsizes they
fall far below the float64 range.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, quiet_minor, stepsize_colors, subplots
from gdlab.plotting.first_phase import COLUMN_WIDTH, legend_below, risk_curves
from gdlab.stepsize import theory as th

__all__ = ["budgets", "easy_curves", "figures", "fixed_budget", "search"]


def _grid(result: Result, height: float) -> tuple[Figure, np.ndarray, dict[str, str]]:
    """One row of two panels per data set."""
    titles = {key: spec["title"] for key, spec in result.config["datasets"].items()}
    fig, axes = subplots(ncols=2, nrows=len(titles), width=COLUMN_WIDTH / 2, height=height)
    return fig, axes.reshape(len(titles), 2), titles


def budgets(result: Result) -> Figure:
    """Per data set, left: ``log10 L(w_T)`` against the budget for every ``eta = c T``
    (colors), the best monotone run (black), Corollary 4.2's stepsize (gray) and the monotone
    runs' floor ``c_0 / T`` (dashed); right: Theorem 4.1's factor ``L(w_T) alpha^2 gamma^2 eta
    (T - s*)`` of the ``eta = c T`` runs against ``T - s*``, with the safe factor 8."""
    fig, axes, titles = _grid(result, height=3.2)
    a = result.arrays
    safe = th.THEOREM41_FACTORS["safe"]
    last = len(titles) - 1
    for row, ((left, right), (key, title)) in enumerate(zip(axes, titles.items(), strict=True)):
        T, cs = a[f"{key}.budgets"], a[f"{key}.constants"]
        colors = stepsize_colors(cs)
        for j, color in enumerate(colors):
            left.semilogx(
                T, a[f"{key}.log10_proportional"][:, j], "o-", color=color, ms=3,
                label=f"c = {cs[j]:g}",
            )  # fmt: skip
        left.semilogx(T, a[f"{key}.log10_best"], "s-", color="black", ms=3, label="monotone")
        left.semilogx(T, a[f"{key}.log10_paper"], "^", color="gray", ms=4, label="Cor. 4.2")
        left.semilogx(
            T, np.log10(float(a[f"{key}.floor"]) / T), "--", color="gray", lw=1,
            label="$c_0/T$",
        )  # fmt: skip
        label_axes(left, "budget $T$", r"$\log_{10} L(\mathbf{w}_T)$", title)
        for c, color in zip(cs, colors, strict=True):
            mine = a[f"{key}.rate_c"] == c
            right.semilogx(a[f"{key}.rate_x"][mine], a[f"{key}.rate_log10"][mine], "o",
                           color=color, ms=3)  # fmt: skip
        right.axhline(np.log10(safe), color="black", lw=1, label=f"factor {safe:g}")
        ylabel = r"$\log_{10} L(\mathbf{w}_T)\alpha^2\gamma^2\eta(T-s^*)$"
        label_axes(right, "$T - s^*$", ylabel, r"$\eta = cT$ at $t = T$")
        quiet_minor(left, right)
        if row == last:  # one legend for the figure, under its last row
            legend_below(left, ncols=3)
            legend_below(right, ncols=1)
    return fig


def search(result: Result) -> Figure:
    """Per data set, left: the best stepsize of each budget (dots) and the top of the search
    grid (dotted); right: ``-log10 L(w_T)`` against ``eta`` at the smallest, a middle and the
    largest search budget (runs with ``L(w_T) >= 1`` are not drawn)."""
    fig, axes, titles = _grid(result, height=3.0)
    a = result.arrays
    for (left, right), (key, title) in zip(axes, titles.items(), strict=True):
        T, etas = a[f"{key}.search_budgets"], a[f"{key}.search_etas"]
        left.loglog(T, a[f"{key}.search_best_eta"], "o-", color="tab:red", ms=4, label="best")
        left.axhline(etas[-1], color="gray", ls=":", lw=1, label="top of grid")
        label_axes(left, "budget $T$", r"best stepsize $\eta$", title)
        legend_below(left, ncols=2)
        shown = sorted({0, T.size // 2, T.size - 1})
        for b, color in zip(shown, stepsize_colors([float(T[b]) for b in shown]), strict=True):
            depth = -a[f"{key}.search_log10"][b]
            positive = depth > 0
            right.loglog(etas[positive], depth[positive], color=color, label=f"T = {T[b]}")
        label_axes(right, r"stepsize $\eta$", r"$-\log_{10} L(\mathbf{w}_T)$", title)
        quiet_minor(left, right)
        legend_below(right, ncols=3)
    return fig


def fixed_budget(result: Result) -> Figure:
    """``log10 L(w_t)`` at one budget: ``eta = c T``, the best monotone stepsize and Corollary
    4.2's stepsize, one panel per data set."""
    titles = {key: spec["title"] for key, spec in result.config["datasets"].items()}
    fig, axes = subplots(ncols=len(titles), width=COLUMN_WIDTH / len(titles), height=3.4)
    a, v = result.arrays, result.values
    T = v["T_show"]
    for ax, (key, title) in zip(axes, titles.items(), strict=True):
        t, eta = a[f"{key}.show_steps"], a[f"{key}.show_eta"]
        labels = (
            rf"$\eta$ = cT = {eta[0]:.4g} (c = {v[f'c_fig_{key}']:g})",
            rf"best monotone, $\eta$ = {eta[1]:.3g}",
            rf"Corollary 4.2, $\eta$ = {eta[2]:.2g}",
        )
        for curve, color, label in zip(
            a[f"{key}.show_log10"], ("tab:red", "tab:blue", "gray"), labels, strict=True
        ):
            ax.semilogx(t + 1, curve, color=color, lw=1.0, label=label)
        label_axes(ax, "step $t + 1$", r"$\log_{10} L(\mathbf{w}_t)$", f"{title}, T = {T}")
        legend_below(ax, ncols=1)
    return fig


def easy_curves(result: Result) -> Figure:
    """Risk curves on the easy (separable Gaussian) data, where GD never oscillates."""
    return risk_curves(result, ["easy"], [result.config["easy"]["title"]])


def figures(result: Result) -> dict[str, Figure]:
    """The chapter's figures by name."""
    return {
        "budgets": budgets(result),
        "search": search(result),
        "fixed_budget": fixed_budget(result),
        "easy": easy_curves(result),
    }
