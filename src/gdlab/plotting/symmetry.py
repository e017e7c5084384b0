"""Figures of Part II (parameter symmetry and the noise equilibrium of SGD).

Every function takes results computed by :mod:`gdlab.symmetry` and returns a matplotlib figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from gdlab.plotting import label_axes, stepsize_colors, subplots

__all__ = [
    "plot_balance_heatmaps",
    "plot_layer_norms",
    "plot_orbit",
    "plot_phi_sweep",
    "plot_prediction_scatter",
    "plot_two_layer",
    "plot_warmup",
    "plot_weight_decay_grid",
]

METHOD_STYLE = {"sgd": dict(ls="-"), "gd": dict(ls="--")}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def plot_orbit(result) -> Figure:
    """T5: drift along the orbit (left) and the orbit coordinate of SGD and GD runs (right)."""
    fig, (ax_g, ax_r) = subplots(2)
    lams = _np(result.drift.lams)
    g, gd = _np(result.drift.G[:, 0]), _np(result.drift.G_d[:, 0])
    ax_g.plot(lams, g / np.abs(g).max(), label="G (Thm 4.3), scaled")
    ax_g.plot(lams, gd / np.abs(gd).max(), ls="--", label="G_d (Thm D.1), scaled")
    ax_g.axhline(0, color="k", lw=0.6)
    ax_g.axvline(result.lam_star, color="C3", lw=0.8, label="λ*")
    label_axes(ax_g, "orbit coordinate λ", "drift of C (scaled)", "unique zero on the orbit")
    ax_g.legend(fontsize=7)
    steps = _np(result.runs["sgd"].steps)
    colors = stepsize_colors(_np(result.etas).tolist())
    for k, eta in enumerate(_np(result.etas)):
        ax_r.plot(
            steps,
            _np(result.runs["sgd"].series["lam"][k]),
            color=colors[k],
            lw=0.8,
            label=f"SGD η={eta:g}" if k == 0 or eta != result.etas[k - 1] else None,
        )
    ax_r.plot(steps, _np(result.runs["gd"].series["lam"][0]), color="k", ls="--", label="GD")
    ax_r.axhline(result.lam_star, color="C3", lw=0.8, label="λ*")
    label_axes(ax_r, "step t", "orbit coordinate λ of θ_t", "SGD moves along the orbit")
    ax_r.legend(fontsize=7)
    return fig


def plot_two_layer(runs: dict, entries: int = 10) -> Figure:
    """Figure 2 (left, middle): risk over training and entries of ``U^T G_U U - W G_W W^T``."""
    fig, (ax_l, ax_d) = subplots(2)
    for method, run in runs.items():
        steps = _np(run.steps)
        ax_l.semilogy(
            steps, _np(run.series["loss"][0]), label=method.upper(), **METHOD_STYLE[method]
        )
        delta = run.series["lhs"][0] - run.series["rhs"][0]
        flat = delta.reshape(delta.shape[0], -1)[:, :entries]
        ax_d.plot(steps, _np(flat), lw=0.8, **METHOD_STYLE[method])
    ax_d.axhline(0, color="k", lw=0.6)
    label_axes(ax_l, "step t", "population risk", "training (first init)")
    label_axes(ax_d, "step t", "entries of U'Σ̄εU − WΣ̄xW'", "solid SGD, dashed GD")
    ax_l.legend()
    return fig


def plot_prediction_scatter(
    predicted: torch.Tensor,
    measured: dict[str, tuple[torch.Tensor, torch.Tensor | None]],
    quantity: str,
) -> Figure:
    """Figure 2 (right): measured against predicted values, one point per run (2 s.e. bars)."""
    fig, (ax,) = subplots(1, width=3.8)
    x = _np(predicted)
    for (name, (values, se)), marker in zip(measured.items(), "os^", strict=False):
        yerr = None if se is None else 2 * _np(se)
        ax.errorbar(
            x, _np(values), yerr=yerr, fmt=marker, mfc="none" if se is None else None, label=name
        )
    lims = [float(x.min()) * 0.8, float(x.max()) * 1.1]
    ax.plot(lims, lims, color="k", lw=0.6)
    label_axes(ax, f"Theorem 5.2: {quantity}", f"measured {quantity}", "one run per Σε")
    ax.legend(fontsize=7)
    return fig


def plot_weight_decay_grid(grid) -> Figure:
    """T2': measured ``||u||^2 / ||w||^2`` against the adopted and printed Theorem 5.2."""
    fig, (ax,) = subplots(1, width=4.6)
    lo = float(min(grid.printed.min(), grid.measured.min())) * 0.95
    hi = float(max(grid.adopted.max(), grid.measured.max())) * 1.05
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.6)
    for j in range(grid.measured.shape[1]):
        ax.errorbar(
            _np(grid.adopted),
            _np(grid.measured[:, j]),
            yerr=_np(2 * grid.stderr[:, j]),
            fmt="o",
            color="C0",
            label="vs adopted (η/S)E + γI" if j == 0 else None,
        )
        ax.errorbar(
            _np(grid.printed),
            _np(grid.measured[:, j]),
            yerr=_np(2 * grid.stderr[:, j]),
            fmt="s",
            color="C3",
            mfc="none",
            label="vs printed E + 2γI" if j == 0 else None,
        )
    label_axes(ax, "predicted ‖u‖²/‖w‖²", "measured ‖u‖²/‖w‖² (SGD)", "weight decay, width one")
    ax.legend(fontsize=7)
    return fig


