"""Margin improvement (chapter ``book/part1/margin-improvement.md``): Theorem 2.2, second part,
and the paper's Figure 4.

The sweeps are those of the phase-threshold chapter, restricted to the stepsizes that reach
eq. (5) early, over a longer horizon, every step recorded. Per run that satisfies eq. (5) by
``T/2``: the normalized margin ``gamma-bar`` (eq. 3) and the modified margin ``gamma^c``
(eq. 10, in log space) after ``s*``, Lemma A.10's constant, the drops of ``gamma-bar`` before and
after ``s*``, the growth of ``||w_t||`` with its ``log t`` fit, and the onset of Lemma A.15's
lower bound. Figure 4: the network's and each neuron's margins on the five points.

Claims: ``gamma^c`` never decreases after ``s*``; ``gamma-bar`` is nearly monotone there and drops
far more before it; the gap ``gamma-bar / gamma^c`` grows with the stepsize; the smallest stepsize
ends with the largest margin; ``||w_t||`` is affine in ``log t`` and ``slope x gamma-bar(T)``
orders like ``||w_{s*}||``; Lemma A.15's lower bound is negative over the horizon; Figure 4's
network margin turns positive and keeps rising while no neuron's margin does; and every
certificate of Theorem 2.2 (one row per claim, worst run).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gdlab.claims import ClaimTable
from gdlab.data import max_margin_direction
from gdlab.experiments.study import Config, Result, RunContext, Study
from gdlab.plotting.margin import figures
from gdlab.stats import semilog_fit
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.assumptions import aligned_margin
from gdlab.stepsize.criteria import DIP_TOLERANCE, largest_drop
from gdlab.stepsize.logspace import log10_lemma_a10_constant, log_gamma_c
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import SweepResult
from gdlab.stepsize.trajectory import Trajectory
from gdlab.studies.common import dataset
from gdlab.studies.paper_figures import FIGURE4, figure4_runs
from gdlab.studies.phase_threshold import (
    certificate_claims,
    reaches_condition5,
    sweep_table,
    sweeps_of,
)
from gdlab.tables import Table

__all__ = ["MARGIN_CERTIFICATES", "PAPER", "QUICK", "STUDY", "figure4_claims", "run"]

#: The certificates of :func:`~gdlab.stepsize.certify.certify_stable_phase` on the norm and the
#: margins (the risk ones belong to the phase-threshold chapter).
MARGIN_CERTIFICATES = (
    "norm non-decreasing after s*",
    "gamma^c non-decreasing after s*",
    "Lemma A.8",
    "Lemma A.9",
    "Lemma A.10",
    "Lemma A.13",
    "Lemma A.15 lower",
    "Lemma A.15 upper",
)
#: "||w_t|| is affine in log t": the least-squares fit over the second half explains this
#: fraction of the variance (a chosen criterion).
R2_MIN = 0.99
#: "Before s* the margin drops far more": the largest one-step drop of gamma-bar before s*
#: exceeds this multiple of the largest one after s* (two orders of magnitude, chosen).
DROP_FACTOR = 100.0
#: "slope x gamma-bar(T) is close to 1" for the smallest stepsize of a sweep (the asymptotic
#: slope 1/lim gamma-bar): within this relative distance (chosen).
SLOPE_RTOL = 0.1

_LEAKY = "leaky_softplus_ex31"
QUICK: Config = {
    "seed": 0,
    "init_scale": 0.1,
    # The stepsizes of the phase-threshold sweeps that reach eq. (5) within the first half of a
    # longer horizon. Theorem 2.2 needs no separability: no Assumption 3 certificate.
    "sweeps": [
        {
            "label": "XOR",
            "data": {"name": "xor"},
            "activation": _LEAKY,
            "m": 20,
            "lr": [300.0, 1000.0, 2000.0],
            "steps": 6000,
            "separable": False,
        },
        {
            "label": "five points",
            "data": {"name": "five_point"},
            "activation": _LEAKY,
            "m": 10,
            "lr": [100.0, 300.0, 1000.0, 3000.0],
            "steps": 6000,
            "separable": False,
        },
        {
            "label": "digits 3 vs 8",
            "data": {"name": "digits", "classes": [3, 8]},
            "activation": _LEAKY,
            "m": 10,
            "lr": [1e5],
            "steps": 3000,
            "separable": False,
        },
    ],
    "figure4": FIGURE4["quick"],
}
#: Ten times the horizon; Figure 4 at the paper's horizon.
PAPER: Config = {
    **QUICK,
    "sweeps": [{**spec, "steps": 10 * spec["steps"]} for spec in QUICK["sweeps"]],
    "figure4": FIGURE4["paper"],
}


def _margin_run(sweep: SweepResult, k: int, label: str) -> dict[str, Any]:
    """The margin picture of run ``k`` from ``s*`` (which it reaches by ``T/2``).

    ``gc_decreases``: recorded pairs after ``s*`` where ``gamma^c`` decreases at all (no
    allowance); ``log10_gap_*``: ``log10(gamma-bar / gamma^c)`` at ``s*`` and ``T``;
    ``drop_before``, ``drop_after``: the largest one-step drop of ``gamma-bar`` before and after
    ``s*``; ``rel_drop_after``: the largest ``(gamma-bar_t - gamma-bar_{t+1}) / gamma-bar_t``
    after ``s*``, negative when ``gamma-bar`` rises at every step (eq. (5) gives
    ``L <= 1/(2n)``, hence ``gamma-bar > 0`` there); ``fit``: ``||w_t||`` against ``log t`` on
    ``t >= T/2``; ``log10_a15_onset``: ``log10`` of the ``t - s*`` from which Lemma A.15's
    lower bound ``log[(t-s) lr gamma^c(w_s)^2/(2n)]/(2 B_0)`` is positive,
    ``2n/(lr gamma^c(w_s)^2)``.
    """
    c, table = sweep.constants[k], sweep.stable_verdicts[k]
    t = sweep.traj.steps.numpy()
    T = int(t[-1])
    s = int(table.facts["s*"])
    i = int(np.searchsorted(t, s))
    gbar = sweep.traj.normalized_margin[k].numpy()
    norm = sweep.traj.param_norm[k].numpy()
    lgc = log_gamma_c(c, sweep.traj.log_risk[k].numpy(), norm)
    ln10 = math.log(10)
    with np.errstate(invalid="ignore"):  # gamma-bar < 0 before s*: no log gap there
        log_gap = (np.log(gbar) - lgc) / ln10
    start = max(T // 2, 1)
    later = t >= start
    fit = semilog_fit(t[later], norm[later])
    return {
        "dataset": label,
        "lr": c.lr,
        "s_star": s,
        "steps": T,
        "gc_decreases": int(np.sum(np.diff(lgc[i:]) < 0)),
        "gc_status": table["gamma^c non-decreasing after s*"].status,
        "a10_status": table["Lemma A.10"].status,
        "norm_status": table["norm non-decreasing after s*"].status,
        "log10_a10": log10_lemma_a10_constant(c),
        "log10_gap_end": float(log_gap[-1]),
        "gamma_bar_s": float(gbar[i]),
        "gamma_bar_end": float(gbar[-1]),
        "drop_before": largest_drop(gbar[: i + 1]),
        "drop_after": largest_drop(gbar[i:]),
        "rel_drop_after": float(np.max(-np.diff(gbar[i:]) / gbar[i:-1])),
        "norm_s": float(norm[i]),
        "norm_end": float(norm[-1]),
        "fit_slope": fit.slope,
        "fit_intercept": fit.intercept,
        "fit_r2": fit.r2,
        "fit_start": start,
        "log10_a15_onset": float((math.log(2 * c.n / c.lr) - 2 * lgc[i]) / ln10),
    }


def _margin_table(runs: list[dict[str, Any]]) -> Table:
    return Table(
        ["data", "tilde-eta", "s*", "gamma^c decreases", "gamma^c certificate", "A.10 sandwich",
         "log10 c (A.10)", "gamma-bar at s*", "gamma-bar at T", "log10 gamma-bar/gamma^c at T",
         "largest gamma-bar drop before s*", "largest relative drop after s*"],
        [
            [r["dataset"], r["lr"], r["s_star"], r["gc_decreases"], r["gc_status"],
             r["a10_status"], r["log10_a10"], r["gamma_bar_s"], r["gamma_bar_end"],
             r["log10_gap_end"], r["drop_before"], r["rel_drop_after"]]
            for r in runs
        ],
    )  # fmt: skip


def _norm_table(runs: list[dict[str, Any]]) -> Table:
    return Table(
        ["data", "tilde-eta", "s*", "norm certificate", "||w|| at s*", "||w|| at T",
         "d||w||/dlog t (fit)", "fit R^2", "slope x gamma-bar(T)",
         "log10 (t-s*) where A.15 lower > 0"],
        [
            [r["dataset"], r["lr"], r["s_star"], r["norm_status"], r["norm_s"], r["norm_end"],
             r["fit_slope"], r["fit_r2"], r["fit_slope"] * r["gamma_bar_end"],
             r["log10_a15_onset"]]
            for r in runs
        ],
    )  # fmt: skip


def _ordered(pairs: list[tuple[float, float]], decreasing: bool = False) -> int:
    """How many consecutive pairs of ``(key, value)``, sorted by key, have strictly increasing
    (``decreasing``: decreasing) values."""
    ys = [v for _, v in sorted(pairs)]
    return sum((b < a) if decreasing else (a < b) for a, b in itertools.pairwise(ys))


def _margin_claims(
    claims: ClaimTable, runs: list[dict[str, Any]], labels: list[str]
) -> dict[str, Any]:
    """The chapter's claims on the margins and the norm; returns the values it glues."""
    src = "Theorem 2.2 (margin improvement)"
    claims.add(
        "gamma^c never decreases after s*, not even by rounding", src,
        sum(r["gc_decreases"] for r in runs), 0, relation="==",
        note=f"decreasing recorded pairs after s* over {len(runs)} runs, no allowance",
    )  # fmt: skip
    rel_after = max(r["rel_drop_after"] for r in runs)
    claims.add(
        "gamma-bar nearly monotone after s*", "Figure 2(c), Theorem 2.2", rel_after,
        DIP_TOLERANCE, note="largest relative one-step drop (criteria.DIP_TOLERANCE)",
    )  # fmt: skip
    drop_before = max(r["drop_before"] for r in runs)
    drop_after = max(r["drop_after"] for r in runs)
    claims.add(
        f"gamma-bar drops {DROP_FACTOR:g} times more before s* than after",
        "Theorem 2.2 (only after eq. (5))",
        drop_before, DROP_FACTOR * drop_after, relation=">",
        note=f"largest one-step drop before s*; after s*: {drop_after:.3g}",
    )  # fmt: skip
    values: dict[str, Any] = {
        "n_runs": len(runs),
        "rel_drop_after": max(rel_after, 0.0),
        "n_strict": sum(r["rel_drop_after"] < 0 for r in runs),
        "drop_before": drop_before,
    }
    for label in labels:
        mine = [r for r in runs if r["dataset"] == label]
        if len(mine) < 2:  # one run: nothing to compare across stepsizes
            continue
        pairs = len(mine) - 1
        claims.add(
            f"{label}: gamma-bar / gamma^c at T grows with the stepsize", "Lemma A.10",
            _ordered([(r["lr"], r["log10_gap_end"]) for r in mine]), pairs, relation="==",
            note=f"increasing consecutive pairs of {pairs} (by tilde-eta)",
        )  # fmt: skip
        by_norm = [(r["norm_s"], r["fit_slope"] * r["gamma_bar_end"]) for r in mine]
        claims.add(
            f"{label}: slope x gamma-bar(T) decreases as ||w_s*|| grows", "Theorem 2.2",
            _ordered(by_norm, decreasing=True), pairs, relation="==",
            note=f"decreasing consecutive pairs of {pairs} (by ||w|| at s*)",
        )  # fmt: skip
        smallest = min(mine, key=lambda r: r["lr"])
        best = max(mine, key=lambda r: r["gamma_bar_end"])
        claims.add(
            f"{label}: the smallest stepsize ends with the largest gamma-bar",
            "Theorem 2.2 (observation)", best["lr"], smallest["lr"], relation="==",
            note="measured: the stepsize with the largest gamma-bar at T",
        )  # fmt: skip
        claims.add(
            f"{label}: smallest stepsize has slope x gamma-bar(T) near 1", "Theorem 2.2",
            smallest["fit_slope"] * smallest["gamma_bar_end"],
            (1 - SLOPE_RTOL, 1 + SLOPE_RTOL), relation="in",
            note="the asymptotic slope of ||w_t|| against log t is 1/lim gamma-bar",
        )  # fmt: skip
    r2_min = min(r["fit_r2"] for r in runs)
    claims.add(
        "||w_t|| affine in log t over the second half", "Theorem 2.2 (||w_t|| = Theta(log t))",
        r2_min, R2_MIN, relation=">=", note="least R^2 of the fit over the runs",
    )  # fmt: skip
    claims.add(
        "Lemma A.15's lower bound is negative over the whole horizon", "Lemma A.15",
        min(r["log10_a15_onset"] - math.log10(r["steps"] - r["s_star"]) for r in runs), 0.0,
        relation=">", note="least log10 of (onset t - s*) / (T - s*)",
    )  # fmt: skip
    gaps = sorted((r["log10_gap_end"], r["lr"], r["dataset"]) for r in runs)
    ratios = [r["fit_slope"] * r["gamma_bar_end"] for r in runs]
    values.update(
        gap_min=gaps[0][0],
        gap_min_lr=gaps[0][1],
        gap_min_data=gaps[0][2],
        gap_max=gaps[-1][0],
        gap_max_lr=gaps[-1][1],
        gap_max_data=gaps[-1][2],
        r2_min=r2_min,
        ratio_max=max(ratios),
        ratio_min=min(ratios),
        a15_onset_min=min(r["log10_a15_onset"] for r in runs),
    )
    return values


