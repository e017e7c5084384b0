"""Tests of the paper-figures study (gdlab.studies.paper_figures) on tiny configurations and on
constructed records: its claims, its fallback data resolution, its values against the chapter."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from studytools import check_chapter_references

matplotlib.use("Agg")

from gdlab.claims import ClaimFailure, ClaimTable
from gdlab.experiments import run_study
from gdlab.experiments.study import Result, RunContext, Study
from gdlab.plotting.paper_figures import COLUMN, figures
from gdlab.runtime import RuntimeConfigError
from gdlab.stepsize.criteria import PLATEAU_TOLERANCE, largest_relative_dip
from gdlab.stepsize.mlp import MLPTrajectory
from gdlab.studies import get_study
from gdlab.studies.paper_figures import (
    DRAWDOWN_TOLERANCE,
    EXPONENT_TOLERANCE,
    FIGURE4,
    PAPER,
    QUICK,
    STUDY,
    decay_exponents,
    figure1_claims,
    figure4_runs,
    largest_relative_drawdown,
    resolve,
    run,
    verdict,
)

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part1" / "paper-figures.md"

#: Every figure's setting at a few steps (seconds on one core); the image sweep keeps its four
#: stepsizes, whose test errors the chapter names one by one.
TINY = {
    "fig1": {**QUICK["fig1"], "width": 8, "steps": 40, "test_every": 10},
    "fig2_xor": {
        **QUICK["fig2_xor"],
        "activations": {
            "leaky_softplus_ex31": [10.0, 1000.0],
            "leaky_softplus_half": [10.0, 300.0],
        },
        "steps": 300,
        "contradicted": [],
    },
    "fig2_images": {**QUICK["fig2_images"], "steps": 40, "checkpoints": 2, "contradicted": []},
    "fig4": {**FIGURE4["quick"], "steps": 300},
}


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    """The tiny study run once, its units cached in the module's cache (``ctx.cache``)."""
    study = Study("paper-figures", "tiny", "x.md", TINY, TINY, run, figures, resolve)
    return run_study(study, "quick", ctx.device, ctx.cache)


def test_study_is_registered_with_its_configs() -> None:
    assert get_study("paper-figures") is STUDY and CHAPTER.parents[2] / STUDY.chapter == CHAPTER
    assert set(QUICK) == set(PAPER) == {"fig1", "fig2_xor", "fig2_images", "fig4"}
    assert PAPER["fig2_images"]["contradicted"] == [] and QUICK["fig4"] == FIGURE4["quick"]
    assert PAPER["fig2_xor"]["steps"] > QUICK["fig2_xor"]["steps"]
    # Figure 4's neuron margins are checked at every step at both scales
    assert all(config.get("record_every", 1) == 1 for config in FIGURE4.values())


def test_every_number_the_chapter_glues_is_a_value(result: Result) -> None:
    check_chapter_references(CHAPTER, "pf_", result)
    # every glued name is a value (checked above): the chapter glues more than 60 of them
    text = CHAPTER.read_text(encoding="utf-8")
    glued = [n for n in result.values if any(f"{{glue:text}}`pf_{n}{e}" in text for e in "`:")]
    assert len(glued) > 60


def test_tiny_run_claims_tables_and_figures(result: Result) -> None:
    names = result.claims.names()
    assert len(names) == len(set(names)) == result.values["n_claims"]
    for prefix in ("deep MLP", "XOR, leaky_softplus_ex31", "images, softplus", "five points"):
        assert any(n.startswith(prefix) for n in names), prefix
    counts = result.claims.counts()
    assert result.values["n_untestable"] == counts["untestable"]
    assert result.values["n_hold"] == counts["holds"] and result.values["n_contradicted"] == 0
    assert len(result.tables["contradicted"]) == 0
    assert result.tables["settings"].column("figure")[0] == "Figure 1"
    for name in ("xor_phases", "xor_rates"):
        assert len(result.tables[name]) == 4
    for name in ("image_phases", "image_rates"):
        assert len(result.tables[name]) == 12
    for table in result.tables.values():  # the tables fit the column
        assert len(table.columns) <= 7
    assert result.values["img_dataset"] == "digits38"
    assert result.values["data_reason"] == "the configured data sets were found"
    figs = figures(result)
    assert sorted(figs) == sorted(
        ["deep-mlp", "xor", "images", "test-accuracy", "rate-collapse", "five-point"]
    )
    assert len(figs["images"].axes) == 9 and len(figs["xor"].axes) == 6
    for fig in figs.values():  # drawn for the content column, shown unscaled
        assert fig.get_size_inches()[0] <= COLUMN + 1e-9  # float rounding of width * ncols


