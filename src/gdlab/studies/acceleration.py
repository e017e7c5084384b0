"""Acceleration: oscillating beats monotone (chapter "acceleration"; spec §3.3, §7).

For every budget ``T`` of a geometric grid, one cached vectorized GD call trains, from one
initialisation, (a) the schedule of Corollary 4.2, ``eta = c T`` for a few constants ``c``,
Corollary 4.2's own stepsize, and (b) a grid of fixed stepsizes, among which the best run whose
risk never increases is selected (Theorem 4.3 bounds such runs below by ``c_0 / t``). Two data
sets: the two points of Theorem 4.3 from ``w_0 = 0`` (the theorem's setting) and the rescaled
five points of Figure 4. On each, a search over a wide stepsize grid finds the best stepsize of
every budget. Corollary 4.2 is certified with its own constants on large-margin data, where its
budget condition is affordable (paper scale). A contrast on separable Gaussian data, where GD
never oscillates, reuses the first-phase sweep (:func:`gdlab.studies.first_phase.phase_sweep`).

Stepsizes: ``eta`` is the per-neuron stepsize of Corollary 4.2 and Theorem 4.3; GD steps with
``lr = m eta`` (spec §1). "Monotone" means: no risk increase beyond the float64 rounding
allowance of :mod:`gdlab.stepsize.certify`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from gdlab.claims import ClaimTable
from gdlab.data import max_margin_direction
from gdlab.experiments.study import Config, Result, RunContext, Study
from gdlab.plotting.acceleration import figures
from gdlab.stats import LineFit, loglog_fit
from gdlab.stepsize import certify
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.budgets import corollary42_informative_from
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import SweepResult
from gdlab.studies.common import dataset, gd_sweep
from gdlab.studies.first_phase import PhaseExits, format_risk, phase_sweep
from gdlab.tables import Table

__all__ = [
    "PAPER",
    "QUICK",
    "STUDY",
    "BudgetRuns",
    "SearchRuns",
    "budget_runs",
    "corollary42_runs",
    "run",
    "search_runs",
]

_LN10 = math.log(10)
_FACTORS = ("safe", "printed", "derived")  # Corollary 4.2's constants, spec §6.6

QUICK: Config = {
    "activation": "leaky_softplus_ex31",
    "seed": 0,
    "budgets": np.geomspace(100, 10_000, 6).round().astype(int).tolist(),
    # (a) eta = c T for each c
    "constants": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
    # (b) the fixed stepsizes among which the best monotone run is chosen
    "grid": np.geomspace(1, 300, 32).tolist(),
    "datasets": {
        "two": {
            "title": "two-point data, w_0 = 0",
            "data": {"name": "two_point", "gamma": 0.05},
            "m": 2,
            "init_scale": 0.0,  # w_0 = 0, as Theorem 4.3 requires
        },
        "five": {
            "title": "five-point data (rescaled)",
            "data": {"name": "five_point", "rescaled": True},
            "m": 10,
            "init_scale": 0.1,
        },
    },
    # The best monotone run decays like 1/T: T L(w_T) within this factor over the budgets.
    "spread": 2.0,
    # The best stepsize of each budget: the least L(w_T) over a wide geometric grid.
    "search": {
        "etas": np.geomspace(1, 1e7, 57).tolist(),
        "budgets": [10, 20, 30, 40, 50, 60, 80, 100, 251, 631, 1585, 3981, 10_000],
    },
    # Corollary 4.2 with its own constants and stepsize, at multiples of its budget condition
    # (none at quick scale: the smallest budget is ~4e5 steps).
    "corollary": {
        "title": "large-margin data, w_0 = 0",
        "data": {
            "name": "separable_gaussian",
            "n": 4,
            "d": 2,
            "margin": 0.95,
            "seed": 0,
            "rescaled": True,
        },
        "m": 2,
        "init_scale": 0.0,
        "multiples": [],
        # recorded steps per half of the smallest budget (s* <= T/2 is read at records)
        "records": 50,
    },
    "easy": {
        "title": "separable Gaussian data",
        "data": {
            "name": "separable_gaussian",
            "n": 40,
            "d": 5,
            "margin": 0.1,
            "seed": 0,
            "rescaled": True,
        },
        "m": 10,
        "init_scale": 0.1,
        "etas": np.logspace(0, 4, 9).tolist(),
        "steps": 1_000,
        "curve_etas": [1.0, 100.0, 10_000.0],
        # whose monotone floor the easy data's largest stepsize is compared with
        "compare_with": "two",
    },
}
#: Budgets over three decades, a finer stepsize grid, the search up to T = 1e5, and Corollary
#: 4.2 certified at one, two and four times its budget condition.
PAPER: Config = {
    **QUICK,
    "budgets": np.geomspace(100, 100_000, 10).round().astype(int).tolist(),
    "grid": np.geomspace(1, 300, 64).tolist(),
    "search": {
        **QUICK["search"],
        "budgets": [*QUICK["search"]["budgets"][:8], 215, 464, 1000, 4642, 21_544, 100_000],
    },
    "corollary": {**QUICK["corollary"], "multiples": [1, 2, 4]},
}


def _positive(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not bool(np.all(np.isfinite(arr) & (arr > 0))):
        raise ValueError(f"{name} must be a non-empty list of finite numbers > 0, got {values!r}")
    return arr


def _budget_list(name: str, values: object, minimum: int = 2) -> np.ndarray:
    T = np.asarray(values)
    if T.ndim != 1 or T.size < minimum or not np.issubdtype(T.dtype, np.integer):
        raise ValueError(f"{name} must be a list of >= {minimum} ints, got {values!r}")
    if not bool(np.all(T >= 1) and np.all(np.diff(T) > 0)):
        raise ValueError(f"{name} must be >= 1 and increasing, got {T.tolist()}")
    return T.astype(np.int64)


@dataclass
class BudgetRuns:
    """GD runs for every budget ``T``: ``eta = c T`` for each constant ``c`` (Corollary 4.2's
    schedule), Corollary 4.2's own ``eta``, and a fixed grid of stepsizes (Theorem 4.3).

    ``sweeps[b]`` holds the runs of budget ``budgets[b]`` in the order: the ``C`` proportional
    runs, the Corollary 4.2 run, the ``G`` grid runs.
    """

    budgets: np.ndarray
    constants: np.ndarray
    grid: np.ndarray
    sweeps: list[SweepResult]

    @property
    def problem(self) -> th.ProblemConstants:
        """The constants of the problem (those of the first run; ``lr`` is irrelevant here)."""
        return self.sweeps[0].constants[0]

    @property
    def _paper(self) -> int:
        return self.constants.size

    @property
    def _grid(self) -> slice:
        return slice(self.constants.size + 1, self.constants.size + 1 + self.grid.size)

    @cached_property
    def exits(self) -> list[PhaseExits]:
        """Each budget's runs with their exit steps and ``s*`` (width-free eq. (5))."""
        return [PhaseExits(s) for s in self.sweeps]

    @cached_property
    def monotone(self) -> np.ndarray:
        """(B, K) whether each run's risk never increases (beyond rounding)."""
        return np.stack([~e.oscillates for e in self.exits])

    @cached_property
    def final_log_risk(self) -> np.ndarray:
        """(B, K) ``log L(w_T)`` of every run (exact also where ``L`` underflows float64)."""
        return np.stack([s.traj.log_risk[:, -1].numpy() for s in self.sweeps])

    @property
    def proportional_log_risk(self) -> np.ndarray:
        """(B, C) ``log L(w_T)`` with ``eta = c T``."""
        return self.final_log_risk[:, : self.constants.size]

    @property
    def proportional_s_star(self) -> np.ndarray:
        """(B, C) ``s*`` of the ``eta = c T`` runs (NaN where eq. (5) is not reached)."""
        return np.stack([e.s_star[: self.constants.size] for e in self.exits])

    @property
    def all_etas(self) -> np.ndarray:
        """(B, K) the per-neuron stepsize of every run."""
        return np.stack([s.traj.eta.numpy() for s in self.sweeps])

    @property
    def paper_eta(self) -> np.ndarray:
        """(B,) Corollary 4.2's ``eta = alpha^2 gamma^2 T / (256 (1 + 4 kappa) c_2)``."""
        return th.corollary42_stepsize(self.problem, self.budgets)

    @property
    def paper_risk(self) -> np.ndarray:
        """(B,) ``L(w_T)`` with Corollary 4.2's stepsize."""
        return np.exp(self.final_log_risk[:, self._paper])

    def paper_bound(self, factor: str) -> np.ndarray:
        """(B,) Corollary 4.2's bound ``factor (1 + 4 kappa) c_2 / (alpha^4 gamma^4 T^2)`` with
        the factor ``"printed"``, ``"derived"`` or ``"safe"`` (spec §6.6)."""
        return th.corollary42_risk_bound(self.problem, self.budgets, th.COROLLARY42_FACTORS[factor])

    def rate_factor(self) -> np.ndarray:
        """(B, C) ``L(w_T) alpha^2 gamma^2 eta (T - s*)`` of the ``eta = c T`` runs: Theorem
        4.1's stable rate ``L_t <= 8/(alpha^2 gamma^2 eta (t - s))`` at ``t = T`` says it is at
        most 8; NaN where ``s*`` is not before ``T``."""
        out = np.full((self.budgets.size, self.constants.size), np.nan)
        for b, sweep in enumerate(self.sweeps):
            T = int(self.budgets[b])
            for j, s in enumerate(self.proportional_s_star[b]):
                if np.isfinite(s) and s < T:
                    c = sweep.constants[j]
                    scale = th.theorem41_stable_bound(c, T, int(s), factor=1.0)
                    out[b, j] = math.exp(self.proportional_log_risk[b, j]) / float(scale)
        return out

    @cached_property
    def _grid_monotone(self) -> np.ndarray:
        mono = self.monotone[:, self._grid]
        if not bool(mono.any(axis=1).all()):
            raise ValueError("some budget has no monotone run in the stepsize grid")
        return mono

    @cached_property
    def best_monotone(self) -> np.ndarray:
        """(B,) index into ``grid`` of the monotone grid run with the smallest ``L(w_T)``."""
        log_risk = np.where(self._grid_monotone, self.final_log_risk[:, self._grid], np.inf)
        return np.argmin(log_risk, axis=1)

    @property
    def best_monotone_eta(self) -> np.ndarray:
        """(B,) the best monotone stepsize of each budget."""
        return self.grid[self.best_monotone]

    @property
    def best_monotone_risk(self) -> np.ndarray:
        """(B,) its final risk."""
        rows = np.arange(self.budgets.size)
        return np.exp(self.final_log_risk[:, self._grid][rows, self.best_monotone])

    @property
    def monotone_bracket(self) -> np.ndarray:
        """(B, 2): the largest grid stepsize whose run is monotone and the next grid stepsize
        (inf if none): the largest monotone stepsize lies between them."""
        out = np.full((self.budgets.size, 2), np.inf)
        for b, row in enumerate(self._grid_monotone):
            top = int(np.flatnonzero(row).max())
            out[b, 0] = self.grid[top]
            if top + 1 < self.grid.size:
                out[b, 1] = self.grid[top + 1]
        return out

    def bracket_violations(self) -> int:
        """How often the largest monotone stepsize is not bracketed: budgets without a grid
        stepsize above the largest monotone one, plus monotone runs (grid and ``eta = c T``
        alike) at or above the bracket's upper end. 0: the largest monotone stepsize is finite
        at every budget and every larger stepsize oscillates."""
        hi = self.monotone_bracket[:, 1:]
        return int((~np.isfinite(hi)).sum() + self.monotone[self.all_etas >= hi].sum())

    def scaled_risk_floor(self, t_min: int) -> tuple[float, int]:
        """``(min t L(w_t), argmin t)`` over the monotone grid runs of the largest budget and
        ``t_min <= t <= T``: Theorem 4.3's ``c_0`` as measured at large ``t``, and the step where
        it is attained."""
        mono = self._grid_monotone[-1]
        sweep = self.sweeps[-1]
        t = sweep.traj.steps.numpy()
        late = t >= t_min
        scaled = sweep.traj.risk[self._grid].numpy()[mono][:, late] * t[late]
        k, i = np.unravel_index(int(np.argmin(scaled)), scaled.shape)
        return float(scaled[k, i]), int(t[late][i])

    def monotone_fit(self) -> LineFit:
        """Log-log fit of the best monotone ``L(w_T)`` against ``T``."""
        return loglog_fit(self.budgets, self.best_monotone_risk)

    def figure_constant(self) -> float:
        """The smallest ``c`` whose ``eta = c T`` runs oscillate at every budget: the schedule
        that leaves the monotone regime from the first budget on. Raises ValueError if none."""
        oscillating = ~self.monotone[:, : self.constants.size].any(axis=0)
        if not oscillating.any():
            raise ValueError(
                f"no constant in {self.constants.tolist()} makes every eta = c T run oscillate; "
                "add larger constants"
            )
        return float(self.constants[oscillating].min())

    def proportional_table(self, caption: str) -> Table:
        """One row per budget: ``L(w_T)`` for each ``c`` of ``eta = c T``."""
        columns = ["T", *(f"c = {c:g}" for c in self.constants)]
        rows = [
            [int(T), *(format_risk(float(x)) for x in self.proportional_log_risk[b])]
            for b, T in enumerate(self.budgets)
        ]
        return Table(columns, rows, caption)

    def rate_table(self, caption: str) -> Table:
        """One row per constant ``c``: at how many budgets the ``eta = c T`` run oscillates and
        reaches eq. (5) by ``T/2``, and the largest ``L(w_T) alpha^2 gamma^2 eta (T - s*)``."""
        factor = self.rate_factor()
        half = self.proportional_s_star <= self.budgets[:, None] / 2
        rows = []
        for j, c in enumerate(self.constants):
            col = factor[:, j]
            peak = float(np.nanmax(col)) if np.isfinite(col).any() else None
            rows.append([float(c), int((~self.monotone[:, j]).sum()), int(half[:, j].sum()), peak])
        columns = ["c", "oscillating budgets", "s* <= T/2 budgets", "max rate factor"]
        return Table(columns, rows, caption)


