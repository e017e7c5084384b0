"""The phase threshold (chapter ``book/part1/phase-threshold.md``): Theorem 2.2, first part, and
Theorem 4.1's stable phase, on three stepsize sweeps.

Each sweep trains eq. (2) on one dataset (XOR of Figure 2, the five points of Figure 4, digits 3
vs 8) from one initialisation at stepsizes from monotone to strongly oscillating. Per run: the
measured start of the monotone phase against ``r*`` (the first step of eq. (4)), the
``tilde-eta t L_t`` plateau after ``s*`` (the first step of eq. (5)) with Lemma A.14's band, and
the certificates of :func:`~gdlab.stepsize.certify.certify_stable_phase`; on the digits (unit
inputs, separable) Theorem 4.1's stable-phase rate.

Claims: every step after ``r*`` decreases the risk; the certificate never precedes the fact;
each sweep has a monotone and a strongly oscillating run, and its lowest final risk belongs to an
oscillating run; only non-separable data have runs that never reach eq. (4) (Figure 2's largest
stepsize); on Figure 2's data ``tilde-eta t L_t`` levels off; Lemma A.14 holds on the plotted
curves; Theorem 4.1's rate; and every certificate of Theorem 2.2 (one row per claim, worst run).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from gdlab.claims import ClaimTable
from gdlab.experiments.study import Config, Result, RunContext, Study
from gdlab.plotting.phase_threshold import figures
from gdlab.stepsize.certify import certify_first_phase, risk_increase_count
from gdlab.stepsize.criteria import PLATEAU_TOLERANCE, rate_spread
from gdlab.stepsize.logspace import log10_lemma_a14_bounds, log_gamma_c
from gdlab.stepsize.sweeps import SweepResult
from gdlab.stepsize.theory import THEOREM41_FACTORS
from gdlab.studies.common import gd_sweep
from gdlab.tables import Table

__all__ = [
    "PAPER",
    "QUICK",
    "STUDY",
    "certificate_claims",
    "certificate_table",
    "reaches_condition5",
    "run",
    "stable_index",
    "sweep_table",
    "sweeps_of",
]

#: "Strongly oscillating": a run whose risk rises at least this many times above ``L_0``.
OSCILLATION_FACTOR = 10.0


def _two_per_decade(lo: float, hi: float) -> list[float]:
    """Stepsizes ``10^lo ... 10^hi``, two per decade (the paper-scale sweeps)."""
    return [float(v) for v in np.round(np.logspace(lo, hi, int(2 * (hi - lo)) + 1), 6)]


_LEAKY = "leaky_softplus_ex31"
QUICK: Config = {
    "seed": 0,
    "init_scale": 0.1,
    # Stepsizes chosen after measuring: each sweep runs from a risk that decreases at every step
    # to one that jumps by orders of magnitude.
    "sweeps": [
        {
            "label": "XOR",
            "data": {"name": "xor"},
            "activation": _LEAKY,
            "m": 20,
            "lr": [1.0, 10.0, 100.0, 1000.0, 2000.0, 3000.0],
            "steps": 5000,
            "separable": False,
        },
        {
            "label": "five points",
            "data": {"name": "five_point"},
            "activation": _LEAKY,
            "m": 10,
            "lr": [0.1, 1.0, 10.0, 100.0, 300.0, 1000.0, 3000.0],
            "steps": 4000,
            "separable": True,
        },
        {
            "label": "digits 3 vs 8",
            "data": {"name": "digits", "classes": [3, 8]},
            "activation": _LEAKY,
            "m": 10,
            "lr": [10.0, 100.0, 1e3, 1e4, 1e5],
            "steps": 2000,
            "separable": True,
        },
    ],
    # The sweep on Figure 2's data (the rate levels off; its largest stepsize never settles).
    "figure2": "XOR",
    # The sweep whose data meet Theorem 4.1's assumptions (separable, ||x_i|| <= 1).
    "theorem41": "digits 3 vs 8",
    # An oscillating run "settles close to r*" when r* lags the fact by at most this many steps.
    "close_steps": 5,
    # The rate figure leaves out runs below this stepsize (they hardly move within the budget).
    "rate_min_lr": 10.0,
}
#: Two stepsizes per decade over the same ranges, five times the horizon.
PAPER: Config = {
    **QUICK,
    "sweeps": [
        {**QUICK["sweeps"][0], "lr": _two_per_decade(0, 3.5), "steps": 25_000},
        {**QUICK["sweeps"][1], "lr": _two_per_decade(-1, 3.5), "steps": 20_000},
        {**QUICK["sweeps"][2], "lr": _two_per_decade(1, 5), "steps": 10_000},
    ],
}


def reaches_condition5(sweep: SweepResult, k: int) -> bool:
    """Whether run ``k`` satisfies eq. (5) within the first half of the record (``s* <= T/2``)."""
    s = sweep.stable_verdicts[k].facts["s*"]
    return s is not None and s <= int(sweep.traj.steps[-1]) / 2


def stable_index(sweep: SweepResult) -> int | None:
    """The run with the largest stepsize that satisfies eq. (5) by ``T/2`` (None if none)."""
    ok = [k for k in range(sweep.traj.num_runs) if reaches_condition5(sweep, k)]
    return max(ok, key=lambda k: sweep.lrs[k]) if ok else None


def _phase_run(sweep: SweepResult, k: int, label: str) -> dict[str, Any]:
    """The phase picture of run ``k`` (Theorem 2.2, first part).

    ``monotone_from``: the first step after which the risk never increases beyond rounding
    (:meth:`SweepResult.monotone_from`), ``reached`` when that is within the first half of the
    record; ``r*``, ``s*``: the first steps of eqs. (4), (5); ``after_r``: ``max_{t >= r*}
    (L_{t+1} - L_t)`` and ``after_r_status`` the status of its certificate; ``delay``:
    ``r* - monotone_from`` (None without ``r*`` or without a monotone phase).
    """
    c, verdicts = sweep.constants[k], sweep.stable_verdicts[k]
    steps, risk = sweep.traj.steps.numpy(), sweep.traj.risk[k].numpy()
    T = int(steps[-1])
    mono = sweep.monotone_from(k)
    r_star, s_star = verdicts.facts["r*"], verdicts.facts["s*"]
    after = verdicts["risk non-increasing after r*"]
    tested = after.status != "untestable"
    reached = mono <= T / 2
    return {
        "dataset": label,
        "lr": c.lr,
        "eta": c.eta,
        "steps": T,
        "initial": float(risk[0]),
        "peak": float(risk.max() / risk[0]),
        "final": float(risk[-1]),
        "increases": risk_increase_count(sweep.run(k), c),
        "monotone_from": mono,
        "reached": reached,
        "r_star": r_star,
        "s_star": s_star,
        "after_r": float(np.max(np.diff(risk[int(np.searchsorted(steps, r_star)) :])))
        if tested
        else None,
        "after_r_status": after.status,
        "delay": None if r_star is None or not reached else r_star - mono,
    }


def _phase_table(runs: list[dict[str, Any]]) -> Table:
    return Table(
        ["data", "tilde-eta", "eta", "max L / L_0", "risk increases", "monotone from (measured)",
         "r* (eq. 4)", "max increase after r*", "certificate", "s* (eq. 5)", "L(w_T)"],
        [
            [r["dataset"], r["lr"], r["eta"], r["peak"], r["increases"],
             r["monotone_from"] if r["reached"] else f"not by T/2 ({r['monotone_from']})",
             r["r_star"], r["after_r"], r["after_r_status"], r["s_star"], r["final"]]
            for r in runs
        ],
    )  # fmt: skip


def _rate_check(sweep: SweepResult, k: int, label: str, spread: float) -> dict[str, Any]:
    """``tilde-eta t L_t`` of run ``k`` on ``[T/2, T]`` (Figure 2(b)) and the band that Lemma A.14
    allows for ``tilde-eta (T - s*) L_T`` from ``s = s*``."""
    c = sweep.constants[k]
    t = sweep.traj.steps.numpy()
    T = int(t[-1])
    half = t >= T / 2
    s = int(sweep.stable_verdicts[k].facts["s*"])
    prod = c.lr * t[half] * sweep.traj.risk[k].numpy()[half]
    i = int(np.searchsorted(t, s))
    lower, upper = _a14_bounds(sweep, k, i, np.array([T]))
    scale = math.log10(c.lr * (T - s))
    return {
        "dataset": label,
        "lr": c.lr,
        "s_star": s,
        "steps": T,
        "mid": float(prod[0]),
        "end": float(prod[-1]),
        "spread": float(spread),
        "band_low": float(10 ** (lower[0] + scale)),
        "log10_band_high": float(upper[0] + scale),
    }


def _a14_bounds(sweep: SweepResult, k: int, i: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log10 of Lemma A.14's bounds of run ``k`` at steps ``t`` from ``s = steps[i]``."""
    c = sweep.constants[k]
    log_risk = sweep.traj.log_risk[k].numpy()
    lgc = float(log_gamma_c(c, log_risk[i], sweep.traj.param_norm[k, i].numpy()))
    return log10_lemma_a14_bounds(c, t, int(sweep.traj.steps[i]), float(log_risk[i]), lgc)