@pytest.mark.usefixtures("result")  # its units are in ctx's cache
def test_contradicted_claims_are_reversed_and_checked(ctx: RunContext) -> None:
    name = "five points, lr=6 (eta=3): every neuron margin (linear) negative during training"
    holds = run(TINY, ctx).claims[name]
    assert holds.status == "holds" and holds.relation == "<"
    result = run({**TINY, "fig4": {**TINY["fig4"], "contradicted": [name]}}, ctx)
    flipped = result.claims[name]
    assert flipped.contradicts and flipped.relation == ">=" and flipped.measured == holds.measured
    assert flipped.status == "fails" and result.values["n_contradicted"] == 1
    # the table of contradicted claims shows the paper's claim as stated, with its own status
    assert result.tables["contradicted"].records() == [
        {
            "the paper's claim": name,
            "source": holds.source,
            "measured": holds.measured,
            "paper's criterion": "< 0",
            "status as stated": "holds",
        }
    ]
    with pytest.raises(ClaimFailure, match="contradict"):
        result.check()
    with pytest.raises(ValueError, match=r"contradicted=\['no such claim'\]: not claims"):
        run({**TINY, "fig1": {**TINY["fig1"], "contradicted": ["no such claim"]}}, ctx)


@pytest.mark.usefixtures("result")  # its units are in ctx's cache
def test_figure4_runs_record_neuron_margins(ctx: RunContext) -> None:
    traj = figure4_runs(ctx, TINY["fig4"])
    assert traj.neuron_margins.shape == (2, 301, 2) and traj.lr.tolist() == [3.0, 6.0]


def _mlp_record(q: torch.Tensor, accuracy: torch.Tensor) -> MLPTrajectory:
    """A two-run deep-MLP record with the constructed risks below and min margins ``q``."""
    risk = torch.tensor(
        [
            [0.7, 0.9, 0.5, 0.6, 0.3, 0.2, 0.1, 0.05, 0.04],
            [0.7, 0.69, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15],
        ],
        dtype=torch.float64,
    )
    norm = torch.ones(2, 9, dtype=torch.float64)
    return MLPTrajectory(
        lr=torch.tensor([1.0, 0.1], dtype=torch.float64),
        steps=torch.arange(9),
        risk=risk,
        log_risk=risk.log(),
        grad_norm_sq=torch.ones(2, 9, dtype=torch.float64),
        param_norm=norm,
        min_margin=q,
        normalized_margin=q / norm**4,
        test_steps=torch.tensor([0, 4, 8]),
        test_accuracy=accuracy,
        weights=[],
        meta={"n": 10, "d": 3, "width": 2},
    )


def test_figure1_claims_on_a_constructed_record() -> None:
    """Large stepsize: two rises, monotone from step 3 on; small: monotone; margins as built."""
    q = torch.tensor(
        [[-1.0, -1, -1, -1, 0.5, 1.0, 1.2, 1.1, 1.3], [-1.0, -1, -1, -1, -1, -1, 0.1, 0.2, 0.3]],
        dtype=torch.float64,
    )
    acc = torch.tensor([[0.5, 1.0, 0.9], [0.5, 0.6, 0.8]], dtype=torch.float64)
    claims, values = figure1_claims(_mlp_record(q, acc))
    assert claims["deep MLP, lr=1: risk rises (oscillating phase)"].measured == 2
    monotone = claims["deep MLP, lr=1: risk decreases monotonically from the first half on"]
    assert monotone.status == "holds" and monotone.measured == 3 == values["f1_monotone_from"]
    assert claims["deep MLP, lr=0.1: risk decreases monotonically throughout"].status == "holds"
    dip = claims["deep MLP, lr=1: normalized margin nearly monotone in the stable phase"]
    assert dip.status == "fails" and dip.measured == pytest.approx((1.2 - 1.1) / 1.2, rel=1e-12)
    assert dip.step == 4
    rise = claims["deep MLP, lr=1: normalized margin rises in the stable phase"]
    assert rise.status == "holds" and (rise.measured, rise.bound) == (1.3, 0.5)
    small = claims["deep MLP, lr=0.1: normalized margin nearly monotone in the stable phase"]
    assert small.measured == 0 and small.step == 6
    better = claims["deep MLP: large stepsize has better test accuracy"]
    assert better.status == "holds" and better.measured == pytest.approx(0.1)
    # neither run is perfect on the test set at the last test step
    assert claims["deep MLP: large stepsize perfect on the test set sooner"].status == "untestable"


def test_figure1_test_accuracy_tie_is_strict() -> None:
    q = torch.full((2, 9), -1.0, dtype=torch.float64)  # never all points correct
    tie = torch.tensor([[0.5, 0.8, 0.8], [0.5, 0.6, 0.8]], dtype=torch.float64)
    claims, _ = figure1_claims(_mlp_record(q, tie))
    assert claims["deep MLP: large stepsize has better test accuracy"].status == "fails"
    for lr in ("1", "0.1"):
        for what in ("nearly monotone", "rises"):
            name = f"deep MLP, lr={lr}: normalized margin {what} in the stable phase"
            assert claims[name].status == "untestable"
    perfect = torch.tensor([[0.5, 1.0, 1.0], [0.5, 0.6, 1.0]], dtype=torch.float64)
    claims, values = figure1_claims(_mlp_record(q, perfect))
    assert claims["deep MLP: large stepsize has better test accuracy"].status == "untestable"
    sooner = claims["deep MLP: large stepsize perfect on the test set sooner"]
    assert sooner.status == "holds" and (sooner.measured, sooner.bound) == (4, 8)
    assert (values["f1_perfect_big"], values["f1_perfect_small"]) == (4, 8)


