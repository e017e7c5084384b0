"""Tables and diagnostics that turn recipe results into the figure chapter's page.

The chapter ``book/part1/paper-figures.md`` runs the recipes of :mod:`.figures` and shows, next to
their figures, the settings actually used (:func:`settings_table`), one verdict table for all
claims (:func:`verdict_table`), and the phase picture of every run of a Figure 2/3 stepsize sweep
(:func:`figure2_sweeps`, :func:`sweep_runs_table`): where eq. (4) and eq. (5) of Theorem 2.2 first
hold (``r*``, ``s*``), where the risk becomes monotone in fact, and ``tilde-eta t L_t``, whose
levelling off is the ``O(1/(tilde-eta t))`` rate of Theorem 4.1 (spec §5, Figure 2(b,e)).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from gdlab.experiments.cache import CacheEntry, ResultCache
from gdlab.experiments.figures import fig2_runs
from gdlab.experiments.registry import Result, RunContext, load_data
from gdlab.plotting import label_axes, stepsize_colors, subplots
from gdlab.runtime import get_device, get_scale
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.phase import Table
from gdlab.stepsize.sweeps import SweepResult
from gdlab.stepsize.theory import run_constants

__all__ = [
    "MemoryCache",
    "as_number",
    "figure2_sweeps",
    "get_claim",
    "max_neuron_slopes",
    "page_cache",
    "page_figures",
    "plot_rate_collapse",
    "settings_table",
    "settled_from",
    "sweep_runs_table",
    "verdict_table",
]


def as_number(value: float | int | np.number | None) -> float | int:
    """A plain ``int`` or ``float`` for myst-nb ``glue`` (numpy scalars converted); ``None`` (a
    step that never happened, an undefined measurement) becomes NaN."""
    if value is None:
        return float("nan")
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"expected a number or None, got the boolean {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    raise TypeError(f"expected a number or None, got {type(value).__name__} {value!r}")


class MemoryCache(ResultCache):
    """A :class:`~gdlab.experiments.ResultCache` kept in memory: nothing is read from or written
    to disk, so every result is computed afresh and no files are left behind.

    Entries behave as on disk: arrays are copied, metadata go through a JSON round trip (the
    on-disk format), and :meth:`path` names no real file.
    """

    def __init__(self) -> None:
        super().__init__(Path("<memory>"))
        self.folder = Path("<memory>")
        self.label = "memory cache"
        self._entries: dict[str, CacheEntry] = {}

    def ensure_writable(self) -> Path:
        """Nothing to check: a memory cache is always writable."""
        return self.folder

    def clean_stale_temporaries(self, max_age: float = 0.0) -> list[Path]:
        """Nothing to clean: a memory cache has no temporary files."""
        return []

    def has(self, key: str) -> bool:
        """Whether entry ``key`` is stored."""
        return key in self._entries

    def save(self, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
        """Store an entry (arrays copied, metadata as JSON would return them)."""
        stored = {k: np.array(v) for k, v in arrays.items()}
        self._entries[key] = (stored, json.loads(json.dumps(dict(meta), allow_nan=False)))
        return self.path(key)

    def load(self, key: str) -> CacheEntry | None:
        """The entry ``(arrays, meta)`` (copies), or None."""
        if key not in self._entries:
            return None
        arrays, meta = self._entries[key]
        return {k: v.copy() for k, v in arrays.items()}, json.loads(json.dumps(meta))

    def keys(self) -> list[str]:
        """The keys of all entries, sorted."""
        return sorted(self._entries)

    def metadata(self, key: str) -> dict[str, Any] | None:
        """The metadata of entry ``key`` (None if missing)."""
        hit = self.load(key)
        return None if hit is None else hit[1]


def page_cache(scale: str | None = None) -> ResultCache:
    """The result cache a book page uses at ``scale`` (default ``GDLAB_SCALE``).

    Quick scale: a :class:`MemoryCache`, so the page recomputes every number from the current
    code, never reads results of earlier runs and writes nothing. Paper scale: the default
    on-disk cache (:func:`~gdlab.experiments.default_cache_dir`), where
    ``python -m gdlab run NAME --scale paper`` stores its long runs.
    """
    return ResultCache() if get_scale(scale) == "paper" else MemoryCache()


def _without_minor_ticks(fig: Figure) -> Figure:
    """Drop the minor ticks of every axes: on the log axes of these figures they cost about two
    thirds of the rendering time (measured: 2.2 s -> 0.8 s for one three-panel Figure 2 plot)."""
    for ax in fig.axes:
        ax.minorticks_off()
    return fig


def page_figures(result: Result) -> dict[str, Figure]:
    """``result.figures()``, by name, without minor ticks (see :func:`_without_minor_ticks`)."""
    return {name: _without_minor_ticks(fig) for name, fig in result.figures().items()}


def get_claim(result: Result, name: str) -> dict[str, Any]:
    """The claim record of ``result`` called exactly ``name``; ValueError listing the names."""
    for record in result.claims:
        if record["claim"] == name:
            return record
    names = "; ".join(c["claim"] for c in result.claims)
    raise ValueError(f"recipe {result.recipe!r} has no claim {name!r}; its claims: {names}")


def verdict_table(results: Sequence[Result]) -> Table:
    """Every claim of ``results``, one row each: recipe, claim, source, measured, bound, holds."""
    rows = [
        (r.recipe, c["claim"], c["source"], c["measured"], c["bound"], c["holds"])
        for r in results
        for c in r.claims
    ]
    return Table(["recipe", "claim", "source", "measured", "bound", "holds"], rows)


def _model(config: Mapping[str, Any]) -> str:
    if "width" in config:
        return f"4-layer bias-free GELU MLP, width {config['width']}"
    activations = config.get("activations") or {config["activation"]: config["lr"]}
    return f"eq. (2), m = {config['m']}: " + ", ".join(activations)


def _stepsizes(config: Mapping[str, Any]) -> str:
    if "activations" in config:
        lrs = sorted({lr for values in config["activations"].values() for lr in values})
    else:
        lrs = config["lr"]
    return ", ".join(f"{lr:g}" for lr in lrs)


def settings_table(results: Sequence[Result]) -> Table:
    """The setting each result actually ran: data (with its provenance note and the recipe's
    fallback note, if the paper's dataset was missing), train/test sizes, model, stepsizes
    ``tilde-eta`` and horizon ``T``."""
    rows = []
    for r in results:
        ds = load_data(r.config["data"])
        note = "; ".join(s for s in (ds.note, r.config.get("note", "")) if s)
        n_test = ds.X_test.shape[0] if ds.X_test is not None else None
        rows.append(
            (
                r.recipe,
                r.scale,
                note,
                ds.n,
                n_test,
                ds.d,
                _model(r.config),
                _stepsizes(r.config),
                r.config["steps"],
            )
        )
    return Table(
        ["recipe", "scale", "data", "n", "n test", "d", "model", "stepsizes tilde-eta", "T"],
        rows,
    )


def figure2_sweeps(
    result: Result, cache: ResultCache, device: str | torch.device | None = None
) -> dict[str, SweepResult]:
    """The stepsize sweeps behind a ``fig2-xor``, ``fig2-images`` or ``fig3`` result, by
    activation, each with the constants of its runs (radius-R form, as the recipe's claims).

    The trajectories are the recipe's cached units of work (:func:`.figures.two_layer_runs`), so
    with the cache the recipe ran on nothing is recomputed.
    """
    config = result.config
    if "activations" not in config:
        raise ValueError(
            f"recipe {result.recipe!r} has no stepsize sweep; use fig2-xor, fig2-images or fig3"
        )
    ds = load_data(config["data"])
    device = device if isinstance(device, torch.device) else get_device(device)
    sweeps = {}
    for activation, (traj, _, _) in fig2_runs(config, RunContext(device, cache)).items():
        net = TwoLayerNet.balanced(get_activation(activation), config["m"])
        constants = [run_constants(traj.run(k), net, ds.X, ds.y) for k in range(traj.num_runs)]
        sweeps[activation] = SweepResult(ds, net, traj, constants)
    return sweeps


def _at_step(steps: np.ndarray, t: int) -> int:
    """Index of the first recorded step ``>= t``."""
    return int(np.searchsorted(steps, t))


def sweep_runs_table(
    sweeps: Mapping[str, SweepResult], test_accuracy: Mapping[str, np.ndarray] | None = None
) -> Table:
    """One row per run: the phase picture of Theorem 2.2 and the rate of Theorem 4.1.

    Columns: activation, ``tilde-eta``; ``r*`` and ``s*``, the first recorded steps satisfying
    eq. (4) and eq. (5) (``-``: never within the horizon); "monotone from", the measured first
    step after which the risk never increases beyond float64 rounding
    (:func:`~gdlab.stepsize.certify.risk_monotone_from`); ``L(w_T)``; ``tilde-eta t L_t`` at
    ``t = T/2`` and ``t = T`` (equal values: the ``1/(tilde-eta t)`` rate has set in);
    ``gamma-bar(w_T)``; and, if ``test_accuracy`` maps an activation to its (K, C) accuracies
    (the ``fig3`` arrays), the final test accuracy.
    """
    rows = []
    for activation, sw in sweeps.items():
        steps = sw.traj.steps.numpy()
        T = int(steps[-1])
        half = _at_step(steps, T // 2)
        risk = sw.traj.risk.numpy()
        margin = sw.traj.normalized_margin.numpy()
        for k, lr in enumerate(sw.lrs):
            row = [
                activation,
                float(lr),
                sw.r_star(k),
                sw.monotone_from(k),
                sw.s_star(k),
                float(risk[k, -1]),
                float(lr * steps[half] * risk[k, half]),
                float(lr * T * risk[k, -1]),
                float(margin[k, -1]),
            ]
            if test_accuracy is not None:
                row.append(float(test_accuracy[activation][k, -1]))
            rows.append(tuple(row))
    columns = [
        "activation",
        "tilde-eta",
        "r* (eq. 4)",
        "monotone from",
        "s* (eq. 5)",
        "L(w_T)",
        "tilde-eta t L_t at T/2",
        "tilde-eta t L_t at T",
        "gamma-bar(w_T)",
    ]
    if test_accuracy is not None:
        columns.append("test accuracy at T")
    return Table(columns, rows)


def settled_from(steps: np.ndarray, ok: np.ndarray) -> int | None:
    """The first recorded step from which ``ok`` holds at every later recorded step (None if it
    fails at the last one); e.g. ``ok = accuracy == 1`` for "perfect from then on"."""
    steps, ok = np.asarray(steps), np.asarray(ok, dtype=bool)
    if steps.shape != ok.shape or steps.ndim != 1 or steps.size == 0:
        raise ValueError(
            f"steps and ok must be non-empty 1-D of equal length, got {steps.shape} and {ok.shape}"
        )
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    return int(steps[0 if bad.size == 0 else bad[-1] + 1])


def max_neuron_slopes(sweep: SweepResult, k: int) -> np.ndarray:
    """``max_i phi'(x_i^T w_T^(j))`` for every neuron j of run k (shape (m,), training inputs).

    A neuron whose value is tiny is switched off on every training point: its gradient,
    ``(1/m) a_j sum_i l'(q_i) y_i phi'(x_i^T w^(j)) x_i / n``, is that small too, so GD cannot
    revive it. Leaky activations have ``phi' >= alpha > 0`` (Assumption 2A) and cannot do this.
    """
    if not 0 <= k < sweep.traj.num_runs:
        raise ValueError(f"run index k={k!r} must lie in [0, {sweep.traj.num_runs})")
    W = sweep.traj.w_final[k].to(torch.float64)  # (m, d)
    Z = sweep.dataset.X.to(torch.float64) @ W.T  # (n, m)
    return sweep.net.activation.dphi(Z).amax(dim=0).numpy()


def plot_rate_collapse(sweeps: Mapping[str, Mapping[str, SweepResult]]) -> Figure:
    """``L(w_t)`` against ``tilde-eta t`` on log-log axes, one panel per sweep (spec §5, Figure
    2(b,e)): where the rate ``L ~ C/(tilde-eta t)`` of Theorem 4.1 holds, the runs of a sweep
    fall on one line of slope -1 (dotted guide through the last point of the median stepsize).

    ``sweeps`` maps a data label to the sweeps of :func:`figure2_sweeps`.
    """
    panels = [(data, act, sw) for data, by_act in sweeps.items() for act, sw in by_act.items()]
    fig, axes = subplots(len(panels), width=3.0, height=2.6)
    seen: set[str] = set()
    for ax, (data, activation, sw) in zip(axes, panels, strict=True):
        steps = sw.traj.steps.numpy()
        sel = steps >= 1
        risk = sw.traj.risk.numpy()
        for k, color in enumerate(stepsize_colors(sw.lrs)):
            lab = f"$\\tilde\\eta$={sw.lrs[k]:g}"
            ax.loglog(sw.lrs[k] * steps[sel], risk[k, sel], color=color, label=lab)
        k0 = int(np.argsort(sw.lrs)[len(sw.lrs) // 2])
        x = np.geomspace(sw.lrs.min(), sw.lrs.max() * steps[-1], 50)
        ax.loglog(x, risk[k0, -1] * sw.lrs[k0] * steps[-1] / x, "k:", lw=1, label="slope -1")
        label_axes(ax, r"$\tilde\eta\, t$", "risk $L(w_t)$", f"{data}, {activation}")
        if data not in seen:
            ax.legend()
            seen.add(data)
    return _without_minor_ticks(fig)
