"""Figures of the chapter "Noise equilibrium" (study ``noise-equilibrium``)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, stepsize_colors, subplots
from gdlab.plotting.noether import METHOD_STYLE

__all__ = [
    "figures",
    "orbit",
    "phi_sweep",
    "prediction_scatter",
    "two_layer",
    "warmup",
    "weight_decay_grid",
]


def orbit(result: Result) -> Figure:
    """T5: drift along the orbit (left) and the orbit coordinate of SGD and GD runs (right)."""
    a, lam_star = result.arrays, result.values["lam_star"]
    fig, (ax_g, ax_r) = subplots(2)
    g, gd = a["orbit.G"], a["orbit.G_d"]
    ax_g.plot(a["orbit.lambdas"], g / np.abs(g).max(), label="$G$ (Thm 4.3), scaled")
    ax_g.plot(a["orbit.lambdas"], gd / np.abs(gd).max(), ls="--", label="$G_d$ (Thm D.1), scaled")
    ax_g.axhline(0, color="k", lw=0.6)
    ax_g.axvline(lam_star, color="C3", lw=0.8, label=r"$\lambda^*$")
    label_axes(
        ax_g, r"orbit coordinate $\lambda$", "drift of $C$ (scaled)", "unique zero on the orbit"
    )
    ax_g.legend(fontsize=7)
    etas = a["orbit.sgd_etas"]
    colors = stepsize_colors(etas.tolist())
    for k, eta in enumerate(etas):
        first = k == 0 or eta != etas[k - 1]
        ax_r.plot(
            a["orbit.steps"],
            a["orbit.sgd_lam"][k],
            color=colors[k],
            lw=0.8,
            label=rf"SGD $\eta={eta:g}$" if first else None,
        )
    ax_r.plot(a["orbit.gd_steps"], a["orbit.gd_lam"][0], color="k", ls="--", label="GD")
    ax_r.axhline(lam_star, color="C3", lw=0.8, label=r"$\lambda^*$")
    label_axes(
        ax_r, "step $t$", r"orbit coordinate $\lambda$ of $\theta_t$", "SGD moves along the orbit"
    )
    ax_r.legend(fontsize=7)
    return fig


def two_layer(result: Result, entries: int = 10) -> Figure:
    """Figure 2 (left, middle): risk over training and entries of the two sides' difference."""
    fig, (ax_l, ax_d) = subplots(2)
    for method, style in METHOD_STYLE.items():
        steps = result.arrays[f"two_layer.{method}.steps"]
        ax_l.semilogy(
            steps, result.arrays[f"two_layer.{method}.loss"], label=method.upper(), **style
        )
        ax_d.plot(steps, result.arrays[f"two_layer.{method}.delta"][:, :entries], lw=0.8, **style)
    ax_d.axhline(0, color="k", lw=0.6)
    label_axes(ax_l, "step $t$", "population risk", "training (first init)")
    label_axes(
        ax_d,
        "step $t$",
        r"entries of $U^\top\bar\Sigma_\epsilon U - W\bar\Sigma_x W^\top$",
        "solid SGD, dashed GD",
    )
    ax_l.legend()
    return fig


def prediction_scatter(result: Result) -> Figure:
    """Figure 2 (right): measured against predicted ``||U||_F^2``, one point per run (2 s.e.)."""
    a = result.arrays
    fig, (ax,) = subplots(1, width=3.8)
    x = a["scatter.predicted"]
    ax.errorbar(
        x, a["scatter.sgd"], yerr=2 * a["scatter.sgd_se"], fmt="o", label=r"SGD ($\eta\to0$)"
    )
    ax.errorbar(x, a["scatter.gd"], fmt="s", mfc="none", label="GD")
    lims = [float(x.min()) * 0.8, float(x.max()) * 1.1]
    ax.plot(lims, lims, color="k", lw=0.6)
    label_axes(
        ax, r"Theorem 5.2: $\|U\|_F^2$", r"measured $\|U\|_F^2$", r"one run per $\Sigma_\epsilon$"
    )
    ax.legend(fontsize=7)
    return fig