def _tag(lr: float) -> str:
    """A stepsize as a glue-name suffix: ``3.0 -> "3"``, ``1.5 -> "1_5"``."""
    return f"{lr:g}".replace(".", "_")


def figure4_claims(
    claims: ClaimTable, traj: Trajectory, data_margin: float, aligned: float
) -> dict[str, Any]:
    """Figure 4's claims (spec §4, §5) per stepsize: the network margin turns positive and is
    still rising over the last half of the record, below the margin ``aligned`` of the network
    whose neurons point along ``w_*`` (itself below the data's max margin ``data_margin``),
    while the margin of every neuron stays negative at every recorded step ``t >= 1`` (for
    both definitions ``min_i y_i a_j phi(x_i^T w_j)/||w_j||`` and ``min_i y_i a_j x_i^T w_j /
    ||w_j||``); at ``t = 0`` the ``phi`` definition is positive for a neuron of tiny norm
    (``phi(0) > 0``) and the linear one is not. Returns the values the chapter glues."""
    steps = traj.steps.numpy()
    gbar = traj.normalized_margin.numpy()
    phi_m, lin_m = traj.neuron_margins.numpy(), traj.neuron_linear_margins.numpy()
    later, half = steps >= 1, steps >= steps[-1] / 2
    src = "Figure 4(b)"
    values: dict[str, Any] = {}
    for k, (lr, eta) in enumerate(zip(traj.lr.tolist(), traj.eta.tolist(), strict=True)):
        tag = f"tilde-eta={lr:g} (eta={eta:g})"
        positive = np.flatnonzero(gbar[k] > 0)
        first = math.inf if positive.size == 0 else int(steps[positive[0]])
        claims.add(
            f"{tag}: network margin turns positive", src, first, int(steps[-1]), relation="<=",
            note="first recorded step with min_i y_i f > 0 (inf: never)",
        )  # fmt: skip
        tail = float(gbar[k][half][-1] - gbar[k][half][0])
        claims.add(
            f"{tag}: network margin still rising over the last half", src, tail, 0.0,
            relation=">", note="gamma-bar(T) - gamma-bar(T/2)",
        )  # fmt: skip
        claims.add(
            f"{tag}: gamma-bar(T) below the margin along w_*", src, float(gbar[k][-1]), aligned,
            relation="<",
        )  # fmt: skip
        top = {}
        for kind, series in (("phi", phi_m[k]), ("linear", lin_m[k])):
            top[kind] = float(series[later].max())
            claims.add(
                f"{tag}: every neuron margin ({kind}) negative for t >= 1", src, top[kind], 0.0,
                relation="<", note="max over recorded steps t >= 1 and the neurons",
            )  # fmt: skip
        key = _tag(lr)
        values.update({f"f4_pos_{key}": first, f"f4_final_{key}": float(gbar[k][-1]),
                       f"f4_phi_{key}": top["phi"], f"f4_lin_{key}": top["linear"]})  # fmt: skip
    claims.add(
        "margin along w_* below the data's max margin", "Figure 4 (spec §5)", aligned,
        data_margin, relation="<",
    )  # fmt: skip
    init_phi, init_lin = float(phi_m[:, 0].max()), float(lin_m[:, 0].max())
    claims.add(
        "at t = 0 a neuron's phi-margin is positive", "Figure 4 (phi(0) = log(2)/2 > 0)",
        init_phi, 0.0, relation=">", note="the phi definition is not scale-invariant",
    )  # fmt: skip
    claims.add(
        "at t = 0 every neuron's linear margin is negative", "Figure 4", init_lin, 0.0,
        relation="<",
    )  # fmt: skip
    values.update(f4_T=int(steps[-1]), f4_aligned=aligned, f4_data=data_margin,
                  f4_init_phi=init_phi)  # fmt: skip
    return values


