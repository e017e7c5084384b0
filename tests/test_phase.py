"""Tests of gdlab.stepsize.phase: the computations of the setting, phase-threshold and
margin-improvement chapters."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from gdlab import data
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.gd import train
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.phase import (
    GRID_TOL,
    ActivationConstants,
    SweepSpec,
    Table,
    activation_constants,
    aligned_margin,
    check_assumption1,
    claim_summary,
    constants_table,
    figure4_analysis,
    largest_drop,
    lemma_a14_curves,
    log10_a10_constant,
    log_norm_fit,
    margin_runs,
    margin_series,
    margin_specs,
    phase_runs,
    phase_specs,
    phase_table,
    rate_checks,
    run_spec,
    setting_verdicts,
    verdict_summary,
)


@pytest.fixture(scope="module")
def five_sweep():
    """Figure 4's five points, m = 10: tilde-eta 1 is monotone, 3000 oscillates then settles
    (eq. (5) at step ~150, measured in the phase-threshold chapter)."""
    return run_spec(SweepSpec("five points", "five_point", (1.0, 3000.0), 600, m=10))


# ----------------------------------------------------------------------------- Table


def test_table_renders_and_validates() -> None:
    table = Table(["a", "b"], [(1, 0.123456), (None, True), ("x|y", math.nan)])
    assert len(table) == 3 and table.column("a") == [1, None, "x|y"]
    md = table._repr_markdown_()
    assert "| 1 | 0.123 |" in md and "| - | yes |" in md and "x\\|y" in md
    assert "<td>x|y</td>" in table._repr_html_()
    with pytest.raises(ValueError, match="2 cells"):
        Table(["a", "b", "c"], [(1, 2)])
    with pytest.raises(KeyError, match="no column"):
        table.column("c")


# ----------------------------------------------------------------------------- setting


def test_activation_constants_flag_gelu_kappa_only() -> None:
    rows = activation_constants(num=20_001)  # spacing 5e-3: error <= 10 * 2.5e-5 / 8 < 1e-4
    failures = [(r.name, k) for r in rows for k in r.printed_failures]
    assert failures == [("gelu", "kappa")]
    for r in rows:
        for key in r.tight:
            # Grid resolution 5e-3: interior extrema missed by at most sup|g''| h^2/8 < 1e-4.
            assert abs(r.grid[key] - r.tight[key]) <= 1e-4, (r.name, key)
    md = constants_table(rows)._repr_markdown_()
    assert "NOT A BOUND" in md and md.count("NOT A BOUND") == 1
    with pytest.raises(ValueError, match="unknown constant"):
        rows[0].printed_is_bound("rho")


def test_setting_verdicts_catch_a_wrong_closed_form() -> None:
    (row,) = activation_constants(["softplus"], num=2001)
    check = check_assumption1(TwoLayerNet.balanced(get_activation("softplus"), 4), 1.0, samples=64)
    table = setting_verdicts([row], {"net": check})
    assert all(table.column("holds"))
    # A closed form claiming kappa below the true supremum: the grid exceeds it.
    wrong = ActivationConstants(
        row.name, {**row.tight, "kappa": row.tight["kappa"] - 10 * GRID_TOL}, row.grid,
        row.printed, row.source,
    )  # fmt: skip
    verdicts = setting_verdicts([wrong], {})
    holds = dict(zip(verdicts.column("claim"), verdicts.column("holds"), strict=True))
    assert not holds["closed-form constants = grid estimates"]
    assert not holds["grid never beyond the closed-form sup/inf"]


def test_check_assumption1_holds_and_is_tight_for_a_linear_net() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 6)
    check = check_assumption1(net, math.sqrt(2), samples=128, seed=1)
    assert all(v <= 1 + 1e-12 for v in check.ratios().values())  # float64 rounding
    # The draws do not depend on the chunking.
    again = check_assumption1(net, math.sqrt(2), samples=128, seed=1, chunk=17)
    assert again.max_grad_norm == pytest.approx(check.max_grad_norm, rel=1e-12)
    # Linear f: ||grad f|| = R/sqrt(m) = rho exactly, and f = <grad f, w>.
    lin = check_assumption1(TwoLayerNet.balanced(get_activation("identity"), 4), 2.0, samples=32)
    assert lin.max_grad_norm == pytest.approx(lin.rho, rel=1e-12)  # float64 rounding
    assert lin.max_homogeneity_gap <= 1e-12  # float64 rounding of sums of 4 terms of size ~1e2
    for bad in ({"samples": 0}, {"log10_scale": (1.0, 0.0)}, {"step": 0.0}, {"d": 0}):
        with pytest.raises(ValueError):
            check_assumption1(net, 1.0, **bad)
    with pytest.raises(ValueError, match="radius"):
        check_assumption1(net, 0.0)


# ----------------------------------------------------------------------------- phase threshold


def test_phase_runs_on_a_monotone_and_an_oscillating_run(five_sweep) -> None:
    small, large = phase_runs(five_sweep, "five")
    assert small.increases == 0 and small.monotone_from == 0 and small.first_increase is None
    assert small.r_star == 0 and small.after_r_holds and small.max_increase_after_r < 0
    assert large.increases > 0 and large.max_risk > 10 * large.initial_risk
    assert large.monotone_reached and large.r_star is not None
    assert large.after_r_holds and large.certified_delay >= 0
    assert large.s_star is not None and large.s_star >= large.r_star
    assert len(phase_table([small, large])) == 2


def test_rate_checks_and_a14_curves(five_sweep) -> None:
    (check,) = rate_checks(five_sweep)  # only tilde-eta = 3000 reaches eq. (5) by T/2
    assert check.lr == 3000.0 and check.s_star <= check.steps / 2
    assert check.spread >= 1 and check.product_end > 0
    # Lemma A.14 (rounding allowance: the plain comparison holds with a wide margin here).
    assert check.band_low <= check.product_end * (check.steps - check.s_star) / check.steps
    curves = lemma_a14_curves(five_sweep, 1)
    assert np.all(curves.log10_lower <= curves.log10_risk)
    assert np.all(curves.log10_risk <= curves.log10_upper)
    assert lemma_a14_curves(five_sweep, 0) is None  # eq. (5) never reached


def test_verdict_and_claim_summaries(five_sweep) -> None:
    runs = verdict_summary({"five": five_sweep})
    assert runs.column("all hold") == [True, True]
    claims = claim_summary({"five": five_sweep})
    worst = dict(zip(claims.column("claim"), claims.column("worst slack"), strict=True))
    assert all(s >= 0 for s in worst.values())
    assert "risk non-increasing after r*" in worst and "Lemma A.14 lower" in worst


def test_specs_cover_monotone_to_large_stepsizes() -> None:
    quick, paper = phase_specs("quick"), phase_specs("paper")
    assert [s.label for s in quick] == [s.label for s in paper]
    for q, p in zip(quick, paper, strict=True):
        assert len(q.lrs) >= 5 and len(p.lrs) > len(q.lrs) and p.steps > q.steps
        assert min(p.lrs) <= min(q.lrs) and max(p.lrs) >= max(q.lrs) / 2
    assert all(not s.separable for s in margin_specs())
    assert all(
        p.steps > q.steps for q, p in zip(margin_specs(), margin_specs("paper"), strict=True)
    )


# ----------------------------------------------------------------------------- margins


def test_margin_runs_and_series(five_sweep) -> None:
    (run,) = margin_runs(five_sweep, "five")
    assert run.lr == 3000.0 and run.gc_decreases == 0 and run.gc_holds and run.a10_holds
    assert run.norm_holds and run.gamma_bar_end > 0 and run.log10_gap_end > 0
    ms = margin_series(five_sweep, 1)
    i = int(np.searchsorted(ms.t, ms.s))
    assert np.all(np.diff(ms.log_gamma_c[i:]) >= 0)
    # gamma^c <= gamma^b (Lemma A.10) wherever both are defined.
    defined = np.isfinite(ms.log_gamma_c) & np.isfinite(ms.log_gamma_b)
    assert np.all(ms.log_gamma_c[defined] <= ms.log_gamma_b[defined])


def test_log10_a10_constant_matches_the_direct_formula() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20)
    ds = data.xor()
    c = th.problem_constants(net, ds.X, ds.y, 10.0)
    direct, _, _ = th.lemma_a10_constant(c)
    assert log10_a10_constant(c) == pytest.approx(math.log10(direct), rel=1e-12)  # rounding
    big = c.with_lr(1e5)  # c overflows float64; its log does not
    assert math.isinf(th.lemma_a10_constant(big)[0]) and math.isfinite(log10_a10_constant(big))


def test_largest_drop_and_log_norm_fit() -> None:
    assert largest_drop(np.array([1.0, 2.0, 3.0])) == 0.0
    assert largest_drop(np.array([1.0, 3.0, 2.5, 4.0])) == pytest.approx(0.5)
    assert largest_drop(np.array([1.0])) == 0.0
    t = np.arange(0, 1001)
    y = 3.0 + 2.0 * np.log(np.maximum(t, 1))
    fit = log_norm_fit(t, y, 10)
    assert fit.slope == pytest.approx(2.0) and fit.intercept == pytest.approx(3.0)
    assert fit.r2 == pytest.approx(1.0) and fit(np.e) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="at least 3"):
        log_norm_fit(t, y, 1000)
    with pytest.raises(ValueError, match="equal length"):
        log_norm_fit(t, y[:-1], 1)


# ----------------------------------------------------------------------------- Figure 4


def test_figure4_analysis() -> None:
    ds = data.five_point()
    net = TwoLayerNet(get_activation("leaky_softplus_half"), torch.tensor([1.0, -1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the figure keeps R > 1 (spec §6.5)
        traj = train(net, ds.X, ds.y, [6.0], 800, per_neuron=True)
    arrays = {
        key: getattr(traj, key).numpy()
        for key in ("lr", "eta", "steps", "risk", "normalized_margin", "neuron_margins",
                    "neuron_linear_margins")
    }  # fmt: skip
    a = figure4_analysis(arrays, ds)
    assert a.data_margin == pytest.approx(0.05, rel=1e-9)  # the SVM solves to float64 rounding
    # Both neurons along +-w_*: gamma-bar -> (phi(g) - phi(-g))/2 / sqrt 2 = 0.75 g / sqrt 2,
    # up to phi(0)/scale ~ 1e-9 at scale 1e8.
    assert a.aligned == pytest.approx(0.75 * 0.05 / math.sqrt(2), abs=1e-8)
    assert a.positive_from[0] is not None and a.neuron_max_phi[0] < 0
    assert a.neuron_max_linear[0] < 0 and a.final_margin[0] < a.aligned
    with pytest.raises(ValueError, match="lack"):
        figure4_analysis({"lr": arrays["lr"]}, ds)
    with pytest.raises(ValueError, match="scale"):
        aligned_margin(net, ds.X, ds.y, torch.tensor([1.0, 0.0, 0.0]), scale=0.0)
