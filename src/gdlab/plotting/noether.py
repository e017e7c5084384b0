"""Figures of the chapter "Noether charge and its flow" (study ``noether-charge``)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, stepsize_colors, subplots

__all__ = [
    "METHOD_STYLE",
    "charge_runs",
    "figures",
    "normalized_nets",
    "rate_sweep",
    "scale_invariance",
]

#: Solid lines for SGD, dashed for GD (every Part II figure).
METHOD_STYLE = {"sgd": {"ls": "-"}, "gd": {"ls": "--"}}


def charge_runs(result: Result) -> Figure:
    """T1: the charge ``C = u^2 - w^2`` (left) and the risk (right) under SGD and GD."""
    cfg = result.config["conservation"]
    labels = [f"$u_0={u:g}$, $w_0={w:g}$" for u, w in zip(cfg["u0"], cfg["w0"], strict=True)]
    fig, (ax_c, ax_l) = subplots(2)
    colors = stepsize_colors(list(range(len(labels))))
    steps = result.arrays["t1.steps"]
    for method, style in METHOD_STYLE.items():
        for k, label in enumerate(labels):
            kw = {"color": colors[k], **style}
            ax_c.plot(
                steps, result.arrays[f"t1.{method}.C"][k], label=f"{method.upper()} {label}", **kw
            )
            ax_l.semilogy(steps, result.arrays[f"t1.{method}.loss"][k], **kw)
    ax_c.axhline(0, color="k", lw=0.6)
    label_axes(ax_c, "step $t$", r"charge $C = u^2 - w^2$", "GD conserves $C$, SGD drives it to 0")
    label_axes(ax_l, "step $t$", r"population risk $L$", "both reach the minimum")
    ax_c.legend(ncol=2)
    return fig


def rate_sweep(result: Result) -> Figure:
    """T1 decay rate per step divided by the Eq. (5) closed form, against eta, for every S, with
    the model ``1 + b eta + c eta^2`` (derived b, fitted c) and its limit at eta = 0."""
    a = result.arrays
    fig, (ax,) = subplots(1, width=5.4, height=3.2)
    etas = a["rate.etas"]
    grid = np.linspace(0, etas.max(), 100)
    for j, S in enumerate(a["rate.batch_sizes"]):
        ratio = a["rate.measured"][:, j] / a["rate.eq5"][:, j]
        err = a["rate.stderr"][:, j] / a["rate.eq5"][:, j]
        ax.errorbar(etas, ratio, yerr=2 * err, marker="o", ls="none", capsize=3, label=f"$S={S}$")
        color = ax.lines[-1].get_color()
        cond = a["rate.conditional"][:, j] / a["rate.eq5"][:, j]
        ax.plot(etas, cond, ls="none", marker="x", color=color)
        b, c, limit = (a[f"rate.{k}"][j] for k in ("slopes", "curvatures", "limits"))
        ax.plot(grid, limit + b * grid + c * grid**2, ls=":", color=color)
    ax.axhline(1.0, color="k", lw=1, label=r"Eq. (5): prefactor $2\sigma^2$")
    ax.axhline(0.5, color="C3", lw=1, ls="--", label=r"Eq. (7): prefactor $\sigma^2$")
    ax.set_xlim(0, None)
    label_axes(
        ax,
        r"learning rate $\eta$",
        r"rate / $(4\eta^2\,\mathrm{Var}[rx]/S)$",
        "decay rate of $C$ (x: exact rate at the visited states)",
    )
    ax.legend(fontsize=7, ncol=2)
    return fig


def scale_invariance(result: Result) -> Figure:
    """T4: ``||theta||^4`` over training; dashed lines at the predicted stationary levels."""
    cfg = result.config["scale_invariant"]
    labels = [
        rf"$\gamma={g:g}$, $\|\theta_0\|={n:g}$"
        for g, n in zip(cfg["gammas"], cfg["norms0"], strict=True)
    ]
    fig, (ax,) = subplots(1, width=5.0)
    steps, norm_sq, levels = (result.arrays[k] for k in ("si.steps", "si.norm_sq", "si.levels"))
    colors = stepsize_colors(list(range(len(labels))))
    for k, label in enumerate(labels):
        ax.plot(steps, norm_sq[k] ** 2, color=colors[k], label=label)
        if np.isfinite(levels[k]):
            ax.axhline(levels[k], color=colors[k], ls="--", lw=0.8)
    label_axes(ax, "step $t$", r"$\|\theta\|^4$", "norm of a scale-invariant model under SGD")
    ax.legend(fontsize=7)
    return fig


def normalized_nets(result: Result) -> Figure:
    """Figure 7: one row per net; left the total norm ``||u||^2 + ||w||^2`` under SGD, GD and SGD
    with weight decay, right the layer norms under SGD and GD; replica means over initial values."""
    steps = result.arrays["nets.steps"]
    fig, axes = subplots(2, 2, height=2.6)
    styles = {"SGD": {"ls": "-"}, "GD": {"ls": "--"}, "SGD+WD": {"ls": ":"}}
    for row, variant in enumerate(("A", "B")):
        ax_t, ax_l = axes[2 * row : 2 * row + 2]
        for label, style in styles.items():
            n = result.arrays[f"nets.{variant}.{label}"]  # (T, 2) replica means
            ax_t.plot(steps, n.sum(1), color="k", label=label, **style)
            if label != "SGD+WD":
                ax_l.plot(steps, n[:, 0], color="C0", label=f"$\\|w\\|^2$ {label}", **style)
                ax_l.plot(steps, n[:, 1], color="C1", label=f"$\\|u\\|^2$ {label}", **style)
        label_axes(ax_t, "step $t$", r"$\|u\|_F^2 + \|w\|_F^2$", f"Net-{variant}: total norm")
        label_axes(ax_l, "step $t$", "layer norm$^2$", f"Net-{variant}: layer norms")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7, ncol=2)
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The chapter's figures by name."""
    return {
        "charge_runs": charge_runs(result),
        "rate_sweep": rate_sweep(result),
        "scale_invariance": scale_invariance(result),
        "normalized_nets": normalized_nets(result),
    }
