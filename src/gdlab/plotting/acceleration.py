"""Figures of the chapter on acceleration (study ``acceleration``).

Each function takes the study's :class:`~gdlab.experiments.study.Result` and returns a figure
with one panel per data set; the panel titles come from the result's config. Risks are drawn as
``log10 L``: with ``eta = c T`` they fall below the float64 range.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, stepsize_colors, subplots
from gdlab.plotting.first_phase import legend_below, risk_curves

__all__ = ["budget_rates", "constants", "easy_curves", "figures", "fixed_budget"]


def _panels(result: Result) -> tuple[Figure, np.ndarray, dict[str, str]]:
    titles = {key: spec["title"] for key, spec in result.config["datasets"].items()}
    fig, axes = subplots(ncols=len(titles), width=4.2, height=3.2)
    return fig, axes, titles


def constants(result: Result) -> Figure:
    """``log10 L(w_T)`` against T for every constant ``c`` of ``eta = c T`` (colors), with the
    best monotone run (black)."""
    fig, axes, titles = _panels(result)
    a = result.arrays
    for ax, (key, title) in zip(axes, titles.items(), strict=True):
        T, cs = a[f"{key}.budgets"], a[f"{key}.constants"]
        for j, color in enumerate(stepsize_colors(cs)):
            ax.semilogx(
                T, a[f"{key}.log10_proportional"][:, j], "o-", color=color, ms=3,
                label=f"c = {cs[j]:g}",
            )  # fmt: skip
        ax.semilogx(T, a[f"{key}.log10_best"], "s-", color="black", ms=3, label="best monotone")
        label_axes(ax, "budget $T$", r"$\log_{10} L(\mathbf{w}_T)$, $\eta = cT$", title)
        legend_below(ax, ncols=4)
    return fig


def budget_rates(result: Result) -> Figure:
    """``log10 L(w_T)`` against the budget T: (a) ``eta = c T`` and (b) the best monotone
    stepsize, each with its fitted power law, and Corollary 4.2's own stepsize."""
    fig, axes, titles = _panels(result)
    a, v = result.arrays, result.values
    for ax, (key, title) in zip(axes, titles.items(), strict=True):
        T, c = a[f"{key}.budgets"], v[f"c_fig_{key}"]
        j = int(np.flatnonzero(a[f"{key}.constants"] == c)[0])
        ax.semilogx(
            T, a[f"{key}.log10_proportional"][:, j], "o", color="tab:red",
            label=rf"(a) $\eta$ = {c:g} T",
        )  # fmt: skip
        ax.semilogx(
            T, a[f"{key}.log10_fit_a"], "--", color="tab:red", lw=1,
            label=f"slope {v[f'slope_a_{key}']:.2f}",
        )  # fmt: skip
        ax.semilogx(T, a[f"{key}.log10_best"], "s", color="tab:blue", label="(b) best monotone")
        ax.semilogx(
            T, a[f"{key}.log10_fit_b"], "--", color="tab:blue", lw=1,
            label=f"slope {v[f'slope_b_{key}']:.2f}",
        )  # fmt: skip
        ax.semilogx(T, a[f"{key}.log10_paper"], "^", color="gray", label=r"Corollary 4.2's $\eta$")
        label_axes(ax, "budget $T$", r"$\log_{10} L(\mathbf{w}_T)$", title)
        legend_below(ax, ncols=2)
    return fig


def fixed_budget(result: Result) -> Figure:
    """``log10 L(w_t)`` at one budget: ``eta = c T``, the best monotone stepsize and Corollary
    4.2's stepsize."""
    fig, axes, titles = _panels(result)
    a, v = result.arrays, result.values
    T = v["T_show"]
    for ax, (key, title) in zip(axes, titles.items(), strict=True):
        t, eta = a[f"{key}.show_steps"], a[f"{key}.show_eta"]
        labels = (
            rf"(a) $\eta$ = cT = {eta[0]:.4g} (c = {v[f'c_fig_{key}']:g})",
            rf"(b) best monotone, $\eta$ = {eta[1]:.3g}",
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
        "constants": constants(result),
        "budget_rates": budget_rates(result),
        "fixed_budget": fixed_budget(result),
        "easy": easy_curves(result),
    }
