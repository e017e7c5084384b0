"""Figure of the stress-tests appendix: where the cases of a profile lie."""

from __future__ import annotations

from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, subplots
from gdlab.stepsize.stress import REACHED

__all__ = ["case_map", "figures"]

#: Color and marker per code of :data:`~gdlab.stepsize.stress.REACHED`.
_MARKERS = {
    2: ("tab:green", "o"),
    1: ("tab:orange", "s"),
    0: ("tab:gray", "^"),
    -1: ("tab:red", "x"),
}


def case_map(result: Result) -> Figure:
    """Each case at its per-neuron stepsize ``eta`` and number of steps, marked by how far the
    run got: past eq. (5) (the stable-phase claims are exercised), eq. (4) only, or neither."""
    fig, (ax,) = subplots(width=6.0, height=3.2)
    eta, steps, reached = result.arrays["eta"], result.arrays["steps"], result.arrays["reached"]
    for code, label in REACHED.items():
        color, marker = _MARKERS[code]
        sel = reached == code
        if sel.any():
            ax.scatter(eta[sel], steps[sel], s=14, c=color, marker=marker,
                       label=f"{label} ({int(sel.sum())})")  # fmt: skip
    ax.set_xscale("log")
    title = f"{result.values['cases']} cases of the {result.values['profile']} profile"
    label_axes(ax, r"per-neuron stepsize $\eta$", "GD steps $T$", title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The appendix's figures by name."""
    return {"cases": case_map(result)}