def _rate_table(rates: list[dict[str, Any]]) -> Table:
    return Table(
        ["data", "tilde-eta", "s*", "lr t L_t at T/2", "lr t L_t at T", "max/min on [T/2, T]",
         "levels off", "A.14: lr (T-s*) L_T >=", "A.14: log10 of upper"],
        [
            [r["dataset"], r["lr"], r["s_star"], r["mid"], r["end"], r["spread"],
             r["spread"] <= PLATEAU_TOLERANCE, r["band_low"], r["log10_band_high"]]
            for r in rates
        ],
    )  # fmt: skip


def sweep_table(sweeps: Mapping[str, SweepResult]) -> Table:
    """One line per sweep: the data (n, d, radius R, Assumption 3 margin gamma when separable),
    the network (activation, width m), the stepsizes and the horizon T."""
    rows = []
    for label, sw in sweeps.items():
        c = sw.constants[0]
        rows.append([label, c.n, c.d, c.R, c.gamma, c.activation, c.m,
                     ", ".join(f"{lr:g}" for lr in sw.lrs), int(sw.traj.steps[-1])])  # fmt: skip
    return Table(
        ["data", "n", "d", "R", "gamma (A3)", "activation", "m", "stepsizes tilde-eta", "T"], rows
    )


def sweeps_of(config: Config, ctx: RunContext) -> dict[str, SweepResult]:
    """The sweeps of ``config["sweeps"]``, every step recorded (cached units of work)."""
    return {
        spec["label"]: gd_sweep(
            ctx, spec["data"], spec["activation"], spec["m"], spec["lr"], spec["steps"],
            separable=spec["separable"], record_w_star=spec["separable"],
            init_scale=config["init_scale"], seed=config["seed"],
        )
        for spec in ctx.steps(config["sweeps"], desc="sweeps")
    }  # fmt: skip


