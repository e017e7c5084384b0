"""Tests of the setting study (gdlab.studies.setting) and its figure."""

from __future__ import annotations

from pathlib import Path

import pytest
from studytools import check_chapter_references, check_round_trip

from gdlab.claims import ClaimTable
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting.setting import figures
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.assumptions import GRID_TOL, ActivationConstants, activation_constants
from gdlab.studies import get_study
from gdlab.studies.common import dataset
from gdlab.studies.setting import PAPER, QUICK, constant_claims, run

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part1" / "setting.md"
TINY = {
    **QUICK,
    "activations": ["gelu", "softplus", "leaky_softplus_ex31"],
    "samples": 64,
    "networks": QUICK["networks"][:2],
    "width_check": {**QUICK["width_check"], "widths": [4, 20]},
    "plot": {"activations": ["gelu", "leaky_softplus_half"], "lim": 3.0, "points": 61},
}


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


def test_tiny_setting_claims_hold_and_values(result: Result) -> None:
    counts = result.check().counts()
    assert counts["fails"] == 0 and counts["holds"] == len(result.claims)
    v = result.values
    assert v["n_activations"] == 3 and v["grid_points"] == TINY["grid"]["num"]
    assert v["gelu_kappa"] > v["gelu_kappa_printed"] and v["gelu_kappa_ratio"] > 1.2
    assert 0.9 < v["xor_rho_ratio"] <= 1 and 0 < v["fig4_kappa_ratio"] < 1
    assert len(result.tables["slopes"]) == 3 and len(result.tables["widths"]) == 2
    assert str(result.tables["slopes"]).count("NOT A BOUND") == 0
    assert str(result.tables["shapes"]).count("NOT A BOUND") == 1  # GELU's kappa
    assert result.tables["assumption1"].column("network") == ["XOR net", "Figure 4 net"]
    check_round_trip(result)


def test_tiny_result_covers_the_chapter(result: Result) -> None:
    check_chapter_references(CHAPTER, "set_", result)


def test_setting_figure(result: Result) -> None:
    fig = figures(result)["activations"]
    assert len(fig.axes) == 4 and len(fig.axes[0].lines) == 2
    assert fig.get_figwidth() <= 7.2  # the content column


def test_eq4_threshold_is_width_free(result: Result) -> None:
    # Algebra, so a test and not a claim: rho^2 = R^2 sup|phi'|^2 / m, beta = R^2 beta~ / m and
    # tilde-eta = m eta give L <= 1/(eta R^2 (2 sup|phi'|^2 + beta~)) at every width m.
    wc = TINY["width_check"]
    act = get_activation(wc["activation"])
    R = dataset(wc["data"]).radius
    closed = 1.0 / (wc["eta"] * R**2 * (2 * act.sup_dphi**2 + act.beta_tilde))
    thresholds = result.tables["widths"].column("eq. (4) threshold")
    # m * eta and R^2 / m are rounded in float64: a few ulps
    assert thresholds == pytest.approx([closed] * len(wc["widths"]), rel=1e-14)
    assert result.values["width_threshold"] == thresholds[0]
    assert result.values["widths"] == "4 and 20"


def test_constant_claims_catch_a_wrong_closed_form() -> None:
    (row,) = activation_constants(["gelu"])  # the default grid that GRID_TOL is made for
    wrong = ActivationConstants(
        row.name, {**row.tight, "kappa": row.tight["kappa"] - 10 * GRID_TOL}, row.grid,
        row.printed, row.source,
    )  # fmt: skip
    claims = ClaimTable()
    constant_claims(claims, [wrong])
    failing = {c.name for c in claims.failures}
    assert failing == {
        "closed-form constants = grid estimates",
        "grid never beyond the closed-form sup/inf",
    }
    # A printed kappa that is a valid bound: the paper's slip is no longer there to confirm.
    fixed = ActivationConstants(
        row.name, row.tight, row.grid, {**row.printed, "kappa": 1.0}, row.source
    )
    claims = ClaimTable()
    constant_claims(claims, [fixed])
    assert {c.name for c in claims.failures} == {
        "GELU's printed kappa is below sup |phi - z phi'| (closed form)",
        "GELU's printed kappa is below sup |phi - z phi'| (grid)",
    }


def test_setting_rejects_a_coarse_grid_and_a_missing_gelu(ctx: RunContext) -> None:
    with pytest.raises(ValueError, match="spacing"):
        run({**TINY, "grid": {"lo": -50.0, "hi": 50.0, "num": 2001}}, ctx)
    with pytest.raises(ValueError, match="must include 'gelu'"):
        run({**TINY, "activations": ["softplus"]}, ctx)


def test_registered() -> None:
    study = get_study("setting")
    assert study.quick is QUICK and study.chapter == "book/part1/setting.md"
    assert PAPER["samples"] > QUICK["samples"] and PAPER["activations"] == QUICK["activations"]