def budget_runs(
    ctx: RunContext, spec: Mapping[str, Any], config: Config, title: str = ""
) -> BudgetRuns:
    """For every budget ``T`` one cached vectorized GD call of ``T`` steps with the per-neuron
    stepsizes ``c T`` (each ``c`` of the constants), Corollary 4.2's ``eta`` and every grid
    value, from one initialisation (``N(0, init_scale^2)``; ``init_scale = 0`` gives
    ``w_0 = 0``). The data must be linearly separable (Corollary 4.2's stepsize needs
    ``gamma``)."""
    T = _budget_list("budgets", config["budgets"])
    stepsizes = {name: _positive(name, config[name]) for name in ("constants", "grid")}
    ds = dataset(spec["data"])
    m = spec["m"]
    net = TwoLayerNet.balanced(get_activation(config["activation"]), m)
    w_star, gamma = max_margin_direction(ds.X, ds.y)
    base = th.problem_constants(net, ds.X, ds.y, 1.0, w_star=w_star, gamma=gamma)
    sweeps = []
    for budget in ctx.steps(T.tolist(), desc=title or "budgets"):
        paper = float(th.corollary42_stepsize(base, budget))
        eta = np.concatenate([stepsizes["constants"] * budget, [paper], stepsizes["grid"]])
        sweep = gd_sweep(
            ctx, spec["data"], config["activation"], m, (eta * m).tolist(), budget,
            init_scale=spec["init_scale"], seed=config["seed"], separable=True,
        )  # fmt: skip
        sweeps.append(sweep)
    return BudgetRuns(T, stepsizes["constants"], stepsizes["grid"], sweeps)


