"""Figure of the intro page: risk against step for a small and a large stepsize."""

from __future__ import annotations

from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, subplots

__all__ = ["figures", "risk_curves"]


def risk_curves(result: Result) -> Figure:
    """Risk against step on a log scale, with the large run's monotone-from step marked."""
    fig, (ax,) = subplots(width=6.0, height=3.2)
    t, risk, lrs = result.arrays["steps"], result.arrays["risk"], result.arrays["lr"]
    for k, color in enumerate(("tab:blue", "tab:red")):
        ax.semilogy(t, risk[k], color=color, label=f"stepsize {lrs[k]:g}")
    start = result.values["monotone_step"]
    ax.axvline(start, color="tab:red", ls=":", lw=1)
    ax.annotate(
        "monotone from here",
        (start, float(risk[1, -1])),
        xytext=(8, 20),
        textcoords="offset points",
        color="tab:red",
        fontsize="medium",  # the axes labels' size, not the smaller default
    )
    label_axes(ax, "step $t$", r"risk $L(\mathbf{w}_t)$", f"GD on {result.values['dataset']}")
    ax.legend(fontsize="medium")
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The intro's figures by name."""
    return {"risk": risk_curves(result)}