def certificate_table(sweeps: Mapping[str, SweepResult]) -> Table:
    """One line per run: ``r*``, ``s*`` and how many certificates of Theorem 2.2 hold, fail or
    could not be tested (their hypothesis, eq. (4) or (5), never met)."""
    rows = []
    for label, sweep in sweeps.items():
        for k, table in enumerate(sweep.stable_verdicts):
            n = table.counts()
            rows.append([label, float(sweep.lrs[k]), table.facts["r*"], table.facts["s*"],
                         len(table) - n["untestable"], n["holds"] + n["vacuous"],
                         n["untestable"], n["fails"]])  # fmt: skip
    return Table(["data", "tilde-eta", "r*", "s*", "checked", "hold", "untestable", "fail"], rows)


def certificate_claims(sweeps: Mapping[str, SweepResult]) -> tuple[ClaimTable, dict[str, int]]:
    """Every run's certificates of Theorem 2.2, one row per claim (its worst run), and how many
    claims were tested: ``{"n_checks": tested rows, "n_claims": distinct claims tested}``."""
    every = ClaimTable([c for sw in sweeps.values() for t in sw.stable_verdicts for c in t])
    tested = [c for c in every if c.status != "untestable"]
    return every.aggregate(), {
        "n_checks": len(tested),
        "n_claims": len({c.name for c in tested}),
    }