def _figure4(config: Config, ctx: RunContext, claims: ClaimTable) -> tuple[dict, dict, Table]:
    """Figure 4's runs, claims, arrays and table."""
    traj = figure4_runs(ctx, config)
    ds = dataset(config["data"])
    w_star, gamma = max_margin_direction(ds.X, ds.y)
    net = TwoLayerNet.balanced(get_activation(config["activation"]), config["m"])
    values = figure4_claims(claims, traj, float(gamma), aligned_margin(net, ds.X, ds.y, w_star))
    fields = ("lr", "eta", "steps", "risk", "normalized_margin", "neuron_margins",
              "neuron_linear_margins")  # fmt: skip
    arrays = {f"f4.{key}": getattr(traj, key).numpy() for key in fields}
    table = Table(
        ["tilde-eta", "eta", "margin > 0 from step", "gamma-bar at T",
         "max neuron margin (phi), t >= 1", "max neuron margin (linear), t >= 1"],
        [
            [lr, eta, *(values[f"f4_{key}_{_tag(lr)}"] for key in ("pos", "final", "phi", "lin"))]
            for lr, eta in zip(traj.lr.tolist(), traj.eta.tolist(), strict=True)
        ],
    )  # fmt: skip
    return arrays, values, table


def _series_arrays(j: int, sweep: SweepResult, runs: Mapping[int, dict[str, Any]]) -> dict:
    """Sweep ``j``'s margin and norm series for the figures (``s{j}.*``)."""
    norm = sweep.traj.param_norm.numpy()
    log_risk = sweep.traj.log_risk.numpy()
    lgc = np.stack([log_gamma_c(c, log_risk[k], norm[k]) for k, c in enumerate(sweep.constants)])
    s_star = [t.facts["s*"] for t in sweep.stable_verdicts]
    fit = {key: np.array([runs[k][key] if k in runs else np.nan for k in range(len(s_star))])
           for key in ("fit_slope", "fit_intercept", "fit_start")}  # fmt: skip
    return {
        f"s{j}.steps": sweep.traj.steps.numpy(),
        f"s{j}.lr": sweep.lrs,
        f"s{j}.gamma_bar": sweep.traj.normalized_margin.numpy(),
        f"s{j}.log_gamma_c": lgc,
        f"s{j}.norm": norm,
        f"s{j}.s_star": np.array([np.nan if s is None else s for s in s_star], float),
        **{f"s{j}.{key}": value for key, value in fit.items()},
    }


