"""Tests of the paper-figures study (gdlab.studies.paper_figures) on tiny configurations and on
constructed records: its claims, its fallback data resolution, its values against the chapter."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from gdlab.claims import ClaimFailure
from gdlab.experiments import ResultCache, run_study
from gdlab.experiments.study import RunContext, Study
from gdlab.plotting.paper_figures import figures
from gdlab.runtime import RuntimeConfigError
from gdlab.stepsize.mlp import MLPTrajectory
from gdlab.studies import get_study
from gdlab.studies.paper_figures import (
    FIGURE4,
    PAPER,
    QUICK,
    STUDY,
    figure1_claims,
    figure4_runs,
    resolve,
    run,
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
def tiny(tmp_path_factory):
    """The tiny study run once (cached in a temporary folder), with its cache."""
    cache = ResultCache(tmp_path_factory.mktemp("cache"))
    study = Study("paper-figures", "tiny", "x.md", TINY, TINY, run, figures, resolve)
    return run_study(study, "quick", "cpu", cache), cache


def test_study_is_registered_with_its_configs() -> None:
    assert get_study("paper-figures") is STUDY and CHAPTER.parents[2] / STUDY.chapter == CHAPTER
    assert set(QUICK) == set(PAPER) == {"fig1", "fig2_xor", "fig2_images", "fig4"}
    assert PAPER["fig2_images"]["contradicted"] == [] and QUICK["fig4"] == FIGURE4["quick"]
    assert PAPER["fig2_xor"]["steps"] > QUICK["fig2_xor"]["steps"]


def test_every_number_the_chapter_glues_is_a_value(tiny) -> None:
    result, _ = tiny
    glued = set(re.findall(r"\{glue:text\}`pf_([A-Za-z0-9_.]+?)(?::[^`]*)?`", CHAPTER.read_text()))
    assert len(glued) > 60
    assert sorted(glued - set(result.values)) == []


def test_tiny_run_claims_tables_and_figures(tiny) -> None:
    result, _ = tiny
    names = result.claims.names()
    assert len(names) == len(set(names)) == result.values["n_claims"]
    for prefix in ("deep MLP", "XOR, leaky_softplus_ex31", "images, softplus", "five points"):
        assert any(n.startswith(prefix) for n in names), prefix
    counts = result.claims.counts()
    assert result.values["n_untestable"] == counts["untestable"]
    assert result.values["n_hold"] == counts["holds"] and result.values["n_contradicted"] == 0
    assert result.tables["settings"].column("figure")[0] == "Figure 1"
    assert len(result.tables["xor_runs"]) == 4 and len(result.tables["image_runs"]) == 12
    assert result.values["img_dataset"] == "digits38"
    assert result.values["data_reason"] == "the configured data sets were found"
    figs = figures(result)
    assert sorted(figs) == sorted(
        ["deep-mlp", "xor", "images", "test-accuracy", "rate-collapse", "five-point"]
    )
    assert len(figs["images"].axes) == 9 and len(figs["xor"].axes) == 6


def test_contradicted_claims_are_reversed_and_checked(tiny) -> None:
    _, cache = tiny
    ctx = RunContext(torch.device("cpu"), cache)
    name = "five points, lr=6 (eta=3): every neuron margin (linear) negative during training"
    holds = run(TINY, ctx).claims[name]
    assert holds.status == "holds" and holds.relation == "<"
    result = run({**TINY, "fig4": {**TINY["fig4"], "contradicted": [name]}}, ctx)
    flipped = result.claims[name + " (contradicted)"]
    assert flipped.relation == ">=" and flipped.measured == holds.measured
    assert flipped.status == "fails" and result.values["n_contradicted"] == 1
    with pytest.raises(ClaimFailure, match="contradicted"):
        result.check()
    with pytest.raises(ValueError, match=r"contradicted=\['no such claim'\]: not claims"):
        run({**TINY, "fig1": {**TINY["fig1"], "contradicted": ["no such claim"]}}, ctx)


def test_figure4_runs_record_neuron_margins(tiny) -> None:
    _, cache = tiny
    traj = figure4_runs(RunContext(torch.device("cpu"), cache), TINY["fig4"])
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
    dip = claims["deep MLP, lr=1: normalized margin non-decreasing in the stable phase"]
    assert dip.status == "fails" and dip.measured == pytest.approx((1.2 - 1.1) / 1.2, rel=1e-12)
    assert dip.step == 4
    small = claims["deep MLP, lr=0.1: normalized margin non-decreasing in the stable phase"]
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
        name = f"deep MLP, lr={lr}: normalized margin non-decreasing in the stable phase"
        assert claims[name].status == "untestable"
    perfect = torch.tensor([[0.5, 1.0, 1.0], [0.5, 0.6, 1.0]], dtype=torch.float64)
    claims, values = figure1_claims(_mlp_record(q, perfect))
    assert claims["deep MLP: large stepsize has better test accuracy"].status == "untestable"
    sooner = claims["deep MLP: large stepsize perfect on the test set sooner"]
    assert sooner.status == "holds" and (sooner.measured, sooner.bound) == (4, 8)
    assert (values["f1_perfect_big"], values["f1_perfect_small"]) == (4, 8)


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