@dataclass
class SearchRuns:
    """``L(w_T)`` for every budget ``T`` and every stepsize of a wide geometric grid."""

    budgets: np.ndarray
    etas: np.ndarray
    final_log_risk: np.ndarray  # (B, K)

    @property
    def best(self) -> np.ndarray:
        """(B,) index of the stepsize with the least ``L(w_T)`` at each budget."""
        return np.argmin(self.final_log_risk, axis=1)

    @property
    def best_eta(self) -> np.ndarray:
        """(B,) the best stepsize of each budget."""
        return self.etas[self.best]

    @property
    def best_log_risk(self) -> np.ndarray:
        """(B,) its ``log L(w_T)``."""
        return self.final_log_risk[np.arange(self.budgets.size), self.best]

    def top_from(self) -> int | None:
        """The first budget from which the best stepsize is always the top of the grid."""
        at_top = self.best == self.etas.size - 1
        later = np.flatnonzero(~at_top)
        start = 0 if later.size == 0 else int(later[-1]) + 1
        return int(self.budgets[start]) if start < self.budgets.size else None

    def limit_fit(self) -> LineFit | None:
        """Log-log fit of ``-log L(w_T)`` against ``eta`` over the top decade of the grid at the
        largest budget: slope 1 means ``L(w_T) ~ e^(-c eta)``, a landing margin growing like
        ``eta``; a power law ``L(w_T) ~ eta^-p`` gives a slope near 0. None when some run of
        that decade ends with ``L(w_T) >= 1`` (it has not landed)."""
        top = self.etas >= self.etas[-1] / 10
        depth = -self.final_log_risk[-1, top]
        return loglog_fit(self.etas[top], depth) if bool(np.all(depth > 0)) else None


