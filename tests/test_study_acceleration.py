"""Tests of the acceleration study (gdlab.studies.acceleration) and its figures."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from studytools import check_chapter_references, check_round_trip
from ulp import assert_ulp_close

from gdlab.claims import ClaimFailure
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting import acceleration as plots
from gdlab.stepsize import theory as th
from gdlab.stepsize.budgets import corollary42_informative_from
from gdlab.studies.acceleration import (
    QUICK,
    BudgetRuns,
    budget_runs,
    corollary42_runs,
    run,
    search_runs,
)

matplotlib.use("Agg")

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part1" / "acceleration.md"
TWO = {"title": "two points", "data": {"name": "two_point", "gamma": 0.05}, "m": 2}
SMALL = {
    **QUICK,
    "budgets": [30, 60, 120],
    "constants": [0.3, 3.0],
    "grid": np.geomspace(1.0, 200.0, 12).tolist(),
    "search": {"etas": np.geomspace(1.0, 1e5, 11).tolist(), "budgets": [10, 60, 120]},
}
#: The chapter's config shrunk to a second: every computation runs, not every claim holds.
TINY = {**SMALL, "easy": {**QUICK["easy"], "etas": [1.0, 100.0, 10_000.0], "steps": 50}}
assert TINY["corollary"]["multiples"] == []  # Corollary 4.2's budget is ~4e5 steps

#: Budgets long enough for a large eta = c T run to reach eq. (5) and be tested by the rate.
RATE = {**SMALL, "budgets": [1000, 4000], "constants": [0.03, 0.3], "grid": [1.0, 30.0, 100.0]}
RATE_CLAIM = "two-point data, w_0 = 0: eta = c T: L(w_T) alpha^2 gamma^2 eta (T - s*) <= 8 (safe)"


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


@pytest.mark.parametrize("t_min", [1, 30])
def test_scaled_risk_floor_is_a_brute_force_minimum(budgets: BudgetRuns, t_min: int) -> None:
    floor, at = budgets.scaled_risk_floor(t_min)
    C = budgets.constants.size
    sweep = budgets.sweeps[-1]
    best = math.inf
    for k in np.flatnonzero(budgets.monotone[-1, C + 1 :]) + C + 1:
        risk = sweep.traj.risk[k].numpy()
        best = min(best, float(np.min(risk[t_min:] * np.arange(t_min, risk.size))))
    assert floor == best
    assert t_min <= at <= budgets.budgets[-1]


def test_rate_factor_constants_and_bounds(ctx: RunContext, budgets: BudgetRuns) -> None:
    # L(w_T) alpha^2 gamma^2 eta (T - s*), recomputed from its definition for every run.
    long = budget_runs(ctx, {**TWO, "init_scale": 0.0}, RATE)
    factor = long.rate_factor()
    for b, T in enumerate(long.budgets):
        for j in range(long.constants.size):
            s = long.exits[b].s_star[j]
            if not (np.isfinite(s) and s < T):
                assert np.isnan(factor[b, j])
                continue
            c = long.sweeps[b].constants[j]
            risk = math.exp(long.proportional_log_risk[b, j])
            expected = risk * c.alpha**2 * c.gamma**2 * c.eta * (T - s)
            # Two orderings of five float64 products: a few ulps.
            assert factor[b, j] == pytest.approx(expected, rel=1e-13)
    assert np.isfinite(factor).any()
    # The three constants of Corollary 4.2 differ only by their factor.
    np.testing.assert_allclose(budgets.paper_bound("safe"), 2 * budgets.paper_bound("printed"))
    np.testing.assert_allclose(budgets.paper_bound("derived"), budgets.paper_bound("printed") / 2)
    # The rule for the figures' constant: the smallest c whose runs all oscillate.
    prop = budgets.monotone[:, : budgets.constants.size]
    c = budgets.figure_constant()
    assert not prop[:, int(np.flatnonzero(budgets.constants == c)[0])].any()
    smaller = budgets.constants < c
    assert np.all(prop[:, smaller].any(axis=0))


def test_figure_constant_needs_an_oscillating_schedule(ctx: RunContext) -> None:
    config = {**SMALL, "budgets": [5, 10], "constants": [1e-3], "grid": [1.0, 2.0]}
    small = budget_runs(ctx, {**TWO, "init_scale": 0.0}, config)
    with pytest.raises(ValueError, match="no constant"):
        small.figure_constant()


def test_tables(budgets: BudgetRuns) -> None:
    runs = budgets.proportional_table("two points")
    assert len(runs) == budgets.budgets.size and runs.column("T") == budgets.budgets.tolist()
    rates = budgets.rate_table("rates")
    assert rates.column("c") == budgets.constants.tolist()
    oscillating = (~budgets.monotone[:, :2]).sum(axis=0).tolist()
    assert rates.column("oscillating budgets") == oscillating


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
    check_chapter_references(CHAPTER, "acc_", result)
    assert result.values["T_show"] == 60 and result.values["num_budgets"] == 3


def test_values_and_claims_agree(ctx: RunContext, result: Result) -> None:
    runs = budget_runs(ctx, QUICK["datasets"]["two"], TINY)
    c = runs.figure_constant()
    assert result.values["c_fig_two"] == c
    assert result.values["slope_b_two"] == runs.monotone_fit().slope
    L0 = math.log(2)  # w_0 = 0: f = 0 and L(w_0) = log 2
    assert result.values["vacuous_two"] == corollary42_informative_from(runs.problem, L0)
    name = "two-point data, w_0 = 0: L(w_T) <= Corollary 4.2 bound, factor 4096 (safe)"
    row = result.claims[name]
    assert row.status == "vacuous" and row.note.startswith("3 runs: 3 vacuous")
    finite = "the largest monotone stepsize is finite"
    assert "the theorem's setting" in result.claims[f"two-point data, w_0 = 0: {finite}"].note
    assert "outside" in result.claims[f"five-point data (rescaled): {finite}"].note
    floor, _ = runs.scaled_risk_floor(TINY["budgets"][0])
    assert result.values["floor_two"] == floor
    names = result.claims.names()
    assert len(names) == len(set(names))


def test_search_picks_the_least_final_risk(ctx: RunContext) -> None:
    search = search_runs(ctx, QUICK["datasets"]["two"], SMALL)
    etas = np.array(SMALL["search"]["etas"])
    assert search.final_log_risk.shape == (3, etas.size)
    for b, T in enumerate(SMALL["search"]["budgets"]):
        sweep = budget_runs(
            ctx, QUICK["datasets"]["two"], {**SMALL, "budgets": [T, T + 1], "constants": [1.0],
                                            "grid": etas.tolist()},
        ).sweeps[0]  # fmt: skip
        # The same runs recorded every step against only at T: the same final log-risk.
        np.testing.assert_array_equal(search.final_log_risk[b], sweep.traj.log_risk[2:, -1].numpy())
        assert search.best[b] == int(np.argmin(search.final_log_risk[b]))
    assert search.best_eta.tolist() == etas[search.best].tolist()
    # From w_0 = 0 the largest stepsizes land by step ~60: -log L(w_T) grows like eta.
    limit = search.limit_fit()
    assert limit is not None and abs(limit.slope - 1) < 0.05
    short = {**SMALL, "search": {**SMALL["search"], "budgets": [10]}}
    assert search_runs(ctx, QUICK["datasets"]["two"], short).limit_fit() is None  # not landed
    with pytest.raises(ValueError, match="a decade"):
        search_runs(ctx, QUICK["datasets"]["two"], {**SMALL, "search": {
            "etas": [1.0, 2.0], "budgets": [10]}})  # fmt: skip


def test_corollary_is_untestable_without_its_budget(ctx: RunContext, result: Result) -> None:
    rows = [c for c in result.claims if c.name.startswith("large-margin data")]
    T_c = result.values["cor_budget"]
    assert len(rows) == 6 and all(c.status == "untestable" for c in rows)
    assert all(f"T >= {T_c} steps" in c.needs for c in rows)
    assert T_c <= result.values["cor_T"] < T_c + 2 * QUICK["corollary"]["records"]
    assert len(result.tables["corollary"]) == 0
    with pytest.raises(ValueError, match="multiples"):
        corollary42_runs(ctx, {**TINY, "corollary": {**TINY["corollary"], "multiples": [2, 1]}})


# ----------------------------------------------------------------------------- wrong inputs
# The chapter's claims must catch a wrong threshold, a wrong rate and a wrong bound: each test
# replaces one formula of gdlab.stepsize.theory by a plausible mistake.


def test_a_wrong_rate_is_caught(ctx: RunContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Theorem 4.1's rate claimed as 1/(eta (t - s))^2: the eta = c T runs exceed it."""
    assert run(RATE, ctx).claims[RATE_CLAIM].status == "holds"
    bound = th.theorem41_stable_bound

    def squared(c: th.ProblemConstants, t: object, s: int, factor: float = 8.0) -> object:
        return bound(c, t, s, factor) / (np.asarray(t, dtype=np.float64) - s)

    monkeypatch.setattr(th, "theorem41_stable_bound", squared)
    wrong = run(RATE, ctx)
    assert wrong.claims[RATE_CLAIM].status == "fails"
    with pytest.raises(ClaimFailure, match="T - s"):
        wrong.check(strict=True)


