"""Acceleration: oscillating beats monotone (chapter "acceleration"; spec §3.3, §7).

For every budget ``T`` of a geometric grid, one cached vectorized GD call trains, from one
initialisation, (a) the schedule of Corollary 4.2, ``eta = c T`` for a few constants ``c``,
Corollary 4.2's own stepsize, and (b) a grid of fixed stepsizes, among which the best run whose
risk never increases is selected (Theorem 4.3 bounds such runs below by ``c_0 / t``). Two data
sets: the two points of Theorem 4.3 from ``w_0 = 0`` (the theorem's setting) and the rescaled
five points of Figure 4. A contrast on separable Gaussian data, where GD never oscillates, reuses
the first-phase sweep (:func:`gdlab.studies.first_phase.phase_sweep`).

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
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.budgets import corollary42_informative_from
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import SweepResult
from gdlab.studies.common import dataset, gd_sweep
from gdlab.studies.first_phase import format_risk, phase_sweep
from gdlab.tables import Table

__all__ = ["PAPER", "QUICK", "STUDY", "BudgetRuns", "budget_runs", "run"]

_LN10 = math.log(10)

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
    # The budgets must span this many decades, with at least this many budgets, for the fits.
    "min_decades": 2.0,
    "min_budgets": 6,
    # The best monotone run decays like 1/T: T L(w_T) within this factor over the budgets.
    "spread": 2.0,
    # (a) must be steeper than (b) by at least this much in the log-log slope.
    "steeper_by": 1.0,
    # Corollary 4.2's own stepsize "hardly moves" the risk: L(w_T) >= this fraction of L(w_0).
    "hardly_moves": 0.9,
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
#: Budgets over three decades and a finer stepsize grid.
PAPER: Config = {
    **QUICK,
    "budgets": np.geomspace(100, 100_000, 10).round().astype(int).tolist(),
    "grid": np.geomspace(1, 300, 64).tolist(),
}


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

    def constant_index(self, c: float) -> int:
        """The index of ``c`` among the constants; ValueError if it is not one of them."""
        hit = np.flatnonzero(np.isclose(self.constants, c, rtol=1e-12, atol=0.0))
        if hit.size == 0:
            raise ValueError(f"c={c!r} is not one of the constants {self.constants.tolist()}")
        return int(hit[0])

    @cached_property
    def monotone(self) -> np.ndarray:
        """(B, K) whether each run's risk never increases (beyond rounding)."""
        return np.array(
            [[s.first_increase(k) is None for k in range(s.traj.num_runs)] for s in self.sweeps]
        )

    @cached_property
    def final_log_risk(self) -> np.ndarray:
        """(B, K) ``log L(w_T)`` of every run (exact also where ``L`` underflows float64)."""
        return np.stack([s.traj.log_risk[:, -1].numpy() for s in self.sweeps])

    @property
    def proportional_log_risk(self) -> np.ndarray:
        """(B, C) ``log L(w_T)`` with ``eta = c T``."""
        return self.final_log_risk[:, : self.constants.size]

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

    def scaled_risk_floor(self) -> tuple[float, int]:
        """``(min t L(w_t), argmin t)`` over the monotone grid runs of the largest budget and
        ``1 <= t <= T``: Theorem 4.3's ``c_0`` as measured, and the step where it is attained."""
        mono = self._grid_monotone[-1]
        sweep = self.sweeps[-1]
        t = sweep.traj.steps.numpy()[1:]
        scaled = sweep.traj.risk[self._grid].numpy()[mono][:, 1:] * t
        k, i = np.unravel_index(int(np.argmin(scaled)), scaled.shape)
        return float(scaled[k, i]), int(t[i])

    def proportional_fit(self, c: float) -> LineFit:
        """Log-log fit of ``L(w_T)`` against ``T`` with ``eta = c T``."""
        j = self.constant_index(c)
        return loglog_fit(self.budgets, log_y=self.proportional_log_risk[:, j])

    def monotone_fit(self) -> LineFit:
        """Log-log fit of the best monotone ``L(w_T)`` against ``T``."""
        return loglog_fit(self.budgets, self.best_monotone_risk)

    def proportional_exit(self, c: float) -> np.ndarray:
        """(B,) the monotone-from step of the ``eta = c T`` run at each budget."""
        j = self.constant_index(c)
        return np.array([s.monotone_from(j) for s in self.sweeps])

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

    def table(self, caption: str) -> Table:
        """One row per budget: ``L(w_T)`` for each ``c``, Corollary 4.2's run and the best
        monotone run with its stepsize."""
        columns = ["T", *(f"c = {c:g}" for c in self.constants)]
        columns += ["Corollary 4.2", "best monotone", "its eta"]
        rows = [
            [
                int(T),
                *(format_risk(float(x)) for x in self.proportional_log_risk[b]),
                float(self.paper_risk[b]),
                float(self.best_monotone_risk[b]),
                float(self.best_monotone_eta[b]),
            ]
            for b, T in enumerate(self.budgets)
        ]
        return Table(columns, rows, caption)

    def rate_table(self, caption: str) -> Table:
        """One row per constant ``c``: the fitted slope of ``L(w_T)`` against ``T`` and at how
        many budgets the ``eta = c T`` run is monotone."""
        rows = []
        for j, c in enumerate(self.constants):
            fit = self.proportional_fit(float(c))
            rows.append([float(c), fit.slope, fit.r2, int(self.monotone[:, j].sum())])
        return Table(["c", "slope", "r^2", "monotone budgets"], rows, caption)