def run(config: Config, ctx: RunContext) -> Result:
    """The margin sweeps, Figure 4 and the claims."""
    sweeps = sweeps_of(config, ctx)
    claims = ClaimTable()
    arrays: dict[str, np.ndarray] = {}
    runs = []
    for j, (label, sw) in enumerate(sweeps.items()):
        mine = {k: _margin_run(sw, k, label) for k in range(sw.traj.num_runs)
                if reaches_condition5(sw, k)}  # fmt: skip
        runs += list(mine.values())
        arrays.update(_series_arrays(j, sw, mine))
    if not runs:
        raise ValueError("no run of the margin sweeps reaches eq. (5) by T/2: lengthen 'steps'")
    values = _margin_claims(claims, runs, list(sweeps))
    f4_arrays, f4_values, f4_table = _figure4(config["figure4"], ctx, claims)
    arrays.update(f4_arrays)
    values.update(f4_values)

    certificates, _ = certificate_claims(sweeps)
    ok = [sum(c.name == name and c.status in ("holds", "vacuous")
              for sw in sweeps.values() for t in sw.stable_verdicts for c in t)
          for name in MARGIN_CERTIFICATES]  # fmt: skip
    claims.add(
        "norm and margin certificates hold on every run", "Theorem 2.2, Lemmas A.8-A.15",
        min(ok), len(runs), relation="==",
        note="least number of runs on which one of them was tested and holds",
    )  # fmt: skip
    claims.extend(certificates)
    values["labels"] = list(sweeps)
    return Result(
        study="margin-improvement",
        scale="",
        config=config,
        arrays=arrays,
        values=values,
        tables={
            "sweeps": sweep_table(sweeps),
            "margins": _margin_table(runs),
            "norms": _norm_table(runs),
            "figure4": f4_table,
        },
        claims=claims,
    )


STUDY = Study(
    name="margin-improvement",
    title="Margin improvement",
    chapter="book/part1/margin-improvement.md",
    quick=QUICK,
    paper=PAPER,
    run=run,
    plot=figures,
)
