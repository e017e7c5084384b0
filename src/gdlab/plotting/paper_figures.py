"""Figures of the paper-figures page: the paper's Figures 1-4 redrawn from the study's runs,
and the rate collapse ``L`` against ``tilde-eta t`` of the Figure 2 sweeps.

The arrays are the study's (``gdlab.studies.paper_figures``): ``fig1.*``,
``xor.<activation>.*``, ``images.<activation>.*`` and ``fig4.*``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, stepsize_colors, subplots

__all__ = ["figure1", "figure2", "figure3", "figure4", "figures", "rate_collapse"]

_ETA = r"$\tilde\eta$"
_DATA = {"xor": "XOR", "images": "images"}


def _without_minor_ticks(fig: Figure) -> Figure:
    """Drop the minor ticks of every axes: on these log axes they cost about two thirds of the
    rendering time (measured: 2.2 s -> 0.8 s for one three-panel Figure 2 row)."""
    for ax in fig.axes:
        ax.minorticks_off()
    return fig


def _sweep(result: Result, data: str) -> dict[str, dict[str, np.ndarray]]:
    """The arrays of one Figure 2 sweep (``data``: ``"xor"`` or ``"images"``) by activation."""
    if data not in _DATA:
        raise ValueError(f"data={data!r}; allowed: {', '.join(_DATA)}")
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, value in result.arrays.items():
        head, _, series = key.rpartition(".")
        prefix, _, activation = head.partition(".")
        if prefix == data:
            out.setdefault(activation, {})[series] = value
    return out


def figure1(result: Result) -> Figure:
    """Figure 1: (a) risk, (b) ``||w||^4``-normalised margin, (c) test accuracy of the deep MLP."""
    a = {k.removeprefix("fig1."): v for k, v in result.arrays.items() if k.startswith("fig1.")}
    fig, (ax_risk, ax_margin, ax_acc) = subplots(3)
    for k, color in enumerate(stepsize_colors(a["lr"])):
        ax_risk.semilogy(a["steps"], a["risk"][k], color=color, label=f"{_ETA}$={a['lr'][k]:g}$")
        ax_margin.plot(a["steps"], a["normalized_margin"][k], color=color)
        if a["test_accuracy"].size:
            ax_acc.plot(a["test_steps"], a["test_accuracy"][k], color=color)
    label_axes(ax_risk, "step $t$", r"risk $L(\mathbf{w}_t)$", "(a) risk")
    margin = r"$\min_i y_i f(\mathbf{w}_t;\mathbf{x}_i)/\|\mathbf{w}_t\|^4$"
    label_axes(ax_margin, "step $t$", margin, "(b) normalized margin")
    label_axes(ax_acc, "step $t$", "test accuracy", "(c) test accuracy")
    ax_risk.legend()
    return fig


def figure2(result: Result, data: str) -> Figure:
    """Figure 2 on ``data`` (``"xor"``: panels a-c, ``"images"``: d-f), one row per activation:
    the risk, ``tilde-eta t L_t`` and the normalized margin, light (small) to dark (large)
    stepsizes, on log time axes."""
    sweep = _sweep(result, data)
    fig, axes = subplots(3, len(sweep))
    for row, (activation, a) in enumerate(sweep.items()):
        ax_risk, ax_rate, ax_margin = axes[3 * row : 3 * row + 3]
        sel = a["steps"] >= 1  # log-scaled time axes
        t = a["steps"][sel]
        for k, color in enumerate(stepsize_colors(a["lr"])):
            ax_risk.loglog(t, a["risk"][k, sel], color=color, label=f"{_ETA}$={a['lr'][k]:g}$")
            ax_rate.loglog(t, a["lr"][k] * t * a["risk"][k, sel], color=color)
            ax_margin.semilogx(t, a["normalized_margin"][k, sel], color=color)
        name = activation.replace("_", " ")
        label_axes(ax_risk, "step $t$", r"risk $L(\mathbf{w}_t)$", f"risk, {name}")
        label_axes(ax_rate, "step $t$", r"$\tilde\eta\, t\, L(\mathbf{w}_t)$", "asymptotic rate")
        label_axes(ax_margin, "step $t$", r"$\bar\gamma(\mathbf{w}_t)$", "normalized margin")
        ax_risk.legend()
    return _without_minor_ticks(fig)


def figure3(result: Result) -> Figure:
    """Figure 3: test accuracy of the image runs against the step, one panel per activation,
    and the final test accuracy against the stepsize."""
    sweep = _sweep(result, "images")
    fig, axes = subplots(len(sweep) + 1)
    for ax, (activation, a) in zip(axes[:-1], sweep.items(), strict=True):
        for k, color in enumerate(stepsize_colors(a["lr"])):
            ax.plot(
                a["test_steps"],
                a["test_accuracy"][k],
                color=color,
                label=f"{_ETA}$={a['lr'][k]:g}$",
            )
        label_axes(ax, "step $t$", "test accuracy", activation.replace("_", " "))
        axes[-1].semilogx(
            a["lr"], a["test_accuracy"][:, -1], "o-", label=activation.replace("_", " ")
        )
    axes[0].legend()
    axes[-1].legend()
    label_axes(axes[-1], rf"stepsize {_ETA}", "final test accuracy", "accuracy vs stepsize")
    return _without_minor_ticks(fig)


def rate_collapse(result: Result) -> Figure:
    """``L(w_t)`` against ``tilde-eta t`` on log-log axes, one panel per sweep (spec §5, Figure
    2(b,e)): where the rate ``L ~ C/(tilde-eta t)`` of Theorem 4.1 holds, the runs of a sweep
    fall on one line of slope -1 (dotted guide through the last point of the median stepsize)."""
    panels = [(data, act, a) for data in _DATA for act, a in _sweep(result, data).items()]
    fig, axes = subplots(len(panels), width=3.0, height=2.6)
    seen: set[str] = set()
    for ax, (data, activation, a) in zip(axes, panels, strict=True):
        lrs, steps = a["lr"], a["steps"]
        sel = steps >= 1
        for k, color in enumerate(stepsize_colors(lrs)):
            ax.loglog(
                lrs[k] * steps[sel], a["risk"][k, sel], color=color, label=f"{_ETA}$={lrs[k]:g}$"
            )
        k0 = int(np.argsort(lrs)[len(lrs) // 2])
        x = np.geomspace(lrs.min(), lrs.max() * steps[-1], 50)
        ax.loglog(x, a["risk"][k0, -1] * lrs[k0] * steps[-1] / x, "k:", lw=1, label="slope $-1$")
        title = f"{_DATA[data]}, {activation.replace('_', ' ')}"
        label_axes(ax, r"$\tilde\eta\, t$", r"risk $L(\mathbf{w}_t)$", title)
        if data not in seen:
            ax.legend()
            seen.add(data)
    return _without_minor_ticks(fig)


def figure4(result: Result) -> Figure:
    """Figure 4: (a) the risk and (b) the network's and every neuron's normalized margin (with
    ``phi`` and linear) on the five points, one pair of panels per stepsize."""
    a = {k.removeprefix("fig4."): v for k, v in result.arrays.items() if k.startswith("fig4.")}
    K = len(a["lr"])
    fig, axes = subplots(2, K)
    sel = a["steps"] >= 1  # log-scaled time axes
    t = a["steps"][sel]
    for k in range(K):
        ax_loss, ax_margin = axes[2 * k], axes[2 * k + 1]
        title = rf"{_ETA}$={a['lr'][k]:g}$ ($\eta={a['eta'][k]:g}$)"
        ax_loss.loglog(t, a["risk"][k, sel])
        ax_margin.semilogx(t, a["normalized_margin"][k, sel], color="k", label="network")
        for j in range(a["neuron_margins"].shape[-1]):
            ax_margin.semilogx(t, a["neuron_margins"][k, sel, j], label=rf"neuron {j + 1} ($\phi$)")
            ax_margin.semilogx(
                t, a["neuron_linear_margins"][k, sel, j], ls="--", label=f"neuron {j + 1} (linear)"
            )
        ax_margin.axhline(0.0, color="grey", lw=0.8)
        label_axes(ax_loss, "step $t$", r"risk $L(\mathbf{w}_t)$", f"(a) loss, {title}")
        label_axes(ax_margin, "step $t$", "normalized margin", f"(b) margins, {title}")
        ax_margin.legend()
    return _without_minor_ticks(fig)


def figures(result: Result) -> dict[str, Figure]:
    """Every figure of the page, by name."""
    return {
        "deep-mlp": figure1(result),
        "xor": figure2(result, "xor"),
        "images": figure2(result, "images"),
        "test-accuracy": figure3(result),
        "rate-collapse": rate_collapse(result),
        "five-point": figure4(result),
    }
