"""Figure of the setting chapter: the activations and their Assumption 2 quantities, drawn for
the book's content column (7.2 in wide, text of at least 9 pt)."""

from __future__ import annotations

from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, subplots

__all__ = ["activations", "figures"]


def activations(result: Result) -> Figure:
    """``phi``, ``phi'`` and ``phi - z phi'`` (Assumption 2A-2C) of each plotted activation, two
    panels per row; the fourth panel holds the legend."""
    z, phi, dphi = result.arrays["z"], result.arrays["phi"], result.arrays["dphi"]
    fig, axes = subplots(2, 2, width=3.6, height=2.6)
    for k, name in enumerate(result.values["plotted"]):
        axes[0].plot(z, phi[k], label=name)
        axes[1].plot(z, dphi[k])
        axes[2].plot(z, phi[k] - z * dphi[k])
    label_axes(axes[0], "$z$", r"$\phi(z)$", "activation")
    label_axes(axes[1], "$z$", r"$\phi'(z)$", r"slope: $\alpha \leq |\phi'| \leq 1$ (2A)")
    label_axes(axes[2], "$z$", r"$\phi(z) - z\phi'(z)$", r"homogeneity gap, $\leq \kappa$ (2C)")
    axes[3].set_axis_off()
    axes[3].legend(*axes[0].get_legend_handles_labels(), loc="center", fontsize=10)
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The setting chapter's figures by name."""
    return {"activations": activations(result)}
