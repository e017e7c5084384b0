"""Tests of the acceleration study (gdlab.studies.acceleration) and its figures."""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from ulp import assert_ulp_close

from gdlab.claims import ClaimFailure
from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting import acceleration as plots
from gdlab.stats import loglog_fit
from gdlab.stepsize import theory as th
from gdlab.stepsize.budgets import corollary42_informative_from
from gdlab.studies.acceleration import QUICK, BudgetRuns, budget_runs, run

matplotlib.use("Agg")

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part1" / "acceleration.md"
TWO = {"title": "two points", "data": {"name": "two_point", "gamma": 0.05}, "m": 2}
SMALL = {
    **QUICK,
    "budgets": [30, 60, 120],
    "constants": [0.3, 3.0],
    "grid": np.geomspace(1.0, 200.0, 12).tolist(),
}
#: The chapter's config shrunk to a second: every computation runs, not every claim holds.
TINY = {**SMALL, "easy": {**QUICK["easy"], "etas": [1.0, 100.0, 10_000.0], "steps": 50}}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    return RunContext(torch.device("cpu"), ResultCache(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def budgets(ctx: RunContext) -> BudgetRuns:
    return budget_runs(ctx, {**TWO, "init_scale": 0.0}, SMALL)


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


# ----------------------------------------------------------------------------- budget runs


def test_budget_layout(budgets: BudgetRuns) -> None:
    C, G = budgets.constants.size, budgets.grid.size
    etas = budgets.all_etas
    assert etas.shape == (3, C + 1 + G)
    # Stepsizes pass through lr = m eta and back: equal to a few ulps.
    np.testing.assert_allclose(
        etas[:, :C], np.outer(budgets.budgets, budgets.constants), rtol=1e-14
    )
    np.testing.assert_allclose(etas[:, C], budgets.paper_eta, rtol=1e-14)
    np.testing.assert_allclose(etas[:, C + 1 :], np.tile(budgets.grid, (3, 1)), rtol=1e-14)
    np.testing.assert_allclose(
        budgets.paper_eta, th.corollary42_stepsize(budgets.problem, budgets.budgets), rtol=1e-15
    )
    for b, sweep in enumerate(budgets.sweeps):
        assert int(sweep.traj.steps[-1]) == budgets.budgets[b]
        assert float(sweep.traj.param_norm[:, 0].abs().max()) == 0.0  # init_scale 0: w_0 = 0
        assert sweep.dataset.name == "two_point"


def test_monotone_runs_and_best_choice(budgets: BudgetRuns) -> None:
    C = budgets.constants.size
    for b, sweep in enumerate(budgets.sweeps):
        flags = [sweep.first_increase(k) is None for k in range(sweep.traj.num_runs)]
        assert budgets.monotone[b].tolist() == flags
        grid_log_risk = budgets.final_log_risk[b, C + 1 :]
        np.testing.assert_array_equal(grid_log_risk, sweep.traj.log_risk[C + 1 :, -1].numpy())
        mono = budgets.monotone[b, C + 1 :]
        best = budgets.best_monotone[b]
        assert mono[best] and grid_log_risk[best] == grid_log_risk[mono].min()
        # exp of one float64 inside an array against on its own: numpy may take its SIMD exp
        # for the array and libm's for the scalar, each within 2 ulps of exp: 4 ulps.
        why = "numpy exp on an array against on a scalar"
        assert_ulp_close(budgets.best_monotone_risk[b], np.exp(grid_log_risk[best]), 4, why)
        lo, hi = budgets.monotone_bracket[b]
        assert lo < hi and lo == budgets.grid[mono].max()
        assert not mono[budgets.grid == hi].any()
    # Theorem 4.3's setting: from the bracket's upper end on, every run oscillates.
    assert budgets.bracket_violations() == 0


def test_bracket_violations_count_monotone_runs_above_the_bracket(budgets: BudgetRuns) -> None:
    C = budgets.constants.size
    hi = budgets.monotone_bracket[0, 1]
    above = np.flatnonzero(budgets.all_etas[0, :C] >= hi)  # eta = c T runs above the bracket
    assert above.size and not budgets.monotone[0, above].any()
    broken = BudgetRuns(budgets.budgets, budgets.constants, budgets.grid, budgets.sweeps)
    monotone = budgets.monotone.copy()
    monotone[0, above[0]] = True
    broken.monotone = monotone  # replaces the cached property; the grid runs are unchanged
    np.testing.assert_array_equal(broken.monotone_bracket, budgets.monotone_bracket)
    assert broken.bracket_violations() == 1


def test_scaled_risk_floor_is_a_brute_force_minimum(budgets: BudgetRuns) -> None:
    floor, at = budgets.scaled_risk_floor()
    C = budgets.constants.size
    sweep = budgets.sweeps[-1]
    best = math.inf
    for k in np.flatnonzero(budgets.monotone[-1, C + 1 :]) + C + 1:
        risk = sweep.traj.risk[k].numpy()
        best = min(best, float(np.min(risk[1:] * np.arange(1, risk.size))))
    assert floor == best
    assert 1 <= at <= budgets.budgets[-1]


def test_fits_constants_and_bounds(budgets: BudgetRuns) -> None:
    T = budgets.budgets
    fit = budgets.proportional_fit(3.0)
    ref = loglog_fit(T, np.exp(budgets.proportional_log_risk[:, 1]))
    # The same line, fitted through rescaled logarithms: equal up to float64 rounding.
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    ref = loglog_fit(T, budgets.best_monotone_risk)
    assert budgets.monotone_fit().slope == ref.slope
    with pytest.raises(ValueError, match="not one of the constants"):
        budgets.proportional_fit(0.5)
    # The three constants of Corollary 4.2 differ only by their factor.
    np.testing.assert_allclose(budgets.paper_bound("safe"), 2 * budgets.paper_bound("printed"))
    np.testing.assert_allclose(budgets.paper_bound("derived"), budgets.paper_bound("printed") / 2)
    # The rule for the figures' constant: the smallest c whose runs all oscillate.
    prop = budgets.monotone[:, : budgets.constants.size]
    c = budgets.figure_constant()
    assert not prop[:, budgets.constant_index(c)].any()
    smaller = budgets.constants < c
    assert np.all(prop[:, smaller].any(axis=0))
    assert np.all(budgets.proportional_exit(c) >= 1)


def test_figure_constant_needs_an_oscillating_schedule(ctx: RunContext) -> None:
    config = {**SMALL, "budgets": [5, 10], "constants": [1e-3], "grid": [1.0, 2.0]}
    small = budget_runs(ctx, {**TWO, "init_scale": 0.0}, config)
    with pytest.raises(ValueError, match="no constant"):
        small.figure_constant()


def test_tables(budgets: BudgetRuns) -> None:
    runs = budgets.table("two points")
    assert len(runs) == budgets.budgets.size and runs.column("T") == budgets.budgets.tolist()
    assert runs.column("its eta") == budgets.best_monotone_eta.tolist()
    rates = budgets.rate_table("rates")
    assert rates.column("c") == budgets.constants.tolist()
    assert rates.column("monotone budgets") == budgets.monotone[:, :2].sum(axis=0).tolist()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budgets": [10]}, "budgets"),
        ({"budgets": [10, 10]}, "increasing"),
        ({"budgets": [10.0, 20.0]}, "ints"),
        ({"constants": [0.0]}, "constants"),
        ({"grid": []}, "grid"),
    ],
)
def test_budget_runs_validation(ctx: RunContext, kwargs: dict, match: str) -> None:
    config = {**SMALL, "budgets": [5, 10], "constants": [1.0], "grid": [1.0]} | kwargs
    with pytest.raises(ValueError, match=match):
        budget_runs(ctx, {**TWO, "init_scale": 0.0}, config)


