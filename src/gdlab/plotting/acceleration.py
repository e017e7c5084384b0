"""Figures of the chapters on the finite first phase and on acceleration.

Every function takes studies from :mod:`gdlab.stepsize.acceleration`, keyed by a panel title
(one panel per dataset), and returns the figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdlab.plotting import label_axes, stepsize_colors, subplots
from gdlab.stats import LineFit
from gdlab.stepsize.acceleration import BudgetStudy, FirstPhaseStudy

__all__ = [
    "average_risk_figure",
    "budget_rate_figure",
    "constant_figure",
    "exit_time_figure",
    "fixed_budget_figure",
    "risk_curves_figure",
]


LN10 = math.log(10)


def _nearest(values: np.ndarray, targets: Sequence[float]) -> list[int]:
    """Indices of the entries of ``values`` nearest (in log) to each target, without repeats."""
    logs = np.log(values)
    return list(dict.fromkeys(int(np.argmin(np.abs(logs - math.log(t)))) for t in targets))


def _legend_below(ax: Axes, ncols: int = 3) -> None:
    """A legend under the axes (constrained layout makes room for it)."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=ncols, frameon=False)


def _panels(studies: Mapping[str, object], height: float = 3.0) -> tuple[Figure, np.ndarray]:
    if not studies:
        raise ValueError("no study to plot")
    return subplots(ncols=len(studies), width=4.2, height=height)


def average_risk_figure(studies: Mapping[str, FirstPhaseStudy], etas: Sequence[float]) -> Figure:
    """Theorem 3.2: running mean ``(1/t) sum_{k<t} L(w_k)`` (solid) and its bound (dashed) for
    the runs whose ``eta`` is nearest to each of ``etas``; dotted: ``L(w_0)``."""
    fig, axes = _panels(studies)
    for ax, (title, study) in zip(axes, studies.items(), strict=True):
        ks = _nearest(study.eta, etas)
        for k, color in zip(ks, stepsize_colors(study.eta[ks]), strict=True):
            t, avg = study.running_average(k)
            # Both curves are smooth on log axes: ~500 log-spaced steps draw them exactly.
            i = np.unique(np.geomspace(1, t.size, 500).astype(np.int64)) - 1
            ax.loglog(t[i], avg[i], color=color, label=f"$\\eta$ = {study.eta[k]:.3g}")
            ax.loglog(t[i], study.theorem32_bound(k)[i], color=color, ls="--", lw=1)
        ax.axhline(float(study.sweep.traj.risk[0, 0]), color="gray", ls=":", lw=1)
        label_axes(ax, "step t", "running mean of $L(\\mathbf{w}_k)$, $k<t$", title)
        _legend_below(ax)
    return fig


def exit_time_figure(studies: Mapping[str, FirstPhaseStudy], eta_min: float) -> Figure:
    """Exit time of the first phase against ``eta``: the step after which the risk is monotone
    (filled), ``s*`` of eq. (5) (open), Theorem 4.1's ``tau`` (line) and the fitted power law of
    the monotone-from step over the oscillating runs with ``eta >= eta_min`` (dashed)."""
    fig, axes = _panels(studies, height=3.2)
    for ax, (title, study) in zip(axes, studies.items(), strict=True):
        eta, osc = study.eta, study.oscillates
        ax.loglog(eta, study.tau, color="black", lw=1.2, label="Theorem 4.1's $\\tau$")
        ax.loglog(eta, study.s_star, "s", mfc="none", color="tab:blue", label="$s^*$ (eq. 5)")
        ax.loglog(eta[osc], study.monotone_from[osc], "o", color="tab:red", label="monotone from")
        fit = study.exit_fit("monotone_from", eta_min)
        x = eta[osc & (eta >= eta_min)]
        ax.loglog(x, fit(x), "--", color="tab:red", label=f"fit: slope {fit.slope:.2f}")
        label_axes(ax, "per-neuron stepsize $\\eta$", "step", title)
        ax.legend(loc="center right")
    return fig


def risk_curves_figure(
    studies: Mapping[str, FirstPhaseStudy], etas: Sequence[float], *, logx: bool = True
) -> Figure:
    """Risk curves ``L(w_t)`` of the runs whose ``eta`` is nearest to each of ``etas``."""
    fig, axes = _panels(studies)
    for ax, (title, study) in zip(axes, studies.items(), strict=True):
        ks = _nearest(study.eta, etas)
        t = study.sweep.traj.steps.numpy()
        for k, color in zip(ks, stepsize_colors(study.eta[ks]), strict=True):
            ax.plot(
                t + 1,
                study.sweep.traj.risk[k].numpy(),
                color=color,
                lw=1.0,
                label=f"$\\eta$ = {study.eta[k]:.3g}",
            )
        ax.set_yscale("log")
        if logx:
            ax.set_xscale("log")
        label_axes(ax, "step t + 1" if logx else "step t", "risk $L(\\mathbf{w}_t)$", title)
        _legend_below(ax)
    return fig


