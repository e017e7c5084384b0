"""Figures of the margin-improvement chapter: margins and norm after ``s*``, and Figure 4.

Each function takes the study's :class:`~gdlab.experiments.study.Result`; sweep ``j`` is stored
under ``s{j}.*`` in its arrays, Figure 4 under ``f4.*``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, quiet_minor, stepsize_colors, subplots, thin

__all__ = ["figure4", "figures", "margins", "norm_growth"]


def margins(result: Result) -> Figure:
    """Per dataset: the normalized margin ``gamma-bar`` (top; ``s*`` marked) and
    ``log10 gamma^c`` after ``s*`` (bottom), one curve per stepsize."""
    labels = result.values["labels"]
    n = len(labels)
    fig, axes = subplots(n, 2, width=3.4, height=2.6)
    for j, label in enumerate(labels):
        a = {key: result.arrays[f"s{j}.{key}"]
             for key in ("steps", "lr", "gamma_bar", "log_gamma_c", "s_star")}  # fmt: skip
        t = np.maximum(a["steps"], 1)
        for k, (lr, color) in enumerate(zip(a["lr"], stepsize_colors(a["lr"]), strict=True)):
            gbar, lgc = a["gamma_bar"][k], a["log_gamma_c"][k]
            sel = thin(t, gbar)
            axes[j].semilogx(t[sel], gbar[sel], color=color, lw=1.0, label=f"{lr:g}")
            if np.isfinite(a["s_star"][k]):
                i = int(np.searchsorted(a["steps"], a["s_star"][k]))
                axes[j].plot(t[i], gbar[i], "s", color=color, ms=4)
                sel = i + thin(t[i:], lgc[i:])
                axes[n + j].semilogx(t[sel], lgc[sel] / np.log(10), color=color, lw=1.0)
        axes[j].set_ylim(bottom=max(axes[j].get_ylim()[0], -0.1))
        axes[n + j].set_xlim(axes[j].get_xlim())
        quiet_minor(axes[j], axes[n + j])
        label_axes(axes[j], "step $t$", r"$\bar\gamma(\mathbf{w}_t)$", label)
        label_axes(axes[n + j], "step $t$", r"$\log_{10}\gamma^c(\mathbf{w}_t)$, $t\geq s^*$")
        axes[j].legend(title=r"$\tilde\eta$", fontsize=6, title_fontsize=7)
    return fig


def norm_growth(result: Result) -> Figure:
    """Per dataset: ``||w_t||`` against ``log t`` with the fitted line of each run (dashed) over
    the fitted range."""
    labels = result.values["labels"]
    fig, axes = subplots(len(labels), width=3.4, height=2.8)
    for j, (ax, label) in enumerate(zip(axes, labels, strict=True)):
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
        ax.legend(title=r"$\tilde\eta$", fontsize=6, title_fontsize=7)
    return fig


def figure4(result: Result) -> Figure:
    """Figure 4: (a) the loss; (b) the normalized margin of the network and the margins of each
    neuron (solid: ``phi`` definition, dashed: linear definition), one column per stepsize; the
    data's max margin and the margin of the network aligned with ``w_*`` as reference lines."""
    a = {key.removeprefix("f4."): v for key, v in result.arrays.items() if key.startswith("f4.")}
    K = len(a["lr"])
    fig, axes = subplots(K, 2, width=3.6, height=2.8)
    later = a["steps"] >= 1  # log-t axes: step 0 (the random initialisation) is not drawn
    t = a["steps"][later]
    for k in range(K):
        title = rf"$\tilde\eta$={a['lr'][k]:g} ($\eta$={a['eta'][k]:g})"
        risk = a["risk"][k][later]
        sel = thin(t, risk)
        axes[k].loglog(t[sel], risk[sel], color="k")
        label_axes(axes[k], "step $t$", r"risk $L(\mathbf{w}_t)$", f"(a) loss, {title}")
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
        quiet_minor(axes[k], ax)
        label_axes(ax, "step $t$", "margin", f"(b) margins, {title}")
        ax.legend(fontsize=6, loc="lower right")
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The margin chapter's figures by name."""
    return {"margins": margins(result), "norm": norm_growth(result), "figure4": figure4(result)}
