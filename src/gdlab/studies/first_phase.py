"""The finite first phase (chapter "first-phase"; spec §3.2, §3.3, §7).

A stepsize sweep on each of two separable data sets (rescaled to ``max ||x_i|| = 1``) measures,
for every per-neuron stepsize ``eta`` (GD steps with ``lr = m eta``, spec §1), when the
oscillating first phase ends: the exit step (after which the risk never increases again, beyond
the float64 rounding allowance of :mod:`gdlab.stepsize.certify`), ``r*`` (the first step of
eq. (4)) and ``s*`` (the first step of the width-free eq. (5) of Theorem 4.1). They are compared
with Theorem 4.1's ``tau`` (spec §6.3); Theorem 3.2's average-risk bound and Lemmas B.1, B.2,
C.3 are certified at every step (:func:`~gdlab.stepsize.certify.certify_first_phase`), and
Theorem 3.2 once more on a run long enough for its bound to fall below ``L(w_0)``. Two contrasts
leave the assumptions: non-separable XOR data, and plain softplus (``alpha = 0``).

:class:`PhaseExits` and :func:`phase_sweep` (a cached sweep with its exit times) are public for
the acceleration chapter.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from gdlab.claims import ClaimTable
from gdlab.experiments.study import Config, Result, RunContext, Study
from gdlab.plotting.first_phase import figures
from gdlab.stepsize import certify
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.budgets import theorem32_fastest_informative, theorem32_informative_from
from gdlab.stepsize.sweeps import SweepResult
from gdlab.studies.common import gd_sweep
from gdlab.tables import Table

__all__ = [
    "PAPER",
    "QUICK",
    "STUDY",
    "PhaseExits",
    "format_risk",
    "phase_sweep",
    "run",
]

_TWO_POINT = {"name": "two_point", "gamma": 0.05}
_LEAKY = "leaky_softplus_ex31"
_LN10 = math.log(10)

QUICK: Config = {
    "activation": _LEAKY,
    "m": 10,
    "init_scale": 0.1,
    "seed": 0,
    "etas": np.logspace(0, 4, 13).tolist(),
    "steps": 20_000,
    "datasets": {
        "two": {"title": "two-point data", "data": _TWO_POINT},
        "five": {
            "title": "five-point data (rescaled)",
            "data": {"name": "five_point", "rescaled": True},
        },
    },
    # Grouping for the text: a run "lands" in eq. (5) when s* is at most this many steps after
    # the last peak of its risk.
    "land_within": 5,
    # Figure of Theorem 3.2: the runs nearest these stepsizes, at ~points log-spaced steps.
    "average_etas": [1.0, 10.0, 100.0, 1000.0, 10_000.0],
    "average_points": 500,
    # Data sets on which Theorem 3.2 is also run to the step where its bound falls below
    # L(w_0), at the stepsize for which that happens soonest (57,463 steps on the two-point
    # data, 461,030 on the five-point data).
    "horizon": ["two"],
    "contrast": {
        "etas": np.logspace(0, 4, 9).tolist(),
        "steps": 10_000,
        "runs": {
            "xor": {
                "title": "XOR (rescaled), leaky softplus",
                "data": {"name": "xor", "rescaled": True},
                "activation": _LEAKY,
                "separable": False,
            },
            "softplus": {
                "title": "two-point data, plain softplus",
                "data": _TWO_POINT,
                "activation": "softplus",
                "separable": True,
            },
            "leaky": {
                "title": "two-point data, leaky softplus",
                "data": _TWO_POINT,
                "activation": _LEAKY,
                "separable": True,
            },
        },
        "xor_curve_etas": [10.0, 100.0, 1000.0, 10_000.0],
        "softplus_curve_etas": [1.0, 100.0, 10_000.0],
        # An XOR run "fits the data" when its final risk is below this.
        "fit_risk": 0.01,
        # Softplus neurons "inactive" on x_2: phi'(x_2^T w^(j)) below this (leaky: >= alpha).
        "inactive_dphi": 0.01,
        # Softplus runs stop oscillating within this many steps.
        "settle_within": 10,
    },
}
#: A wider stepsize range, ten times the horizon, and Theorem 3.2's informative horizon on both
#: data sets (the contrasts as quick).
PAPER: Config = {
    **QUICK,
    "etas": np.logspace(0, 5, 26).tolist(),
    "steps": 200_000,
    "horizon": ["two", "five"],
}


def format_risk(log_risk: float) -> str:
    """``exp(log_risk)`` in scientific notation, also below the float64 range (``2.4e-400``)."""
    exponent = math.floor(log_risk / _LN10)
    mantissa = math.exp(log_risk - exponent * _LN10)
    if mantissa >= 9.995:  # rounding to 3 digits would print 10.0
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.2f}e{exponent:+03d}"


def _steps(values: Sequence[int | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values])


@dataclass
class PhaseExits:
    """A stepsize sweep and, for every run, when its oscillating first phase ends."""

    sweep: SweepResult

    @property
    def eta(self) -> np.ndarray:
        """The per-neuron stepsizes ``eta = lr / m`` of the K runs."""
        return self.sweep.traj.eta.numpy()

    @property
    def steps(self) -> int:
        """The common horizon T."""
        return int(self.sweep.traj.steps[-1])

    @cached_property
    def s_star(self) -> np.ndarray:
        """``s*``: the first step with ``L_t <= min{1/(2 n e^(kappa+2)), 1/(eta R^2 (4 + 2
        beta~))}`` (the width-free eq. (5) of Theorem 4.1), NaN where never reached."""
        return _steps(
            [
                certify.first_step_condition5(self.sweep.run(k), c, width_free=True)
                for k, c in enumerate(self.sweep.constants)
            ]
        )

    @cached_property
    def r_star(self) -> np.ndarray:
        """``r*``: the first step satisfying eq. (4) of Theorem 2.2 (tight constants), from
        which the risk is non-increasing; NaN where never reached."""
        return _steps([self.sweep.r_star(k) for k in range(self.eta.size)])

    @cached_property
    def monotone_from(self) -> np.ndarray:
        """The exit step: the first step after which the risk never increases (0: monotone
        throughout)."""
        return np.array([self.sweep.monotone_from(k) for k in range(self.eta.size)])

    @cached_property
    def oscillates(self) -> np.ndarray:
        """Whether the risk of each run increases at some step (the run has a first phase)."""
        return np.array([self.sweep.first_increase(k) is not None for k in range(self.eta.size)])

    @property
    def needs(self) -> str:
        """What Theorems 3.2 and 4.1 miss in the runs' constants ("" when both apply)."""
        c = self.sweep.constants[0]
        if c.gamma is None:
            return "Assumption 3 (linearly separable data)"
        if not c.alpha > 0:
            return f"Assumption 2A (alpha > 0; this activation has alpha = {c.alpha:g})"
        return ""

    @cached_property
    def tau(self) -> np.ndarray:
        """Theorem 4.1's transition time ``tau`` (spec §6.3) of every run, NaN where the theorem
        does not apply."""
        if self.needs:
            return np.full(self.eta.size, np.nan)
        return np.array([th.theorem41_tau(c) for c in self.sweep.constants])

    def nearest(self, targets: Sequence[float]) -> list[int]:
        """Indices of the runs whose ``eta`` is nearest (in log) to each target, no repeats."""
        logs = np.log(self.eta)
        return list(dict.fromkeys(int(np.argmin(np.abs(logs - math.log(t)))) for t in targets))

    def curves(self, targets: Sequence[float]) -> dict[str, np.ndarray]:
        """Figure data: the ``eta`` and risk curves ``L(w_t)`` of the runs nearest ``targets``
        and the recorded steps."""
        ks = self.nearest(targets)
        return {
            "steps": self.sweep.traj.steps.numpy(),
            "curve_eta": self.eta[ks],
            "curve_risk": self.sweep.traj.risk[ks].numpy(),
        }

    def table(self, caption: str) -> Table:
        """One row per run: eta, the last peak of the risk (the exit step: 0 for a monotone
        run), r*, s*, the steps from the last peak to s*, tau and the final risk."""

        def step(x: float) -> int | None:
            return None if np.isnan(x) else int(x)

        log_risk = self.sweep.traj.log_risk[:, -1].numpy()
        rows = [
            [
                float(self.eta[k]),
                int(self.monotone_from[k]),
                step(self.r_star[k]),
                step(self.s_star[k]),
                step(self.s_star[k] - self.monotone_from[k]),
                float(self.tau[k]),
                format_risk(float(log_risk[k])),
            ]
            for k in range(self.eta.size)
        ]
        columns = ["eta", "last peak", "r*", "s*", "s* - peak", "tau", "L(w_T)"]
        return Table(columns, rows, caption)