def test_budget_runs_need_separable_data(ctx: RunContext) -> None:
    xor = {"title": "xor", "data": {"name": "xor"}, "m": 2, "init_scale": 0.1}
    with pytest.raises(ValueError, match="separable"):
        budget_runs(ctx, xor, {**SMALL, "budgets": [5, 10]})


# ----------------------------------------------------------------------------- the study


def test_values_cover_the_chapter(result: Result) -> None:
    text = CHAPTER.read_text()
    glued = set(re.findall(r"\{glue:text\}`acc_(\w+?)(?::[^`]*)?`", text))
    assert glued and glued <= set(result.values)
    shown = set(re.findall(r'result\.tables\["(\w+)"\]', text))
    assert shown and shown <= set(result.tables)
    assert result.values["T_show"] == 60 and result.values["num_budgets"] == 3


def test_values_and_claims_agree(ctx: RunContext, result: Result) -> None:
    runs = budget_runs(ctx, QUICK["datasets"]["two"], TINY)
    c = runs.figure_constant()
    assert result.values["c_fig_two"] == c
    assert result.values["slope_a_two"] == runs.proportional_fit(c).slope
    L0 = math.log(2)  # w_0 = 0: f = 0 and L(w_0) = log 2
    assert result.values["vacuous_two"] == corollary42_informative_from(runs.problem, L0)
    name = "two-point data, w_0 = 0: L(w_T) <= Corollary 4.2 bound, factor 4096 (safe)"
    row = result.claims[name]
    assert row.status == "vacuous" and row.note.startswith("3 runs: 3 vacuous")
    finite = "the largest monotone stepsize is finite"
    assert "the theorem's setting" in result.claims[f"two-point data, w_0 = 0: {finite}"].note
    assert "outside" in result.claims[f"five-point data (rescaled): {finite}"].note
    names = result.claims.names()
    assert len(names) == len(set(names))


def test_a_claim_fails_when_its_bound_is_not_met(ctx: RunContext, result: Result) -> None:
    name = "two-point data, w_0 = 0: (a) steeper than (b) by at least {:g}"
    gap = result.values["slope_a_two"] - result.values["slope_b_two"]
    assert result.claims[name.format(1.0)].measured == pytest.approx(gap, abs=1e-15)
    strict = run({**TINY, "steeper_by": 10.0}, ctx)
    assert gap > -10.0 and strict.claims[name.format(10.0)].status == "fails"
    with pytest.raises(ClaimFailure, match="steeper than"):
        strict.check()


def test_result_survives_the_cache_round_trip(result: Result) -> None:
    again = Result.from_entry(*result.to_entry())
    assert again.values == result.values
    assert again.tables == result.tables
    assert [c.status for c in again.claims] == [c.status for c in result.claims]
    for key, value in result.arrays.items():
        np.testing.assert_array_equal(again.arrays[key], value)


def test_figures(result: Result) -> None:
    import matplotlib.pyplot as plt

    figs = plots.figures(result)
    assert list(figs) == ["constants", "budget_rates", "fixed_budget", "easy"]
    assert [len(f.axes) for f in figs.values()] == [2, 2, 2, 1]
    # One line per constant and the best monotone run.
    assert len(figs["constants"].axes[0].lines) == len(TINY["constants"]) + 1
    assert figs["fixed_budget"].axes[1].get_title() == "five-point data (rescaled), T = 60"
    plt.close("all")
