"""Tests of the phase-threshold study (gdlab.studies.phase_threshold) and its figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting.phase_threshold import figures, thin
from gdlab.studies import get_study
from gdlab.studies.phase_threshold import PAPER, QUICK, run

XOR, FIVE, _ = QUICK["sweeps"]
# XOR: tilde-eta 1000 oscillates, then reaches eq. (5) by T/2, 3000 never settles. Five points,
# m = 10: tilde-eta 1 is monotone, 3000 oscillates then settles (eq. (5) near step 150).
# Theorem 4.1 is checked on the five points here (R > 1: its notes say the assumption fails, the
# claims are still computed).
TINY = {
    **QUICK,
    "sweeps": [
        {**XOR, "lr": [1.0, 1000.0, 3000.0], "steps": 5000},
        {**FIVE, "lr": [1.0, 3000.0], "steps": 600},
    ],
    "theorem41": "five points",
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> ResultCache:
    return ResultCache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def result(cache) -> Result:
    return run(TINY, RunContext(torch.device("cpu"), cache))


def test_phase_picture_of_a_monotone_and_an_oscillating_run(result: Result) -> None:
    runs = [r for r in result.tables["runs"].records() if r["data"] == "five points"]
    small, large = runs
    assert small["risk increases"] == 0 and small["monotone from (measured)"] == 0
    assert small["r* (eq. 4)"] == 0 and small["certificate"] == "holds"
    assert small["max increase after r*"] < 0
    assert large["risk increases"] > 0 and large["max L / L_0"] > 10
    assert large["r* (eq. 4)"] is not None and large["certificate"] == "holds"
    assert large["s* (eq. 5)"] >= large["r* (eq. 4)"] >= large["monotone from (measured)"]
    assert result.values["n_runs"] == 5 and result.values["n_never"] == 1


def test_claims_of_the_tiny_sweeps(result: Result) -> None:
    result.check()
    claims = result.claims
    assert claims["every step after r* decreases the risk"].status == "holds"
    assert claims["XOR: the largest stepsize never reaches eq. (4)"].status == "holds"
    assert claims["XOR: tilde-eta t L_t levels off on every stable run"].status == "holds"
    assert claims["Theorem 4.1 rate within the printed factor"].measured <= 2
    # One row per certificate, aggregated over the five runs.
    row = claims["risk non-increasing after r*"]
    assert row.note.startswith("5 runs: 4 holds, 1 untestable")
    assert result.values["n_checks"] == sum(result.tables["certificates"].column("checked"))


def test_rates_and_lemma_a14(result: Result) -> None:
    xor, rate = result.tables["rates"].records()  # the runs that reach eq. (5) by T/2
    assert xor["data"] == "XOR" and xor["tilde-eta"] == 1000.0
    assert rate["tilde-eta"] == 3000.0 and rate["s*"] <= 300
    assert rate["max/min on [T/2, T]"] >= 1 and rate["lr t L_t at T"] > 0
    _, a14 = result.values["a14"]
    assert a14["lr"] == 3000.0 and a14["below_lower"] <= 0 and a14["above_upper"] <= 0
    for side in ("lower", "upper"):
        assert result.claims[f"Lemma A.14 {side} bound on the plotted curves"].status == "holds"
    t = result.arrays["s1.a14.t"]
    assert t[0] == a14["s"] + 1 and t.shape == result.arrays["s1.a14.lower"].shape


def test_a_claim_fails_when_the_largest_stepsize_settles(cache) -> None:
    config = {**TINY, "sweeps": [{**XOR, "lr": [1.0, 10.0], "steps": 2000}, TINY["sweeps"][1]]}
    claims = run(config, RunContext(torch.device("cpu"), cache)).claims
    failing = {c.name for c in claims.failures}
    assert "XOR: the largest stepsize never reaches eq. (4)" in failing
    assert "XOR: the lowest final risk belongs to an oscillating run" in failing


def test_figures_and_round_trip(result: Result) -> None:
    figs = figures(result)
    assert set(figs) == {"risk", "monotone", "rate", "a14"}
    assert len(figs["risk"].axes) == 2 and len(figs["a14"].axes) == 2
    again = Result.from_entry(*result.to_entry())
    assert again.values == result.values and len(again.claims) == len(result.claims)


def test_thin_keeps_the_envelope() -> None:
    t = np.arange(10_000)
    y = np.sin(t)
    keep = thin(t, y, bins=50)
    assert keep.size < t.size and keep[0] == 0 and keep[-1] == t.size - 1
    assert y[keep].max() == y.max() and y[keep].min() == y.min()
    assert np.array_equal(thin(t[:100], y[:100], bins=50), np.arange(100))


def test_configs_cover_monotone_to_large_stepsizes(cache) -> None:
    assert [s["label"] for s in QUICK["sweeps"]] == [s["label"] for s in PAPER["sweeps"]]
    for q, p in zip(QUICK["sweeps"], PAPER["sweeps"], strict=True):
        assert len(q["lr"]) >= 5 and len(p["lr"]) > len(q["lr"]) and p["steps"] > q["steps"]
        assert min(p["lr"]) <= min(q["lr"]) and max(p["lr"]) >= max(q["lr"]) / 2
    with pytest.raises(ValueError, match="not a sweep label"):
        run({**TINY, "figure2": "nope"}, RunContext(torch.device("cpu"), cache))
    assert get_study("phase-threshold").paper is PAPER