def phase_sweep(
    ctx: RunContext,
    data: Mapping[str, Any],
    activation: str,
    m: int,
    etas: Sequence[float],
    steps: int,
    *,
    init_scale: float,
    seed: int,
    separable: bool,
    certified: bool = False,
) -> PhaseExits:
    """GD with every per-neuron stepsize of ``etas`` (``lr = m eta``) for ``steps`` steps, all
    in one cached vectorized call from one initialisation, every step recorded.

    ``separable`` attaches the hard-margin SVM direction and margin (Assumption 3) to the
    constants; ``certified`` also records ``<w_t, bar-w_*>`` for the per-step Lemmas B.1, B.2,
    C.3 of :func:`~gdlab.stepsize.certify.certify_first_phase`.
    """
    eta = np.asarray(etas, dtype=np.float64)
    if eta.ndim != 1 or eta.size == 0 or not bool(np.all(np.isfinite(eta) & (eta > 0))):
        raise ValueError(f"etas must be a non-empty list of finite numbers > 0, got {etas!r}")
    sweep = gd_sweep(
        ctx, data, activation, m, (eta * m).tolist(), steps,
        init_scale=init_scale, seed=seed, separable=separable, record_w_star=certified,
    )  # fmt: skip
    return PhaseExits(sweep)


