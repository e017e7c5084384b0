"""Tests of gdlab.stepsize.acceleration (first-phase and budget studies) and their figures."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
from ulp import assert_ulp_close

from gdlab import data
from gdlab.plotting import acceleration as plots
from gdlab.stats import loglog_fit
from gdlab.stepsize import theory as th
from gdlab.stepsize.acceleration import (
    BudgetStudy,
    FirstPhaseStudy,
    budget_study,
    first_phase_study,
    format_risk,
    theorem32_informative_from,
)
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.theory import ProblemConstants

matplotlib.use("Agg")

LEAKY = get_activation("leaky_softplus_ex31")
ETAS = [1.0, 300.0, 3000.0]
STEPS = 200


@pytest.fixture(scope="module")
def study() -> FirstPhaseStudy:
    return first_phase_study(data.two_point(0.05), TwoLayerNet.balanced(LEAKY, 2), ETAS, STEPS)


@pytest.fixture(scope="module")
def budgets() -> BudgetStudy:
    return budget_study(
        data.two_point(0.05),
        TwoLayerNet.balanced(LEAKY, 2),
        [30, 60, 120],
        [0.3, 3.0],
        np.geomspace(1.0, 200.0, 12),
        w0_zero=True,
    )


# ----------------------------------------------------------------------------- Theorem 3.2


def _linear(eta: float = 2.0) -> ProblemConstants:
    """The linear special case of spec §3.3 (m = 1, phi = identity, R = 1)."""
    return ProblemConstants(
        n=2, m=1, d=2, lr=eta, eta=eta, rho=1.0, beta=0.0, kappa=0.0, alpha=1.0,
        beta_tilde=0.0, sup_dphi=1.0, R=1.0, gamma=0.5, w0_norm=1.0,
    )  # fmt: skip


def test_informative_from_is_the_last_crossing() -> None:
    c = _linear()
    level = 0.1
    t = theorem32_informative_from(c, level)
    assert t == int(t) and t > 1
    assert (
        th.theorem32_average_risk_bound(c, t) <= level < th.theorem32_average_risk_bound(c, t - 1)
    )
    later = np.geomspace(t, 1e12, 500)
    assert np.all(th.theorem32_average_risk_bound(c, later) <= level)


def test_informative_from_edge_cases() -> None:
    c = _linear()
    assert theorem32_informative_from(c, level=1e9) == 1.0  # below the level from the start
    assert theorem32_informative_from(c, level=1e-9, t_max=1e3) == math.inf
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="level"):
            theorem32_informative_from(c, level=bad)
    with pytest.raises(ValueError, match="t_max"):
        theorem32_informative_from(c, t_max=1.0)


def test_power_fit_survives_underflow() -> None:
    x = np.array([10.0, 100.0, 1000.0])
    log_y = -2.0 * np.log(x) - 2000.0  # y = e^-2000 x^-2: zero in float64
    fit = loglog_fit(x, log_y=log_y)
    # Exact line through rescaled logs: float64 rounding of O(2000) values.
    assert fit.slope == pytest.approx(-2.0, rel=1e-12)
    assert fit.intercept == pytest.approx(-2000.0, rel=1e-12)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)


def test_format_risk() -> None:
    assert format_risk(math.log(2.4) - 400 * math.log(10)) == "2.40e-400"
    assert format_risk(0.0) == "1.00e+00"
    assert format_risk(math.log(9.999)) == "1.00e+01"
    assert format_risk(math.log(3.2e-5)) == "3.20e-05"


# ----------------------------------------------------------------------------- first phase


def test_first_phase_measurements_match_the_record(study: FirstPhaseStudy) -> None:
    sweep = study.sweep
    np.testing.assert_allclose(study.eta, ETAS, rtol=1e-15)
    assert study.steps == STEPS
    for k, c in enumerate(sweep.constants):
        assert study.monotone_from[k] == sweep.monotone_from(k)
        first = sweep.first_increase(k)
        assert (first is None) == np.isnan(study.first_increase[k])
        # s*: first step at or below the width-free threshold of eq. (5), recomputed here.
        log_threshold = math.log(th.condition5_threshold_two_layer(c))
        below = np.flatnonzero(sweep.traj.log_risk[k].numpy() <= log_threshold)
        expected = float(below[0]) if below.size else math.nan
        assert study.s_star[k] == expected or (np.isnan(expected) and np.isnan(study.s_star[k]))
        assert study.tau[k] == th.theorem41_tau(c)
    # The smallest stepsize is monotone, the larger ones oscillate from the first steps.
    assert study.oscillates.tolist() == [False, True, True]
    assert study.monotone_from[0] == 0 and np.all(study.monotone_from[1:] > 0)


def test_running_average_and_theorem32(study: FirstPhaseStudy) -> None:
    for k in range(len(ETAS)):
        t, avg = study.running_average(k)
        risk = study.sweep.traj.risk[k].numpy()
        assert t[0] == 1 and t[-1] == STEPS
        # Cumulative sums of <= 200 positive terms: float64 agreement to ~1e-13 relative.
        expected = [risk[0], risk[:10].mean(), risk[:-1].mean()]
        np.testing.assert_allclose(avg[[0, 9, -1]], expected, rtol=1e-13)
        # Theorem 3.2 holds on separable data (its bound is far from tight here).
        assert np.all(avg <= study.theorem32_bound(k))
    ratio = study.average_risk_ratio()
    assert ratio.shape == (3,) and np.all((ratio > 0) & (ratio <= 1))


def test_certificates_and_verdicts(study: FirstPhaseStudy) -> None:
    assert study.has_theory
    assert len(study.certificates) == 3
    assert all(table["Theorem 3.2"].holds for table in study.certificates)
    table = study.verdicts(eta_min=100.0, tag="tp")
    assert all(row.claim.startswith("tp: ") for row in table)
    assert len(table) == 6
    rows = {row.claim: row for row in table}
    fit = study.exit_fit("monotone_from", 100.0)
    assert rows["tp: exit time grows at most like eta"].measured == fit.slope
    assert rows["tp: running mean of L_t <= Theorem 3.2 bound at every t"].holds


def test_exit_fit_selects_oscillating_runs(study: FirstPhaseStudy) -> None:
    fit = study.exit_fit("monotone_from")
    ref = loglog_fit(study.eta[1:], study.monotone_from[1:].astype(float))
    # The same fit of the same values, reached through a boolean mask (a copy) against a slice:
    # numpy's vectorised log and sums may round a different memory layout differently (1 ulp
    # per operation on O(1) values): 8 ulps.
    why = "one log-log fit of the same values, copied array against slice"
    assert_ulp_close(
        np.array([fit.slope, fit.intercept]), np.array([ref.slope, ref.intercept]), 8, why
    )
    with pytest.raises(ValueError, match=">= 2 oscillating runs"):
        study.exit_fit("monotone_from", eta_min=1000.0)
    with pytest.raises(ValueError, match="kind"):
        study.exit_fit("r_star")  # type: ignore[arg-type]


def test_final_margins_and_preactivations(study: FirstPhaseStudy) -> None:
    ds = study.sweep.dataset
    W = study.sweep.traj.w_final
    q = study.final_margins
    assert q.shape == (3, ds.n)
    expected = (ds.y * study.sweep.net.forward(W, ds.X)).numpy()
    np.testing.assert_array_equal(q, expected)
    Z = study.final_preactivations
    assert Z.shape == (3, 2, ds.n)
    np.testing.assert_allclose(Z, torch.einsum("kmd,nd->kmn", W, ds.X).numpy(), rtol=1e-14)


def test_summary_lists_every_run(study: FirstPhaseStudy) -> None:
    lines = study.summary().splitlines()
    assert len(lines) == 1 + len(ETAS)
    assert "monotone from" in lines[0]


def test_theory_needs_its_assumptions() -> None:
    softplus = first_phase_study(
        data.two_point(0.05), TwoLayerNet.balanced(get_activation("softplus"), 2), [1.0, 10.0], 20
    )
    assert not softplus.has_theory
    with pytest.raises(ValueError, match="alpha"):
        softplus.certificates  # noqa: B018
    assert "-" in softplus.summary().splitlines()[1]  # no tau without alpha > 0
    net = TwoLayerNet.balanced(LEAKY, 2)
    xor = first_phase_study(data.xor().rescaled(), net, [1.0], 20, separable=False)
    assert xor.sweep.constants[0].gamma is None
    with pytest.raises(ValueError, match="Assumption 3"):
        xor.certificates  # noqa: B018
    with pytest.raises(ValueError, match="separable"):
        first_phase_study(data.xor(), TwoLayerNet.balanced(LEAKY, 2), [1.0], 20)


@pytest.mark.parametrize("etas", [[], [1.0, -1.0], [0.0], [[1.0, 2.0]], [math.inf]])
def test_first_phase_rejects_bad_stepsizes(etas: list) -> None:
    with pytest.raises(ValueError, match="etas"):
        first_phase_study(data.two_point(0.05), TwoLayerNet.balanced(LEAKY, 2), etas, 10)


# ----------------------------------------------------------------------------- budgets


def test_budget_layout(budgets: BudgetStudy) -> None:
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
        assert float(sweep.traj.param_norm[:, 0].abs().max()) == 0.0  # w_0 = 0
    assert budgets.w0_zero and budgets.dataset.name == "two_point"


def test_monotone_runs_and_best_choice(budgets: BudgetStudy) -> None:
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
    assert budgets.all_larger_oscillate


def test_scaled_risk_floor_is_a_brute_force_minimum(budgets: BudgetStudy) -> None:
    floor, at = budgets.scaled_risk_floor()
    C = budgets.constants.size
    sweep = budgets.sweeps[-1]
    best = math.inf
    for k in np.flatnonzero(budgets.monotone[-1, C + 1 :]) + C + 1:
        risk = sweep.traj.risk[k].numpy()
        best = min(best, float(np.min(risk[1:] * np.arange(1, risk.size))))
    assert floor == best
    assert 1 <= at <= budgets.budgets[-1]


def test_fits_constants_and_bounds(budgets: BudgetStudy) -> None:
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
    # vacuous_below solves bound(T) = L(w_0) = log 2 (w_0 = 0).
    L0 = math.log(2)
    bound_there = budgets.paper_bound("safe")[0] * (T[0] / budgets.vacuous_below) ** 2
    assert bound_there == pytest.approx(L0, rel=1e-12)  # a square root and a square: rounding
    assert budgets.budget_condition == th.corollary42_budget(budgets.problem)
    # The rule for the figures' constant: the smallest c whose runs all oscillate.
    prop = budgets.monotone[:, : budgets.constants.size]
    c = budgets.figure_constant()
    assert not prop[:, list(budgets.constants).index(c)].any()
    smaller = budgets.constants < c
    assert np.all(prop[:, smaller].any(axis=0))
    assert np.all(budgets.proportional_exit(c) >= 1)


def test_figure_constant_needs_an_oscillating_schedule() -> None:
    net = TwoLayerNet.balanced(LEAKY, 2)
    small = budget_study(data.two_point(0.05), net, [5, 10], [1e-3], [1.0, 2.0], w0_zero=True)
    with pytest.raises(ValueError, match="no constant"):
        small.figure_constant()


def test_budget_verdicts(budgets: BudgetStudy) -> None:
    c = budgets.figure_constant()
    table = budgets.verdicts(c, tag="b")
    assert len(table) == 7 and all(row.claim.startswith("b: ") for row in table)
    rows = {row.claim.removeprefix("b: "): row for row in table}
    fa, fb = budgets.proportional_fit(c), budgets.monotone_fit()
    assert rows["(a) steeper than (b) by at least 1"].measured == fa.slope - fb.slope
    row = rows["L(w_T) <= safe Corollary 4.2 bound with its stepsize"]
    assert row.holds and "holds at none of them" in row.note
    assert "the theorem's setting" in rows["the largest monotone stepsize is finite"].note
    assert len(budgets.summary().splitlines()) == 1 + budgets.budgets.size


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
def test_budget_study_validation(kwargs: dict, match: str) -> None:
    args = {"budgets": [5, 10], "constants": [1.0], "grid": [1.0]} | kwargs
    with pytest.raises(ValueError, match=match):
        budget_study(data.two_point(0.05), TwoLayerNet.balanced(LEAKY, 2), **args)


def test_budget_study_needs_separable_data() -> None:
    with pytest.raises(ValueError, match="separable"):
        budget_study(data.xor(), TwoLayerNet.balanced(LEAKY, 2), [5, 10], [1.0], [1.0])


# ----------------------------------------------------------------------------- figures


def test_figures(study: FirstPhaseStudy, budgets: BudgetStudy) -> None:
    import matplotlib.pyplot as plt

    c = {"b": budgets.figure_constant()}
    figs = [
        plots.average_risk_figure({"a": study, "b": study}, etas=[1, 3000]),
        plots.exit_time_figure({"a": study}, eta_min=0.0),
        plots.risk_curves_figure({"a": study}, etas=[1, 300]),
        plots.budget_rate_figure({"b": budgets}, c),
        plots.constant_figure({"b": budgets}),
        plots.fixed_budget_figure({"b": budgets}, 60, c),
    ]
    assert [len(f.axes) for f in figs] == [2, 1, 1, 1, 1, 1]
    # Two stepsizes drawn, each with its bound: four lines per panel.
    assert len(figs[0].axes[0].lines) == 4 + 1  # + the L(w_0) reference line
    with pytest.raises(ValueError, match="budget 61"):
        plots.fixed_budget_figure({"b": budgets}, 61, c)
    with pytest.raises(ValueError, match="no study"):
        plots.constant_figure({})
    plt.close("all")
