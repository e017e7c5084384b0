"""Tests of the output-scale study (gdlab.studies.output_scale), its theory and its figures."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from studytools import check_chapter_references

from gdlab import data
from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting import output_scale as plots
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.network import TwoLayerNet
from gdlab.studies.output_scale import (
    QUICK,
    SmallBRuns,
    ThresholdRuns,
    _small_b,
    _thresholds,
    gain_exponent,
    rate_runs,
    run,
    scale_of,
    slope,
    slope_claims,
    small_b_runs,
    threshold_runs,
)

matplotlib.use("Agg")

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part1" / "output-scale.md"
#: The chapter's config shrunk to a few seconds: every computation runs.
TINY = {
    **QUICK,
    "widths": [4, 16, 64],
    "threshold": {**QUICK["threshold"], "etas": np.geomspace(1e-2, 1e3, 26).tolist(), "steps": 30},
    "rates": {**QUICK["rates"], "budgets": [200, 300, 450, 675, 1000], "s_star_budget": 1000},
    "small_b": {"m": 4, "scales": [1 / 8, 1 / 4, 1 / 2, 1.0], "budget": 400},
}


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


@pytest.fixture(scope="module")
def thresholds(ctx: RunContext) -> dict[str, ThresholdRuns]:
    return {s: threshold_runs(ctx, TINY, s) for s in ("mean field", "NTK")}


# ----------------------------------------------------------------------------- the theory


def _constants(b: float, m: int = 16) -> th.ProblemConstants:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), m, b)
    ds = data.separable_gaussian(n=10, d=5, margin=0.2, seed=0).rescaled()
    W0 = net.init(1, ds.d, 0.1, 0)
    w_star, gamma = data.max_margin_direction(ds.X, ds.y)
    return th.problem_constants(net, ds.X, ds.y, m * 0.7, W0, w_star, gamma)


def test_mean_field_equivalent_is_the_identity_at_b_one() -> None:
    c = _constants(1.0)
    assert th.mean_field_equivalent(c) == c


@pytest.mark.parametrize("b", [0.125, 2.0, 16.0])
def test_mean_field_equivalent_transforms_the_constants(b: float) -> None:
    """u = b w, phi_b = b phi(./b), eta -> b^2 eta: the general eqs. (4) and (5) of the scaled
    net equal those of its mean-field equivalent (the thresholds are frame-free)."""
    c = _constants(b)
    mf = th.mean_field_equivalent(c)
    one = _constants(1.0)
    assert mf.b == 1.0 and mf.eta == pytest.approx(b * b * c.eta, rel=1e-15)
    assert mf.kappa == c.kappa == pytest.approx(b * one.kappa, rel=1e-15)
    assert mf.beta_tilde == pytest.approx(one.beta_tilde / b, rel=1e-15)
    assert mf.rho == pytest.approx(one.rho, rel=1e-15)  # b sup|phi'|/sqrt(m), divided by b
    assert mf.w0_norm == pytest.approx(b * c.w0_norm, rel=1e-15)
    # float64 rounding of a few products
    assert th.condition4_threshold(mf) == pytest.approx(th.condition4_threshold(c), rel=1e-14)
    assert th.condition5_threshold(mf) == pytest.approx(th.condition5_threshold(c), rel=1e-14)
    # eq. (5) of Theorem 4.1 for the scaled net: min{1/(2n e^(b kappa+2)), 1/(eta(4b^2+2b beta~))}
    phi = get_activation("leaky_softplus_ex31")
    expected = min(
        1 / (2 * c.n * math.exp(b * phi.kappa + 2)),
        1 / (c.eta * (4 * b * b + 2 * b * phi.beta_tilde)),
    )
    assert th.condition5_threshold_two_layer(mf) == pytest.approx(expected, rel=1e-14)


def test_scale_of() -> None:
    assert scale_of("mean field", 64) == 1.0 and scale_of("NTK", 64) == 8.0
    with pytest.raises(ValueError, match="allowed: mean field, NTK"):
        scale_of("lazy", 4)


# ----------------------------------------------------------------------------- fits


def test_slope_recovers_a_power_law_and_its_error() -> None:
    T = np.array([100.0, 200.0, 400.0, 800.0])
    exact = slope(T, -2 * np.log(T) + 3.0)
    assert exact.slope == pytest.approx(-2.0, abs=1e-12) and exact.stderr < 1e-12
    noisy = slope(T, -2 * np.log(T) + np.array([0.1, -0.1, 0.1, -0.1]))
    lx = np.log(T)
    resid = -2 * lx + np.array([0.1, -0.1, 0.1, -0.1])
    fit = np.polyfit(lx, resid, 1)
    r = resid - np.polyval(fit, lx)
    expected = math.sqrt(r @ r / 2 / ((lx - lx.mean()) @ (lx - lx.mean())))
    assert noisy.stderr == pytest.approx(expected, rel=1e-12) and noisy.points == 4
    with pytest.raises(ValueError, match=">= 3 points"):
        slope(T[:2], np.log(T[:2]))


def test_rate_claims_reject_the_wrong_rates() -> None:
    """T^-2 against a fixed stepsize's 1/T passes; an eta = cT run that decays only like 1/T
    (no gain: a wrong exponent) and a fixed stepsize decaying like T^-2 both fail."""
    T = np.array([300.0, 600.0, 1200.0, 2400.0, 4800.0])
    wobble = np.array([0.01, -0.01, 0.01, -0.01, 0.01])
    fast, slow = -2 * np.log(T / T[0]) + wobble, -np.log(T / T[0]) + wobble
    assert gain_exponent(T, fast, slow) == pytest.approx(1.0, abs=1e-12)
    good = slope_claims("x", gain_exponent(T, fast, slow), slope(T, slow), 5.0)
    assert [c.status for c in good] == ["holds", "holds"]
    bad = slope_claims("x", gain_exponent(T, slow, slow), slope(T, fast), 5.0)
    assert [c.status for c in bad] == ["fails", "fails"]
    assert gain_exponent(T, slow, slow) == 0.0


# ----------------------------------------------------------------------------- experiments


def test_threshold_runs_bracket_the_largest_monotone_stepsize(
    thresholds: dict[str, ThresholdRuns],
) -> None:
    for scaling, r in thresholds.items():
        assert r.monotone.shape == (3, 26) and r.gaps() == 0
        lo, hi = r.bracket.T
        for i in range(3):
            top = int(np.flatnonzero(r.monotone[i]).max())
            assert lo[i] == r.etas[top] and hi[i] == r.etas[top + 1]
            assert not r.monotone[i, top + 1 :].any()
        below, oscillating = r.below_eta4()
        assert below > 0 and oscillating == 0  # Theorem 2.2 at step 0
        np.testing.assert_array_equal(r.b, [scale_of(scaling, int(m)) for m in r.widths])
    # NTK: the threshold falls like 1/m; mean field: it does not move
    assert np.all(np.diff(np.log(thresholds["NTK"].bracket[:, 0])) < 0)
    assert np.ptp(thresholds["mean field"].bracket[:, 0]) == 0


def test_a_wrong_threshold_scaling_is_caught(thresholds: dict[str, ThresholdRuns]) -> None:
    """If NTK had b = m (thresholds b^-2 = m^-2 in the claim's frame) instead of sqrt(m), the
    u-frame brackets b^2 eta would not overlap; if the NTK threshold did not move with m, its
    slope claim and the rejection of a width-free threshold would fail."""
    name = "five-point data (rescaled): one threshold b^2 eta for every width and both scalings"
    assert _thresholds(thresholds, TINY)[3][name].status == "holds"
    ntk = thresholds["NTK"]
    wrong_b = {**thresholds, "NTK": dataclasses.replace(ntk, b=ntk.b**2)}
    assert _thresholds(wrong_b, TINY)[3][name].status == "fails"
    flat = dataclasses.replace(ntk, monotone=thresholds["mean field"].monotone)
    claims = _thresholds({**thresholds, "NTK": flat}, TINY)[3]
    title = "five-point data (rescaled), NTK"
    assert claims[f"{title}: slope of the largest monotone eta in m = eq. (4)'s"].status == "fails"
    assert claims[f"{title}: a width-free threshold (slope 0) is rejected"].status == "fails"


def test_rate_runs(ctx: RunContext) -> None:
    for scaling in ("mean field", "NTK"):
        r = rate_runs(ctx, TINY, scaling)
        assert r.log_risk.shape == r.fixed_log_risk.shape == (3, 5)
        # the budgets' first run is the fixed stepsize's run: the same GD steps
        np.testing.assert_array_equal(r.log_risk[:, 0], r.fixed_log_risk[:, 0])
        assert np.all(np.diff(r.log_risk, axis=1) < 0)
        reached = np.isfinite(r.factor)
        assert reached.any() and np.all(r.factor[reached] <= 8)
    with pytest.raises(ValueError, match="budgets"):
        rate_runs(ctx, {**TINY, "rates": {**TINY["rates"], "budgets": [200, 100, 50]}}, "NTK")
    with pytest.raises(ValueError, match="widths"):
        rate_runs(ctx, {**TINY, "widths": [4, 4, 16]}, "NTK")


def test_small_b_and_a_wrong_exponent(ctx: RunContext) -> None:
    r = small_b_runs(ctx, TINY)
    assert r.log_risk.shape == (4, 2)
    # at b = 1 both schedules are the same run
    assert r.log_risk[-1, 0] == r.log_risk[-1, 1]
    title = "separable Gaussian data, b < 1"
    claims = _small_b(r, TINY, 5.0)[3]
    assert claims[f"{title}, eta = cT: exponent of L_T in b >= -3"].status == "holds"
    assert claims[f"{title}, eta = cT/b^2: L_T does not depend on b"].status == "holds"
    # risks growing like b^-4 as b decreases break App. D's b^-3
    steep = dataclasses.replace(r, log_risk=np.stack([-4 * np.log(r.scales)] * 2, axis=1))
    wrong = _small_b(steep, TINY, 5.0)[3]
    assert wrong[f"{title}, eta = cT: exponent of L_T in b >= -3"].status == "fails"
    assert wrong[f"{title}, eta = cT/b^2: L_T does not depend on b"].status == "fails"
    with pytest.raises(ValueError, match="<= 1"):
        small_b_runs(ctx, {**TINY, "small_b": {**TINY["small_b"], "scales": [0.5, 1.0, 2.0]}})
    assert isinstance(r, SmallBRuns)


# ----------------------------------------------------------------------------- the study


def test_result_claims_and_values(result: Result) -> None:
    assert result.claims.ok, str(result.claims)
    names = result.claims.names()
    assert len(names) == len(set(names)) == 19
    v = result.values
    assert v["slope_ntk"] < -0.9 and abs(v["slope_mf"]) < 0.1
    assert v["s_star_ratio"] > 1 and v["threshold5_ratio"] > 1


def test_deterministic(ctx: RunContext, result: Result, tmp_path: Path) -> None:
    fresh = RunContext(torch.device("cpu"), ResultCache(tmp_path / "cache"))
    again = run(TINY, fresh)
    assert again.values == result.values
    for key, value in result.arrays.items():
        np.testing.assert_array_equal(again.arrays[key], value)


def test_figures(result: Result) -> None:
    figs = plots.figures(result)
    assert set(figs) == {"thresholds", "rates", "small_b"}
    for fig in figs.values():
        assert fig.get_size_inches()[0] <= 7.2 + 1e-9  # the content column


def test_chapter_glues_only_existing_values(result: Result) -> None:
    check_chapter_references(CHAPTER, "os_", result)
    text = CHAPTER.read_text(encoding="utf-8")
    assert 'settings("output-scale")' in text and "result.check()" in text