def _final_margins(sweep: SweepResult) -> torch.Tensor:
    """``q_i(w_T) = y_i f(w_T; x_i)`` of every run, shape (K, n)."""
    X, y = sweep.dataset.X, sweep.dataset.y
    return sweep.net.forward(sweep.traj.w_final.to(X.dtype), X) * y


def _certificates(exits: PhaseExits, label: str) -> tuple[ClaimTable, np.ndarray]:
    """:func:`~gdlab.stepsize.certify.certify_first_phase` of every run of ``exits``, one row
    per claim (the worst run) named ``label: claim``, and every run's rate peak
    ``max_(t > s*) L_t (t - s*) alpha^2 gamma^2 eta`` (NaN before ``s*``). The ``s* <= tau``
    rows are ``vacuous`` where ``tau`` lies beyond the horizon (the certificate's ``trivial``)."""
    rows = ClaimTable()
    peaks = []
    for k, c in enumerate(exits.sweep.constants):
        table = certify.certify_first_phase(exits.sweep.run(k), c)
        peak = table.facts["rate peak"]
        peaks.append(np.nan if peak is None else float(peak))
        for claim in table:
            rows.append(dataclasses.replace(claim, name=f"{label}: {claim.name}"))
    return rows.aggregate(), np.array(peaks)


def _running_mean(exits: PhaseExits) -> np.ndarray:
    """``(1/t) sum_(k<t) L(w_k)`` of every run for ``t = 1..T``, shape (K, T)."""
    t = np.arange(1, exits.steps + 1, dtype=np.float64)
    return np.cumsum(exits.sweep.traj.risk.numpy()[:, :-1], axis=1) / t


def _theorem32_bounds(exits: PhaseExits) -> np.ndarray:
    """Theorem 3.2's bound of every run for ``t = 1..T``, shape (K, T)."""
    t = np.arange(1, exits.steps + 1, dtype=np.float64)
    return np.stack([th.theorem32_average_risk_bound(c, t) for c in exits.sweep.constants])


