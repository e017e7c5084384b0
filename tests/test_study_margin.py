"""Tests of the margin-improvement study (gdlab.studies.margin) and its figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gdlab.claims import ClaimTable
from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting.margin import figures
from gdlab.studies import get_study
from gdlab.studies.margin import PAPER, QUICK, figure4_claims, run
from gdlab.studies.paper_figures import FIGURE4, figure4_runs

_, FIVE, _ = QUICK["sweeps"]
# Five points, m = 10: both stepsizes reach eq. (5) within the first half of 2000 steps.
TINY = {
    **QUICK,
    "sweeps": [{**FIVE, "lr": [1000.0, 3000.0], "steps": 2000}],
    "figure4": {**FIGURE4["quick"], "steps": 1500},
}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> RunContext:
    return RunContext(torch.device("cpu"), ResultCache(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def result(ctx) -> Result:
    return run(TINY, ctx)


def test_margin_runs(result: Result) -> None:
    rows = result.tables["margins"].records()
    assert [r["tilde-eta"] for r in rows] == [1000.0, 3000.0]
    for r in rows:
        assert r["gamma^c decreases"] == 0 and r["gamma^c certificate"] == "holds"
        assert r["A.10 sandwich"] == "holds" and r["gamma-bar at T"] > 0
        assert r["log10 gamma-bar/gamma^c at T"] > 0
    assert result.values["n_runs"] == 2
    for name in ("gamma^c never decreases after s*, not even by rounding",
                 "norm and margin certificates hold on every run",
                 "five points: gamma-bar / gamma^c at T grows with the stepsize"):  # fmt: skip
        assert result.claims[name].status == "holds", name
    # gamma^c after s* never decreases in the recorded series either.
    lgc, s_star = result.arrays["s0.log_gamma_c"], result.arrays["s0.s_star"]
    for k in range(2):
        assert np.all(np.diff(lgc[k, int(s_star[k]) :]) >= 0)


def test_norm_fit(result: Result) -> None:
    rows = result.tables["norms"].records()
    assert all(r["norm certificate"] == "holds" and 0 < r["fit R^2"] <= 1 for r in rows)
    assert all(r["||w|| at T"] > r["||w|| at s*"] for r in rows)
    start = result.arrays["s0.fit_start"]
    assert np.all(start == TINY["sweeps"][0]["steps"] // 2)


def test_figure4_claims_and_values(result: Result) -> None:
    v = result.values
    assert v["f4_T"] == 1500 and v["f4_data"] == pytest.approx(0.05, rel=1e-9)  # SVM rounding
    assert v["f4_aligned"] == pytest.approx(0.75 * 0.05 / math.sqrt(2), abs=1e-8)
    assert v["f4_pos_6"] < v["f4_pos_3"] <= 1500
    assert v["f4_phi_3"] < 0 and v["f4_lin_6"] < 0 and v["f4_init_phi"] > 0
    for lr in ("3", "6"):
        assert v[f"f4_final_{lr}"] < v["f4_aligned"]
    assert len(result.tables["figure4"]) == 2


def test_figure4_claims_fail_on_a_run_that_never_separates(ctx) -> None:
    # 100 steps: the network margin is not yet positive at either stepsize.
    traj = figure4_runs(ctx, {**FIGURE4["quick"], "steps": 100})
    claims = ClaimTable()
    values = figure4_claims(claims, traj, 0.05, 0.0265)
    failing = {c.name for c in claims.failures}
    assert "tilde-eta=3 (eta=1.5): network margin turns positive" in failing
    assert "f4_pos_3" in values and math.isinf(values["f4_pos_3"])


def test_figures_and_round_trip(result: Result) -> None:
    figs = figures(result)
    assert set(figs) == {"margins", "norm", "figure4"}
    assert len(figs["margins"].axes) == 2 and len(figs["figure4"].axes) == 4
    again = Result.from_entry(*result.to_entry())
    assert again.values == result.values and len(again.claims) == len(result.claims)


def test_configs() -> None:
    assert get_study("margin-improvement").quick is QUICK
    assert PAPER["figure4"] == FIGURE4["paper"] and QUICK["figure4"] == FIGURE4["quick"]
    for q, p in zip(QUICK["sweeps"], PAPER["sweeps"], strict=True):
        assert p["steps"] > q["steps"] and p["lr"] == q["lr"] and not q["separable"]


def test_no_run_reaching_condition5_is_an_error(ctx) -> None:
    config = {**TINY, "sweeps": [{**FIVE, "lr": [0.1], "steps": 50}]}
    with pytest.raises(ValueError, match=r"reaches eq. \(5\)"):
        run(config, ctx)