def search_runs(ctx: RunContext, spec: Mapping[str, Any], config: Config) -> SearchRuns:
    """For every search budget ``T`` one cached vectorized GD call of ``T`` steps with every
    stepsize of the search grid, recording steps 0 and ``T`` only."""
    search = config["search"]
    T = _budget_list("search budgets", search["budgets"], minimum=1)
    etas = _positive("search etas", search["etas"])
    if not bool(np.all(np.diff(etas) > 0)) or etas[-1] < 10 * etas[0]:
        raise ValueError(f"search etas must increase over at least a decade, got {etas.tolist()}")
    m = spec["m"]
    rows = [
        gd_sweep(
            ctx, spec["data"], config["activation"], m, (etas * m).tolist(), int(budget),
            init_scale=spec["init_scale"], seed=config["seed"], record_every=int(budget),
        ).traj.log_risk[:, -1].numpy()
        for budget in ctx.steps(T.tolist(), desc="search")
    ]  # fmt: skip
    return SearchRuns(T, etas, np.stack(rows))


def corollary42_runs(
    ctx: RunContext, config: Config
) -> tuple[dict[str, Any], dict[str, np.ndarray], Table, ClaimTable]:
    """Corollary 4.2 with its own constants: GD from ``w_0`` at the corollary's stepsize for
    budgets ``T = k T_u`` (``k`` in ``multiples``; ``T_u`` the budget condition rounded up so
    that ``T/2`` is a recorded step), all in one cached call of the largest budget.

    Claims per budget: the budget condition, ``tau <= T/2``, ``s* <= T/2`` (``s*`` read at the
    records, an upper bound) and ``L(w_T)`` against the bound with the three constants of spec
    §6.6, each with ``L(w_0)`` as its a priori value. Without multiples every claim is
    untestable, with the budget it needs."""
    spec = config["corollary"]
    title, m = spec["title"], spec["m"]
    ds = dataset(spec["data"])
    net = TwoLayerNet.balanced(get_activation(config["activation"]), m)
    w_star, gamma = max_margin_direction(ds.X, ds.y)
    W0 = net.init(1, ds.d, spec["init_scale"], config["seed"])
    base = th.problem_constants(net, ds.X, ds.y, 1.0, W0=W0, w_star=w_star, gamma=gamma)
    T_c = th.corollary42_budget(base)
    every = math.ceil(T_c / (2 * spec["records"]))
    T_unit = 2 * spec["records"] * every  # >= T_c, and T_unit / 2 is a recorded step
    multiples = [int(k) for k in spec["multiples"]]
    if any(k < 1 for k in multiples) or multiples != sorted(set(multiples)):
        raise ValueError(f"corollary multiples must be increasing ints >= 1, got {multiples}")
    values: dict[str, Any] = {
        "cor_gamma": gamma,
        "cor_n": ds.n,
        "cor_m": m,
        "cor_budget": T_c,
        "cor_T": T_unit,
        "cor_eta": float(th.corollary42_stepsize(base, T_unit)),
        "cor_bound_safe": float(th.corollary42_risk_bound(base, T_unit, 4096.0)),
        "cor_bound_derived": float(th.corollary42_risk_bound(base, T_unit, 1024.0)),
        "cor_runs": len(multiples),
        "cor_outcome": f"not run at this scale (it needs T >= {T_c} steps; the paper scale "
        "runs it, setting 'corollary', entry 'multiples')",
    }
    values |= dict.fromkeys(("cor_risk", "cor_ratio_derived", "cor_T2L_spread", "cor_T_max"))
    columns = ["T", "eta", "s* <=", "L(w_T)", *(f"bound {f}" for f in _FACTORS)]
    claims = ClaimTable()
    names = [
        f"{title}: budget condition T >= {T_c}",
        f"{title}: tau <= T/2 at Corollary 4.2's stepsize",
        f"{title}: eq. (5) reached by T/2",
        *(
            f"{title}: L(w_T) <= Corollary 4.2 bound, factor {th.COROLLARY42_FACTORS[f]:g} ({f})"
            for f in _FACTORS
        ),
    ]
    if not multiples:
        for name in names:
            claims.add(
                name, "Corollary 4.2", None, None,
                needs=f"a budget T >= {T_c} steps (paper scale: 'corollary' multiples)",
            )  # fmt: skip
        return values, {}, Table(columns, [], f"{title}: not run at this scale"), claims
    budgets = np.array(multiples) * T_unit
    etas = th.corollary42_stepsize(base, budgets)
    sweep = gd_sweep(
        ctx, spec["data"], config["activation"], m, (np.atleast_1d(etas) * m).tolist(),
        int(budgets[-1]), init_scale=spec["init_scale"], seed=config["seed"], separable=True,
        record_every=every,
    )  # fmt: skip
    steps = sweep.traj.steps.numpy()
    L0 = float(sweep.traj.risk[0, 0])
    per_budget = ClaimTable()
    rows = []
    log_risk_T = []
    for i, T in enumerate(budgets.tolist()):
        c = sweep.constants[i]
        log_risk = sweep.traj.log_risk[i].numpy()
        at_T = int(np.flatnonzero(steps == T)[0])
        log_risk_T.append(float(log_risk[at_T]))
        s_rec = certify.first_step_condition5(sweep.run(i), c, width_free=True)
        risk = math.exp(log_risk_T[-1])
        note = f"T = {T}, eta = {float(c.eta):.4g}"
        per_budget.add(names[0], "Corollary 4.2 (hypothesis)", T, T_c, relation=">=", note=note)
        per_budget.add(
            names[1], "Corollary 4.2 (tau as resolved, spec §6.3)", th.theorem41_tau(c), T / 2,
            tol=1e-12 * T, tol_reason="at the corollary's stepsize the c_2 eta term of tau is "
            "T/2 exactly: float64 rounding of a product of eight factors",
            note=f"{note}; tau's other terms are below its c_2 eta term",
        )  # fmt: skip
        per_budget.add(
            names[2], "Corollary 4.2 (its proof: s <= tau <= T/2)", s_rec, T / 2,
            needs="eq. (5) reached by T",
            note=f"{note}; measured: the first recorded step in eq. (5), every {every} steps",
        )  # fmt: skip
        bounds = []
        for name, f in zip(names[3:], _FACTORS, strict=True):
            bound = float(th.corollary42_risk_bound(base, T, th.COROLLARY42_FACTORS[f]))
            bounds.append(bound)
            per_budget.add(name, "Corollary 4.2 (spec §6.6)", risk, bound, trivial=L0, step=T,
                           note=note)  # fmt: skip
        rows.append([T, float(c.eta), s_rec, risk, *bounds])
    claims.extend(per_budget.aggregate())
    scaled = np.exp(np.array(log_risk_T)) * budgets.astype(np.float64) ** 2
    values |= {
        "cor_risk": math.exp(log_risk_T[0]),
        "cor_ratio_derived": math.exp(log_risk_T[0]) / values["cor_bound_derived"],
        "cor_T2L_spread": float(scaled.max() / scaled.min()),
        "cor_T_max": int(budgets[-1]),
    }
    values["cor_outcome"] = (
        f"run at T = {', '.join(str(int(T)) for T in budgets)}: at T = {T_unit} the final "
        f"risk is {values['cor_risk']:.3g}, {values['cor_ratio_derived']:.2g} times the bound "
        f"with the derived constant 1024, and T² times the final risk varies by a factor "
        f"{values['cor_T2L_spread']:.3g} over the budgets"
    )
    arrays = {"cor.budgets": budgets, "cor.log10_risk": np.array(log_risk_T) / _LN10}
    return values, arrays, Table(columns, rows, title), claims