def _separable(
    key: str, title: str, exits: PhaseExits, config: Config
) -> tuple[dict[str, Any], dict[str, np.ndarray], ClaimTable]:
    """Values, figure arrays and claims of the sweep on one separable data set."""
    sweep, eta, T = exits.sweep, exits.eta, exits.steps
    if exits.needs:
        raise ValueError(f"the {title} sweep needs {exits.needs} for Theorems 3.2 and 4.1")
    consts = sweep.constants
    risk = sweep.traj.risk.numpy()
    L0 = float(risk[0, 0])
    running, bound = _running_mean(exits), _theorem32_bounds(exits)
    informative = np.array([theorem32_informative_from(c, L0) for c in consts])
    best = int(np.argmin(informative))
    s_star, exit_step = exits.s_star, exits.monotone_from
    reached = np.isfinite(s_star)
    claims, peaks = _certificates(exits, title)
    rate_peak = float(np.nanmax(peaks)) if np.isfinite(peaks).any() else None
    c0 = consts[0]
    # Oscillating runs whose last step down lands in eq. (5) (a few steps after the last peak);
    # the others that reach it descend to it, at the stable rate, after a long way.
    gap = s_star - exit_step
    lands = exits.oscillates & (gap <= config["land_within"])  # NaN compares False
    # Above eta_cap the eq. (5) threshold is 1/(eta (4 + 2 beta~)), below 1/(2 n e^(kappa+2)).
    eta_cap = 2 * c0.n * math.exp(c0.kappa + 2) / (4 + 2 * c0.beta_tilde)
    descends = reached & ~lands & (eta >= eta_cap)
    values = {
        f"gamma_{key}": c0.gamma,
        f"L0_{key}": L0,
        f"ratio_{key}": float(np.max(running / bound)),
        f"bound_T_min_{key}": float(bound[:, -1].min()),
        f"informative_{key}": float(informative[best]),
        f"informative_{key}_eta": float(eta[best]),
        f"exit_max_{key}": int(exit_step.max()),
        f"tau_min_{key}": float(exits.tau.min()),
        f"s_over_tau_{key}": float(np.max(s_star[reached] / exits.tau[reached]))
        if reached.any()
        else None,
        f"rate_peak_{key}": rate_peak,
        f"oscillating_{key}": int(exits.oscillates.sum()),
        f"land_{key}": int(lands.sum()),
        f"land_eta_min_{key}": float(eta[lands].min()) if lands.any() else None,
        f"land_peak_min_{key}": int(exit_step[lands].min()) if lands.any() else None,
        f"land_peak_max_{key}": int(exit_step[lands].max()) if lands.any() else None,
        f"eta_cap_{key}": eta_cap,
        f"descend_{key}": int(descends.sum()),
        f"descend_s_min_{key}": int(s_star[descends].min()) if descends.any() else None,
        f"descend_s_max_{key}": int(s_star[descends].max()) if descends.any() else None,
    }

    shown = exits.nearest(config["average_etas"])
    # Both curves are smooth on log axes: ~points log-spaced steps draw them exactly.
    at = np.unique(np.geomspace(1, T, config["average_points"]).astype(np.int64)) - 1
    t = np.arange(1, T + 1, dtype=np.float64)
    arrays = {
        f"{key}.eta": eta,
        f"{key}.tau": exits.tau,
        f"{key}.s_star": s_star,
        f"{key}.r_star": exits.r_star,
        f"{key}.monotone_from": exit_step,
        f"{key}.oscillates": exits.oscillates,
        f"{key}.average_eta": eta[shown],
        f"{key}.average_t": t[at],
        f"{key}.average": running[shown][:, at],
        f"{key}.average_bound": bound[shown][:, at],
        f"{key}.L0": np.array(L0),
    }

    claims.add(
        f"{title}: max ||x_i|| <= 1", "Theorems 3.2, 4.1 (spec §5)", c0.R, 1.0,
        tol=1e-12, tol_reason="rescaled inputs have norm 1 up to float64 rounding",
    )  # fmt: skip
    claims.add(f"{title}: margin gamma > 0", "Assumption 3", c0.gamma, 0.0, relation=">")
    claims.add(f"{title}: alpha > 0", "Assumption 2A", c0.alpha, 0.0, relation=">")
    claims.add(
        f"{title}: no risk increase after s*", "Theorem 4.1 (GD is stable from s on)",
        float(np.max(exit_step[reached] - s_star[reached])) if reached.any() else None, 0.0,
        needs="a run reaching eq. (5)",
        note="measured: max over the runs of (exit step - s*); a threshold too large to end "
        "the oscillation would put s* before the last risk increase and fail",
    )  # fmt: skip
    claims.add(
        f"{title}: every first phase ends within the first half of the budget",
        "measured (Theorem 4.1 guarantees only s* <= tau)", int(exit_step.max()), T // 2,
        note="measured: the latest exit step; a run still oscillating after T/2 fails "
        "(as XOR runs do)",
    )  # fmt: skip
    printed = th.THEOREM41_FACTORS["printed"]
    claims.add(
        f"{title}: L_t (t - s*) alpha^2 gamma^2 eta <= {printed:g} (printed factor)",
        "Theorem 4.1 as printed (spec §6.4)", rate_peak, printed,
        needs="eq. (5) reached before the last step",
        note="measured: max over the runs and t > s*; a rate slower than 1/(eta (t - s)) "
        "would grow without bound and fail",
    )  # fmt: skip
    return values, arrays, claims