def plot_phi_sweep(
    phis: Sequence[float], runs: dict, prediction, start: int, init_sharpness: torch.Tensor
) -> Figure:
    """Figure 3: norm ratio ``||U||/||W||`` (left) and sharpness (right) against phi_x."""
    fig, (ax_n, ax_s) = subplots(2)
    phis = np.asarray(phis)
    ax_n.plot(
        phis,
        _np((prediction.u_sq / prediction.w_sq).sqrt()),
        color="k",
        label="Theorem 5.2 (γ = 0)",
    )
    for (name, run), marker in zip(runs.items(), "osd^v", strict=False):
        u = run.window("u_sq", start).mean(1)
        w = run.window("w_sq", start).mean(1)
        ax_n.plot(phis, _np((u / w).sqrt()), marker=marker, ls="none", label=name)
        ax_s.plot(
            phis, _np(run.window("sharpness", start).mean(1)), marker=marker, ls="none", label=name
        )
    ax_s.plot(phis, _np(prediction.sharpness), color="k", label="Theorem 5.2 + Prop. 5.3")
    ax_s.axhline(float(init_sharpness.mean()), color="C7", ls="--", label="at initialisation")
    label_axes(ax_n, "φx", "‖U‖_F / ‖W‖_F", "norm balance only at φx = 1")
    label_axes(ax_s, "φx", "sharpness Tr∇²L (½-loss)", "sharper for some φx, flatter for others")
    ax_n.legend(fontsize=7)
    ax_s.legend(fontsize=7)
    return fig


def plot_warmup(result: dict) -> Figure:
    """Figure 4: sharpness over training for the five runs of the warmup experiment."""
    fig, (ax,) = subplots(1, width=5.2)
    first, second, gd = result["first"], result["second"], result["gd"]
    switch = int(first.steps[-1])
    for k, name in enumerate(result["names"]):
        steps = np.concatenate([_np(first.steps), switch + _np(second.steps)])
        values = np.concatenate(
            [_np(first.series["sharpness"][k]), _np(second.series["sharpness"][k])]
        )
        ax.semilogy(steps, values, label=name)
    for k, name in enumerate(result["gd_names"]):
        ax.semilogy(_np(gd.steps), _np(gd.series["sharpness"][k]), ls="--", label=name)
    ax.axhline(
        float(result["prediction"].sharpness[0]), color="k", lw=0.8, label="Theorem 5.2 equilibrium"
    )
    ax.axvline(switch, color="C7", lw=0.8, ls=":")
    label_axes(ax, "step t", "sharpness Tr∇²L (½-loss)", "warmup lets SGD flatten first")
    ax.legend(fontsize=7)
    return fig


def plot_layer_norms(
    run, titles: Sequence[str], predictions: dict[str, np.ndarray] | None = None
) -> Figure:
    """Per-layer squared norms over training, one panel per run; optional dashed predictions."""
    fig, axes = subplots(len(titles))
    steps = _np(run.steps)
    depth = run.series["norm_sq"].shape[-1]
    for k, (ax, title) in enumerate(zip(axes, titles, strict=True)):
        for i in range(depth):
            ax.plot(steps, _np(run.series["norm_sq"][k, :, i]), label=f"layer {i + 1}")
        for name, values in (predictions or {}).items():
            for i, v in enumerate(values):
                ax.axhline(v, color=f"C{i}", lw=0.8, ls="--" if name == "corrected" else ":")
        label_axes(ax, "step t", "‖W_i‖_F²", title)
    axes[0].legend(fontsize=7)
    return fig


def plot_balance_heatmaps(sides: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Figure:
    """Figures 6 and 9: heatmaps of ``W bar S_x W^T`` and ``U^T bar S_eps U`` per run."""
    fig, axes = subplots(2, len(sides), width=2.6, height=2.4)
    for row, (name, (lhs, rhs)) in enumerate(sides.items()):
        vmax = float(max(lhs.abs().max(), rhs.abs().max()))
        for col, (mat, label) in enumerate(((rhs, "W Σ̄x Wᵀ"), (lhs, "Uᵀ Σ̄ε U"))):
            ax = axes[2 * row + col]
            ax.imshow(_np(mat), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    return fig