def run(config: Config, ctx: RunContext) -> Result:
    """The sweeps, the phase picture, the rate, Lemma A.14, Theorem 4.1 and the claims."""
    fig2, t41 = config["figure2"], config["theorem41"]
    labels = [spec["label"] for spec in config["sweeps"]]
    for key, label in (("figure2", fig2), ("theorem41", t41)):
        if label not in labels:
            raise ValueError(f"{key}={label!r} is not a sweep label; labels: {labels}")
    sweeps = sweeps_of(config, ctx)
    separable = {spec["label"]: spec["separable"] for spec in config["sweeps"]}
    runs = [_phase_run(sw, k, label) for label, sw in sweeps.items()
            for k in range(sw.traj.num_runs)]  # fmt: skip
    by_data = {label: [r for r in runs if r["dataset"] == label] for label in sweeps}
    claims = ClaimTable()
    values: dict[str, Any] = {}

    # ---- where the risk becomes monotone (Theorem 2.2, first part)
    reached = [r for r in runs if r["r_star"] is not None]
    never = [r for r in runs if r["r_star"] is None]
    tested = [r for r in reached if r["after_r"] is not None]
    worst_after = max((r["after_r"] for r in tested), default=None)
    src = "Theorem 2.2, eq. (4)"
    claims.add(
        "every step after r* decreases the risk", src, worst_after, 0.0, relation="<",
        needs="a run that reaches eq. (4) before its last step",
        note=f"max_(t >= r*) (L_(t+1) - L_t) over {len(tested)} runs",
    )  # fmt: skip
    claims.add(
        "the certificate after r* is checked on every run that reaches eq. (4)", src,
        len(tested), len(reached), relation="==",
    )  # fmt: skip
    for label, rs in by_data.items():
        best = min(rs, key=lambda r: r["final"])
        claims.add(
            f"{label}: the lowest final risk belongs to an oscillating run", "Figure 2(a)",
            best["increases"], 0, relation=">",
            note=f"risk increases of the run at tilde-eta = {best['lr']:g}",
        )  # fmt: skip
        claims.add(
            f"{label}: some run is monotone throughout", "Figure 2(a)",
            min(r["increases"] for r in rs), 0, relation="==",
            note="fewest risk increases beyond rounding over the sweep",
        )  # fmt: skip
        claims.add(
            f"{label}: some run's risk rises {OSCILLATION_FACTOR:g}-fold", "Figure 2(a)",
            max(r["peak"] for r in rs), OSCILLATION_FACTOR, relation=">=",
            note="largest max_t L_t / L_0 over the sweep",
        )  # fmt: skip
    claims.add(
        "runs that never reach eq. (4) are on non-separable data", "Theorem 3.2 (contrapositive)",
        sum(separable[r["dataset"]] for r in never), 0, relation="==",
        note=f"{len(never)} run(s) never reach eq. (4)",
    )  # fmt: skip
    largest = max(by_data[fig2], key=lambda r: r["lr"])
    claims.add(
        f"{fig2}: the largest stepsize never reaches eq. (4)", src,
        int(largest["r_star"] is None), 1, relation="==",
        note=f"tilde-eta = {largest['lr']:g}",
    )  # fmt: skip
    claims.add(
        f"{fig2}: the largest stepsize is not monotone by T/2", "Figure 2(a)",
        largest["monotone_from"], largest["steps"] / 2, relation=">",
        note="measured first step of the monotone phase",
    )  # fmt: skip
    claims.add(
        f"{fig2}: the largest stepsize ends above its initial risk", "Figure 2(a)",
        largest["final"], largest["initial"], relation=">",
    )  # fmt: skip
    peaks = [max(r["peak"] for r in rs) for rs in by_data.values()]
    values.update(
        n_runs=len(runs),
        n_reached=len(reached),
        worst_after_r=worst_after,
        min_peak=min(peaks),
        max_peak=max(peaks),
        n_never=len(never),
        xor_never_lr=largest["lr"],
        xor_never_incr=largest["increases"],
        xor_never_T=largest["steps"],
        xor_never_final=largest["final"],
    )

    # ---- how conservative is the threshold
    certified = [r for r in runs if r["delay"] is not None]
    claims.add(
        "the certified start r* never precedes the measured one", src,
        min((r["delay"] for r in certified), default=None), 0, relation=">=",
        needs="a run that reaches eq. (4) and is monotone by T/2",
        note=f"least r* - monotone_from over {len(certified)} runs",
    )  # fmt: skip
    oscillating = [r for r in certified if r["increases"] > 0]
    smooth_late = [r for r in certified if r["increases"] == 0 and r["r_star"] > 0]
    worst = max(certified, key=lambda r: r["delay"])
    values.update(
        delay_max=worst["delay"],
        delay_max_lr=worst["lr"],
        delay_max_data=worst["dataset"],
        delay_max_r=worst["r_star"],
        n_smooth_late=len(smooth_late),
        osc_delay_min=min(r["delay"] for r in oscillating),
        osc_delay_max=max(r["delay"] for r in oscillating),
        n_osc=len(oscillating),
        close_steps=config["close_steps"],
        n_osc_close=sum(r["delay"] <= config["close_steps"] for r in oscillating),
    )

    # ---- the rate: tilde-eta t L_t levels off (Figure 2(b)), inside Lemma A.14's band
    rates = []
    for label, sw in sweeps.items():
        spread = rate_spread(sw.lrs, sw.traj.steps.numpy(), sw.traj.risk.numpy())
        rates += [_rate_check(sw, k, label, spread[k]) for k in range(sw.traj.num_runs)
                  if reaches_condition5(sw, k)]  # fmt: skip
    fig2_rates = [r for r in rates if r["dataset"] == fig2]
    drifting = [r for r in rates if r["spread"] > PLATEAU_TOLERANCE]
    claims.add(
        f"{fig2}: runs that reach eq. (5) by T/2", "Figure 2(b)", len(fig2_rates), 1,
        relation=">=",
    )  # fmt: skip
    claims.add(
        f"{fig2}: tilde-eta t L_t levels off on every stable run", "Figure 2(b)",
        max((r["spread"] for r in fig2_rates), default=None), PLATEAU_TOLERANCE,
        needs="a run that reaches eq. (5) by T/2",
        note="largest max/min of tilde-eta t L_t on [T/2, T] (criteria.PLATEAU_TOLERANCE)",
    )  # fmt: skip
    claims.add(
        "runs that do not level off still drift up", "Theorem 2.2 (Theta(1/t))",
        min((r["end"] / r["mid"] for r in drifting), default=None), 1.0, relation=">",
        needs="a run whose tilde-eta t L_t does not level off",
        note="least (tilde-eta T L_T) / (tilde-eta T/2 L_(T/2)) over those runs",
    )  # fmt: skip
    claims.add(
        "Lemma A.14 lower band at T", "Lemma A.14",
        max((r["band_low"] / (r["end"] * (r["steps"] - r["s_star"]) / r["steps"]) for r in rates),
            default=None),
        1.0, needs="a run that reaches eq. (5) by T/2",
        note="largest ratio of the lower bound to tilde-eta (T - s*) L_T",
    )  # fmt: skip
    values.update(
        plateau_tol=PLATEAU_TOLERANCE,
        n_rates=len(rates),
        n_flat=len(rates) - len(drifting),
        drift_desc="; ".join(f"{r['dataset']} at tilde-eta={r['lr']:g}" for r in drifting)
        or "none",
        drift_spread=max((r["spread"] for r in drifting), default=1.0),
        log10_a14_min=min(r["log10_band_high"] for r in rates),
    )

    # ---- Lemma A.14 against the risk, for the largest stable stepsize of each sweep
    arrays: dict[str, np.ndarray] = {}
    a14 = []
    for j, (label, sw) in enumerate(sweeps.items()):
        t_all = sw.traj.steps.numpy()
        arrays[f"s{j}.steps"], arrays[f"s{j}.risk"] = t_all, sw.traj.risk.numpy()
        arrays[f"s{j}.lr"] = sw.lrs
        mine = by_data[label]
        arrays[f"s{j}.monotone_from"] = np.array(
            [r["monotone_from"] if r["reached"] else np.nan for r in mine], float
        )
        arrays[f"s{j}.r_star"] = np.array(
            [np.nan if r["r_star"] is None else r["r_star"] for r in mine], float
        )
        k = stable_index(sw)
        if k is None:
            continue
        s = int(sw.stable_verdicts[k].facts["s*"])
        i = int(np.searchsorted(t_all, s))
        lower, upper = _a14_bounds(sw, k, i, t_all[i + 1 :])
        log10_risk = sw.traj.log_risk[k].numpy()[i + 1 :] / math.log(10)
        arrays.update({f"s{j}.a14.t": t_all[i + 1 :], f"s{j}.a14.log10_risk": log10_risk,
                       f"s{j}.a14.lower": lower, f"s{j}.a14.upper": upper})  # fmt: skip
        a14.append({"sweep": j, "label": label, "lr": float(sw.lrs[k]), "s": s,
                    "low_gap": float(np.max(log10_risk - lower)),
                    "below_lower": float(np.max(lower - log10_risk)),
                    "above_upper": float(np.max(log10_risk - upper)),
                    "upper_end": float(upper[-1])})  # fmt: skip
    for side, key in (("lower", "below_lower"), ("upper", "above_upper")):
        claims.add(
            f"Lemma A.14 {side} bound on the plotted curves", "Lemma A.14",
            max((c[key] for c in a14), default=None), 0.0,
            needs="a run that reaches eq. (5) by T/2",
            note=f"largest log10 {'(bound / L_t)' if side == 'lower' else '(L_t / bound)'} "
            "after s*; plain float64 comparison (the certificates carry the rounding allowance)",
        )  # fmt: skip
    values.update(
        a14_low_gap=max(c["low_gap"] for c in a14),
        a14_up_min=min(c["upper_end"] for c in a14),
        a14=a14,
    )

    # ---- Theorem 4.1's stable-phase rate on the data that meet its assumptions
    sw = sweeps[t41]
    k = stable_index(sw)
    if k is None:
        raise ValueError(f"theorem41={t41!r}: no run reaches eq. (5) by T/2")
    first = certify_first_phase(sw.run(k), sw.constants[k])
    for name in ("s* <= tau (Theorem 4.1)", "Theorem 4.1 rate"):
        claim = first[name]
        claims.append(replace(claim, note=f"{t41}, tilde-eta = {sw.lrs[k]:g}; {claim.note}"))
    printed = THEOREM41_FACTORS["printed"]
    claims.add(
        "Theorem 4.1 rate within the printed factor", "Theorem 4.1 (printed)",
        first.facts["rate peak"], printed,
        needs="eq. (5) (width-free) reached before the last step",
        note=f"max_(t > s*) L_t (t - s*) alpha^2 gamma^2 eta at tilde-eta = {sw.lrs[k]:g} "
        f"against the printed {printed:g} (the proof gives {THEOREM41_FACTORS['safe']:g})",
    )  # fmt: skip
    values.update(
        t41_peak=first.facts["rate peak"],
        t41_lr=float(sw.lrs[k]),
        t41_s=first.facts["s* (width-free eq. 5)"],
    )

    # ---- every certificate of Theorem 2.2, one row per claim
    certificates, counts = certificate_claims(sweeps)
    values.update(counts)
    claims.extend(certificates)
    values["labels"] = list(sweeps)
    return Result(
        study="phase-threshold",
        scale="",
        config=config,
        arrays=arrays,
        values=values,
        tables={
            "sweeps": sweep_table(sweeps),
            "runs": _phase_table(runs),
            "rates": _rate_table(rates),
            "certificates": certificate_table(sweeps),
        },
        claims=claims,
    )


STUDY = Study(
    name="phase-threshold",
    title="The phase threshold",
    chapter="book/part1/phase-threshold.md",
    quick=QUICK,
    paper=PAPER,
    run=run,
    plot=figures,
)