def _budgets(
    key: str, spec: Mapping[str, Any], runs: BudgetRuns, search: SearchRuns, config: Config
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Table], ClaimTable]:
    """Values, figure arrays, tables and claims of the budget study on one data set."""
    title = spec["title"]
    T = runs.budgets
    c = runs.figure_constant()
    j = int(np.flatnonzero(runs.constants == c)[0])
    fb = runs.monotone_fit()
    scaled_b = T * runs.best_monotone_risk
    spread = float(scaled_b.max() / scaled_b.min())
    s_fig = runs.proportional_s_star[:, j]
    late = np.flatnonzero(~(s_fig <= T / 2))  # NaN (never reached) counts as late
    first = 0 if late.size == 0 else int(late[-1]) + 1  # from here on s* <= T/2
    T_half = int(T[first]) if first < T.size else None
    factor = runs.rate_factor()
    L0 = float(runs.sweeps[0].traj.risk[0, 0])
    problem = runs.problem
    bracket = runs.monotone_bracket
    floor, floor_at = runs.scaled_risk_floor(int(T[0]))
    log10_scaled_a = float(np.log10(T[-1]) + runs.proportional_log_risk[-1, j] / _LN10)
    b = T.size // 2  # the budget shown in the fixed-budget figure
    log_risk_a = runs.sweeps[b].traj.log_risk[j].numpy()
    orders = float((np.log(runs.best_monotone_risk[b]) - log_risk_a[-1]) / _LN10)
    # The search at the chapter's budgets (those among the search budgets).
    shared = np.isin(search.budgets, T)
    best_scaled = np.log10(search.budgets[shared]) + search.best_log_risk[shared] / _LN10
    limit = search.limit_fit()
    values = {
        f"gamma_{key}": float(problem.gamma),
        f"m_{key}": int(spec["m"]),
        f"paper_c_{key}": float(runs.paper_eta[0] / T[0]),
        f"c_fig_{key}": c,
        f"c_over_paper_{key}": float(c * T[0] / runs.paper_eta[0]),
        f"slope_b_{key}": fb.slope,
        f"scaled_b_{key}": float(scaled_b[-1]),
        f"spread_b_{key}": spread,
        f"best_eta_{key}": float(runs.best_monotone_eta[-1]),
        f"eta_a_max_{key}": float(c * T[-1]),
        f"s_max_{key}": float(np.nanmax(s_fig)) if np.isfinite(s_fig).any() else None,
        f"T_half_{key}": T_half,
        f"rate_max_{key}": float(np.nanmax(factor)) if np.isfinite(factor).any() else None,
        f"rate_runs_{key}": int(np.isfinite(factor).sum()),
        f"budget_condition_{key}": float(th.corollary42_budget(problem)),
        f"vacuous_{key}": corollary42_informative_from(problem, L0),
        f"paper_eta_max_{key}": float(runs.paper_eta[-1]),
        f"paper_risk_max_{key}": float(runs.paper_risk[-1]),
        f"bracket_lo_{key}": float(bracket[:, 0].max()),
        f"bracket_hi_{key}": float(bracket[:, 1].min()),
        f"floor_{key}": floor,
        f"floor_at_{key}": floor_at,
        f"log10_scaled_a_{key}": log10_scaled_a,
        f"show_peak_{key}": float(np.exp(log_risk_a.max())),
        f"show_orders_{key}": orders,
        f"search_top_from_{key}": search.top_from(),
        f"search_best_small_{key}": float(search.best_eta[0]),
        f"search_limit_slope_{key}": limit and limit.slope,
        f"search_log10_top_{key}": float(search.best_log_risk[-1] / _LN10),
        f"search_log10_scaled_max_{key}": float(best_scaled.max()) if best_scaled.size else None,
    }
    show = [j, runs.constants.size + 1 + int(runs.best_monotone[b]), runs.constants.size]
    s_all = runs.proportional_s_star
    reached = np.isfinite(factor)
    arrays = {
        f"{key}.budgets": T,
        f"{key}.constants": runs.constants,
        f"{key}.log10_proportional": runs.proportional_log_risk / _LN10,
        f"{key}.log10_best": np.log10(runs.best_monotone_risk),
        f"{key}.log10_paper": np.log10(runs.paper_risk),
        f"{key}.floor": np.array(floor),
        f"{key}.rate_x": (T[:, None] - s_all)[reached],
        f"{key}.rate_log10": np.log10(factor[reached]),
        f"{key}.rate_c": np.broadcast_to(runs.constants, factor.shape)[reached],
        f"{key}.show_steps": runs.sweeps[b].traj.steps.numpy(),
        f"{key}.show_eta": runs.all_etas[b, show],
        f"{key}.show_log10": runs.sweeps[b].traj.log_risk[show].numpy() / _LN10,
        f"{key}.search_budgets": search.budgets,
        f"{key}.search_etas": search.etas,
        f"{key}.search_log10": search.final_log_risk / _LN10,
        f"{key}.search_best_eta": search.best_eta,
        f"{key}.search_best_log10": search.best_log_risk / _LN10,
    }
    summary = [
        [
            int(T_b),
            float(runs.paper_eta[i]),
            float(runs.paper_risk[i]),
            float(runs.best_monotone_eta[i]),
            float(runs.best_monotone_risk[i]),
        ]
        for i, T_b in enumerate(T)
    ]
    tables = {
        f"runs_{key}": runs.proportional_table(f"{title}: L(w_T) with eta = c T"),
        f"monotone_{key}": Table(
            ["T", "Cor. 4.2 eta", "its L(w_T)", "best monotone eta", "its L(w_T)"],
            summary,
            f"{title}: Corollary 4.2's stepsize and the best monotone run",
        ),
        f"rates_{key}": runs.rate_table(f"{title}: eta = c T"),
        f"search_{key}": Table(
            ["T", "best eta", "L(w_T)"],
            [
                [int(T_b), float(search.best_eta[i]), format_risk(float(search.best_log_risk[i]))]
                for i, T_b in enumerate(search.budgets)
            ],
            f"{title}: the best of {search.etas.size} stepsizes from {search.etas[0]:g} to "
            f"{search.etas[-1]:g}",
        ),
    }

    claims = ClaimTable()
    setting = (
        "the theorem's setting"
        if runs.sweeps[0].dataset.name == "two_point" and spec["init_scale"] == 0
        else "outside the theorem's setting (w_0 != 0 or other data)"
    )
    safe, printed = th.THEOREM41_FACTORS["safe"], th.THEOREM41_FACTORS["printed"]
    for value, name, source in (
        (safe, "safe", "Theorem 4.1 / Lemma C.4 (spec §6.4)"),
        (printed, "printed", "Theorem 4.1 as printed (spec §6.4)"),
    ):
        claims.add(
            f"{title}: eta = c T: L(w_T) alpha^2 gamma^2 eta (T - s*) <= {value:g} ({name})",
            source, values[f"rate_max_{key}"], value, needs="an eta = c T run reaching eq. (5)",
            note=f"measured: max over the {values[f'rate_runs_{key}']} runs with s* < T; with "
            "s* <= T/2 this is L(w_T) <= 2 factor/(alpha^2 gamma^2 c T^2), Corollary 4.2's "
            "rate; a rate slower than 1/(eta (T - s*)) would grow with T - s* and fail",
        )  # fmt: skip
    claims.add(
        f"{title}: eta = {c:g} T: eq. (5) reached by T/2 at the largest budget",
        "Corollary 4.2 (its proof: s <= tau <= T/2)", s_fig[-1], float(T[-1] / 2),
        needs="eq. (5) reached", note=f"measured: s* at T = {T[-1]}",
    )  # fmt: skip
    claims.add(
        f"{title}: best monotone run: T L(w_T) within a factor {config['spread']:g} over the "
        "budgets", "Theorem 4.3 + stable rate 1/(eta t)", spread, config["spread"],
        note=f"measured: max/min of T L(w_T) over T = {T[0]}..{T[-1]} (log-log slope "
        f"{fb.slope:.3f}); a decay faster than 1/T, T^-(1+p), would exceed the factor once "
        f"(T_max/T_min)^p > {config['spread']:g}",
    )  # fmt: skip
    per_budget = ClaimTable()
    for factor_name in _FACTORS:
        value = th.COROLLARY42_FACTORS[factor_name]
        for risk, bound, budget in zip(
            runs.paper_risk, runs.paper_bound(factor_name), T, strict=True
        ):
            per_budget.add(
                f"{title}: L(w_T) <= Corollary 4.2 bound, factor {value:g} ({factor_name})",
                "Corollary 4.2 (spec §6.6)", float(risk), float(bound), trivial=L0,
                step=int(budget),
                note="with its own stepsize, whose run is monotone from w_0 (Theorem 2.2), so "
                "L(w_T) <= L(w_0) a priori; step: the budget T",
            )  # fmt: skip
    claims.extend(per_budget.aggregate())
    claims.add(
        f"{title}: the largest monotone stepsize is finite", "Theorem 4.3",
        runs.bracket_violations(), 0, relation="==",
        note="measured: budgets without an oscillating grid stepsize above the largest "
        "monotone one, plus monotone runs at or above it; largest monotone grid stepsize "
        f"{bracket[:, 0].max():.3g}, every run from {bracket[:, 1].min():.3g} oscillates; "
        + setting,
    )  # fmt: skip
    claims.add(
        f"{title}: eta = {c:g} T ends below the monotone runs' t L_t", "Corollary 4.2 vs "
        "Theorem 4.3", log10_scaled_a, math.log10(floor), relation="<",
        note=f"measured: log10 of T L(w_T) at T = {T[-1]}; bound: log10 of min t L_t over the "
        f"monotone grid runs and {T[0]} <= t <= {T[-1]} (Theorem 4.3's c_0 at large t); "
        + setting,
    )  # fmt: skip
    claims.add(
        f"{title}: eta = {c:g} T first rises 10-fold above L(w_0)", "measured (oscillation)",
        float(log_risk_a.max() - log_risk_a[0]), _LN10, relation=">",
        note=f"measured: log(max_t L_t / L_0) at T = {T[b]}; bound: log 10",
    )  # fmt: skip
    claims.add(
        f"{title}: eta = {c:g} T ends below the best monotone run",
        "Corollary 4.2 vs Theorem 4.3", orders, 0.0, relation=">",
        note=f"measured: orders of magnitude at T = {T[b]}",
    )  # fmt: skip
    claims.add(
        f"{title}: the best stepsize of every budget beats the monotone t L_t",
        "Corollary 4.2 vs Theorem 4.3", values[f"search_log10_scaled_max_{key}"],
        math.log10(floor), relation="<", needs="a search budget among the chapter's budgets",
        note="measured: the largest log10 of T L(w_T) at the best searched stepsize over the "
        "chapter's budgets; bound: log10 of the monotone runs' min t L_t",
    )  # fmt: skip
    claims.add(
        f"{title}: no finite best stepsize at the largest budget: log L(w_T) ~ -eta",
        "measured (not a claim of the paper)", limit and limit.slope, 1.0, relation="==",
        tol=0.05, tol_reason="log L_T = -c eta + O(1) moves the slope by O(1/(c eta)); a power "
        "law L_T ~ eta^-p gives a slope below 0.1 here",
        needs="every run of the top decade of the search grid ending with L(w_T) < 1",
        note="measured: log-log slope of -log L(w_T) against eta over the top decade of the "
        f"search grid at T = {search.budgets[-1]}" + (f" (r^2 = {limit.r2:.4f})" if limit else ""),
    )  # fmt: skip
    return values, arrays, tables, claims