def weight_decay_grid(result: Result) -> Figure:
    """T2': measured ``||u||^2 / ||w||^2`` against the adopted and printed Theorem 5.2."""
    a = result.arrays
    measured, stderr, adopted, printed = (
        a[f"wd.{k}"] for k in ("measured", "stderr", "adopted", "printed")
    )
    fig, (ax,) = subplots(1, width=4.6)
    lo = float(min(printed.min(), measured.min())) * 0.95
    hi = float(max(adopted.max(), measured.max())) * 1.05
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.6)
    for j in range(measured.shape[1]):
        ax.errorbar(
            adopted,
            measured[:, j],
            yerr=2 * stderr[:, j],
            fmt="o",
            color="C0",
            label=r"vs adopted $(\eta/S)\,\mathbb{E} + \gamma I$" if j == 0 else None,
        )
        ax.errorbar(
            printed,
            measured[:, j],
            yerr=2 * stderr[:, j],
            fmt="s",
            color="C3",
            mfc="none",
            label=r"vs printed $\mathbb{E} + 2\gamma I$" if j == 0 else None,
        )
    label_axes(
        ax,
        r"predicted $\|u\|^2/\|w\|^2$",
        r"measured $\|u\|^2/\|w\|^2$ (SGD)",
        "weight decay, width one",
    )
    ax.legend(fontsize=7)
    return fig


def phi_sweep(result: Result) -> Figure:
    """Figure 3: norm ratio ``||U||/||W||`` (left) and sharpness (right) against phi_x."""
    a = result.arrays
    phis = a["phi.phis"]
    fig, (ax_n, ax_s) = subplots(2)
    ax_n.plot(phis, a["phi.predicted_ratio"], color="k", label=r"Theorem 5.2 ($\gamma = 0$)")
    for i, (name, marker) in enumerate(
        zip(result.config["phi"]["settings"], "osd^v", strict=False)
    ):
        label = name.replace("eta", r"$\eta$")
        ax_n.plot(phis, a[f"phi.run{i}.ratio"], marker=marker, ls="none", label=label)
        ax_s.plot(phis, a[f"phi.run{i}.sharpness"], marker=marker, ls="none", label=label)
    ax_s.plot(phis, a["phi.predicted_sharpness"], color="k", label="Theorem 5.2 + Prop. 5.3")
    ax_s.axhline(
        float(a["phi.init_sharpness"].mean()), color="C7", ls="--", label="at initialisation"
    )
    label_axes(ax_n, r"$\phi_x$", r"$\|U\|_F / \|W\|_F$", r"norm balance only at $\phi_x = 1$")
    label_axes(
        ax_s,
        r"$\phi_x$",
        r"sharpness $\mathrm{Tr}\,\nabla^2 L$ ($\frac{1}{2}$-loss)",
        r"sharper for some $\phi_x$, flatter for others",
    )
    ax_n.legend(fontsize=7)
    ax_s.legend(fontsize=7)
    return fig


def warmup(result: Result) -> Figure:
    """Figure 4: sharpness over training for the five runs of the warmup experiment."""
    a, cfg = result.arrays, result.config["warmup"]
    fig, (ax,) = subplots(1, width=5.2)
    names = ["SGD Kaiming, constant", "SGD Kaiming, warmup", "SGD Xavier, warmup"]
    for k, name in enumerate(names):
        ax.semilogy(a["warmup.steps"], a["warmup.sharpness"][k], label=name)
    for k, name in enumerate(["GD Kaiming", "GD Xavier"]):
        ax.semilogy(a["warmup.gd_steps"], a["warmup.gd_sharpness"][k], ls="--", label=name)
    ax.axhline(result.values["wu_s_theory"], color="k", lw=0.8, label="Theorem 5.2 equilibrium")
    ax.axvline(cfg["switch"], color="C7", lw=0.8, ls=":")
    label_axes(
        ax,
        "step $t$",
        r"sharpness $\mathrm{Tr}\,\nabla^2 L$ ($\frac{1}{2}$-loss)",
        "warmup lets SGD flatten first",
    )
    ax.legend(fontsize=7)
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The chapter's figures by name."""
    return {
        "orbit": orbit(result),
        "two_layer": two_layer(result),
        "prediction_scatter": prediction_scatter(result),
        "weight_decay_grid": weight_decay_grid(result),
        "phi_sweep": phi_sweep(result),
        "warmup": warmup(result),
    }