def _horizon(
    ctx: RunContext, key: str, spec: Mapping[str, Any], exits: PhaseExits, config: Config
) -> tuple[dict[str, Any], dict[str, np.ndarray], ClaimTable]:
    """Theorem 3.2 where its bound says something: the stepsize whose bound falls below
    ``L(w_0)`` soonest, run for exactly that many steps (when ``key`` is in
    ``config["horizon"]``; otherwise the claims are untestable, with the horizon needed)."""
    title = spec["title"]
    L0 = float(exits.sweep.traj.risk[0, 0])
    eta_h, T_h = theorem32_fastest_informative(exits.sweep.constants[0], L0)
    values: dict[str, Any] = {f"horizon_eta_{key}": eta_h, f"horizon_T_{key}": T_h}
    values |= dict.fromkeys(f"horizon_{v}_{key}" for v in ("mean", "bound", "slack", "exit"))
    name = f"{title}: Theorem 3.2 below L(w_0) at its informative horizon"
    claims = ClaimTable()
    if key not in config["horizon"]:
        claims.add(
            name, "Theorem 3.2", None, None,
            needs=f"a run of {T_h:.0f} steps at eta = {eta_h:.3g} (paper scale: 'horizon')",
        )  # fmt: skip
        return values, {}, claims
    run = phase_sweep(
        ctx, spec["data"], config["activation"], config["m"], [eta_h], int(T_h),
        init_scale=config["init_scale"], seed=config["seed"], separable=True, certified=True,
    )  # fmt: skip
    running, bound = _running_mean(run)[0], _theorem32_bounds(run)[0]
    claims.add(
        name, "Theorem 3.2", float(running[-1]), float(bound[-1]), trivial=L0, step=int(T_h),
        note=f"eta = {eta_h:.3g}, the stepsize whose bound falls below L(w_0) = {L0:.4g} "
        f"soonest; measured: the running mean at that step (a bound missing its log^2 or "
        "eta^2 term would fall below it earlier and fail)",
    )  # fmt: skip
    claims.extend(_certificates(run, f"{title}, horizon run")[0])
    at = np.unique(np.geomspace(1, T_h, config["average_points"]).astype(np.int64)) - 1
    values |= {
        f"horizon_mean_{key}": float(running[-1]),
        f"horizon_bound_{key}": float(bound[-1]),
        f"horizon_slack_{key}": float(bound[-1] / running[-1]),
        f"horizon_exit_{key}": int(run.monotone_from[0]),
    }
    arrays = {
        f"{key}.horizon_t": at + 1.0,
        f"{key}.horizon_mean": running[at],
        f"{key}.horizon_bound": bound[at],
    }
    return values, arrays, claims


