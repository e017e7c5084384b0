"""Figures of the chapter on the output scale b (study ``output-scale``).

Each function takes the study's :class:`~gdlab.experiments.study.Result` and returns a figure
of two panels drawn for the book's content column. Mean field (b = 1) is drawn with circles,
NTK (b = sqrt m) with squares; risks as ``log10 L``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdlab.experiments.study import Result
from gdlab.plotting import label_axes, quiet_minor, stepsize_colors, subplots
from gdlab.plotting.first_phase import COLUMN_WIDTH, legend_below

__all__ = ["figures", "rates", "small_b", "thresholds"]

_SCALINGS = (("mf", "mean field", "o"), ("ntk", "NTK", "s"))


def _pair(height: float) -> tuple[Figure, np.ndarray]:
    return subplots(ncols=2, width=COLUMN_WIDTH / 2, height=height)


def thresholds(result: Result) -> Figure:
    """Left: the largest monotone per-neuron stepsize against the width (markers; the bar
    reaches the next grid stepsize) with eq. (4)'s ``eta_4`` (dashed), per scaling. Right: the
    same brackets times ``b^2`` (linear axis): one threshold in the frame ``u = b w``."""
    fig, (left, right) = _pair(3.0)
    a = result.arrays
    for key, name, marker in _SCALINGS:
        m, b = a[f"thr.{key}.widths"], a[f"thr.{key}.b"]
        lo, hi = a[f"thr.{key}.lo"], a[f"thr.{key}.hi"]
        color = "tab:blue" if key == "mf" else "tab:red"
        for ax, scale in ((left, np.ones_like(b)), (right, b**2)):
            ax.vlines(m, scale * lo, scale * hi, color=color, lw=1.5)
            ax.plot(m, scale * lo, marker, color=color, ms=4, ls="none", label=name)
        left.loglog(m, a[f"thr.{key}.eta4"], "--", color=color, lw=1, label=f"eq. (4), {name}")
    left.set_xscale("log")
    left.set_yscale("log")
    right.set_xscale("log")  # linear in y: the brackets span one grid step around one value
    label_axes(left, "width $m$", r"largest monotone $\eta$", "per-neuron stepsize")
    label_axes(right, "width $m$", r"$b^2\times$ largest monotone $\eta$", r"frame $u = b\,w$")
    quiet_minor(left, right)
    legend_below(left, ncols=2)
    legend_below(right, ncols=2)
    return fig


def rates(result: Result) -> Figure:
    """Left: ``log10 L_T`` against the budget with ``eta = c T / b^2`` (colors: widths; circles
    mean field, squares NTK) and the fixed stepsize ``c T_min / b^2`` (gray). Right: Theorem
    4.1's factor ``L_T alpha^2 gamma^2 eta b^2 (T - s*)`` against ``T - s*``, with 8."""
    fig, (left, right) = _pair(3.2)
    a = result.arrays
    widths = a["rates.mf.widths"]
    colors = stepsize_colors(widths.astype(float))
    for key, name, marker in _SCALINGS:
        T = a[f"rates.{key}.budgets"]
        for i, color in enumerate(colors):
            label = f"m = {widths[i]}" if key == "mf" else None
            left.semilogx(T, a[f"rates.{key}.log10"][i], marker + "-", color=color, ms=3,
                          lw=0.8, label=label)  # fmt: skip
            left.semilogx(T, a[f"rates.{key}.fixed_log10"][i], marker + ":", color="gray",
                          ms=2, lw=0.8)  # fmt: skip
            x = T - a[f"rates.{key}.s_star"][i]
            right.semilogx(x, np.log10(a[f"rates.{key}.factor"][i]), marker, color=color, ms=3,
                           label=name if i == len(colors) - 1 else None)  # fmt: skip
    right.axhline(np.log10(8.0), color="black", lw=1)
    label_axes(left, "budget $T$", r"$\log_{10} L(\mathbf{w}_T)$", r"$\eta = cT/b^2$; gray: fixed")
    ylabel = r"$\log_{10} L_T\alpha^2\gamma^2\eta b^2(T-s^*)$"
    label_axes(right, "$T - s^*$", ylabel, "Theorem 4.1 (line: 8)")
    quiet_minor(left, right)
    legend_below(left, ncols=2)
    legend_below(right, ncols=2)
    return fig


def small_b(result: Result) -> Figure:
    """Left: ``log10 L_T`` against ``b < 1`` at one budget for ``eta = c T`` and
    ``eta = c T / b^2``, with ``b^-3`` and ``b^-2`` through the ``b = 1`` point (dashed).
    Right: the same risks times ``b^3`` (App. D's bound is flat in this view)."""
    fig, (left, right) = _pair(3.0)
    a = result.arrays
    b = a["small.scales"]
    cT, free = a["small.log10_cT"], a["small.log10_free"]
    left.semilogx(b, cT, "o-", color="tab:red", ms=4, label=r"$\eta = cT$")
    left.semilogx(b, free, "s-", color="tab:blue", ms=4, label=r"$\eta = cT/b^2$")
    for p, style in ((-3, "--"), (-2, ":")):
        left.semilogx(b, cT[-1] + p * np.log10(b / b[-1]), style, color="gray", lw=1,
                      label=f"$b^{{{p}}}$")  # fmt: skip
    right.semilogx(b, cT + 3 * np.log10(b), "o-", color="tab:red", ms=4)
    right.semilogx(b, free + 3 * np.log10(b), "s-", color="tab:blue", ms=4)
    T = result.values["small_T"]
    label_axes(left, "output scale $b$", r"$\log_{10} L(\mathbf{w}_T)$", f"T = {T}")
    label_axes(right, "output scale $b$", r"$\log_{10} b^3 L(\mathbf{w}_T)$", "times $b^3$")
    quiet_minor(left, right)
    legend_below(left, ncols=2)
    return fig


def figures(result: Result) -> dict[str, Figure]:
    """The chapter's figures by name."""
    return {"thresholds": thresholds(result), "rates": rates(result), "small_b": small_b(result)}