def _easy(
    ctx: RunContext, config: Config, floors: Mapping[str, float]
) -> tuple[dict[str, Any], dict[str, np.ndarray], Table, ClaimTable]:
    """The contrast: separable Gaussian data, where GD never oscillates."""
    easy_spec = config["easy"]
    easy = phase_sweep(
        ctx, easy_spec["data"], config["activation"], easy_spec["m"], easy_spec["etas"],
        easy_spec["steps"], init_scale=easy_spec["init_scale"], seed=config["seed"],
        separable=True,
    )  # fmt: skip
    easy_scaled = float(easy.steps * easy.sweep.final_risk()[-1])
    values = {
        "easy_steps": easy.steps,
        "easy_eta_max": float(easy.eta.max()),
        "easy_scaled": easy_scaled,
        "easy_n": int(easy.sweep.dataset.n),
        "easy_d": int(easy.sweep.dataset.d),
        "easy_m": int(easy_spec["m"]),
    }
    title, other = easy_spec["title"], config["datasets"][easy_spec["compare_with"]]["title"]
    claims = ClaimTable()
    claims.add(
        f"{title}: no stepsize oscillates", "measured (contrast to Theorem 4.3)",
        int(easy.oscillates.sum()), 0, relation="==", note="measured: oscillating runs",
    )  # fmt: skip
    claims.add(
        f"{title}: the largest stepsize meets eq. (5) after one step",
        "measured (contrast to Theorem 4.3)", easy.s_star[-1], 1, relation="==",
        needs="eq. (5) reached by the largest stepsize", note="measured: s*",
    )  # fmt: skip
    claims.add(
        f"{title}: the largest stepsize ends with T L(w_T) below the monotone floor of the "
        f"{other}", "measured (contrast to Theorem 4.3)", easy_scaled,
        floors[easy_spec["compare_with"]], relation="<",
    )  # fmt: skip
    arrays = {f"easy.{k}": v for k, v in easy.curves(easy_spec["curve_etas"]).items()}
    return values, arrays, easy.table(title), claims