def _contrasts(
    config: Config, ctx: RunContext
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Table], ClaimTable]:
    """Outside the assumptions: XOR (not separable) and plain softplus (alpha = 0)."""
    cc = config["contrast"]
    sweeps = {
        key: phase_sweep(
            ctx,
            spec["data"],
            spec["activation"],
            config["m"],
            cc["etas"],
            cc["steps"],
            init_scale=config["init_scale"],
            seed=config["seed"],
            separable=spec["separable"],
        )
        for key, spec in ctx.steps(cc["runs"].items(), desc="contrasts", total=len(cc["runs"]))
    }
    titles = {key: spec["title"] for key, spec in cc["runs"].items()}
    xor, sp, leaky = sweeps["xor"], sweeps["softplus"], sweeps["leaky"]
    claims = ClaimTable()
    for key in ("xor", "softplus"):
        if not sweeps[key].needs:
            raise ValueError(f"contrast {key!r} meets the assumptions of Theorems 3.2 and 4.1")
        claims.add(
            f"{titles[key]}: Theorems 3.2 and 4.1", "Theorems 3.2, 4.1", None, None,
            needs=sweeps[key].needs,
        )  # fmt: skip

    T_x = xor.steps
    risk_x = xor.sweep.traj.risk.numpy()
    L0 = float(risk_x[0, 0])
    late_mean = risk_x[:, T_x - T_x // 10 :].mean(axis=1)  # mean risk over the last tenth
    final = xor.sweep.final_risk()
    settled = xor.oscillates & (xor.monotone_from <= T_x // 2)
    stuck = xor.oscillates & (xor.monotone_from >= T_x - T_x // 10)
    source = "no theorem (Assumption 3 fails)"
    claims.add(
        f"{titles['xor']}: the average risk need not decrease", source,
        float(late_mean.max()), L0, relation=">",
        note="measured: the largest mean risk over the last tenth of the budget, against "
        "L(w_0); if every run settled, as Theorem 3.2 makes them on separable data, it "
        "would be far below L(w_0)",
    )  # fmt: skip
    oscillating_final = final[xor.oscillates]
    claims.add(
        f"{titles['xor']}: the network can fit XOR", source,
        float(oscillating_final.min()) if oscillating_final.size else None, cc["fit_risk"],
        relation="<", needs="an oscillating run",
        note="measured: the least L(w_T) of the oscillating runs: the stuck runs are not a "
        "lack of capacity",
    )  # fmt: skip

    q_sp, q_leaky = _final_margins(sp.sweep), _final_margins(leaky.sweep)
    X = sp.sweep.dataset.X
    floor = math.log(2) / X.shape[0]
    x2_pre = (sp.sweep.traj.w_final.to(X.dtype) @ X.T)[:, :, 1]  # x_2^T w^(j): runs, neurons
    dphi = float(sp.sweep.net.activation.dphi(x2_pre).max())
    sp_final = sp.sweep.final_risk()
    leaky_margin = float(q_leaky.min(dim=1).values.min())
    source = "no theorem (Assumption 2A fails)"
    claims.add(
        f"{titles['softplus']}: the oscillation still ends", source,
        int(sp.monotone_from.max()), cc["settle_within"],
        note="measured: the latest exit step",
    )  # fmt: skip
    claims.add(
        f"{titles['softplus']}: no run fits the data as the leaky runs do", source,
        float(q_sp.min(dim=1).values.max()), leaky_margin, relation="<",
        note="measured: the largest final min_i q_i of the softplus runs; bound: the least of "
        "the leaky runs",
    )  # fmt: skip
    claims.add(
        f"{titles['softplus']}: every neuron ends inactive on x_2", source,
        float(x2_pre.max()), 0.0, relation="<", note="measured: max of x_2^T w^(j)",
    )  # fmt: skip
    claims.add(
        f"{titles['softplus']}: phi' nearly 0 on x_2", source, dphi, cc["inactive_dphi"],
        relation="<",
        note="measured: max of phi'(x_2^T w^(j)); the leaky activation has phi' >= "
        f"alpha = {leaky.sweep.constants[0].alpha:g} everywhere",
    )  # fmt: skip
    claims.add(
        f"{titles['leaky']}: every run fits both points", "Theorem 4.1", leaky_margin, 0.0,
        relation=">", note="measured: min over runs of min_i q_i",
    )  # fmt: skip

    values = {
        "xor_settled": int(settled.sum()),
        "xor_stuck": int(stuck.sum()),
        "xor_oscillating": int(xor.oscillates.sum()),
        "xor_steps": T_x,
        "xor_late_max": float(late_mean.max()),
        "sp_min_risk": float(sp_final.min()),
        "sp_floor": floor,
        "sp_n": int(X.shape[0]),
        "leaky_max_risk": float(leaky.sweep.final_risk().max()),
        "sp_settle": int(sp.monotone_from.max()),
        "sp_max_dphi": dphi,
        "contrast_steps": cc["steps"],
        "contrast_num_etas": len(cc["etas"]),
    }
    arrays = {f"xor.{k}": v for k, v in xor.curves(cc["xor_curve_etas"]).items()}
    for key in ("softplus", "leaky"):
        curves = sweeps[key].curves(cc["softplus_curve_etas"])
        arrays |= {f"{key}.{k}": v for k, v in curves.items()}
    tables = {
        "runs_xor": xor.table(titles["xor"]),
        "runs_softplus": sp.table(titles["softplus"]),
    }
    return values, arrays, tables, claims


def run(config: Config, ctx: RunContext) -> Result:
    """Both sweeps, their certificates and exit times, Theorem 3.2 at its informative horizon,
    the contrasts, and the claims."""
    activation = get_activation(config["activation"])
    etas, steps = config["etas"], config["steps"]
    unknown = sorted(set(config["horizon"]) - set(config["datasets"]))
    if unknown:
        allowed = sorted(config["datasets"])
        raise ValueError(f"horizon names unknown data sets {unknown}; allowed: {allowed}")
    values: dict[str, Any] = {
        "m": config["m"],
        "init_scale": config["init_scale"],
        "seed": config["seed"],
        "num_etas": len(etas),
        "eta_min": float(min(etas)),
        "eta_max": float(max(etas)),
        "steps": steps,
        "alpha": activation.alpha,
        "kappa": activation.kappa,
        "num_average": len(config["average_etas"]),
    }
    arrays: dict[str, np.ndarray] = {}
    tables: dict[str, Table] = {}
    claims = ClaimTable()
    constants = []
    for key, spec in config["datasets"].items():
        exits = phase_sweep(
            ctx, spec["data"], config["activation"], config["m"], etas, steps,
            init_scale=config["init_scale"], seed=config["seed"], separable=True, certified=True,
        )  # fmt: skip
        for part in (
            _separable(key, spec["title"], exits, config),
            _horizon(ctx, key, spec, exits, config),
        ):
            values |= part[0]
            arrays |= part[1]
            claims.extend(part[2])
        tables[f"runs_{key}"] = exits.table(spec["title"])
        c = exits.sweep.constants[0]
        constants.append([spec["title"], c.n, c.R, c.gamma, c.alpha, c.kappa, c.beta_tilde])
    tables["constants"] = Table(
        ["data", "n", "R", "gamma", "alpha", "kappa", "beta~"], constants, "problem constants"
    )
    part_values, part_arrays, part_tables, part_claims = _contrasts(config, ctx)
    values |= part_values
    arrays |= part_arrays
    tables |= part_tables
    claims.extend(part_claims)
    return Result(
        study="first-phase", scale="", config=config, arrays=arrays, values=values,
        tables=tables, claims=claims,
    )  # fmt: skip


STUDY = Study(
    name="first-phase",
    title="The finite first phase",
    chapter="book/part1/first-phase.md",
    quick=QUICK,
    paper=PAPER,
    run=run,
    plot=figures,
)
