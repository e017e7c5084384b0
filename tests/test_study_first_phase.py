"""Tests of the first-phase study (gdlab.studies.first_phase), its figures and the shared-unit
options it uses (rescaled data specs, the recorded <w_t, bar-w_*>, Assumption 3 constants)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from ulp import assert_ulp_close

from gdlab import data
from gdlab.claims import ClaimFailure
from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting import first_phase as plots
from gdlab.stats import loglog_fit
from gdlab.stepsize import certify
from gdlab.stepsize import theory as th
from gdlab.studies.common import dataset, gd_sweep
from gdlab.studies.first_phase import QUICK, PhaseExits, format_risk, phase_sweep, run

matplotlib.use("Agg")

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part1" / "first-phase.md"
TWO_POINT = {"name": "two_point", "gamma": 0.05}
LEAKY = "leaky_softplus_ex31"
ETAS = [1.0, 300.0, 3000.0]
STEPS = 200
#: The chapter's config shrunk to a second: every computation runs, not every claim holds.
TINY = {
    **QUICK,
    "m": 2,
    "etas": [1.0, 300.0, 1000.0, 3000.0],
    "steps": 300,
    "average_points": 50,
    "contrast": {**QUICK["contrast"], "etas": [1.0, 100.0, 10_000.0], "steps": 100},
}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    return RunContext(torch.device("cpu"), ResultCache(tmp_path_factory.mktemp("cache")))


def _sweep(ctx: RunContext, activation: str = LEAKY, **kw: object) -> PhaseExits:
    args = {"init_scale": 0.1, "seed": 0, "separable": True} | kw
    return phase_sweep(ctx, TWO_POINT, activation, 2, ETAS, STEPS, **args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def exits(ctx: RunContext) -> PhaseExits:
    return _sweep(ctx, certified=True)


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


# ----------------------------------------------------------------------------- the sweep


def test_format_risk() -> None:
    assert format_risk(math.log(2.4) - 400 * math.log(10)) == "2.40e-400"
    assert format_risk(0.0) == "1.00e+00"
    assert format_risk(math.log(9.999)) == "1.00e+01"
    assert format_risk(math.log(3.2e-5)) == "3.20e-05"


def test_exit_measurements_match_the_record(exits: PhaseExits) -> None:
    sweep = exits.sweep
    # Stepsizes pass through lr = m eta and back: equal to a few ulps.
    np.testing.assert_allclose(exits.eta, ETAS, rtol=1e-15)
    assert exits.steps == STEPS
    for k, c in enumerate(sweep.constants):
        assert exits.monotone_from[k] == sweep.monotone_from(k)
        first = sweep.first_increase(k)
        assert (first is None) == np.isnan(exits.first_increase[k])
        # s*: first step at or below the width-free threshold of eq. (5), recomputed here.
        log_threshold = math.log(th.condition5_threshold_two_layer(c))
        below = np.flatnonzero(sweep.traj.log_risk[k].numpy() <= log_threshold)
        expected = float(below[0]) if below.size else math.nan
        assert exits.s_star[k] == expected or (np.isnan(expected) and np.isnan(exits.s_star[k]))
        assert exits.tau[k] == th.theorem41_tau(c)
    # The smallest stepsize is monotone, the larger ones oscillate from the first steps.
    assert exits.oscillates.tolist() == [False, True, True]
    assert exits.monotone_from[0] == 0 and np.all(exits.monotone_from[1:] > 0)
    assert exits.needs == ""


def test_exit_fit_selects_oscillating_runs(exits: PhaseExits) -> None:
    mono = exits.monotone_from.astype(np.float64)
    fit, keep = exits.exit_fit(mono, 0.0)
    assert fit is not None and keep.tolist() == [False, True, True]
    ref = loglog_fit(exits.eta[1:], mono[1:])
    # The same fit of the same values, reached through a boolean mask (a copy) against a slice:
    # numpy's vectorised log and sums may round a different memory layout differently (1 ulp
    # per operation on O(1) values): 8 ulps.
    why = "one log-log fit of the same values, copied array against slice"
    assert_ulp_close(
        np.array([fit.slope, fit.intercept]), np.array([ref.slope, ref.intercept]), 8, why
    )
    fit, keep = exits.exit_fit(mono, 1000.0)  # one oscillating run left: no fit
    assert fit is None and int(keep.sum()) == 1


def test_table_lists_every_run(exits: PhaseExits) -> None:
    table = exits.table("two points")
    assert len(table) == len(ETAS) and table.caption == "two points"
    assert table.column("monotone from") == exits.monotone_from.tolist()
    assert table.column("1st increase")[0] is None  # the monotone run
    final = exits.sweep.traj.log_risk[:, -1].numpy()
    assert table.column("L(w_T)") == [format_risk(float(x)) for x in final]


def test_nearest_runs_and_their_curves(exits: PhaseExits) -> None:
    assert exits.nearest([1.0, 2.0, 3000.0, 1e6]) == [0, 2]  # nearest in log, no repeats
    curves = exits.curves([250.0])
    assert curves["curve_eta"].tolist() == [exits.eta[1]]
    np.testing.assert_array_equal(curves["curve_risk"], exits.sweep.traj.risk[[1]].numpy())
    assert curves["steps"].tolist() == list(range(STEPS + 1))


def test_theory_needs_its_assumptions(ctx: RunContext) -> None:
    softplus = _sweep(ctx, "softplus")
    assert "Assumption 2A" in softplus.needs
    assert np.isnan(softplus.tau).all()
    with pytest.raises(ValueError, match="alpha"):
        certify.certify_first_phase(softplus.sweep.run(0), softplus.sweep.constants[0])
    xor = phase_sweep(
        ctx, {"name": "xor", "rescaled": True}, LEAKY, 2, [1.0], 20,
        init_scale=0.1, seed=0, separable=False,
    )  # fmt: skip
    assert xor.sweep.constants[0].gamma is None and "Assumption 3" in xor.needs
    with pytest.raises(ValueError, match="Assumption 3"):
        certify.certify_first_phase(xor.sweep.run(0), xor.sweep.constants[0])
    with pytest.raises(ValueError, match="separable"):
        phase_sweep(
            ctx, {"name": "xor"}, LEAKY, 2, [1.0], 20, init_scale=0.1, seed=0, separable=True
        )


@pytest.mark.parametrize("etas", [[], [1.0, -1.0], [0.0], [[1.0, 2.0]], [math.inf]])
def test_phase_sweep_rejects_bad_stepsizes(ctx: RunContext, etas: list) -> None:
    with pytest.raises(ValueError, match="etas"):
        phase_sweep(ctx, TWO_POINT, LEAKY, 2, etas, 10, init_scale=0.1, seed=0, separable=True)


# ----------------------------------------------------------------------------- shared units


def test_rescaled_data_spec() -> None:
    ds = dataset({"name": "five_point", "rescaled": True})
    ref = data.five_point().rescaled()
    assert torch.equal(ds.X, ref.X) and torch.equal(ds.y, ref.y)
    assert ds.radius == pytest.approx(1.0, abs=1e-15)  # rounding of a norm of a divided vector
    assert not torch.equal(dataset({"name": "five_point"}).X, ds.X)


def test_recorded_w_star_inner_and_assumption3(ctx: RunContext, exits: PhaseExits) -> None:
    sweep = exits.sweep
    w_star, gamma = data.max_margin_direction(sweep.dataset.X, sweep.dataset.y)
    assert all(c.gamma == gamma for c in sweep.constants)
    inner = sweep.traj.w_star_inner
    assert inner is not None and inner.shape == sweep.traj.risk.shape
    # <w_T, bar-w_*> = sum_j a_j <w_T^(j), w_*>, recomputed from w_T: a sum of m d = 4 products.
    W = sweep.traj.w_final
    expected = torch.einsum("kmd,m,d->k", W, sweep.net.a.to(W.dtype), w_star.to(W.dtype))
    np.testing.assert_allclose(inner[:, -1].numpy(), expected.numpy(), rtol=1e-13)
    plain = gd_sweep(ctx, TWO_POINT, LEAKY, 2, (np.array(ETAS) * 2).tolist(), STEPS)
    assert plain.traj.w_star_inner is None and plain.constants[0].gamma is None
    torch.testing.assert_close(plain.traj.risk, sweep.traj.risk, rtol=0.0, atol=0.0)


# ----------------------------------------------------------------------------- the study


def test_values_cover_the_chapter(result: Result) -> None:
    text = CHAPTER.read_text()
    glued = set(re.findall(r"\{glue:text\}`fp_(\w+?)(?::[^`]*)?`", text))
    assert glued and glued <= set(result.values)
    shown = set(re.findall(r'result\.tables\["(\w+)"\]', text))
    assert shown and shown <= set(result.tables)
    assert result.values["num_etas"] == len(TINY["etas"]) and result.values["steps"] == 300


def test_running_mean_and_its_bound(ctx: RunContext, result: Result) -> None:
    exits = phase_sweep(
        ctx, TWO_POINT, LEAKY, 2, TINY["etas"], TINY["steps"],
        init_scale=0.1, seed=0, separable=True, certified=True,
    )  # fmt: skip
    a = result.arrays
    t = a["two.average_t"].astype(int)
    assert t[0] == 1 and t[-1] == TINY["steps"]
    ratios = []
    for k, c in enumerate(exits.sweep.constants):
        risk = exits.sweep.traj.risk[k].numpy()
        mean = np.array([risk[:s].mean() for s in range(1, exits.steps + 1)])
        ratios.append(np.max(mean / th.theorem32_average_risk_bound(c, np.arange(1, 301))))
        if exits.eta[k] in a["two.average_eta"]:
            i = int(np.flatnonzero(a["two.average_eta"] == exits.eta[k])[0])
            # A cumulative sum against a mean of <= 300 positive terms: ~1e-13 relative.
            np.testing.assert_allclose(a["two.average"][i], mean[t - 1], rtol=1e-13)
    assert result.values["ratio_two"] == pytest.approx(max(ratios), rel=1e-13)
    claim = result.claims["two-point data: running mean of L_t <= Theorem 3.2 bound at every t"]
    assert claim.measured == result.values["ratio_two"] and claim.status == "holds"


def test_softplus_contrast_measurements(ctx: RunContext, result: Result) -> None:
    cc = TINY["contrast"]
    spec = cc["runs"]["softplus"]
    sp = phase_sweep(
        ctx, spec["data"], spec["activation"], TINY["m"], cc["etas"], cc["steps"],
        init_scale=0.1, seed=0, separable=True,
    )  # fmt: skip
    ds, W = sp.sweep.dataset, sp.sweep.traj.w_final
    q = torch.stack([ds.y * sp.sweep.net.forward(W[k : k + 1], ds.X)[0] for k in range(len(W))])
    name = "two-point data, plain softplus: every run ends with a non-positive margin"
    # One run's forward pass against the batched one, margins of order 1: a few ulps.
    expected = float(q.min(dim=1).values.max())
    assert result.claims[name].measured == pytest.approx(expected, abs=1e-15)
    x2_pre = torch.einsum("kmd,d->km", W, ds.X[1])
    dphi = float(sp.sweep.net.activation.dphi(x2_pre).max())
    # x_2^T w^(j) of d = 2 terms, one matrix product against another: an ulp or two of phi'.
    assert result.values["sp_max_dphi"] == pytest.approx(dphi, rel=1e-14)
    assert result.values["sp_floor"] == math.log(2) / ds.n


def test_claims_of_both_data_sets(result: Result) -> None:
    names = result.claims.names()
    assert len(names) == len(set(names))
    for title in ("two-point data", "five-point data (rescaled)"):
        for claim in ("Theorem 3.2", "Lemma B.1", "Lemma B.2", "Lemma C.3 perceptron step"):
            row = result.claims[f"{title}: {claim}"]
            assert row.note.startswith(f"{len(TINY['etas'])} runs:")
    contrast = result.claims["XOR (rescaled), leaky softplus: Theorems 3.2 and 4.1"]
    assert contrast.status == "untestable" and "Assumption 3" in contrast.needs


def test_a_claim_fails_when_its_bound_is_not_met(ctx: RunContext, result: Result) -> None:
    name = "two-point data: exit time grows slower than eta^{:g}"
    slope = result.values["slope_two"]
    assert result.claims[name.format(0.5)].measured == slope < 0.5
    strict = run({**TINY, "sublinear": -1.0}, ctx)
    assert strict.claims[name.format(-1.0)].status == "fails"
    with pytest.raises(ClaimFailure, match="slower than eta"):
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
    assert list(figs) == ["average_risk", "exit_times", "xor", "softplus"]
    assert [len(f.axes) for f in figs.values()] == [2, 2, 1, 2]
    # Every drawn stepsize with its bound, and the L(w_0) reference line.
    shown = result.arrays["two.average_eta"].size
    assert len(figs["average_risk"].axes[0].lines) == 2 * shown + 1
    assert figs["xor"].axes[0].get_title() == "XOR (rescaled), leaky softplus"
    with pytest.raises(ValueError, match="at least one panel"):
        plots.risk_curves(result, [], [])
    plt.close("all")
