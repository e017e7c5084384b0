"""Tests of the noether-charge study (gdlab.studies.noether) on tiny configurations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from gdlab.claims import ClaimFailure
from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting.noether import figures
from gdlab.studies import noether
from gdlab.studies.noether import QUICK, identity_rows, rate_sweep, run
from gdlab.symmetry.equilibrium import scalar_decay_rate

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part2" / "noether-charge.md"
TINY = {
    **QUICK,
    "identities": {**QUICK["identities"], "steps": 4, "runs": 2},
    "product_law": {**QUICK["product_law"], "steps": 30, "runs": 2},
    "conservation": {**QUICK["conservation"], "steps": 300},
    "rate": {**QUICK["rate"], "replicas": 16, "steps": 800},
    "scale_invariant": {**QUICK["scale_invariant"], "steps": 3000},
}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> RunContext:
    return RunContext(torch.device("cpu"), ResultCache(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


def test_tiny_claims_hold_and_cover_the_chapter(result: Result) -> None:
    assert result.check().counts()["holds"] == len(result.claims) == 12
    glued = set(re.findall(r"\{glue:text\}`nc_(\w+)", CHAPTER.read_text(encoding="utf-8")))
    assert glued <= set(result.values), glued - set(result.values)
    assert result.values["id_checks"] == 2 * 2 * 5 and result.values["product_steps"] == 30
    assert result.values["T1_steps"] == 300
    assert set(result.tables) == {"identities", "rate", "weight_decay"}
    again = Result.from_entry(*result.to_entry())
    assert again.values == result.values and again.claims.names() == result.claims.names()


def test_identity_rows_are_at_rounding_level() -> None:
    rows = identity_rows(TINY["identities"], TINY["t1"], seed=1)
    assert [r["identity"] for r in rows[:5]] == ["D3", "D4/D5", "D4/D5", "D0", "D6"]
    assert {(r["method"], r["gamma"]) for r in rows} == {
        (m, g) for m in ("SGD", "GD") for g in (0.0, 0.05)
    }
    assert all(0 < r["max err/bound"] <= 1 and r["max |err|/s"] < 1e-14 for r in rows)


def test_rate_sweep_matches_eq5_at_the_visited_states() -> None:
    cfg = {"etas": [0.01], "batch_sizes": [2], "replicas": 16, "steps": 200}
    out = rate_sweep(cfg, TINY["t1"], seed=0)
    z = abs(out["measured"] - out["conditional"]) / out["stderr"]
    assert out["measured"].shape == (1, 1) and float(z.max()) < 4  # 4 standard errors
    closed = scalar_decay_rate(eta=0.01, batch_size=2, var_x=1.0, var_eps=1.0)
    assert out["conditional"][0, 0] == pytest.approx(closed, rel=0.2)  # O(eta) jitter bias


def test_the_printed_prefactor_fails_the_rate_claims(ctx, monkeypatch) -> None:
    """If the truth were Eq. (7) (half the rate), the measured ratio would be 2: the limit claim
    fails and the check says so."""

    def printed(**kw: object) -> float:
        return scalar_decay_rate(**kw, version="eq7")

    monkeypatch.setattr(noether, "scalar_decay_rate", printed)
    wrong = run(TINY, ctx)
    failing = {c.name for c in wrong.claims.failures}
    assert "the rate tends to 4 eta^2 Var[rx]/S as eta -> 0 (prefactor 2 sigma^2)" in failing
    with pytest.raises(ClaimFailure, match="prefactor 2 sigma"):
        wrong.check()


def test_scale_invariance_needs_batch_size_one(ctx) -> None:
    config = {**TINY, "scale_invariant": {**TINY["scale_invariant"], "batch_size": 2}}
    with pytest.raises(ValueError, match=r"batch_size=2: .*allowed: 1"):
        run(config, ctx)


def test_figures(result: Result) -> None:
    figs = figures(result)
    assert set(figs) == {"charge_runs", "rate_sweep", "scale_invariance"}
    assert len(figs["charge_runs"].axes[0].lines) == 2 * 3 + 1  # SGD and GD per start, C = 0
    assert len(figs["scale_invariance"].axes[0].lines) == 6 + 4  # runs and their levels
