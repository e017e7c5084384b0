"""Margin improvement (chapter ``book/part1/margin-improvement.md``): Theorem 2.2, second part,
and the paper's Figure 4.

The sweeps are those of the phase-threshold chapter, restricted to the stepsizes that reach
eq. (5) early, over a longer horizon, every step recorded. Per *settled* run (eq. (5) by
``T/4``): the normalized margin ``gamma-bar`` (eq. 3) and the modified margin ``gamma^c``
(eq. 10, in log space) after ``s*``, Lemma A.10's constant, the drops of ``gamma-bar`` before
``s*`` and its drawdown after, the growth of ``||w_t||`` over the last two doublings of ``t``
against that of ``log(1/L_t)``, and the onset of Lemma A.15's lower bound. Figure 4: the
network's and each neuron's margins on the five points.

Claims (each note says which wrong result it rules out): ``gamma^c`` never decreases after
``s*``; ``gamma-bar`` never falls 1% below its running maximum there, and drops far more before;
the smallest stepsize ends with the largest margin; ``||w_t||`` grows like ``log t``, not
``sqrt t`` or ``t`` (``untestable`` on a run whose ``1/L_t`` is still dominated by ``1/L_s*``);
Figure 4's network margin turns positive and keeps rising while no neuron's margin does; and the
norm and margin certificates of Theorem 2.2 (one row per claim, worst run; Lemma A.15's lower
bound ``vacuous`` where it is weaker than the non-decreasing norm).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gdlab.claims import Claim, ClaimTable
from gdlab.data import max_margin_direction
from gdlab.experiments.study import Config, Result, RunContext, Study
from gdlab.plotting.margin import figures
from gdlab.stats import doubling_ratio, semilog_fit
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.assumptions import aligned_margin
from gdlab.stepsize.criteria import (
    DRAWDOWN_TOLERANCE,
    LOG_GROWTH_BAND,
    largest_drop,
    largest_relative_drawdown,
)
from gdlab.stepsize.logspace import log10_lemma_a10_constant, log_gamma_c
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import SweepResult
from gdlab.stepsize.trajectory import Trajectory
from gdlab.studies.common import dataset
from gdlab.studies.paper_figures import FIGURE4, figure4_runs
from gdlab.studies.phase_threshold import (
    certificate_claims,
    data_table,
    settled,
    sweep_table,
    sweeps_of,
)
from gdlab.tables import Table

__all__ = [
    "MARGIN_CERTIFICATES",
    "PAPER",
    "QUICK",
    "STUDY",
    "figure4_claims",
    "margin_claims",
    "margin_run",
    "run",
]

#: The certificates of :func:`~gdlab.stepsize.certify.certify_stable_phase` on the norm and the
#: margins (the risk ones belong to the phase-threshold chapter).
MARGIN_CERTIFICATES = (
    "norm non-decreasing after s*",
    "gamma^c non-decreasing after s*",
    "Lemma A.7",
    "Lemma A.8",
    "Lemma A.9",
    "Lemma A.10",
    "Lemma A.13",
    "Lemma A.15 lower",
    "Lemma A.15 upper",
)
#: "Before s* the margin drops far more": the largest one-step drop of gamma-bar before s*
#: exceeds this multiple of the largest one after s* (two orders of magnitude, chosen).
DROP_FACTOR = 100.0

_LEAKY = "leaky_softplus_ex31"
QUICK: Config = {
    "seed": 0,
    "init_scale": 0.1,
    # The stepsizes of the phase-threshold sweeps that reach eq. (5) within the first quarter of
    # a longer horizon. Theorem 2.2 needs no separability: no Assumption 3 certificate.
    "sweeps": [
        {
            "label": "XOR",
            "data": {"name": "xor"},
            "activation": _LEAKY,
            "m": 20,
            "lr": [300.0, 1000.0, 2000.0],
            "steps": 12_000,
            "separable": False,
        },
        {
            "label": "five points",
            "data": {"name": "five_point"},
            "activation": _LEAKY,
            "m": 10,
            "lr": [100.0, 300.0, 1000.0, 3000.0],
            "steps": 12_000,
            "separable": False,
        },
        {
            "label": "digits 3 vs 8",
            "data": {"name": "digits", "classes": [3, 8]},
            "activation": _LEAKY,
            "m": 10,
            "lr": [1e5],
            "steps": 6000,
            "separable": False,
        },
    ],
    "figure4": FIGURE4["quick"],
}
#: Five times the horizon; Figure 4 at the paper's horizon.
PAPER: Config = {
    **QUICK,
    "sweeps": [{**spec, "steps": 5 * spec["steps"]} for spec in QUICK["sweeps"]],
    "figure4": FIGURE4["paper"],
}


def margin_run(sweep: SweepResult, k: int, label: str) -> dict[str, Any]:
    """The margin picture of settled run ``k`` from ``s*``.

    ``gc_decreases``: recorded pairs after ``s*`` where ``gamma^c`` decreases at all (no
    allowance); ``log10_gap_end``: ``log10(gamma-bar / gamma^c)`` at ``T``; ``drop_before``,
    ``drop_after``: the largest one-step drop of ``gamma-bar`` before and after ``s*``;
    ``drawdown``: :func:`~gdlab.stepsize.criteria.largest_relative_drawdown` of ``gamma-bar``
    after ``s*`` (eq. (5) gives ``L <= 1/(2n)``, hence ``gamma-bar > 0`` there); ``growth``,
    ``growth_log_risk``: :func:`gdlab.stats.doubling_ratio` of ``||w_t||`` and of
    ``log(1/L_t)`` over ``[T/4, T]``; ``fit_*``: ``||w_t||`` against ``log t`` on ``t >= T/2``
    (the figure's line; its slope times ``gamma-bar(T)`` is 1 once ``gamma-bar`` has converged);
    ``log10_a15_onset``: ``log10`` of the ``t - s*`` from which Lemma A.15's lower bound
    ``log[(t-s) lr gamma^c(w_s)^2/(2n)]/(2 B_0)`` is positive, ``2n/(lr gamma^c(w_s)^2)``.
    """
    c, table = sweep.constants[k], sweep.stable_verdicts[k]
    t = sweep.traj.steps.numpy()
    T = int(t[-1])
    s = int(table.facts["s*"])
    i = int(np.searchsorted(t, s))
    gbar = sweep.traj.normalized_margin[k].numpy()
    norm = sweep.traj.param_norm[k].numpy()
    log_risk = sweep.traj.log_risk[k].numpy()
    lgc = log_gamma_c(c, log_risk, norm)
    start = T // 2
    fit = semilog_fit(t[t >= start], norm[t >= start])
    return {
        "dataset": label,
        "lr": c.lr,
        "s_star": s,
        "steps": T,
        "gc_decreases": int(np.sum(np.diff(lgc[i:]) < 0)),
        "log10_a10": log10_lemma_a10_constant(c),
        "log10_gap_end": float((math.log(gbar[-1]) - lgc[-1]) / math.log(10)),
        "gamma_bar_s": float(gbar[i]),
        "gamma_bar_end": float(gbar[-1]),
        "drop_before": largest_drop(gbar[: i + 1]),
        "drop_after": largest_drop(gbar[i:]),
        "drawdown": largest_relative_drawdown(gbar[i:]),
        "norm_s": float(norm[i]),
        "norm_end": float(norm[-1]),
        "growth": doubling_ratio(t, norm),
        "growth_log_risk": doubling_ratio(t, -log_risk),
        "risk_half": float(math.exp(log_risk[int(np.searchsorted(t, T / 2))])),
        "risk_end": float(math.exp(log_risk[-1])),
        "fit_slope": fit.slope,
        "fit_intercept": fit.intercept,
        "fit_start": start,
        "log10_a15_onset": float((math.log(2 * c.n / c.lr) - 2 * lgc[i]) / math.log(10)),
    }


def _margin_table(runs: list[dict[str, Any]]) -> Table:
    return Table(
        ["data", "tilde-eta", "s*", "gamma-bar at s*", "gamma-bar at T",
         "log10 gamma-bar/gamma^c at T", "log10 c (A.10)"],
        [
            [r["dataset"], r["lr"], r["s_star"], r["gamma_bar_s"], r["gamma_bar_end"],
             r["log10_gap_end"], r["log10_a10"]]
            for r in runs
        ],
    )  # fmt: skip


def _dips_table(runs: list[dict[str, Any]]) -> Table:
    return Table(
        ["data", "tilde-eta", "gamma^c decreases", "largest drop before s*",
         "largest drawdown after s*"],
        [[r["dataset"], r["lr"], r["gc_decreases"], r["drop_before"], r["drawdown"]]
         for r in runs],
    )  # fmt: skip


def _norm_table(runs: list[dict[str, Any]]) -> Table:
    return Table(
        ["data", "tilde-eta", "||w|| at s*", "||w|| at T", "doubling ratio ||w||",
         "doubling ratio log(1/L)", "slope x gamma-bar(T)"],
        [
            [r["dataset"], r["lr"], r["norm_s"], r["norm_end"], r["growth"],
             r["growth_log_risk"], r["fit_slope"] * r["gamma_bar_end"]]
            for r in runs
        ],
    )  # fmt: skip


def _in_band(value: float) -> bool:
    low, high = LOG_GROWTH_BAND
    return low <= value <= high


def _norm_claim(r: dict[str, Any]) -> Claim:
    """``||w_t||`` grows like ``log t`` on run ``r`` (:data:`LOG_GROWTH_BAND`), untestable where
    ``log(1/L_t)``, which the norm tracks (Lemma A.9: ``q_min <= log(1/L) <= q_min + log 2n``),
    does not itself grow like ``log t`` yet."""
    testable = _in_band(r["growth_log_risk"])
    return Claim(
        "||w_t|| grows like log t, not sqrt t or t", "Theorem 2.2 (||w_t|| = Theta(log t))",
        r["growth"] if testable else None, LOG_GROWTH_BAND, relation="in",
        needs=f"1/L_t no longer dominated by 1/L_s* ({r['dataset']}, tilde-eta = {r['lr']:g}: "
        f"log(1/L_t) has doubling ratio {r['growth_log_risk']:.3g}, the risk falls only "
        f"{r['risk_half'] / r['risk_end']:.3g}-fold over [T/2, T]; the norm's ratio is "
        f"{r['growth']:.3g}, as log(1/L_t) makes it)",
        note=f"{r['dataset']}, tilde-eta = {r['lr']:g}: growth of ||w|| over [T/2, T] / over "
        f"[T/4, T/2] (1 for log t, 1.41 for sqrt t, 2 for t); log(1/L_t) gives "
        f"{r['growth_log_risk']:.3g}",
    )  # fmt: skip


def margin_claims(
    claims: ClaimTable, runs: list[dict[str, Any]], labels: list[str]
) -> dict[str, Any]:
    """The chapter's claims on the margins and the norm from the records of
    :func:`margin_run`; returns the values it glues."""
    src = "Theorem 2.2 (margin improvement)"
    claims.add(
        "gamma^c never decreases after s*, not even by rounding", src,
        sum(r["gc_decreases"] for r in runs), 0, relation="==",
        note=f"decreasing recorded pairs after s* over {len(runs)} runs, no allowance",
    )  # fmt: skip
    drawdown = max(r["drawdown"] for r in runs)
    claims.add(
        "gamma-bar nearly monotone after s*", "Figure 2(c), Theorem 2.2", drawdown,
        DRAWDOWN_TOLERANCE,
        note="largest fall below the running maximum, relative to it (criteria."
        "DRAWDOWN_TOLERANCE); rules out a declining margin, which a one-step criterion admits",
    )  # fmt: skip
    drop_before = max(r["drop_before"] for r in runs)
    drop_after = max(r["drop_after"] for r in runs)
    claims.add(
        f"gamma-bar drops {DROP_FACTOR:g} times more before s* than after",
        "Theorem 2.2 (only after eq. (5))",
        drop_before, DROP_FACTOR * drop_after, relation=">",
        note=f"largest one-step drop before s*; after s*: {drop_after:.3g}; rules out an s* "
        "that misses the oscillating phase",
    )  # fmt: skip
    for label in labels:
        mine = [r for r in runs if r["dataset"] == label]
        if len(mine) < 2:  # one run: nothing to compare across stepsizes
            continue
        smallest = min(mine, key=lambda r: r["lr"])
        best = max(mine, key=lambda r: r["gamma_bar_end"])
        claims.add(
            f"{label}: the smallest stepsize ends with the largest gamma-bar",
            "Theorem 2.2 (observation)", best["lr"], smallest["lr"], relation="==",
            note="measured: the stepsize with the largest gamma-bar at T",
        )  # fmt: skip
    norm_rows = ClaimTable(_norm_claim(r) for r in runs).aggregate()
    claims.extend(norm_rows)
    tested = [r for r in runs if _in_band(r["growth_log_risk"])]
    early = [r for r in runs if not _in_band(r["growth_log_risk"])]
    gaps = sorted((r["log10_gap_end"], r["lr"], r["dataset"]) for r in runs)
    ratios = [r["fit_slope"] * r["gamma_bar_end"] for r in runs]
    return {
        "n_runs": len(runs),
        "drawdown": drawdown,
        "drawdown_tol": DRAWDOWN_TOLERANCE,
        "n_strict": sum(r["drop_after"] == 0 for r in runs),
        "drop_before": drop_before,
        "drop_after": drop_after,
        "gap_min": gaps[0][0],
        "gap_min_lr": gaps[0][1],
        "gap_min_data": gaps[0][2],
        "gap_max": gaps[-1][0],
        "gap_max_lr": gaps[-1][1],
        "gap_max_data": gaps[-1][2],
        "growth_band_low": LOG_GROWTH_BAND[0],
        "growth_band_high": LOG_GROWTH_BAND[1],
        "n_growth_tested": len(tested),
        "growth_min": min((r["growth"] for r in tested), default=None),
        "growth_max": max((r["growth"] for r in tested), default=None),
        "n_growth_early": len(early),
        "growth_early_desc": "; ".join(
            f"{r['dataset']} at tilde-eta = {r['lr']:g} (log(1/L_t): {r['growth_log_risk']:.2f},"
            f" ||w||: {r['growth']:.2f})" for r in early) or "none",
        "ratio_max": max(ratios),
        "ratio_min": min(ratios),
        "a15_onset_min": min(r["log10_a15_onset"] for r in runs),
    }  # fmt: skip


def figure4_claims(
    claims: ClaimTable, traj: Trajectory, data_margin: float, aligned: float
) -> dict[str, Any]:
    """Figure 4's claims (spec §4, §5) per stepsize: the network margin turns positive and is
    still rising over the last half of the record, below the margin ``aligned`` of the network
    whose neurons point along ``w_*``, while the margin of every neuron stays negative at every
    recorded step ``t >= 1`` (for both definitions ``min_i y_i a_j phi(x_i^T w_j)/||w_j||`` and
    ``min_i y_i a_j x_i^T w_j / ||w_j||``); at ``t = 0`` the ``phi`` definition is positive for a
    neuron of tiny norm (``phi(0) > 0``) and the linear one is not. Returns the values the
    chapter glues, per run as lists (``f4_pos``, ``f4_final``, ``f4_phi``, ``f4_lin``) and for the
    first and the last stepsize by name (``f4_pos_first``, ...; ``data_margin``, the data's max
    margin, for the prose)."""
    steps = traj.steps.numpy()
    gbar = traj.normalized_margin.numpy()
    phi_m, lin_m = traj.neuron_margins.numpy(), traj.neuron_linear_margins.numpy()
    later, half = steps >= 1, steps >= steps[-1] / 2
    every = "every step" if np.array_equal(steps, np.arange(steps.size)) else "recorded steps"
    src = "Figure 4(b)"
    per_run: dict[str, list[float]] = {"pos": [], "final": [], "phi": [], "lin": []}
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
            relation=">", note="gamma-bar(T) - gamma-bar(T/2); rules out a margin that has "
            "stopped improving",
        )  # fmt: skip
        claims.add(
            f"{tag}: gamma-bar(T) below the margin along w_*", src, float(gbar[k][-1]), aligned,
            relation="<", note="the network with both neurons along +-w_* as the yardstick",
        )  # fmt: skip
        top = {}
        for kind, series in (("phi", phi_m[k]), ("linear", lin_m[k])):
            top[kind] = float(series[later].max())
            claims.add(
                f"{tag}: every neuron margin ({kind}) negative for t >= 1", src, top[kind], 0.0,
                relation="<", note=f"max over {every} t >= 1 and the neurons",
            )  # fmt: skip
        for key, value in (("pos", first), ("final", float(gbar[k][-1])),
                           ("phi", top["phi"]), ("lin", top["linear"])):  # fmt: skip
            per_run[key].append(value)
    init_phi, init_lin = float(phi_m[:, 0].max()), float(lin_m[:, 0].max())
    claims.add(
        "at t = 0 a neuron's phi-margin is positive", "Figure 4 (phi(0) = log(2)/2 > 0)",
        init_phi, 0.0, relation=">", note="the phi definition is not scale-invariant",
    )  # fmt: skip
    claims.add(
        "at t = 0 every neuron's linear margin is negative", "Figure 4", init_lin, 0.0,
        relation="<",
    )  # fmt: skip
    values: dict[str, Any] = {f"f4_{key}": v for key, v in per_run.items()}
    for which, k in (("first", 0), ("last", -1)):
        values.update({f"f4_{key}_{which}": v[k] for key, v in per_run.items()})
        values.update(
            {f"f4_lr_{which}": traj.lr.tolist()[k], f"f4_eta_{which}": traj.eta.tolist()[k]}
        )
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
        ["tilde-eta", "eta", "margin > 0 from step", "gamma-bar at T", "max phi-margin",
         "max linear margin"],
        [
            [lr, eta, *(values[f"f4_{key}"][k] for key in ("pos", "final", "phi", "lin"))]
            for k, (lr, eta) in enumerate(zip(traj.lr.tolist(), traj.eta.tolist(), strict=True))
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
    sweeps = sweeps_of(config["sweeps"], config, ctx)
    claims = ClaimTable()
    arrays: dict[str, np.ndarray] = {}
    runs = []
    for j, (label, sw) in enumerate(sweeps.items()):
        mine = {k: margin_run(sw, k, label) for k in range(sw.traj.num_runs) if settled(sw, k)}
        runs += list(mine.values())
        arrays.update(_series_arrays(j, sw, mine))
    if not runs:
        raise ValueError("no run of the margin sweeps reaches eq. (5) by T/4: lengthen 'steps'")
    values = margin_claims(claims, runs, list(sweeps))
    f4_arrays, f4_values, f4_table = _figure4(config["figure4"], ctx, claims)
    arrays.update(f4_arrays)
    values.update(f4_values)
    certificates, counts = certificate_claims(sweeps, MARGIN_CERTIFICATES)
    claims.extend(certificates)
    values.update(counts)
    values.update(labels=list(sweeps), init_scale=config["init_scale"], seed=config["seed"])
    values["claims_summary"] = claims.summary_line()
    return Result(
        study="margin-improvement",
        scale="",
        config=config,
        arrays=arrays,
        values=values,
        tables={
            "data": data_table(sweeps),
            "sweeps": sweep_table(sweeps),
            "margins": _margin_table(runs),
            "dips": _dips_table(runs),
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
