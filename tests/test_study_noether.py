"""Tests of the noether-charge study (gdlab.studies.noether) on tiny configurations."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from studytools import check_chapter_references, check_round_trip

from gdlab.claims import ClaimFailure
from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting.noether import figures
from gdlab.studies import noether
from gdlab.studies.noether import QUICK, identity_rows, rate_excess_slope, rate_sweep, run
from gdlab.symmetry.equilibrium import scalar_decay_rate
from gdlab.symmetry.normalized_nets import NormalizedTanhNet

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part2" / "noether-charge.md"
CPU = torch.device("cpu")
TINY = {
    **QUICK,
    "identities": {**QUICK["identities"], "steps": 4, "runs": 2},
    "product_law": {**QUICK["product_law"], "steps": 30, "runs": 2},
    "conservation": {**QUICK["conservation"], "steps": 300},
    # the rate at the quick size (about a second): its claims must be able to fail below
    "scale_invariant": {**QUICK["scale_invariant"], "steps": 3000},
    "normalized_nets": {**QUICK["normalized_nets"], "replicas": 4, "steps": 2000, "every": 20},
}
LIMIT = "eta -> 0: the rate tends to 4 eta^2 Var[rx]/S (prefactor 2 sigma^2)"
SLOPE = "the O(eta) excess of the rate has the derived slope (1 + 2/S) var_x kappa"
EQ7 = "eta -> 0: the rate tends to 2 eta^2 Var[rx]/S (prefactor sigma^2)"


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


def test_tiny_claims_hold_and_cover_the_chapter(result: Result) -> None:
    assert result.check().counts()["holds"] == len(result.claims) == 19
    assert [c.name for c in result.claims.contradicted()] == [EQ7]
    check_chapter_references(CHAPTER, "nc_", result)
    assert result.values["id_checks"] == 2 * 2 * 5 and result.values["product_steps"] == 30
    assert result.values["T1_steps"] == 300 and result.values["net_steps"] == 2000
    assert set(result.tables) == {"identities", "rate", "weight_decay", "nets"}
    check_round_trip(result)


def test_identity_rows_are_at_rounding_level() -> None:
    rows = identity_rows(TINY["identities"], TINY["t1"], seed=1, device=CPU)
    assert [r["identity"] for r in rows[:5]] == ["D3", "D4/D5", "D4/D5", "D0", "D6"]
    assert {(r["method"], r["gamma"]) for r in rows} == {
        (m, g) for m in ("SGD", "GD") for g in (0.0, 0.05)
    }
    assert all(0 < r["max err/bound"] <= 1 and r["max |err|/s"] < 1e-14 for r in rows)


def test_rate_sweep_matches_the_exact_rate_at_the_visited_states() -> None:
    cfg = {**QUICK["rate"], "etas": [0.01], "batch_sizes": [2], "replicas": 32, "steps": 1500}
    out = rate_sweep(cfg, TINY["t1"], seed=0, device=CPU)
    z = abs(out["measured"] - out["conditional"]) / out["paired_se"]
    assert out["measured"].shape == (1, 1) and float(z.max()) < 4  # 4 standard errors
    closed = scalar_decay_rate(eta=0.01, batch_size=2, var_x=1.0, var_eps=1.0)
    # the excess over the closed form is the O(eta) jitter: (1 + 2/S) var_x kappa eta = 4 %
    excess = out["conditional"][0, 0] / closed - 1
    slope = rate_excess_slope(batch_size=2, var_x=1.0, kappa=1.02**2 + 1.02**-2)
    # tolerance: the O(eta^2) term (about 5 % of the excess here, the paper-scale fit) and the
    # Monte-Carlo error of the mean jitter (about 5 %: some 1000 correlation times of M)
    assert excess == pytest.approx(slope * 0.01, rel=0.15)
    # a wrong model of the jitter, e.g. without its (1 + 2/S) = 2, is off by half
    assert excess != pytest.approx(slope / 2 * 0.01, rel=0.15)
    with pytest.raises(ValueError, match=r"steps=400 must exceed twice the burn-in of 250"):
        rate_sweep({**cfg, "etas": [0.0025], "steps": 400}, TINY["t1"], seed=0, device=CPU)


def test_the_printed_prefactor_fails_the_limit_claim(ctx, monkeypatch) -> None:
    """If the truth were Eq. (7) (half the rate), the measured ratio would be 2: the limit claim
    fails and the check says so."""

    def printed(**kw: object) -> float:
        return scalar_decay_rate(**kw, version="eq7")

    monkeypatch.setattr(noether, "scalar_decay_rate", printed)
    wrong = run(TINY, ctx)
    assert LIMIT in {c.name for c in wrong.claims.failures}
    with pytest.raises(ClaimFailure, match="prefactor 2 sigma"):
        wrong.check()


def test_a_wrong_jitter_model_fails_the_slope_claim(ctx, monkeypatch) -> None:
    """The O(eta) slope of the rate at the old start u = 2, w = 1/2 (kappa = 4.25, about twice
    the slope near the balanced point) is excluded by the data."""

    def at_the_old_start(*, batch_size: int, var_x: float, kappa: float) -> float:
        return rate_excess_slope(batch_size=batch_size, var_x=var_x, kappa=4.25)

    monkeypatch.setattr(noether, "rate_excess_slope", at_the_old_start)
    failing = {c.name for c in run(TINY, ctx).claims.failures}
    assert SLOPE in failing


def test_a_model_that_is_not_scale_invariant_fails_the_net_claims(tmp_path, monkeypatch) -> None:
    """A radial gradient term (the O(eta) drift a broken symmetry brings) shrinks the norm: the
    monotonicity and exact (D6) claims fail."""

    class Leaky(NormalizedTanhNet):
        def grad(self, params, x, y):
            return tuple(
                g + 1e-2 * p for g, p in zip(super().grad(params, x, y), params, strict=True)
            )

    monkeypatch.setattr(noether, "NormalizedTanhNet", Leaky)
    fresh = RunContext(CPU, ResultCache(tmp_path))
    failing = {c.name for c in noether.run(TINY, fresh).claims.failures}
    assert "gamma = 0: the total norm never decreases (every step, SGD and GD)" in failing
    assert "(D6) over each run: the charge moves by exactly eta^2 sum_t ||g_t||^2" in failing


def test_net_b_in_place_of_net_a_fails_the_fall_claim(tmp_path, monkeypatch) -> None:
    """Net-B's layer norms never fall: run as 'Net-A', the claim that a layer falls fails."""

    def only_b(variant: str) -> NormalizedTanhNet:
        return NormalizedTanhNet("B")

    monkeypatch.setattr(noether, "NormalizedTanhNet", only_b)
    fresh = RunContext(CPU, ResultCache(tmp_path))
    failing = {c.name for c in noether.run(TINY, fresh).claims.failures}
    assert "Net-A: a layer norm falls under SGD" in failing


def test_bad_configurations_are_refused(ctx) -> None:
    config = {**TINY, "scale_invariant": {**TINY["scale_invariant"], "batch_size": 2}}
    with pytest.raises(ValueError, match=r"batch_size=2: .*allowed: 1"):
        run(config, ctx)
    nets = {**TINY["normalized_nets"], "steps": 2010}
    with pytest.raises(ValueError, match=r"steps=2010 must be a multiple of every=20"):
        run({**TINY, "normalized_nets": nets}, ctx)


def test_figures(result: Result) -> None:
    figs = figures(result)
    assert set(figs) == {"charge_runs", "rate_sweep", "scale_invariance", "normalized_nets"}
    assert len(figs["charge_runs"].axes[0].lines) == 2 * 3 + 1  # SGD and GD per start, C = 0
    assert len(figs["scale_invariance"].axes[0].lines) == 6 + 4  # runs and their levels
    # per net: three total-norm curves, and two layers under SGD and GD
    assert [len(ax.lines) for ax in figs["normalized_nets"].axes] == [3, 4, 3, 4]
