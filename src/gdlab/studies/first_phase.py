"""The finite first phase (chapter "first-phase"; spec §3.2, §3.3, §7).

A stepsize sweep on each of two separable data sets (rescaled to ``max ||x_i|| = 1``) measures,
for every per-neuron stepsize ``eta`` (GD steps with ``lr = m eta``, spec §1), when the
oscillating first phase ends: ``s*``, the first step satisfying the width-free eq. (5) of
Theorem 4.1, and the step after which the risk never increases again (beyond the float64
rounding allowance of :mod:`gdlab.stepsize.certify`). They are compared with Theorem 4.1's
``tau`` (spec §6.3), and Theorem 3.2's average-risk bound and Lemmas B.1, B.2, C.3 are certified
at every step (:func:`~gdlab.stepsize.certify.certify_first_phase`). Two contrasts leave the
assumptions: non-separable XOR data, and plain softplus (``alpha = 0``).

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

from gdlab.claims import Claim, ClaimTable
from gdlab.experiments.study import Config, Result, RunContext, Study
from gdlab.plotting.first_phase import figures
from gdlab.stats import LineFit, loglog_fit
from gdlab.stepsize import certify
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.budgets import theorem32_informative_from
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
    # The exit-time fits use the oscillating runs with eta >= eta_large.
    "eta_large": 100.0,
    # A measured exponent (not a claim of the paper) the exit time stays below.
    "sublinear": 0.5,
    # Figure of Theorem 3.2: the runs nearest these stepsizes, at ~points log-spaced steps.
    "average_etas": [1.0, 10.0, 100.0, 1000.0, 10_000.0],
    "average_points": 500,
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
        # XOR runs that settle "fit the data": final risk below this.
        "fit_risk": 0.01,
        # Softplus neurons "inactive" on x_2: phi'(x_2^T w^(j)) below this.
        "inactive_dphi": 0.01,
        # Softplus runs stop oscillating within this many steps.
        "settle_within": 10,
    },
}
#: The same sweep over a wider stepsize range and ten times the horizon (the contrasts as quick).
PAPER: Config = {**QUICK, "etas": np.logspace(0, 5, 26).tolist(), "steps": 200_000}


def format_risk(log_risk: float) -> str:
    """``exp(log_risk)`` in scientific notation, also below the float64 range (``2.4e-400``)."""
    exponent = math.floor(log_risk / math.log(10))
    mantissa = math.exp(log_risk - exponent * math.log(10))
    if mantissa >= 9.995:  # rounding to 3 digits would print 10.0
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.2f}e{exponent:+03d}"


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
        firsts = (
            certify.first_step_condition5(self.sweep.run(k), c, width_free=True)
            for k, c in enumerate(self.sweep.constants)
        )
        return np.array([np.nan if s is None else float(s) for s in firsts])

    @cached_property
    def monotone_from(self) -> np.ndarray:
        """The first step after which the risk never increases (0: monotone throughout)."""
        return np.array([self.sweep.monotone_from(k) for k in range(self.eta.size)])

    @cached_property
    def first_increase(self) -> np.ndarray:
        """The first step whose successor has a larger risk, NaN for monotone runs."""
        firsts = (self.sweep.first_increase(k) for k in range(self.eta.size))
        return np.array([np.nan if v is None else float(v) for v in firsts])

    @property
    def oscillates(self) -> np.ndarray:
        """Whether the risk of each run increases at some step (the run has a first phase)."""
        return ~np.isnan(self.first_increase)

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

    def exit_fit(self, exits: np.ndarray, eta_min: float) -> tuple[LineFit | None, np.ndarray]:
        """Log-log fit of ``exits`` (one per run) against ``eta`` over the oscillating runs with
        ``eta >= eta_min`` and a finite positive exit time, and the mask of those runs; the fit
        is None with fewer than two such runs. Theorem 4.1: ``s* <= tau = O(eta)``."""
        keep = self.oscillates & (self.eta >= eta_min) & np.isfinite(exits) & (exits > 0)
        if int(keep.sum()) < 2:
            return None, keep
        return loglog_fit(self.eta[keep], exits[keep]), keep

    def table(self, caption: str) -> Table:
        """One row per run: eta, first increase, monotone-from step, s*, tau, final risk."""
        log_risk = self.sweep.traj.log_risk[:, -1].numpy()
        rows = [
            [
                float(self.eta[k]),
                None if np.isnan(self.first_increase[k]) else int(self.first_increase[k]),
                int(self.monotone_from[k]),
                None if np.isnan(self.s_star[k]) else int(self.s_star[k]),
                float(self.tau[k]),
                format_risk(float(log_risk[k])),
            ]
            for k in range(self.eta.size)
        ]
        columns = ["eta", "1st increase", "monotone from", "s*", "tau", "L(w_T)"]
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


def _prefixed(table: ClaimTable, label: str) -> list[Claim]:
    return [dataclasses.replace(c, name=f"{label}: {c.name}") for c in table]


def _separable(
    key: str, title: str, exits: PhaseExits, config: Config
) -> tuple[dict[str, Any], dict[str, np.ndarray], ClaimTable]:
    """Values, figure arrays and claims of the sweep on one separable data set."""
    sweep, eta, T = exits.sweep, exits.eta, exits.steps
    if exits.needs:
        raise ValueError(f"the {title} sweep needs {exits.needs} for Theorems 3.2 and 4.1")
    consts = sweep.constants
    certificates = [certify.certify_first_phase(sweep.run(k), c) for k, c in enumerate(consts)]
    t = np.arange(1, T + 1, dtype=np.float64)
    risk = sweep.traj.risk.numpy()
    running = np.cumsum(risk[:, :-1], axis=1) / t
    bound = np.stack([th.theorem32_average_risk_bound(c, t) for c in consts])
    ratio = float(np.max(running / bound))
    informative = np.array([theorem32_informative_from(c) for c in consts])
    best = int(np.argmin(informative))
    s_star, mono = exits.s_star, exits.monotone_from
    eta_large = config["eta_large"]
    fit, fit_runs = exits.exit_fit(mono.astype(np.float64), eta_large)
    s_fit, _ = exits.exit_fit(s_star, eta_large)
    reached = np.isfinite(s_star)
    peaks = [p for p in (table.facts["rate peak"] for table in certificates) if p is not None]
    rate_peak = max(peaks) if peaks else None
    landing_gap = int(s_star[-1] - mono[-1]) if reached[-1] else None
    values = {
        f"gamma_{key}": consts[0].gamma,
        f"ratio_{key}": ratio,
        f"informative_{key}": float(informative[best]),
        f"informative_{key}_eta": float(eta[best]),
        f"informative_{key}_last": float(informative[-1]),
        f"slope_{key}": fit and fit.slope,
        f"slope_s_{key}": s_fit and s_fit.slope,
        f"exit_max_{key}": int(mono.max()),
        f"tau_min_{key}": float(exits.tau.min()),
        f"s_over_tau_{key}": float(np.max(s_star[reached] / exits.tau[reached]))
        if reached.any()
        else None,
        f"rate_peak_{key}": rate_peak,
        f"reached_{key}": int(reached.sum()),
        f"landing_gap_{key}": landing_gap,
    }

    shown = exits.nearest(config["average_etas"])
    # Both curves are smooth on log axes: ~points log-spaced steps draw them exactly.
    at = np.unique(np.geomspace(1, T, config["average_points"]).astype(np.int64)) - 1
    arrays = {
        f"{key}.eta": eta,
        f"{key}.tau": exits.tau,
        f"{key}.s_star": s_star,
        f"{key}.monotone_from": mono,
        f"{key}.oscillates": exits.oscillates,
        f"{key}.fit_eta": eta[fit_runs],
        f"{key}.fit_exit": fit(eta[fit_runs]) if fit else np.zeros(0),
        f"{key}.average_eta": eta[shown],
        f"{key}.average_t": t[at],
        f"{key}.average": running[shown][:, at],
        f"{key}.average_bound": bound[shown][:, at],
        f"{key}.L0": np.array(risk[0, 0]),
    }

    claims = ClaimTable()
    runs = ClaimTable(c for table in certificates for c in _prefixed(table, title))
    claims.extend(runs.aggregate())
    c0 = consts[0]
    radius_tol = 1e-12  # rescaled inputs have ||x|| = 1 up to a few ulps
    claims.add(
        f"{title}: max ||x_i|| <= 1", "Theorems 3.2, 4.1 (spec §5)", c0.R, 1.0,
        tol=radius_tol, tol_reason="rescaled inputs have norm 1 up to float64 rounding",
    )  # fmt: skip
    claims.add(f"{title}: margin gamma > 0", "Assumption 3", c0.gamma, 0.0, relation=">")
    claims.add(f"{title}: alpha > 0", "Assumption 2A", c0.alpha, 0.0, relation=">")
    claims.add(
        f"{title}: running mean of L_t <= Theorem 3.2 bound at every t", "Theorem 3.2",
        ratio, 1.0, note=f"measured: max over {eta.size} runs and t = 1..{T} of mean/bound",
    )  # fmt: skip
    claims.add(
        f"{title}: Theorem 3.2 bound at T larger for the largest eta", "Theorem 3.2 (eta^2 term)",
        float(bound[-1, -1]), float(bound[0, -1]), relation=">",
        note=f"measured: the bound at T = {T} for eta = {eta[-1]:g}; bound: for eta = {eta[0]:g}",
    )  # fmt: skip
    claims.add(
        f"{title}: Theorem 3.2 bound above L(w_0) over the whole horizon, largest eta",
        "Theorem 3.2", float(informative[-1]), float(T), relation=">",
        note="measured: the first step from which the bound is <= log 2 (eta = "
        f"{eta[-1]:g}); bound: T",
    )  # fmt: skip
    claims.add(
        f"{title}: every run is monotone within the first half of the budget",
        "Theorem 4.1 (finite first phase)", int(mono.max()), T // 2,
        note="measured: the latest monotone-from step over the runs",
    )  # fmt: skip
    fit_note = (
        "log-log slope of the monotone-from step over the oscillating runs with eta >= "
        f"{eta_large:g}" + (f" (r^2 = {fit.r2:.2f})" if fit else "")
    )
    fit_needs = f"two oscillating runs with eta >= {eta_large:g}"
    claims.add(
        f"{title}: exit time grows at most like eta", "Theorem 4.1 (tau = O(eta))",
        fit and fit.slope, 1.0, note=fit_note, needs=fit_needs,
    )  # fmt: skip
    claims.add(
        f"{title}: exit time grows slower than eta^{config['sublinear']:g}",
        "measured (not a claim of the paper)", fit and fit.slope, config["sublinear"],
        relation="<", note=fit_note, needs=fit_needs,
    )  # fmt: skip
    claims.add(
        f"{title}: s* decreases with eta", "measured (not a claim of the paper)",
        s_fit and s_fit.slope, 0.0, relation="<", needs=f"{fit_needs} reaching eq. (5)",
        note="log-log slope of s* over the same runs"
        + (f" (r^2 = {s_fit.r2:.2f})" if s_fit else ""),
    )  # fmt: skip
    claims.add(
        f"{title}: eq. (5) soon after the last risk increase, largest eta",
        "measured (not a claim of the paper)", landing_gap, int(mono[-1]),
        needs="eq. (5) reached by the largest stepsize",
        note="measured: s* - monotone-from step; bound: the monotone-from step",
    )  # fmt: skip
    printed = th.THEOREM41_FACTORS["printed"]
    claims.add(
        f"{title}: L_t (t - s*) alpha^2 gamma^2 eta <= {printed:g} (printed factor)",
        "Theorem 4.1 as printed (spec §6.4)", rate_peak, printed,
        needs="eq. (5) reached before the last step", note="measured: max over the runs past s*",
    )  # fmt: skip
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
    L0 = float(xor.sweep.traj.risk[0, 0])
    final = xor.sweep.final_risk()
    settled = xor.oscillates & (xor.monotone_from <= T_x // 2)  # settles in the first half
    stuck = xor.oscillates & (xor.monotone_from >= T_x - T_x // 10)  # or in the last tenth
    claims.add(
        f"{titles['xor']}: some runs still oscillate in the last tenth of the budget",
        "no theorem (Assumption 3 fails)", int(stuck.sum()), 1, relation=">=",
    )  # fmt: skip
    claims.add(
        f"{titles['xor']}: those runs end above L(w_0)", "no theorem (Assumption 3 fails)",
        float(final[stuck].min()) if stuck.any() else None, L0, relation=">",
        needs="a run still oscillating in the last tenth", note="measured: their least L(w_T)",
    )  # fmt: skip
    claims.add(
        f"{titles['xor']}: some runs settle within the first half of the budget",
        "no theorem (Assumption 3 fails)", int(settled.sum()), 1, relation=">=",
    )  # fmt: skip
    claims.add(
        f"{titles['xor']}: the settled runs fit the data", "no theorem (Assumption 3 fails)",
        float(final[settled].max()) if settled.any() else None, cc["fit_risk"], relation="<",
        needs="a run that settles", note="measured: their largest L(w_T)",
    )  # fmt: skip

    q_sp, q_leaky = _final_margins(sp.sweep), _final_margins(leaky.sweep)
    X = sp.sweep.dataset.X
    floor = math.log(2) / X.shape[0]
    x2_pre = (sp.sweep.traj.w_final.to(X.dtype) @ X.T)[:, :, 1]  # x_2^T w^(j): runs, neurons
    dphi = float(sp.sweep.net.activation.dphi(x2_pre).max())
    sp_final = sp.sweep.final_risk()
    source = "no theorem (Assumption 2A fails)"
    claims.add(
        f"{titles['softplus']}: every run ends with a non-positive margin", source,
        float(q_sp.min(dim=1).values.max()), 0.0, note="measured: max over runs of min_i q_i",
    )  # fmt: skip
    claims.add(
        f"{titles['softplus']}: L(w_T) >= log(2)/n", source, float(sp_final.min()), floor,
        relation=">=", note="measured: the least L(w_T) over the runs",
    )  # fmt: skip
    claims.add(
        f"{titles['softplus']}: every neuron ends inactive on x_2", source,
        float(x2_pre.max()), 0.0, relation="<", note="measured: max of x_2^T w^(j)",
    )  # fmt: skip
    claims.add(
        f"{titles['softplus']}: phi' nearly 0 on x_2", source, dphi, cc["inactive_dphi"],
        relation="<", note="measured: max of phi'(x_2^T w^(j))",
    )  # fmt: skip
    claims.add(
        f"{titles['leaky']}: every run fits both points", "Theorem 4.1",
        float(q_leaky.min(dim=1).values.min()), 0.0, relation=">",
        note="measured: min over runs of min_i q_i",
    )  # fmt: skip
    claims.add(
        f"{titles['softplus']}: the oscillation still ends", source,
        int(sp.monotone_from.max()), cc["settle_within"],
        note="measured: the latest monotone-from step",
    )  # fmt: skip

    values = {
        "xor_settled": int(settled.sum()),
        "xor_stuck": int(stuck.sum()),
        "xor_oscillating": int(xor.oscillates.sum()),
        "xor_steps": T_x,
        "sp_min_risk": float(sp_final.min()),
        "sp_floor": floor,
        "leaky_max_risk": float(leaky.sweep.final_risk().max()),
        "sp_settle": int(sp.monotone_from.max()),
        "sp_max_dphi": dphi,
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
    """Both sweeps, their certificates and exit times, the contrasts, and the claims."""
    activation = get_activation(config["activation"])
    etas, steps = config["etas"], config["steps"]
    values: dict[str, Any] = {
        "m": config["m"],
        "num_etas": len(etas),
        "eta_max": float(max(etas)),
        "steps": steps,
        "alpha": activation.alpha,
        "kappa": activation.kappa,
        "eta_large": config["eta_large"],
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
        part_values, part_arrays, part_claims = _separable(key, spec["title"], exits, config)
        values |= part_values
        arrays |= part_arrays
        claims.extend(part_claims)
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
