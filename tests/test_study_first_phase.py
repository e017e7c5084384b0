"""Tests of the first-phase study (gdlab.studies.first_phase), its figures and the shared-unit
options it uses (rescaled data specs, the recorded <w_t, bar-w_*>, Assumption 3 constants)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from studytools import check_chapter_references, check_round_trip

from gdlab import data
from gdlab.claims import ClaimFailure
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting import first_phase as plots
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
    "horizon": [],
    "contrast": {**QUICK["contrast"], "etas": [1.0, 100.0, 10_000.0], "steps": 100},
}


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
        assert exits.oscillates[k] == (sweep.first_increase(k) is not None)
        r = sweep.r_star(k)
        assert exits.r_star[k] == r or (r is None and np.isnan(exits.r_star[k]))
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


def test_table_lists_every_run(exits: PhaseExits) -> None:
    table = exits.table("two points")
    assert len(table) == len(ETAS) and table.caption == "two points"
    assert table.column("last peak") == exits.monotone_from.tolist()
    assert table.column("s* - peak") == [
        None if np.isnan(s) else int(s - e)
        for s, e in zip(exits.s_star, exits.monotone_from, strict=True)
    ]
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
    check_chapter_references(CHAPTER, "fp_", result)
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
    claim = result.claims["two-point data: Theorem 3.2"]  # the certificate, every run and t
    assert claim.status == "holds" and claim.note.startswith(f"{len(TINY['etas'])} runs:")


def test_softplus_contrast_measurements(ctx: RunContext, result: Result) -> None:
    cc = TINY["contrast"]
    spec = cc["runs"]["softplus"]
    sp = phase_sweep(
        ctx, spec["data"], spec["activation"], TINY["m"], cc["etas"], cc["steps"],
        init_scale=0.1, seed=0, separable=True,
    )  # fmt: skip
    ds, W = sp.sweep.dataset, sp.sweep.traj.w_final
    q = torch.stack([ds.y * sp.sweep.net.forward(W[k : k + 1], ds.X)[0] for k in range(len(W))])
    name = "two-point data, plain softplus: no run fits the data as the leaky runs do"
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


# ----------------------------------------------------------------------------- wrong inputs
# The chapter's claims must catch a wrong threshold, a wrong rate and a wrong bound: each test
# replaces one formula of gdlab.stepsize.theory (used by the study and its certificates) by a
# plausible mistake and checks that a claim that holds with the right formula fails.

#: Stepsizes that oscillate briefly and then descend to eq. (5) within the horizon at the
#: stable rate (larger ones land far below it at once), so the stable phase is tested.
DESCENT = {**TINY, "m": 10, "etas": [50.0, 100.0, 200.0], "steps": 3500}


def _status(result: Result, name: str) -> str:
    return result.claims[name].status


def test_a_wrong_threshold_is_caught(ctx: RunContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eq. (5) with a threshold 1000 times too large: s* falls inside the oscillation."""
    name = "two-point data: no risk increase after s*"
    assert _status(run(DESCENT, ctx), name) == "holds"
    right = th.condition5_threshold_two_layer
    monkeypatch.setattr(th, "condition5_threshold_two_layer", lambda c: 1e3 * right(c))
    wrong = run(DESCENT, ctx)
    assert _status(wrong, name) == "fails"
    with pytest.raises(ClaimFailure, match="no risk increase after s"):
        wrong.check(strict=True)


def test_a_wrong_rate_is_caught(ctx: RunContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Theorem 4.1's stable rate claimed as 1/(eta (t - s))^2 instead of 1/(eta (t - s))."""
    names = [
        "two-point data: Theorem 4.1 rate",
        "two-point data: L_t (t - s*) alpha^2 gamma^2 eta <= 2 (printed factor)",
    ]
    right = run(DESCENT, ctx)
    assert [_status(right, n) for n in names] == ["holds", "holds"]
    bound = th.theorem41_stable_bound

    def squared(c: th.ProblemConstants, t: object, s: int, factor: float = 8.0) -> object:
        return bound(c, t, s, factor) / (np.asarray(t, dtype=np.float64) - s)

    monkeypatch.setattr(th, "theorem41_stable_bound", squared)
    wrong = run(DESCENT, ctx)
    assert [_status(wrong, n) for n in names] == ["fails", "fails"]


def test_a_wrong_bound_is_caught(ctx: RunContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Theorem 3.2 without its eta^2 term (the price of the oscillation): the running mean of
    the oscillating runs exceeds it, and so does the run at its (now early) horizon."""
    name = "two-point data: Theorem 3.2"
    assert _status(run(DESCENT, ctx), name) == "holds"

    def no_eta2(c: th.ProblemConstants, t: object) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        g = c.gamma**2 * c.eta
        head = 1 + 8 * np.log(g * t) ** 2 / c.alpha**2 + 8 * c.kappa**2 / c.alpha**2
        return head / (g * t) + c.w0_norm**2 / (c.m * c.eta * t)

    monkeypatch.setattr(th, "theorem32_average_risk_bound", no_eta2)
    wrong = run({**DESCENT, "horizon": ["two"]}, ctx)
    assert _status(wrong, name) == "fails"
    horizon = "two-point data: Theorem 3.2 below L(w_0) at its informative horizon"
    assert _status(wrong, horizon) == "fails"


def test_theorem32_horizon_run(ctx: RunContext, result: Result) -> None:
    """Without a horizon run the claim is untestable with the horizon it needs; the values
    are those of the stepsize whose bound falls below L(w_0) soonest."""
    name = "two-point data: Theorem 3.2 below L(w_0) at its informative horizon"
    claim = result.claims[name]
    T_h = result.values["horizon_T_two"]
    assert claim.status == "untestable" and f"{T_h:.0f} steps" in claim.needs
    exits = phase_sweep(
        ctx, TWO_POINT, LEAKY, TINY["m"], TINY["etas"], TINY["steps"],
        init_scale=0.1, seed=0, separable=True, certified=True,
    )  # fmt: skip
    c = exits.sweep.constants[0].with_lr(TINY["m"] * result.values["horizon_eta_two"])
    L0 = float(exits.sweep.traj.risk[0, 0])
    assert (
        th.theorem32_average_risk_bound(c, T_h) <= L0 < th.theorem32_average_risk_bound(c, T_h - 1)
    )
    with pytest.raises(ValueError, match="horizon names unknown"):
        run({**TINY, "horizon": ["seven"]}, ctx)


def test_result_survives_the_cache_round_trip(result: Result) -> None:
    check_round_trip(result)


def test_figures(result: Result) -> None:
    import matplotlib.pyplot as plt

    figs = plots.figures(result)
    assert list(figs) == ["average_risk", "horizon", "exit_times", "xor", "softplus"]
    assert [len(f.axes) for f in figs.values()] == [2, 1, 2, 1, 2]
    assert figs["horizon"].axes[0].texts  # no horizon run: the panel says so
    for fig in figs.values():  # drawn for the content column
        assert fig.get_size_inches()[0] <= plots.COLUMN_WIDTH + 1e-9
    # Every drawn stepsize with its bound, and the L(w_0) reference line.
    shown = result.arrays["two.average_eta"].size
    assert len(figs["average_risk"].axes[0].lines) == 2 * shown + 1
    assert figs["xor"].axes[0].get_title() == "XOR (rescaled), leaky softplus"
    with pytest.raises(ValueError, match="at least one panel"):
        plots.risk_curves(result, [], [])
    plt.close("all")
