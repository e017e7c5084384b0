"""Figures of the paper-figures page: the paper's Figures 1-4 redrawn from the study's runs,
and the rate collapse ``L`` against ``tilde-eta t`` of the Figure 2 sweeps.

The arrays are the study's (``gdlab.studies.paper_figures``): ``fig1.*``,
``xor.<activation>.*``, ``images.<activation>.*`` and ``fig4.*``. Every figure is drawn for the
book's content column (:data:`COLUMN` inches wide, at most three panels per row, text at
least :data:`LEGEND_SIZE` points) and shown at its natural size.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, stepsize_colors, subplots

__all__ = [
    "COLUMN",
    "LEGEND_SIZE",
    "figure1",
    "figure2",
    "figure3",
    "figure4",
    "figures",
    "rate_collapse",
]

#: Width of the book's content column in inches: a figure at most this wide is shown unscaled.
COLUMN = 7.2
#: Font size of legends (points); the book's text is never smaller than this at display size.
LEGEND_SIZE = 9
_PER_ROW = 3  # panels per row at the column width (2.4 in each)
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


def _palette(sweep: dict[str, dict[str, np.ndarray]]) -> dict[float, tuple]:
    """One colour per stepsize of a sweep, over all its activations (light: small, dark: large),
    so that a stepsize has the same colour in every panel and in the legend."""
    lrs = sorted({float(lr) for a in sweep.values() for lr in a["lr"]})
    return dict(zip(lrs, stepsize_colors(lrs), strict=True))


def _stepsize_handles(palette: dict[float, tuple]) -> list[Line2D]:
    """One legend entry per stepsize of ``palette``."""
    return [Line2D([], [], color=color, label=f"{lr:g}") for lr, color in palette.items()]


def _legend_below(fig: Figure, handles: list[Line2D], title: str) -> None:
    """One legend for the whole figure, below its panels, in rows of at most 8 entries."""
    rows = -(-len(handles) // 8)
    fig.legend(
        handles=handles,
        title=title,
        loc="outside lower center",
        ncol=-(-len(handles) // rows),
        fontsize=LEGEND_SIZE,
        title_fontsize=LEGEND_SIZE,
    )


def _name(activation: str) -> str:
    return activation.replace("_", " ")


def figure1(result: Result) -> Figure:
    """Figure 1 in one row: (a) risk, (b) ``||w||^4``-normalised margin, (c) test accuracy of the
    deep MLP, one colour per stepsize."""
    a = {k.removeprefix("fig1."): v for k, v in result.arrays.items() if k.startswith("fig1.")}
    fig, (ax_risk, ax_margin, ax_acc) = subplots(3, width=COLUMN / 3, height=2.4)
    margin = a["normalized_margin"]
    # the margin in units of 10^e, its largest power of ten, named in the label (not an offset
    # text above the axes, where it would collide with the title)
    e = int(np.floor(np.log10(np.nanmax(np.abs(margin)))))
    for k, color in enumerate(stepsize_colors(a["lr"])):
        ax_risk.semilogy(a["steps"], a["risk"][k], color=color)
        ax_margin.plot(a["steps"], margin[k] / 10.0**e, color=color)
        if a["test_accuracy"].size:
            ax_acc.plot(a["test_steps"], a["test_accuracy"][k], color=color)
    label_axes(ax_risk, "step $t$", r"$L(\mathbf{w}_t)$", "(a) risk")
    ylabel = rf"$q_{{\min}}/\|\mathbf{{w}}_t\|^4$ in $10^{{{e}}}$"
    label_axes(ax_margin, "step $t$", ylabel, "(b) margin")
    label_axes(ax_acc, "step $t$", "test accuracy", "(c) test accuracy")
    palette = dict(zip(map(float, a["lr"]), stepsize_colors(a["lr"]), strict=True))
    _legend_below(fig, _stepsize_handles(palette), f"stepsize {_ETA}")
    return fig


def figure2(result: Result, data: str) -> Figure:
    """Figure 2 on ``data`` (``"xor"``: panels a-c, ``"images"``: d-f), one row per activation:
    the risk, ``tilde-eta t L_t`` and the normalized margin, light (small) to dark (large)
    stepsizes, on log time axes; one legend below."""
    sweep = _sweep(result, data)
    palette = _palette(sweep)
    fig, axes = subplots(3, len(sweep), width=COLUMN / 3, height=2.0)
    for row, (activation, a) in enumerate(sweep.items()):
        ax_risk, ax_rate, ax_margin = axes[3 * row : 3 * row + 3]
        sel = a["steps"] >= 1  # log-scaled time axes
        t = a["steps"][sel]
        for k, lr in enumerate(a["lr"]):
            color = palette[float(lr)]
            ax_risk.loglog(t, a["risk"][k, sel], color=color)
            ax_rate.loglog(t, a["lr"][k] * t * a["risk"][k, sel], color=color)
            ax_margin.semilogx(t, a["normalized_margin"][k, sel], color=color)
        last = row == len(sweep) - 1
        x = "step $t$" if last else ""
        label_axes(ax_risk, x, r"$L(\mathbf{w}_t)$", f"{_name(activation)}: risk")
        label_axes(ax_rate, x, r"$\tilde\eta\, t\, L(\mathbf{w}_t)$", "rate")
        label_axes(ax_margin, x, r"$\bar\gamma(\mathbf{w}_t)$", "normalized margin")
    _legend_below(fig, _stepsize_handles(palette), f"stepsize {_ETA}")
    return _without_minor_ticks(fig)


def figure3(result: Result) -> Figure:
    """Figure 3: test accuracy of the image runs against the step, one panel per activation,
    and the final test accuracy against the stepsize; two panels per row."""
    sweep = _sweep(result, "images")
    palette = _palette(sweep)
    n = len(sweep) + 1
    fig, axes = subplots(2, (n + 1) // 2, width=COLUMN / 2, height=2.3)
    for ax, (activation, a) in zip(axes, sweep.items(), strict=False):
        for k, lr in enumerate(a["lr"]):
            ax.plot(a["test_steps"], a["test_accuracy"][k], color=palette[float(lr)])
        label_axes(ax, "step $t$", "test accuracy", _name(activation))
        axes[n - 1].semilogx(a["lr"], a["test_accuracy"][:, -1], "o-", label=_name(activation))
    label_axes(axes[n - 1], rf"stepsize {_ETA}", "final test accuracy", "at the last step")
    axes[n - 1].legend(fontsize=LEGEND_SIZE)
    for ax in axes[n:]:
        ax.set_axis_off()
    _legend_below(fig, _stepsize_handles(palette), f"stepsize {_ETA}")
    return _without_minor_ticks(fig)


def _collapse_panel(
    ax: Axes, a: dict[str, np.ndarray], palette: dict[float, tuple], title: str
) -> None:
    """``L`` against ``tilde-eta t`` for one sweep, with the slope -1 guide through the last
    point of the median stepsize."""
    lrs, steps = a["lr"], a["steps"]
    sel = steps >= 1
    for k, lr in enumerate(lrs):
        ax.loglog(lr * steps[sel], a["risk"][k, sel], color=palette[float(lr)])
    k0 = int(np.argsort(lrs)[len(lrs) // 2])
    x = np.geomspace(lrs.min(), lrs.max() * steps[-1], 50)
    ax.loglog(x, a["risk"][k0, -1] * lrs[k0] * steps[-1] / x, "k:", lw=1)
    label_axes(ax, r"$\tilde\eta\, t$", r"$L(\mathbf{w}_t)$", title)


def rate_collapse(result: Result) -> Figure:
    """``L(w_t)`` against ``tilde-eta t`` on log-log axes (spec §5, Figure 2(b,e)), one row per
    data set and one panel per activation: where the rate ``L ~ C/(tilde-eta t)`` of Theorem 4.1
    holds, the runs of a sweep fall on one line of slope -1 (dotted guide through the last point
    of the median stepsize). One stepsize legend per data set, side by side below."""
    rows = {data: _sweep(result, data) for data in _DATA}
    ncols = min(_PER_ROW, max(len(sweep) for sweep in rows.values()))
    nrows = sum(-(-len(sweep) // ncols) for sweep in rows.values())
    fig, axes = subplots(ncols, nrows, width=COLUMN / ncols, height=2.2)
    i = 0
    legends = []
    for data, sweep in rows.items():
        palette = _palette(sweep)
        for activation, a in sweep.items():
            _collapse_panel(axes[i], a, palette, f"{_DATA[data]}, {_name(activation)}")
            i += 1
        i += -i % ncols  # each data set starts a row
        handles = _stepsize_handles(palette)
        if data == "xor":
            handles.append(Line2D([], [], color="k", ls=":", lw=1, label="slope $-1$"))
        legends.append((f"{_DATA[data]}: {_ETA}", handles))
    for ax in axes:
        if not ax.has_data():  # the free slots at the end of a row
            ax.set_axis_off()
    for (title, handles), loc in zip(legends, ("left", "right"), strict=False):
        fig.legend(
            handles=handles,
            title=title,
            loc=f"outside lower {loc}",
            ncol=min(4, len(handles)),  # two legends of 4 columns fit side by side
            fontsize=LEGEND_SIZE,
            title_fontsize=LEGEND_SIZE,
        )
    return _without_minor_ticks(fig)


def figure4(result: Result) -> Figure:
    """Figure 4, one row per stepsize: (a) the risk and (b) the network's and every neuron's
    normalized margin (with ``phi``: solid, linear: dashed); one legend below. The study keeps
    the steps that draw every curve's envelope (``gdlab.studies.paper_figures``)."""
    a = {k.removeprefix("fig4."): v for k, v in result.arrays.items() if k.startswith("fig4.")}
    K = len(a["lr"])
    fig, axes = subplots(2, K, width=COLUMN / 2, height=2.3)
    sel = a["steps"] >= 1  # log-scaled time axes
    t = a["steps"][sel]
    m = a["neuron_margins"].shape[-1]
    colors = [f"C{j}" for j in range(m)]
    for k in range(K):
        ax_loss, ax_margin = axes[2 * k], axes[2 * k + 1]
        title = rf"{_ETA}$={a['lr'][k]:g}$ ($\eta={a['eta'][k]:g}$)"
        ax_loss.loglog(t, a["risk"][k, sel], color="k")
        ax_margin.semilogx(t, a["normalized_margin"][k, sel], color="k")
        for j, color in enumerate(colors):
            ax_margin.semilogx(t, a["neuron_margins"][k, sel, j], color=color)
            ax_margin.semilogx(t, a["neuron_linear_margins"][k, sel, j], color=color, ls="--")
        ax_margin.axhline(0.0, color="grey", lw=0.8)
        label_axes(ax_loss, "step $t$", r"$L(\mathbf{w}_t)$", f"(a) risk, {title}")
        label_axes(ax_margin, "step $t$", "normalized margin", f"(b) margins, {title}")
    handles = [Line2D([], [], color="k", label="network")]
    for j, color in enumerate(colors):
        handles.append(Line2D([], [], color=color, label=rf"neuron {j + 1}, $\phi$"))
        handles.append(Line2D([], [], color=color, ls="--", label=f"neuron {j + 1}, linear"))
    _legend_below(fig, handles, "")
    return fig


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