def run(config: Config, ctx: RunContext) -> Result:
    """Both budget studies with their searches, Corollary 4.2 with its own constants, the
    easy-data contrast, and the claims."""
    T = config["budgets"]
    values: dict[str, Any] = {
        "num_budgets": len(T),
        "T_min": int(T[0]),
        "T_max": int(T[-1]),
        "decades": math.log10(T[-1] / T[0]),
        "T_show": int(T[len(T) // 2]),
        "num_constants": len(config["constants"]),
        "c_min": float(min(config["constants"])),
        "c_max": float(max(config["constants"])),
        "grid_size": len(config["grid"]),
        "grid_min": float(min(config["grid"])),
        "grid_max": float(max(config["grid"])),
        "search_size": len(config["search"]["etas"]),
        "search_eta_min": float(min(config["search"]["etas"])),
        "search_eta_max": float(max(config["search"]["etas"])),
        "search_T_min": int(min(config["search"]["budgets"])),
        "search_T_max": int(max(config["search"]["budgets"])),
    }
    claims = ClaimTable()
    arrays: dict[str, np.ndarray] = {}
    tables: dict[str, Table] = {}
    floors = {}
    for key, spec in config["datasets"].items():
        runs = budget_runs(ctx, spec, config, spec["title"])
        search = search_runs(ctx, spec, config)
        part_values, part_arrays, part_tables, part_claims = _budgets(
            key, spec, runs, search, config
        )
        values |= part_values
        arrays |= part_arrays
        tables |= part_tables
        claims.extend(part_claims)
        floors[key] = part_values[f"floor_{key}"]

    cor_values, cor_arrays, tables["corollary"], cor_claims = corollary42_runs(ctx, config)
    easy_values, easy_arrays, tables["easy"], easy_claims = _easy(ctx, config, floors)
    values |= cor_values | easy_values
    arrays |= cor_arrays | easy_arrays
    claims.extend(cor_claims)
    claims.extend(easy_claims)
    return Result(
        study="acceleration", scale="", config=config, arrays=arrays, values=values,
        tables=tables, claims=claims,
    )  # fmt: skip


STUDY = Study(
    name="acceleration",
    title="Acceleration: oscillating beats monotone",
    chapter="book/part1/acceleration.md",
    quick=QUICK,
    paper=PAPER,
    run=run,
    plot=figures,
)
