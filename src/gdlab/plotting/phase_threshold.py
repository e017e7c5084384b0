"""Figures of the phase-threshold chapter: risk sweeps, measured against certified monotone
start, the ``1/(tilde-eta t)`` rate and Lemma A.14 against the risk.

Each function takes the study's :class:`~gdlab.experiments.study.Result`; sweep ``j`` is stored
under ``s{j}.*`` in its arrays. Every figure is drawn for the book's content column (at most
7.2 in wide, text of at least 9 pt), several panels in rows.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, quiet_minor, stepsize_colors, subplots, thin

__all__ = [
    "a14_curves",
    "figures",
    "monotone_vs_certified",
    "rate",
    "risk_sweeps",
]

#: Legend text size (points): the smallest text in these figures.
_SMALL = 9
_MARKS = (("monotone_from", "o", {"mfc": "none", "ms": 6}), ("r_star", "^", {"ms": 5}))


def _marker_legend(ax: Axes) -> None:
    """The meaning of the circle (measured) and the triangle (``r*``) markers, added to the
    legend ``ax`` may already have."""
    if ax.get_legend() is not None:
        ax.add_artist(ax.get_legend())
    handles = [
        Line2D([], [], color="k", marker="o", mfc="none", ls="none", label="monotone from"),
        Line2D([], [], color="k", marker="^", ls="none", label=r"$r^*$ (eq. 4)"),
    ]
    ax.legend(handles=handles, fontsize=_SMALL, loc="center" if not ax.axison else "lower left")


def risk_sweeps(result: Result) -> Figure:
    """Risk curves of every sweep (one panel per dataset, two per row), with the measured start
    of the monotone phase (circle) and the certified ``r*`` (triangle) of each run."""
    labels = result.values["labels"]
    rows = (len(labels) + 1) // 2
    fig, axes = subplots(2, rows, width=3.6, height=2.9)
    for j, (ax, label) in enumerate(zip(axes, labels, strict=False)):
        a = {key: result.arrays[f"s{j}.{key}"] for key in ("steps", "risk", "lr")}
        t = np.maximum(a["steps"], 1)
        for k, (lr, color) in enumerate(zip(a["lr"], stepsize_colors(a["lr"]), strict=True)):
            risk = a["risk"][k]
            sel = thin(t, risk)
            ax.loglog(t[sel], risk[sel], color=color, lw=1.0, label=f"{lr:g}")
            for key, marker, style in _MARKS:
                step = result.arrays[f"s{j}.{key}"][k]
                if np.isfinite(step) and step > 0:
                    i = int(np.searchsorted(a["steps"], step))
                    ax.plot(t[i], risk[i], marker, color=color, **style)
        quiet_minor(ax)
        label_axes(ax, "step $t$", r"risk $L(\mathbf{w}_t)$", label)
        ax.legend(title=r"$\tilde\eta$", fontsize=_SMALL, title_fontsize=_SMALL, ncol=2)
    for ax in axes[len(labels) :]:
        ax.set_axis_off()
    _marker_legend(axes[-1] if len(labels) < axes.size else axes[0])
    return fig


def monotone_vs_certified(result: Result) -> Figure:
    """Against the stepsize, one color per dataset: the measured first step of the monotone
    phase (circles, solid) and the step ``r*`` from which Theorem 2.2 certifies it (triangles,
    dashed); symlog axis, so 0 is shown; a dotted line marks a run not monotone by ``T/2``."""
    labels = result.values["labels"]
    fig, axes = subplots(1, 1, width=7.0, height=3.8)
    ax = axes[0]
    for j, label in enumerate(labels):
        color = f"C{j}"
        lr = result.arrays[f"s{j}.lr"]
        mono = result.arrays[f"s{j}.monotone_from"]
        ax.plot(lr, mono, "o-", color=color, mfc="none", label=label)
        ax.plot(lr, result.arrays[f"s{j}.r_star"], "^--", color=color)
        for x in lr[np.isnan(mono)]:
            ax.axvline(x, color=color, lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylim(bottom=-0.5)
    label_axes(ax, r"stepsize $\tilde\eta$", "step")
    handles, names = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="k", marker="o", mfc="none", label="monotone from (measured)"),
        Line2D([], [], color="k", marker="^", ls="--", label=r"$r^*$ (eq. 4, certified)"),
        Line2D([], [], color="k", ls=":", label=r"not monotone by $T/2$"),
    ]
    names += [h.get_label() for h in handles[len(names) :]]
    fig.legend(handles, names, loc="outside lower center", ncol=3, fontsize=_SMALL)
    return fig


def rate(result: Result) -> Figure:
    """Figure 2(b) read as in spec §5, one row per dataset: ``tilde-eta t L_t`` against t (left;
    it levels off once the risk decays like ``1/(tilde-eta t)``) and ``L_t`` against
    ``tilde-eta t`` (right; the curves collapse). Runs below the configuration's
    ``rate_min_lr`` are left out."""
    labels, min_lr = result.values["labels"], result.config["rate_min_lr"]
    fig, axes = subplots(2, len(labels), width=3.6, height=2.4)
    for j, label in enumerate(labels):
        left, right = axes[2 * j], axes[2 * j + 1]
        t = np.maximum(result.arrays[f"s{j}.steps"], 1)
        lrs = result.arrays[f"s{j}.lr"]
        for k, (lr, color) in enumerate(zip(lrs, stepsize_colors(lrs), strict=True)):
            if lr < min_lr:
                continue
            risk = result.arrays[f"s{j}.risk"][k]
            sel = thin(t, t * risk)
            left.loglog(t[sel], lr * t[sel] * risk[sel], color=color, lw=1.0)
            sel = thin(t, risk)
            right.loglog(lr * t[sel], risk[sel], color=color, lw=1.0, label=f"{lr:g}")
        quiet_minor(left, right)
        label_axes(left, "step $t$", r"$\tilde\eta\, t\, L(\mathbf{w}_t)$", label)
        label_axes(right, r"$\tilde\eta\, t$", r"$L(\mathbf{w}_t)$", label)
        # small tilde-eta t and small risk: the empty corner of the right panel
        right.legend(title=r"$\tilde\eta$", fontsize=_SMALL, title_fontsize=_SMALL, ncol=2,
                     loc="lower left")  # fmt: skip
    return fig


def a14_curves(result: Result) -> Figure:
    """Lemma A.14 from ``s = s*``: ``log10 L_t`` with the log10 of its lower bound against
    ``t - s`` (two panels per row); the upper bound is drawn where it lies in the drawn range and
    its value at the last step is written in the panel."""
    curves = result.values["a14"]
    rows = (len(curves) + 1) // 2
    fig, axes = subplots(2, rows, width=3.6, height=2.8)
    for ax, cv in zip(axes, curves, strict=False):
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
            0.03,
            0.05,
            f"A.14 upper at $T$: $10^{{{a['upper'][-1]:.0f}}}$",
            transform=ax.transAxes,
            fontsize=_SMALL,
            color="tab:red",
        )
        title = rf"{cv['label']}, $\tilde\eta$={cv['lr']:g}"
        label_axes(ax, r"$t - s^*$", r"$\log_{10}$ risk", title)
    handles, names = axes[0].get_legend_handles_labels()
    for ax in axes[len(curves) :]:
        ax.set_axis_off()
    if len(curves) < axes.size:
        axes[-1].legend(handles, names, loc="center", fontsize=_SMALL)
    else:
        fig.legend(handles, names, loc="outside lower center", ncol=2, fontsize=_SMALL)
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The phase-threshold chapter's figures by name."""
    return {
        "risk": risk_sweeps(result),
        "monotone": monotone_vs_certified(result),
        "rate": rate(result),
        "a14": a14_curves(result),
    }
