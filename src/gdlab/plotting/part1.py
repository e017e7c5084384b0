"""Figures of Part I's chapters on the setting, the phase threshold and margin improvement.

Each function takes results of :mod:`gdlab.stepsize.phase` (or a sweep) and returns a figure.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from gdlab.plotting import label_axes, stepsize_colors, subplots
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.phase import (
    A14Curves,
    Figure4Analysis,
    MarginRun,
    MarginSeries,
    PhaseRun,
)
from gdlab.stepsize.sweeps import SweepResult

__all__ = [
    "plot_a14",
    "plot_activations",
    "plot_figure4",
    "plot_margins",
    "plot_monotone_vs_certified",
    "plot_norm_growth",
    "plot_rate",
    "plot_risk_sweeps",
    "thin",
]


def plot_activations(names: Sequence[str], lim: float = 6.0) -> Figure:
    """``phi``, ``phi'`` and ``phi - z phi'`` (Assumption 2A-2C) of each activation on
    ``[-lim, lim]``."""
    import torch

    z = torch.linspace(-lim, lim, 1201, dtype=torch.float64)
    fig, axes = subplots(3, width=3.4, height=2.8)
    for name in names:
        act = get_activation(name)
        phi, dphi = act.phi(z).numpy(), act.dphi(z).numpy()
        axes[0].plot(z, phi, label=name)
        axes[1].plot(z, dphi, label=name)
        axes[2].plot(z, phi - z.numpy() * dphi, label=name)
    label_axes(axes[0], "z", r"$\phi(z)$", "activation")
    label_axes(axes[1], "z", r"$\phi'(z)$", r"slope: $\alpha \leq |\phi'| \leq 1$ (2A)")
    label_axes(axes[2], "z", r"$\phi(z) - z\phi'(z)$", r"homogeneity gap, $\leq \kappa$ (2C)")
    axes[0].legend(fontsize=7)
    return fig


def _quiet_minor(*axes: Axes) -> None:
    """No labels on the minor ticks of log axes (they overlap on short log ranges)."""
    for ax in axes:
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())


def _steps_from_one(sweep: SweepResult) -> np.ndarray:
    return np.maximum(sweep.traj.steps.numpy(), 1)


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


def plot_risk_sweeps(sweeps: Mapping[str, SweepResult], runs: Sequence[PhaseRun]) -> Figure:
    """Risk curves of every sweep (one panel per dataset), with the measured start of the
    monotone phase (circle) and the certified ``r*`` (triangle) of each run."""
    fig, axes = subplots(len(sweeps), width=3.6, height=3.0)
    for ax, (label, sweep) in zip(axes, sweeps.items(), strict=True):
        t = _steps_from_one(sweep)
        mine = [r for r in runs if r.dataset == label]
        colors = stepsize_colors(sweep.lrs)
        for k, (lr, color) in enumerate(zip(sweep.lrs, colors, strict=True)):
            risk = sweep.traj.risk[k].numpy()
            sel = thin(t, risk)
            ax.loglog(t[sel], risk[sel], color=color, lw=1.0, label=f"{lr:g}")
            run = mine[k]
            if run.monotone_reached and run.monotone_from > 0:
                i = int(np.searchsorted(sweep.traj.steps.numpy(), run.monotone_from))
                ax.plot(t[i], risk[i], "o", mfc="none", color=color, ms=6)
            if run.r_star is not None and run.r_star > 0:
                i = int(np.searchsorted(sweep.traj.steps.numpy(), run.r_star))
                ax.plot(t[i], risk[i], "^", color=color, ms=5)
        label_axes(ax, "step t", r"risk $L(\mathbf{w}_t)$", label)
        ax.legend(title=r"$\tilde\eta$", fontsize=6, title_fontsize=7, ncol=2)
    return fig


def plot_monotone_vs_certified(runs: Sequence[PhaseRun]) -> Figure:
    """Per dataset, against the stepsize: the measured first step of the monotone phase and
    the step ``r*`` from which Theorem 2.2 certifies it (symlog axis: 0 is shown)."""
    labels = list(dict.fromkeys(r.dataset for r in runs))
    fig, axes = subplots(len(labels), width=3.4, height=2.8)
    for ax, label in zip(axes, labels, strict=True):
        mine = [r for r in runs if r.dataset == label]
        lr = np.array([r.lr for r in mine])
        mono = np.array([r.monotone_from if r.monotone_reached else np.nan for r in mine], float)
        rstar = np.array([np.nan if r.r_star is None else r.r_star for r in mine], float)
        ax.plot(lr, mono, "o-", mfc="none", label="monotone from (measured)")
        ax.plot(lr, rstar, "^--", label=r"$r^*$ (eq. 4, certified)")
        never = [r.lr for r in mine if not r.monotone_reached]
        for x in never:
            ax.axvline(x, color="tab:red", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=10)
        ax.set_ylim(bottom=-0.5)
        label_axes(ax, r"stepsize $\tilde\eta$", "step", label)
    axes[0].legend(fontsize=7)
    return fig


def plot_rate(sweeps: Mapping[str, SweepResult], min_lr: float = 0.0) -> Figure:
    """Figure 2(b) read as in spec §5: ``tilde-eta t L_t`` against t (top row; it levels off
    in the stable phase) and ``L_t`` against ``tilde-eta t`` (bottom row; the curves collapse).
    Runs with ``tilde-eta < min_lr`` are left out."""
    fig, axes = subplots(len(sweeps), 2, width=3.4, height=2.6)
    n = len(sweeps)
    for j, (label, sweep) in enumerate(sweeps.items()):
        t = _steps_from_one(sweep)
        for k, (lr, color) in enumerate(zip(sweep.lrs, stepsize_colors(sweep.lrs), strict=True)):
            if lr < min_lr:
                continue
            risk = sweep.traj.risk[k].numpy()
            sel = thin(t, t * risk)
            axes[j].loglog(t[sel], lr * t[sel] * risk[sel], color=color, lw=1.0, label=f"{lr:g}")
            sel = thin(t, risk)
            axes[n + j].loglog(lr * t[sel], risk[sel], color=color, lw=1.0)
        label_axes(axes[j], "step t", r"$\tilde\eta\, t\, L(\mathbf{w}_t)$", label)
        label_axes(axes[n + j], r"$\tilde\eta\, t$", r"$L(\mathbf{w}_t)$")
        axes[j].legend(title=r"$\tilde\eta$", fontsize=6, title_fontsize=7, ncol=2)
    return fig


def plot_a14(curves: Mapping[str, A14Curves]) -> Figure:
    """Lemma A.14 from ``s = s*``: ``log10 L_t`` between the log10 of its lower and upper
    bounds against ``t - s``; the upper bound is written in the panel when it lies above the
    drawn range."""
    fig, axes = subplots(len(curves), width=3.4, height=2.8)
    for ax, (label, cv) in zip(axes, curves.items(), strict=True):
        dt = cv.t - cv.s
        sel = thin(dt, cv.log10_risk)
        ax.semilogx(dt[sel], cv.log10_risk[sel], color="k", label=r"$\log_{10} L_t$")
        ax.semilogx(dt[sel], cv.log10_lower[sel], color="tab:blue", ls="--", label="A.14 lower")
        top = float(np.max(cv.log10_risk)) + 1.0
        shown = sel[cv.log10_upper[sel] <= top]
        if shown.size:
            ax.semilogx(dt[shown], cv.log10_upper[shown], color="tab:red", ls="--")
        _quiet_minor(ax)
        ax.text(
            0.02,
            0.04,
            f"A.14 upper at the last step: $10^{{{cv.log10_upper[-1]:.0f}}}$",
            transform=ax.transAxes,
            fontsize=7,
            color="tab:red",
        )
        label_axes(
            ax, r"$t - s^*$", r"$\log_{10}$ risk", rf"{label}, $\tilde\eta$={cv.lr:g}, $s^*$={cv.s}"
        )
        ax.legend(fontsize=7)
    return fig


def plot_margins(series: Mapping[str, Sequence[MarginSeries]]) -> Figure:
    """Per dataset: the normalized margin ``gamma-bar`` (top; ``s*`` marked) and
    ``log10 gamma^c`` after ``s*`` (bottom), one curve per stepsize."""
    n = len(series)
    fig, axes = subplots(n, 2, width=3.4, height=2.6)
    for j, (label, runs) in enumerate(series.items()):
        colors = stepsize_colors([ms.lr for ms in runs])
        for ms, color in zip(runs, colors, strict=True):
            t = np.maximum(ms.t, 1)
            sel = thin(t, ms.gamma_bar)
            axes[j].semilogx(t[sel], ms.gamma_bar[sel], color=color, lw=1.0, label=f"{ms.lr:g}")
            if ms.s is not None:
                i = int(np.searchsorted(ms.t, ms.s))
                axes[j].plot(t[i], ms.gamma_bar[i], "s", color=color, ms=4)
                sel = i + thin(t[i:], ms.log_gamma_c[i:])
                axes[n + j].semilogx(t[sel], ms.log_gamma_c[sel] / np.log(10), color=color, lw=1.0)
        axes[j].set_ylim(bottom=max(axes[j].get_ylim()[0], -0.1))
        axes[n + j].set_xlim(axes[j].get_xlim())
        _quiet_minor(axes[j], axes[n + j])
        label_axes(axes[j], "step t", r"$\bar\gamma(\mathbf{w}_t)$", label)
        label_axes(axes[n + j], "step t", r"$\log_{10}\gamma^c(\mathbf{w}_t)$, $t\geq s^*$")
        axes[j].legend(title=r"$\tilde\eta$", fontsize=6, title_fontsize=7)
    return fig


def plot_norm_growth(
    series: Mapping[str, Sequence[MarginSeries]], runs: Sequence[MarginRun]
) -> Figure:
    """Per dataset: ``||w_t||`` against ``log t`` with the fitted line of each run (dashed) over
    the fitted range."""
    fig, axes = subplots(len(series), width=3.4, height=2.8)
    for ax, (label, ms_list) in zip(axes, series.items(), strict=True):
        fits = {r.lr: r.fit for r in runs if r.dataset == label}
        colors = stepsize_colors([ms.lr for ms in ms_list])
        for ms, color in zip(ms_list, colors, strict=True):
            t = np.maximum(ms.t, 1)
            sel = thin(t, ms.norm)
            ax.semilogx(t[sel], ms.norm[sel], color=color, lw=1.0, label=f"{ms.lr:g}")
            fit = fits.get(ms.lr)
            if fit is not None:
                tt = t[sel][t[sel] >= fit.start]
                ax.semilogx(tt, fit(tt), color="k", ls="--", lw=0.8)
        ax.set_yscale("log")
        _quiet_minor(ax)
        label_axes(ax, "step t (log scale)", r"$\|\mathbf{w}_t\|$", label)
        ax.legend(title=r"$\tilde\eta$", fontsize=6, title_fontsize=7)
    return fig


def plot_figure4(analysis: Figure4Analysis) -> Figure:
    """Figure 4: (a) the loss; (b) the normalized margin of the network and the margins of each
    neuron (solid: ``phi`` definition, dashed: linear definition), one column per stepsize; the
    data's max margin and the margin of the network aligned with ``w_*`` as reference lines."""
    a = analysis.arrays
    K = len(analysis.lrs)
    fig, axes = subplots(K, 2, width=3.6, height=2.8)
    steps = np.asarray(a["steps"])
    later = steps >= 1  # log-t axes: step 0 (the random initialisation) is not drawn
    t = steps[later]
    for k in range(K):
        title = rf"$\tilde\eta$={analysis.lrs[k]:g} ($\eta$={analysis.etas[k]:g})"
        risk = a["risk"][k][later]
        sel = thin(t, risk)
        axes[k].loglog(t[sel], risk[sel], color="k")
        label_axes(axes[k], "step t", r"risk $L(\mathbf{w}_t)$", f"(a) loss, {title}")
        ax = axes[K + k]
        gbar = a["normalized_margin"][k][later]
        sel = thin(t, gbar)
        ax.semilogx(t[sel], gbar[sel], color="k", label="network")
        for j, color in enumerate(("tab:blue", "tab:orange")):
            for key, ls, lab in (("neuron_margins", "-", f"neuron {j + 1}"),
                                 ("neuron_linear_margins", "--", None)):  # fmt: skip
                y = a[key][k, later, j]
                sel = thin(t, y)
                ax.semilogx(t[sel], y[sel], color=color, ls=ls, label=lab)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.axhline(analysis.data_margin, color="tab:green", ls=":", label="data max margin")
        ax.axhline(analysis.aligned, color="tab:purple", ls=":", label=r"net along $w_*$")
        ax.set_ylim(-1.2, 0.1)
        _quiet_minor(axes[k], ax)
        label_axes(ax, "step t", "margin", f"(b) margins, {title}")
        ax.legend(fontsize=6, loc="lower right")
    return fig