def budget_runs(
    ctx: RunContext, spec: Mapping[str, Any], config: Config, title: str = ""
) -> BudgetRuns:
    """For every budget ``T`` one cached vectorized GD call of ``T`` steps with the per-neuron
    stepsizes ``c T`` (each ``c`` of the constants), Corollary 4.2's ``eta`` and every grid
    value, from one initialisation (``N(0, init_scale^2)``; ``init_scale = 0`` gives
    ``w_0 = 0``). The data must be linearly separable (Corollary 4.2's stepsize needs
    ``gamma``)."""
    T = np.asarray(config["budgets"])
    if T.ndim != 1 or T.size < 2 or not np.issubdtype(T.dtype, np.integer):
        raise ValueError(f"budgets must be a list of >= 2 ints, got {config['budgets']!r}")
    if not bool(np.all(T >= 1) and np.all(np.diff(T) > 0)):
        raise ValueError(f"budgets must be >= 1 and increasing, got {T.tolist()}")
    stepsizes = {}
    for name in ("constants", "grid"):
        arr = np.asarray(config[name], dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0 or not bool(np.all(np.isfinite(arr) & (arr > 0))):
            raise ValueError(f"{name} must be a non-empty list of finite numbers > 0, got {arr}")
        stepsizes[name] = arr
    ds = dataset(spec["data"])
    m = spec["m"]
    net = TwoLayerNet.balanced(get_activation(config["activation"]), m)
    w_star, gamma = max_margin_direction(ds.X, ds.y)
    base = th.problem_constants(net, ds.X, ds.y, 1.0, w_star=w_star, gamma=gamma)
    sweeps = []
    for budget in ctx.steps(T.tolist(), desc=title or "budgets"):
        paper = float(th.corollary42_stepsize(base, budget))
        eta = np.concatenate([stepsizes["constants"] * budget, [paper], stepsizes["grid"]])
        sweeps.append(
            gd_sweep(
                ctx,
                spec["data"],
                config["activation"],
                m,
                (eta * m).tolist(),
                budget,
                init_scale=spec["init_scale"],
                seed=config["seed"],
                separable=True,
            )
        )
    return BudgetRuns(T.astype(np.int64), stepsizes["constants"], stepsizes["grid"], sweeps)


def _budgets(
    key: str, spec: Mapping[str, Any], runs: BudgetRuns, config: Config
) -> tuple[dict[str, Any], dict[str, np.ndarray], ClaimTable]:
    """Values, figure arrays and claims of the budget study on one data set."""
    title = spec["title"]
    T = runs.budgets
    c_min, c_max = float(runs.constants.min()), float(runs.constants.max())
    c = runs.figure_constant()
    j = runs.constant_index(c)
    fa, fb = runs.proportional_fit(c), runs.monotone_fit()
    fit_small, fit_large = runs.proportional_fit(c_min), runs.proportional_fit(c_max)
    scaled_b = T * runs.best_monotone_risk
    spread = float(scaled_b.max() / scaled_b.min())
    exits = runs.proportional_exit(c)
    late = np.flatnonzero(exits > T / 2)
    if late.size == 0:
        T_half: int | None = int(T[0])
    else:
        T_half = int(T[late[-1] + 1]) if late[-1] + 1 < T.size else None
    ratio = runs.paper_risk / runs.paper_bound("safe")
    L0 = float(runs.sweeps[0].traj.risk[0, 0])
    vacuous_below = corollary42_informative_from(runs.problem, L0)
    bracket = runs.monotone_bracket
    floor, floor_at = runs.scaled_risk_floor()
    log10_scaled_a = float(np.log10(T[-1]) + runs.proportional_log_risk[-1, j] / _LN10)
    b = T.size // 2  # the budget shown in the fixed-budget figure
    log_risk_a = runs.sweeps[b].traj.log_risk[j].numpy()
    orders = float((np.log(runs.best_monotone_risk[b]) - log_risk_a[-1]) / _LN10)
    values = {
        f"gamma_{key}": float(runs.problem.gamma),
        f"paper_c_{key}": float(runs.paper_eta[0] / T[0]),
        f"c_fig_{key}": c,
        f"c_over_paper_{key}": float(c * T[0] / runs.paper_eta[0]),
        f"slope_c_small_{key}": fit_small.slope,
        f"slope_a_{key}": fa.slope,
        f"r2_a_{key}": fa.r2,
        f"slope_b_{key}": fb.slope,
        f"scaled_b_{key}": float(scaled_b[-1]),
        f"best_eta_{key}": float(runs.best_monotone_eta[-1]),
        f"eta_a_max_{key}": float(c * T[-1]),
        f"exit_max_{key}": int(exits.max()),
        f"T_half_{key}": T_half,
        f"budget_condition_{key}": float(th.corollary42_budget(runs.problem)),
        f"vacuous_{key}": vacuous_below,
        f"paper_eta_max_{key}": float(runs.paper_eta[-1]),
        f"paper_risk_max_{key}": float(runs.paper_risk[-1]),
        f"paper_ratio_{key}": float(ratio.max()),
        f"bracket_lo_{key}": float(bracket[:, 0].max()),
        f"bracket_hi_{key}": float(bracket[:, 1].min()),
        f"floor_{key}": floor,
        f"floor_at_{key}": floor_at,
        f"log10_scaled_a_{key}": log10_scaled_a,
        f"show_peak_{key}": float(np.exp(log_risk_a.max())),
        f"show_orders_{key}": orders,
    }
    show = [j, runs.constants.size + 1 + int(runs.best_monotone[b]), runs.constants.size]
    arrays = {
        f"{key}.budgets": T,
        f"{key}.constants": runs.constants,
        f"{key}.log10_proportional": runs.proportional_log_risk / _LN10,
        f"{key}.log10_best": np.log10(runs.best_monotone_risk),
        f"{key}.log10_paper": np.log10(runs.paper_risk),
        f"{key}.log10_fit_a": (fa.intercept + fa.slope * np.log(T)) / _LN10,
        f"{key}.log10_fit_b": (fb.intercept + fb.slope * np.log(T)) / _LN10,
        f"{key}.show_steps": runs.sweeps[b].traj.steps.numpy(),
        f"{key}.show_eta": runs.all_etas[b, show],
        f"{key}.show_log10": runs.sweeps[b].traj.log_risk[show].numpy() / _LN10,
    }

    claims = ClaimTable()
    setting = (
        "the theorem's setting"
        if runs.sweeps[0].dataset.name == "two_point" and spec["init_scale"] == 0
        else "outside the theorem's setting (w_0 != 0 or other data)"
    )
    claims.add(
        f"{title}: eta = c T with the smallest c is monotone at the first budget",
        "Theorem 2.2 (eta below the stable threshold)", int(runs.proportional_exit(c_min)[0]), 0,
        relation="==", note=f"measured: its monotone-from step (c = {c_min:g}, T = {T[0]})",
    )  # fmt: skip
    claims.add(
        f"{title}: the largest c decays faster than the smallest", "Corollary 4.2",
        fit_large.slope, fit_small.slope, relation="<",
        note=f"log-log slopes of L(w_T) against T for c = {c_max:g} (measured) and "
        f"c = {c_min:g} (bound)",
    )  # fmt: skip
    claims.add(
        f"{title}: eta = c T: L(w_T) decays at least like T^-2", "Corollary 4.2",
        fa.slope, -2.0,
        note=f"log-log slope over T = {T[0]}..{T[-1]}, c = {c:g} (r^2 = {fa.r2:.2f})",
    )  # fmt: skip
    claims.add(
        f"{title}: best monotone run: T L(w_T) within a factor {config['spread']:g} over the "
        "budgets", "Theorem 4.3 + stable rate 1/(eta t)", spread, config["spread"],
        note=f"measured: max/min of T L(w_T); log-log slope {fb.slope:.3f} (r^2 = {fb.r2:.3f})",
    )  # fmt: skip
    claims.add(
        f"{title}: (a) steeper than (b) by at least {config['steeper_by']:g}",
        "Corollary 4.2 vs Theorem 4.3", fa.slope - fb.slope, -config["steeper_by"],
        note="measured: slope (a) - slope (b)",
    )  # fmt: skip
    claims.add(
        f"{title}: the best monotone stepsize does not grow with the budget", "Theorem 4.3",
        float(runs.best_monotone_eta[-1]), float(runs.best_monotone_eta[0]),
        note=f"measured: at T = {T[-1]}; bound: at T = {T[0]}",
    )  # fmt: skip
    claims.add(
        f"{title}: the best monotone run has the largest monotone grid stepsize",
        "measured (not a claim of the paper)",
        int(np.sum(runs.best_monotone_eta == bracket[:, 0])), T.size, relation="==",
        note="measured: budgets where it does; bound: budgets",
    )  # fmt: skip
    claims.add(
        f"{title}: eta = c T: first phase over by T/2 at the largest budget",
        "Corollary 4.2 (tau <= T/2)", int(exits[-1]), float(T[-1] / 2),
        note=f"measured: the monotone-from step at T = {T[-1]}",
    )  # fmt: skip
    claims.add(
        f"{title}: Corollary 4.2's budget condition is beyond every budget run",
        "Corollary 4.2", float(th.corollary42_budget(runs.problem)), float(T[-1]), relation=">",
    )  # fmt: skip
    per_budget = ClaimTable()
    for factor in ("safe", "printed", "derived"):
        value = th.COROLLARY42_FACTORS[factor]
        for risk, bound, budget in zip(runs.paper_risk, runs.paper_bound(factor), T, strict=True):
            per_budget.add(
                f"{title}: L(w_T) <= Corollary 4.2 bound, factor {value:g} ({factor})",
                "Corollary 4.2 (spec §6.6)", float(risk), float(bound), trivial=L0,
                step=int(budget),
                note="with its own stepsize, whose run is monotone from w_0 (Theorem 2.2), so "
                "L(w_T) <= L(w_0) a priori; step: the budget T",
            )  # fmt: skip
    claims.extend(per_budget.aggregate())
    claims.add(
        f"{title}: the safe Corollary 4.2 bound exceeds L(w_0) at every budget run",
        "Corollary 4.2 (spec §6.6)", vacuous_below, float(T[-1]), relation=">",
        note="measured: the budget from which the bound is below L(w_0)",
    )  # fmt: skip
    claims.add(
        f"{title}: the largest monotone stepsize is finite", "Theorem 4.3",
        runs.bracket_violations(), 0, relation="==",
        note="measured: budgets without an oscillating grid stepsize above the largest "
        "monotone one, plus monotone runs at or above it; largest monotone grid stepsize "
        f"{bracket[:, 0].max():.3g}, every run from {bracket[:, 1].min():.3g} oscillates; "
        + setting,
    )  # fmt: skip
    claims.add(
        f"{title}: min_(t>=1) t L_t of the monotone runs is attained within the smallest budget",
        "Theorem 4.3", floor_at, int(T[0]),
        note=f"measured: the step where min_(1<=t<={T[-1]}) t L_t = {floor:.3g} is attained over "
        f"the monotone runs (a longer horizon finds no smaller t L_t); {setting}",
    )  # fmt: skip
    claims.add(
        f"{title}: min_(t>=1) t L_t is attained at the first step",
        "measured (not a claim of the paper)", floor_at, 1, relation="==",
    )  # fmt: skip
    claims.add(
        f"{title}: eta = c T ends below every monotone run's t L_t",
        "Corollary 4.2 vs Theorem 4.3", log10_scaled_a, math.log10(floor), relation="<",
        note=f"measured: log10 of T L(w_T) for eta = c T at T = {T[-1]}; bound: log10 of "
        "min t L_t over the monotone runs",
    )  # fmt: skip
    claims.add(
        f"{title}: eta = c T first rises 10-fold above L(w_0)", "measured (oscillation)",
        float(log_risk_a.max() - log_risk_a[0]), _LN10, relation=">",
        note=f"measured: log(max_t L_t / L_0) at T = {T[b]}; bound: log 10",
    )  # fmt: skip
    claims.add(
        f"{title}: eta = c T ends below the best monotone run", "Corollary 4.2 vs Theorem 4.3",
        orders, 0.0, relation=">", note=f"measured: orders of magnitude at T = {T[b]}",
    )  # fmt: skip
    claims.add(
        f"{title}: Corollary 4.2's stepsize hardly moves the risk", "Corollary 4.2",
        float(runs.paper_risk[b]), config["hardly_moves"] * float(np.exp(log_risk_a[0])),
        relation=">=",
        note=f"measured: L(w_T) at T = {T[b]}; bound: {config['hardly_moves']:g} L(w_0)",
    )  # fmt: skip
    return values, arrays, claims


def run(config: Config, ctx: RunContext) -> Result:
    """Both budget studies, the easy-data contrast, and the claims."""
    T = config["budgets"]
    values: dict[str, Any] = {
        "num_budgets": len(T),
        "T_min": int(T[0]),
        "T_max": int(T[-1]),
        "T_show": int(T[len(T) // 2]),
        "grid_size": len(config["grid"]),
        "grid_min": float(min(config["grid"])),
        "grid_max": float(max(config["grid"])),
    }
    claims = ClaimTable()
    source = "chapter design (spec §7: a geometric grid of T)"
    claims.add(
        f"the budgets span at least {config['min_decades']:g} decades", source,
        math.log10(T[-1] / T[0]), config["min_decades"], relation=">=",
    )  # fmt: skip
    claims.add(
        f"at least {config['min_budgets']} budgets", source, len(T), config["min_budgets"],
        relation=">=",
    )  # fmt: skip
    arrays: dict[str, np.ndarray] = {}
    tables: dict[str, Table] = {}
    floors = {}
    for key, spec in config["datasets"].items():
        runs = budget_runs(ctx, spec, config, spec["title"])
        part_values, part_arrays, part_claims = _budgets(key, spec, runs, config)
        values |= part_values
        arrays |= part_arrays
        claims.extend(part_claims)
        floors[key] = part_values[f"floor_{key}"]
        tables[f"runs_{key}"] = runs.table(spec["title"])
        tables[f"rates_{key}"] = runs.rate_table(f"{spec['title']}: eta = c T")

    easy_spec = config["easy"]
    easy = phase_sweep(
        ctx, easy_spec["data"], config["activation"], easy_spec["m"], easy_spec["etas"],
        easy_spec["steps"], init_scale=easy_spec["init_scale"], seed=config["seed"],
        separable=True,
    )  # fmt: skip
    easy_scaled = float(easy.steps * easy.sweep.final_risk()[-1])
    values |= {
        "easy_steps": easy.steps,
        "easy_eta_max": float(easy.eta.max()),
        "easy_scaled": easy_scaled,
    }
    title, other = easy_spec["title"], config["datasets"][easy_spec["compare_with"]]["title"]
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
    tables["easy"] = easy.table(title)
    arrays |= {f"easy.{k}": v for k, v in easy.curves(easy_spec["curve_etas"]).items()}
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
