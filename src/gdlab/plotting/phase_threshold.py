"""Figures of the phase-threshold chapter: risk sweeps, measured against certified monotone
start, the ``tilde-eta t L_t`` plateau and Lemma A.14 against the risk.

Each function takes the study's :class:`~gdlab.experiments.study.Result`; sweep ``j`` is stored
under ``s{j}.*`` in its arrays.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, quiet_minor, stepsize_colors, subplots, thin

__all__ = [
    "a14_curves",
    "figures",
    "monotone_vs_certified",
    "rate",
    "risk_sweeps",
]


def risk_sweeps(result: Result) -> Figure:
    """Risk curves of every sweep (one panel per dataset), with the measured start of the
    monotone phase (circle) and the certified ``r*`` (triangle) of each run."""
    labels = result.values["labels"]
    fig, axes = subplots(len(labels), width=3.6, height=3.0)
    for j, (ax, label) in enumerate(zip(axes, labels, strict=True)):
        a = {key: result.arrays[f"s{j}.{key}"] for key in ("steps", "risk", "lr")}
        t = np.maximum(a["steps"], 1)
        marks = (("monotone_from", "o", {"mfc": "none", "ms": 6}), ("r_star", "^", {"ms": 5}))
        for k, (lr, color) in enumerate(zip(a["lr"], stepsize_colors(a["lr"]), strict=True)):
            risk = a["risk"][k]
            sel = thin(t, risk)
            ax.loglog(t[sel], risk[sel], color=color, lw=1.0, label=f"{lr:g}")
            for key, marker, style in marks:
                step = result.arrays[f"s{j}.{key}"][k]
                if np.isfinite(step) and step > 0:
                    i = int(np.searchsorted(a["steps"], step))
                    ax.plot(t[i], risk[i], marker, color=color, **style)
        label_axes(ax, "step $t$", r"risk $L(\mathbf{w}_t)$", label)
        ax.legend(title=r"$\tilde\eta$", fontsize=6, title_fontsize=7, ncol=2)
    return fig


def monotone_vs_certified(result: Result) -> Figure:
    """Per dataset, against the stepsize: the measured first step of the monotone phase and
    the step ``r*`` from which Theorem 2.2 certifies it (symlog axis: 0 is shown); a dotted
    line marks a run that is not monotone by ``T/2``."""
    labels = result.values["labels"]
    fig, axes = subplots(len(labels), width=3.4, height=2.8)
    for j, (ax, label) in enumerate(zip(axes, labels, strict=True)):
        lr = result.arrays[f"s{j}.lr"]
        mono = result.arrays[f"s{j}.monotone_from"]
        ax.plot(lr, mono, "o-", mfc="none", label="monotone from (measured)")
        ax.plot(lr, result.arrays[f"s{j}.r_star"], "^--", label=r"$r^*$ (eq. 4, certified)")
        for x in lr[np.isnan(mono)]:
            ax.axvline(x, color="tab:red", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=10)
        ax.set_ylim(bottom=-0.5)
        label_axes(ax, r"stepsize $\tilde\eta$", "step", label)
    axes[0].legend(fontsize=7)
    return fig


def rate(result: Result) -> Figure:
    """Figure 2(b) read as in spec §5: ``tilde-eta t L_t`` against t (top row; it levels off
    in the stable phase) and ``L_t`` against ``tilde-eta t`` (bottom row; the curves collapse).
    Runs below the configuration's ``rate_min_lr`` are left out."""
    labels, min_lr = result.values["labels"], result.config["rate_min_lr"]
    n = len(labels)
    fig, axes = subplots(n, 2, width=3.4, height=2.6)
    for j, label in enumerate(labels):
        t = np.maximum(result.arrays[f"s{j}.steps"], 1)
        lrs = result.arrays[f"s{j}.lr"]
        for k, (lr, color) in enumerate(zip(lrs, stepsize_colors(lrs), strict=True)):
            if lr < min_lr:
                continue
            risk = result.arrays[f"s{j}.risk"][k]
            sel = thin(t, t * risk)
            axes[j].loglog(t[sel], lr * t[sel] * risk[sel], color=color, lw=1.0, label=f"{lr:g}")
            sel = thin(t, risk)
            axes[n + j].loglog(lr * t[sel], risk[sel], color=color, lw=1.0)
        label_axes(axes[j], "step $t$", r"$\tilde\eta\, t\, L(\mathbf{w}_t)$", label)
        label_axes(axes[n + j], r"$\tilde\eta\, t$", r"$L(\mathbf{w}_t)$")
        axes[j].legend(title=r"$\tilde\eta$", fontsize=6, title_fontsize=7, ncol=2)
    return fig


def a14_curves(result: Result) -> Figure:
    """Lemma A.14 from ``s = s*``: ``log10 L_t`` between the log10 of its lower and upper
    bounds against ``t - s``; the upper bound is written in the panel when it lies above the
    drawn range."""
    curves = result.values["a14"]
    fig, axes = subplots(len(curves), width=3.4, height=2.8)
    for ax, cv in zip(axes, curves, strict=True):
        a = {key: result.arrays[f"s{cv['sweep']}.a14.{key}"]
             for key in ("t", "log10_risk", "lower", "upper")}  # fmt: skip
        dt = a["t"] - cv["s"]
        sel = thin(dt, a["log10_risk"])
        ax.semilogx(dt[sel], a["log10_risk"][sel], color="k", label=r"$\log_{10} L_t$")
        ax.semilogx(dt[sel], a["lower"][sel], color="tab:blue", ls="--", label="A.14 lower")
        top = float(np.max(a["log10_risk"])) + 1.0
        shown = sel[a["upper"][sel] <= top]
        if shown.size:
            ax.semilogx(dt[shown], a["upper"][shown], color="tab:red", ls="--")
        quiet_minor(ax)
        ax.text(
            0.02,
            0.04,
            f"A.14 upper at the last step: $10^{{{a['upper'][-1]:.0f}}}$",
            transform=ax.transAxes,
            fontsize=7,
            color="tab:red",
        )
        title = rf"{cv['label']}, $\tilde\eta$={cv['lr']:g}, $s^*$={cv['s']}"
        label_axes(ax, r"$t - s^*$", r"$\log_{10}$ risk", title)
        ax.legend(fontsize=7)
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The phase-threshold chapter's figures by name."""
    return {
        "risk": risk_sweeps(result),
        "monotone": monotone_vs_certified(result),
        "rate": rate(result),
        "a14": a14_curves(result),
    }
