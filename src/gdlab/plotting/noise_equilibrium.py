"""Figures of the chapter "Noise equilibrium" (study ``noise-equilibrium``)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, stepsize_colors, subplots
from gdlab.plotting.noether import METHOD_STYLE

__all__ = [
    "anchor",
    "eq14_scaling",
    "figure8",
    "figures",
    "orbit",
    "phi_sweep",
    "prediction_scatter",
    "two_layer",
    "warmup",
    "weight_decay_grid",
]


def orbit(result: Result) -> Figure:
    """T5: drift along the orbit with the simulated G_d (left); orbit coordinate of SGD and GD
    runs started off the minimum (right)."""
    a, lam_star = result.arrays, result.values["lam_star"]
    fig, (ax_g, ax_r) = subplots(2)
    g, gd = a["orbit.G"], a["orbit.G_d"]
    scale = np.abs(gd).max()
    ax_g.plot(a["orbit.lambdas"], g / np.abs(g).max(), label="$G$ (Thm 4.3), scaled")
    ax_g.plot(a["orbit.lambdas"], gd / scale, ls="--", label="$G_d$ (Thm D.1), scaled")
    ax_g.errorbar(
        a["orbit.step_lambdas"],
        a["orbit.step_mc"] / scale,
        yerr=2 * a["orbit.step_se"] / scale,
        fmt="o",
        ms=3,
        color="C1",
        label="$G_d$ simulated",
    )
    ax_g.axhline(0, color="k", lw=0.6)
    ax_g.axvline(lam_star, color="C3", lw=0.8, label=r"$\lambda^*$")
    label_axes(
        ax_g, r"orbit coordinate $\lambda$", "drift of $C$ (scaled)", "unique zero on the orbit"
    )
    ax_g.legend(fontsize=7)
    etas = a["orbit.sgd_etas"]
    colors = stepsize_colors(sorted(set(etas.tolist())))
    for k, eta in enumerate(etas):
        first = k == 0 or eta != etas[k - 1]
        ax_r.plot(
            a["orbit.steps"],
            a["orbit.sgd_lam"][k],
            color=colors[sorted(set(etas.tolist())).index(eta)],
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


def eq14_scaling(result: Result) -> Figure:
    """The spectral residual of Eq. (14) against eta (log-log, 2 s.e.), the fitted power law and
    a line of slope 1."""
    a = result.arrays
    etas, res, se = a["two_layer.etas"], a["two_layer.residual"], a["two_layer.residual_se"]
    p, p_se = a["two_layer.exponent"]
    fig, (ax,) = subplots(1, width=3.8)
    ax.errorbar(etas, res, yerr=2 * se, fmt="o", label="SGD (mean over inits)")
    grid = np.geomspace(etas.min(), etas.max(), 20)
    fit = np.exp(np.mean(np.log(res) - p * np.log(etas))) * grid**p
    ax.plot(grid, fit, color="C0", lw=0.8, label=rf"fit: $\eta^{{{p:.2f}\pm{p_se:.2f}}}$")
    ax.plot(grid, res[-1] * grid / etas[-1], color="k", ls=":", lw=0.8, label=r"$\propto\eta$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    label_axes(ax, r"$\eta$", "spectral residual of Eq. (14)", r"the $O(\eta)$ bias")
    ax.legend(fontsize=7)
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
    """T2': ``||u||^2/||w||^2`` against eta at fixed kappa (2 s.e.), the eta -> 0 extrapolation,
    the adopted prediction (depends on kappa only) and the printed one."""
    a = result.arrays
    kappas, etas = a["wd.kappas"], a["wd.etas"]
    fig, (ax,) = subplots(1, width=4.6)
    for i, kappa in enumerate(kappas):
        color = f"C{i}"
        ax.errorbar(etas, a["wd.ratio"][i], yerr=2 * a["wd.ratio_se"][i], fmt="o", color=color)
        ax.errorbar(
            [0.0],
            [a["wd.extrapolated"][i]],
            yerr=[2 * a["wd.extrapolated_se"][i]],
            fmt="D",
            mfc="none",
            color=color,
        )
        ax.axhline(a["wd.adopted"][i], color=color, lw=0.8, label=rf"adopted, $\kappa={kappa:g}$")
        ax.plot(etas, a["wd.printed"][i], color=color, ls=":", lw=0.8)
    ax.plot([], [], color="k", ls=":", lw=0.8, label=r"printed $\mathbb{E}+2\gamma I$")
    label_axes(
        ax,
        r"$\eta$ (at $\gamma = \kappa\eta/S$; diamonds: $\eta\to0$)",
        r"$\|u\|^2/\|w\|^2$ (SGD)",
        "weight decay, width one",
    )
    ax.legend(fontsize=7)
    return fig


def phi_sweep(result: Result) -> Figure:
    """Figure 3: norm ratio ``||U||/||W||`` (left) and sharpness (right) against phi_x."""
    a = result.arrays
    phis = a["phi.phis"]
    names = result.tables["phi_settings"].column("setting")
    panels = {"SGD", *names[:1]}
    shown = [i for i, n in enumerate(names) if n in panels or "WD" in n]
    fig, (ax_n, ax_s) = subplots(2)
    ax_n.plot(phis, a["phi.predicted_ratio"], color="k", label=r"Theorem 5.2 ($\gamma = 0$)")
    ax_n.plot(phis, a["phi.extrapolated_ratio"], "x", color="C3", label=r"SGD, $\eta\to0$")
    ax_s.plot(phis, a["phi.extrapolated_sharpness"], "x", color="C3", label=r"SGD, $\eta\to0$")
    for i, marker in zip(shown, "osd^v", strict=False):
        label = names[i].replace("eta", r"$\eta$")
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


def figure8(result: Result) -> Figure:
    """Figure 8: ``||U||/||W||`` against phi_x with eta (top), the data dimension with the width
    (middle) and the batch size (bottom) varied; the Theorem 5.2 curve and norm balance."""
    a = result.arrays
    phis = a["phi.phis"]
    table = result.tables["phi_settings"]
    names = table.column("setting")
    cfg = result.config["phi"]
    default = (cfg["eta"], cfg["batch_size"], cfg["dx"], cfg["width"])
    rows = list(
        zip(
            names,
            table.column("eta"),
            table.column("S"),
            table.column("d_x"),
            table.column("d"),
            strict=True,
        )
    )
    sgd = [r for r in rows if not r[0].startswith(("GD", "SGD +"))]
    panels = {
        r"$\eta$": [(r, rf"$\eta={r[1]:g}$") for r in sgd if r[2:] == default[1:]],
        r"$d_x$ with $d$": [
            (r, rf"$d_x={r[3]}$, $d={r[4]}$") for r in sgd if r[1:3] == default[:2]
        ],
        "$S$": [(r, rf"$S={r[2]}$") for r in sgd if (r[1], *r[3:]) == (default[0], *default[2:])],
    }
    # one panel per row: three side by side would be drawn wider than the content column
    fig, axes = subplots(1, nrows=3, width=5.6, height=2.3)
    for ax, (title, members) in zip(axes, panels.items(), strict=True):
        ax.plot(phis, a["phi.predicted_ratio"], color="k", lw=0.8, label="Theorem 5.2")
        ax.axhline(1.0, color="C7", ls="--", lw=0.8, label="norm balance")
        for k, (row, label) in enumerate(members):
            i = names.index(row[0])
            ax.plot(phis, a[f"phi.run{i}.ratio"], "os^"[k % 3], ms=4, ls="none", label=label)
        label_axes(ax, r"$\phi_x$", r"$\|U\|_F/\|W\|_F$", f"{title} varied")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def warmup(result: Result) -> Figure:
    """Figure 4: mean sharpness over training (constant rate, warmup from Kaiming and Xavier,
    GD)."""
    a, cfg = result.arrays, result.config["warmup"]
    fig, (ax,) = subplots(1, width=5.2)
    # the constant-rate run until it diverges (its frozen record afterwards is not drawn)
    constant = np.where(np.isfinite(a["warmup.constant"]), a["warmup.constant"], np.nan)
    constant[constant > 1e6] = np.nan
    ax.semilogy(
        a["warmup.constant_steps"], constant, marker=".", label="SGD Kaiming, constant (diverges)"
    )
    ax.semilogy(a["warmup.steps"], a["warmup.kaiming"], label="SGD Kaiming, warmup (mean)")
    ax.semilogy(a["warmup.steps"], a["warmup.xavier"], label="SGD Xavier, warmup (mean)")
    for k, name in enumerate(["GD Kaiming", "GD Xavier"]):
        ax.semilogy(a["warmup.gd_steps"], a["warmup.gd"][k], ls="--", label=name)
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


def anchor(result: Result) -> Figure:
    """T6: the §5.4 balance ratio against eta (left) and the measured shift of E[u] against the
    linearised prediction (right), 2 s.e."""
    a = result.arrays
    etas, zetas = a["anchor.etas"], a["anchor.zetas"]
    fig, (ax_b, ax_s) = subplots(2)
    for j, zeta in enumerate(zetas):
        color = f"C{j}"
        ax_b.errorbar(
            etas,
            a["anchor.balance"][:, j],
            yerr=2 * a["anchor.balance_se"][:, j],
            fmt="o",
            color=color,
            label=rf"$\zeta={zeta:g}$",
        )
        ax_b.plot([0.0], [a["anchor.balance0"][j]], "D", mfc="none", color=color)
        ax_s.errorbar(
            a["anchor.predicted"][:, j],
            a["anchor.shift"][:, j],
            yerr=2 * a["anchor.shift_se"][:, j],
            fmt="o",
            color=color,
            label=rf"SGD, $\zeta={zeta:g}$",
        )
    ax_b.axhline(1.0, color="k", lw=0.8)
    label_axes(
        ax_b,
        r"$\eta$ (diamonds: $\eta\to0$)",
        r"$\mathbb{E}[\zeta(u-u_0)u]\,/\,\mathbb{E}[\sigma^2\mathrm{Tr}\Sigma A]$",
        "the balance of §5.4",
    )
    top = float(a["anchor.predicted"].max()) * 1.1
    ax_s.plot([0, top], [0, top], color="k", lw=0.8, label="prediction")
    ax_s.plot([0, top], [0, 0], color="C7", ls="--", lw=0.8, label="GD (no shift)")
    label_axes(
        ax_s,
        r"$\sigma^2\mathrm{Tr}[\Sigma A]/(\zeta u_0)$",
        r"$\mathbb{E}[u] - u_0$",
        "the shift of the mean",
    )
    ax_b.legend(fontsize=7)
    ax_s.legend(fontsize=7)
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The chapter's figures by name."""
    return {
        "orbit": orbit(result),
        "two_layer": two_layer(result),
        "eq14_scaling": eq14_scaling(result),
        "prediction_scatter": prediction_scatter(result),
        "weight_decay_grid": weight_decay_grid(result),
        "phi_sweep": phi_sweep(result),
        "figure8": figure8(result),
        "warmup": warmup(result),
        "anchor": anchor(result),
    }