def test_figure1_flat_margin_fails_the_rise() -> None:
    """A margin that never decreases but never rises passes "nearly monotone" only."""
    q = torch.tensor([[-1.0, -1, -1, -1, 0.5, 0.5, 0.5, 0.5, 0.5]] * 2, dtype=torch.float64)
    claims, _ = figure1_claims(_mlp_record(q, torch.zeros(2, 3, dtype=torch.float64)))
    name = "deep MLP, lr=1: normalized margin {} in the stable phase"
    assert claims[name.format("nearly monotone")].status == "holds"
    assert claims[name.format("rises")].status == "fails"


def test_drawdown_catches_a_slow_decline_that_one_step_dips_miss() -> None:
    decline = 0.995 ** np.arange(100)  # 0.5% per step: 39% in all
    assert largest_relative_dip(decline) < DRAWDOWN_TOLERANCE
    assert largest_relative_drawdown(decline) == pytest.approx(1 - decline[-1], rel=1e-12)
    assert largest_relative_drawdown(np.array([1.0, 2.0, 1.5, 3.0])) == pytest.approx(0.25)
    assert largest_relative_drawdown(np.arange(1.0, 5.0)) == 0.0


@pytest.mark.parametrize("p", [0.7, 1.0, 1.3])
def test_decay_exponent_separates_rates_the_plateau_ratio_admits(p: float) -> None:
    """t^-0.7 and t^-1.3 pass the plateau ratio on [T/2, T] but not the exponent criterion."""
    steps = np.arange(0, 10_001)
    log_risk = -p * np.log(np.maximum(steps, 1))[None, :] + np.log([[0.3], [3.0]])
    exponents = decay_exponents(steps, log_risk)
    np.testing.assert_allclose(exponents, p, rtol=1e-12)  # exact power laws, float64 fit
    spread = (steps[-1] / (steps[-1] // 2)) ** (1 - p)
    assert max(spread, 1 / spread) <= PLATEAU_TOLERANCE
    assert (abs(exponents - 1) <= EXPONENT_TOLERANCE).all() == (p == 1.0)


def test_verdict_phrases_group_activations_by_outcome() -> None:
    claims = ClaimTable()
    claims.add("XOR, a: r", "x", 1.0, 0.0, relation=">")
    claims.add("XOR, b: r", "x", 1.0, 0.0, relation=">", contradicts=True)
    claims.add("XOR, c: r", "x", None, 0.0, needs="a run")
    claims.add("XOR, d: r", "x", -1.0, 0.0, relation=">")
    assert verdict(claims, "XOR", ["a"], "r") == "holds for every activation"
    assert verdict(claims, "XOR", ["a", "b", "c", "d"], "r") == (
        "holds for a, is contradicted for b, cannot be tested for c and fails for d"
    )


def test_figure3_claims_on_test_errors(result: Result) -> None:
    """The tiny image sweep's Figure 3 rows are judged on whole test images."""
    errors = {
        lr: result.values[f"f3_err_softplus_{lr:g}"]
        for lr in TINY["fig2_images"]["activations"]["softplus"]
    }
    never_worse = result.claims["images, softplus: test accuracy never worse at a larger stepsize"]
    steps_up = np.diff([errors[lr] for lr in sorted(errors)])
    assert never_worse.measured == max(0, steps_up.max())
    better = result.claims["images, softplus: larger stepsize, better test accuracy"]
    if better.status != "untestable":
        assert better.measured == errors[min(errors)] - errors[max(errors)]


def test_cifar_config_falls_back_with_note(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GDLAB_DATA", str(tmp_path))
    resolved = resolve(PAPER)
    assert resolved["fig1"]["data"]["name"] == "digits" and "fallback" not in resolved["fig1"]
    assert resolved["fig2_images"]["steps"] == PAPER["fig2_images"]["steps"]
    assert "CIFAR-10 not found" in resolved["note"] and str(tmp_path) in resolved["note"]
    assert resolved["fig2_xor"] == PAPER["fig2_xor"]
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(b"")
    found = resolve(PAPER)
    assert "note" not in found and found["fig1"]["data"]["name"] == "cifar10"
    assert "fallback" not in found["fig2_images"] and resolve(QUICK) == QUICK
    assert found["fig2_images"]["contradicted"] == []
    assert resolved["fig2_images"]["contradicted"] == QUICK["fig2_images"]["contradicted"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [("~no-such-user-gdlab/data", "home directory"), ("/tmp/" + "d" * 5000, "too long")],
)
def test_unusable_data_setting_is_one_line(monkeypatch, value, reason) -> None:
    monkeypatch.setenv("GDLAB_DATA", value)
    with pytest.raises(RuntimeConfigError) as info:
        resolve(PAPER)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
    assert message.startswith("GDLAB_DATA=") and reason in message and "allowed" in message
