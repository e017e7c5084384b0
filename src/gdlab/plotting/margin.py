"""Figures of the margin-improvement chapter: margins and norm after ``s*``, and Figure 4.

Each function takes the study's :class:`~gdlab.experiments.study.Result`; sweep ``j`` is stored
under ``s{j}.*`` in its arrays, Figure 4 under ``f4.*``. Every figure is drawn for the book's
content column (at most 7.2 in wide, text of at least 9 pt), several panels in rows.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, quiet_minor, stepsize_colors, subplots, thin

__all__ = ["figure4", "figures", "margins", "norm_growth"]

#: Legend text size (points): the smallest text in these figures.
_SMALL = 9


def margins(result: Result) -> Figure:
    """One row per dataset: the normalized margin ``gamma-bar`` (left; ``s*`` marked) and
    ``log10 gamma^c`` after ``s*`` (right), one curve per stepsize."""
    labels = result.values["labels"]
    fig, axes = subplots(2, len(labels), width=3.6, height=2.4)
    for j, label in enumerate(labels):
        left, right = axes[2 * j], axes[2 * j + 1]
        a = {key: result.arrays[f"s{j}.{key}"]
             for key in ("steps", "lr", "gamma_bar", "log_gamma_c", "s_star")}  # fmt: skip
        t = np.maximum(a["steps"], 1)
        for k, (lr, color) in enumerate(zip(a["lr"], stepsize_colors(a["lr"]), strict=True)):
            gbar, lgc = a["gamma_bar"][k], a["log_gamma_c"][k]
            sel = thin(t, gbar)
            left.semilogx(t[sel], gbar[sel], color=color, lw=1.0)
            if np.isfinite(a["s_star"][k]):
                i = int(np.searchsorted(a["steps"], a["s_star"][k]))
                left.plot(t[i], gbar[i], "s", color=color, ms=4)
                sel = i + thin(t[i:], lgc[i:])
                right.semilogx(t[sel], lgc[sel] / np.log(10), color=color, lw=1.0,
                               label=f"{lr:g}")  # fmt: skip
        left.set_ylim(bottom=max(left.get_ylim()[0], -0.1))
        right.set_xlim(left.get_xlim())
        quiet_minor(left, right)
        label_axes(left, "step $t$", r"$\bar\gamma(\mathbf{w}_t)$", label)
        label_axes(right, "step $t$", r"$\log_{10}\gamma^c(\mathbf{w}_t)$, $t\geq s^*$", label)
        # gamma^c starts at s*: the left part of the right panel is empty
        right.legend(title=r"$\tilde\eta$", fontsize=_SMALL, title_fontsize=_SMALL,
                     loc="lower left")  # fmt: skip
    return fig


def norm_growth(result: Result) -> Figure:
    """Per dataset (two panels per row): ``||w_t||`` against ``log t`` with the fitted line of
    each run (dashed) over the fitted range ``[T/2, T]``."""
    labels = result.values["labels"]
    fig, axes = subplots(2, (len(labels) + 1) // 2, width=3.6, height=2.8)
    for j, (ax, label) in enumerate(zip(axes, labels, strict=False)):
        keys = ("steps", "lr", "norm", "fit_slope", "fit_intercept", "fit_start")
        a = {key: result.arrays[f"s{j}.{key}"] for key in keys}
        t = np.maximum(a["steps"], 1)
        for k, (lr, color) in enumerate(zip(a["lr"], stepsize_colors(a["lr"]), strict=True)):
            norm = a["norm"][k]
            sel = thin(t, norm)
            ax.semilogx(t[sel], norm[sel], color=color, lw=1.0, label=f"{lr:g}")
            if np.isfinite(a["fit_slope"][k]):
                tt = t[sel][t[sel] >= a["fit_start"][k]]
                fit = a["fit_slope"][k] * np.log(tt.astype(float)) + a["fit_intercept"][k]
                ax.semilogx(tt, fit, color="k", ls="--", lw=0.8)
        ax.set_yscale("log")
        quiet_minor(ax)
        label_axes(ax, "step $t$ (log scale)", r"$\|\mathbf{w}_t\|$", label)
        ax.legend(title=r"$\tilde\eta$", fontsize=_SMALL, title_fontsize=_SMALL)
    for ax in axes[len(labels) :]:
        ax.set_axis_off()
    return fig


def figure4(result: Result) -> Figure:
    """Figure 4: (a) the loss; (b) the normalized margin of the network and the margins of each
    neuron (solid: ``phi`` definition, dashed: linear definition), one column per stepsize; the
    data's max margin and the margin of the network aligned with ``w_*`` as reference lines;
    one legend below the panels."""
    a = {key.removeprefix("f4."): v for key, v in result.arrays.items() if key.startswith("f4.")}
    K = len(a["lr"])
    fig, axes = subplots(K, 2, width=3.6, height=2.7)
    later = a["steps"] >= 1  # log-t axes: step 0 (the random initialisation) is not drawn
    t = a["steps"][later]
    for k in range(K):
        title = rf"$\tilde\eta$={a['lr'][k]:g} ($\eta$={a['eta'][k]:g})"
        risk = a["risk"][k][later]
        sel = thin(t, risk)
        axes[k].loglog(t[sel], risk[sel], color="k")
        label_axes(axes[k], "step $t$", r"risk $L(\mathbf{w}_t)$", f"(a) {title}")
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
        ax.axhline(result.values["f4_data"], color="tab:green", ls=":", label="data max margin")
        ax.axhline(result.values["f4_aligned"], color="tab:purple", ls=":",
                   label=r"net along $w_*$")  # fmt: skip
        ax.set_ylim(-1.2, 0.1)
        quiet_minor(ax)  # the loss panel keeps its minor labels: it spans less than a decade
        label_axes(ax, "step $t$", "margin", f"(b) {title}")
    handles, names = axes[K].get_legend_handles_labels()
    handles.append(Line2D([], [], color="grey", ls="--"))
    names.append(r"dashed: linear definition $y_i a_j x_i^\top w_j/\|w_j\|$")
    fig.legend(handles, names, loc="outside lower center", ncol=3, fontsize=_SMALL)
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The margin chapter's figures by name."""
    return {"margins": margins(result), "norm": norm_growth(result), "figure4": figure4(result)}