def test_a_wrong_bound_is_caught(ctx: RunContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Corollary 4.2's bound without its 1/(alpha^4 gamma^4): at T = 4000 it falls below
    L(w_0), and the run with the corollary's (tiny) stepsize is far above it."""
    name = "two-point data, w_0 = 0: L(w_T) <= Corollary 4.2 bound, factor 2048 (printed)"
    assert run(RATE, ctx).claims[name].status == "vacuous"
    bound = th.corollary42_risk_bound

    def no_margin(c: th.ProblemConstants, T: object, factor: float = 2048.0) -> object:
        return bound(c, T, factor) * c.alpha**4 * c.gamma**4

    monkeypatch.setattr(th, "corollary42_risk_bound", no_margin)
    assert run(RATE, ctx).claims[name].status == "fails"


def test_a_wrong_threshold_is_caught(ctx: RunContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Corollary 4.2's budget condition far too small (2000 steps): run at that budget with
    the corollary's stepsize, tau <= T/2 and eq. (5) by T/2 fail."""
    monkeypatch.setattr(th, "corollary42_budget", lambda c: 2000)
    config = {**TINY, "corollary": {**TINY["corollary"], "multiples": [1]}}
    values, _, table, claims = corollary42_runs(ctx, config)
    assert values["cor_T"] == 2000 and table.column("T") == [2000]
    title = TINY["corollary"]["title"]
    for name in (
        "tau <= T/2 at Corollary 4.2's stepsize",
        "eq. (5) reached by T/2",
    ):
        assert claims[f"{title}: {name}"].status == "fails", name
    assert claims[f"{title}: budget condition T >= 2000"].status == "holds"


def test_result_survives_the_cache_round_trip(result: Result) -> None:
    check_round_trip(result)


def test_figures(result: Result) -> None:
    import matplotlib.pyplot as plt

    figs = plots.figures(result)
    assert list(figs) == ["budgets", "search", "fixed_budget", "easy"]
    assert [len(f.axes) for f in figs.values()] == [4, 4, 2, 1]
    # One line per constant, the best monotone run, Corollary 4.2's stepsize and the floor.
    assert len(figs["budgets"].axes[0].lines) == len(TINY["constants"]) + 3
    assert figs["fixed_budget"].axes[1].get_title() == "five-point data (rescaled), T = 60"
    for fig in figs.values():  # drawn for the content column
        assert fig.get_size_inches()[0] <= plots.COLUMN_WIDTH + 1e-9
    plt.close("all")