def _log10_line(fit: LineFit, x: np.ndarray) -> np.ndarray:
    """``log10`` of the fitted power law ``exp(intercept) x^slope``."""
    return (fit.intercept + fit.slope * np.log(x)) / math.log(10)


def budget_rate_figure(studies: Mapping[str, BudgetStudy], c: Mapping[str, float]) -> Figure:
    """``log10 L(w_T)`` against the budget T: (a) ``eta = c T`` and (b) the best monotone
    stepsize, each with its fitted power law, and Corollary 4.2's own stepsize. (The risks of
    (a) can fall below the float64 range, hence the logarithmic values.)"""
    fig, axes = _panels(studies, height=3.2)
    for ax, (title, study) in zip(axes, studies.items(), strict=True):
        T = study.budgets
        j = int(np.flatnonzero(np.isclose(study.constants, c[title]))[0])
        fa, fb = study.proportional_fit(c[title]), study.monotone_fit()
        ax.semilogx(
            T,
            study.proportional_log_risk[:, j] / LN10,
            "o",
            color="tab:red",
            label=f"(a) $\\eta$ = {c[title]:g} T",
        )
        ax.semilogx(
            T, _log10_line(fa, T), "--", color="tab:red", lw=1, label=f"slope {fa.slope:.2f}"
        )
        ax.semilogx(
            T, np.log10(study.best_monotone_risk), "s", color="tab:blue", label="(b) best monotone"
        )
        ax.semilogx(
            T, _log10_line(fb, T), "--", color="tab:blue", lw=1, label=f"slope {fb.slope:.2f}"
        )
        ax.semilogx(
            T, np.log10(study.paper_risk), "^", color="gray", label="Corollary 4.2's $\\eta$"
        )
        label_axes(ax, "budget T", "$\\log_{10} L(\\mathbf{w}_T)$", title)
        _legend_below(ax, ncols=2)
    return fig


def constant_figure(studies: Mapping[str, BudgetStudy]) -> Figure:
    """``log10 L(w_T)`` against T for every constant ``c`` of ``eta = c T`` (colors), with the
    best monotone run (black)."""
    fig, axes = _panels(studies, height=3.2)
    for ax, (title, study) in zip(axes, studies.items(), strict=True):
        T = study.budgets
        colors = stepsize_colors(study.constants)
        for j, (cj, color) in enumerate(zip(study.constants, colors, strict=True)):
            ax.semilogx(
                T,
                study.proportional_log_risk[:, j] / LN10,
                "o-",
                color=color,
                ms=3,
                label=f"c = {cj:g}",
            )
        ax.semilogx(
            T, np.log10(study.best_monotone_risk), "s-", color="black", ms=3, label="best monotone"
        )
        label_axes(ax, "budget T", "$\\log_{10} L(\\mathbf{w}_T)$, $\\eta = cT$", title)
        _legend_below(ax, ncols=4)
    return fig


def fixed_budget_figure(
    studies: Mapping[str, BudgetStudy], budget: int, c: Mapping[str, float]
) -> Figure:
    """``log10 L(w_t)`` at one budget: ``eta = c T``, the best monotone stepsize and Corollary
    4.2's stepsize."""
    fig, axes = _panels(studies, height=3.2)
    for ax, (title, study) in zip(axes, studies.items(), strict=True):
        hit = np.flatnonzero(study.budgets == budget)
        if hit.size == 0:
            raise ValueError(f"budget {budget} not in {study.budgets.tolist()}")
        b = int(hit[0])
        sweep = study.sweeps[b]
        t = sweep.traj.steps.numpy()
        j = int(np.flatnonzero(np.isclose(study.constants, c[title]))[0])
        best = study.constants.size + 1 + int(study.best_monotone[b])
        eta_a = study.constants[j] * budget
        runs = (
            (j, "tab:red", f"(a) $\\eta$ = cT = {eta_a:.4g} (c = {c[title]:g})"),
            (best, "tab:blue", f"(b) best monotone, $\\eta$ = {study.best_monotone_eta[b]:.3g}"),
            (study.constants.size, "gray", f"Corollary 4.2, $\\eta$ = {study.paper_eta[b]:.2g}"),
        )
        for k, color, label in runs:
            log10_risk = sweep.traj.log_risk[k].numpy() / LN10
            ax.semilogx(t + 1, log10_risk, color=color, lw=1.0, label=label)
        label_axes(ax, "step t + 1", "$\\log_{10} L(\\mathbf{w}_t)$", f"{title}, T = {budget}")
        _legend_below(ax, ncols=1)
    return fig
