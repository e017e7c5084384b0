"""Tests of the noise-equilibrium study (gdlab.studies.noise_equilibrium) on tiny configurations.

Tiny runs are too short for SGD to reach its equilibria: the claims that need one fail there
(which shows they can fail), while the exact ones hold at any length.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting.noise_equilibrium import figures
from gdlab.studies.noise_equilibrium import (
    QUICK,
    phi_task,
    random_noise_tasks,
    run,
    two_layer_runs,
    warmup_runs,
)
from gdlab.symmetry.sgd import Run

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part2" / "noise-equilibrium.md"
F64 = torch.float64
#: A warmup whose constant-rate run still diverges: a narrower net at a larger rate.
TINY_WARMUP = {**QUICK["warmup"], "width": 40, "eta_large": 0.1, "switch": 1500, "steps": 2500}
TINY = {
    **QUICK,
    "orbit": {**QUICK["orbit"], "steps": 3000, "mc_samples": 2000, "records": 100},
    "two_layer": {**QUICK["two_layer"], "steps": 6000, "gd_steps": 500},
    "scatter": {**QUICK["scatter"], "runs": 2, "steps": 4000, "gd_steps": 500},
    "weight_decay": {
        **QUICK["weight_decay"],
        "gammas": [0.03, 0.1],
        "steps": 3000,
        "burn_in": 1500,
    },
    "phi": {**QUICK["phi"], "dx": 6, "width": 6, "steps": 800, "records": 80},
    "warmup": {**TINY_WARMUP, "records": 50},
}
#: Claims about identities, exact computations or counts: they hold in runs of any length.
EXACT = [
    "Lemma B.1: Tr[Sigma(theta_lambda) A] = Tr[e^(-2 lambda A) Sigma A]",
    "G strictly decreasing along the orbit",
    "G_d strictly decreasing along the orbit",
    "G has one zero on the orbit",
    "G and G_d share their root (gamma = 0)",
    "GD stays at lambda = 0",
    "Prop. 5.3 is half the Hessian trace (1/2-loss convention)",
    "constant eta with Kaiming init diverges",
    "warmup runs stay stable",
    "Kaiming init is unstable at the large eta",
    "after the warmup the large eta is stable",
    "no run diverges (every experiment but the warmup)",
]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> RunContext:
    return RunContext(torch.device("cpu"), ResultCache(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


def test_tiny_result_covers_the_chapter(result: Result) -> None:
    glued = set(re.findall(r"\{glue:text\}`ne_(\w+)", CHAPTER.read_text(encoding="utf-8")))
    assert glued <= set(result.values), glued - set(result.values)
    assert len(result.claims) == 33
    assert set(result.tables) == {
        "invariants",
        "residuals",
        "weight_decay",
        "phi_ratio",
        "phi_sharpness",
        "warmup",
    }
    assert len(result.tables["invariants"]) == 3 * 9 and len(result.tables["weight_decay"]) == 4
    assert result.tables["warmup"].column("init") == ["kaiming", "xavier"]
    again = Result.from_entry(*result.to_entry())
    assert again.values == result.values and again.claims.names() == result.claims.names()


def test_exact_claims_hold_in_short_runs(result: Result) -> None:
    assert {c.name: c.status for c in result.claims if c.name in EXACT} == dict.fromkeys(
        EXACT, "holds"
    )


def test_short_runs_fail_the_equilibrium_claims(result: Result) -> None:
    """3000 steps leave SGD far from lambda*: the orbit claim fails, with a large z."""
    claim = result.claims["SGD ends at theta_lambda* (eta -> 0)"]
    assert claim.status == "fails" and claim.measured > 2 * claim.bound
    assert result.claims.failures  # and the chapter's check would stop


def test_warmup_records_a_diverged_run_as_nan() -> None:
    arrays, _ = warmup_runs({**TINY_WARMUP, "records": 25}, seed=0)
    first, second = Run.from_arrays(arrays, "first"), Run.from_arrays(arrays, "second")
    assert first.diverged.tolist() == [True, False, False]
    assert not second.diverged.any()
    assert torch.isnan(second.series["sharpness"][0]).all()
    assert torch.isfinite(second.series["sharpness"][1:]).all()


def test_phi_task_halves() -> None:
    task = phi_task([0.2, 1.0], 4)
    torch.testing.assert_close(
        torch.diagonal(task.cov_x, dim1=-2, dim2=-1),
        torch.tensor([[0.2, 0.2, 1.8, 1.8], [1.0, 1.0, 1.0, 1.0]], dtype=F64),
    )
    with pytest.raises(ValueError, match="dx must be even"):
        phi_task([1.0], 5)


def test_random_noise_tasks_are_log_uniform_rotations() -> None:
    V = torch.eye(3, dtype=F64)
    tasks = random_noise_tasks(V, [1.0, 1.0, 1.0], 5, [0.2, 5.0], repeats=2, seed=3)
    assert tasks.cov_eps.shape == (10, 3, 3)
    assert torch.equal(tasks.cov_eps[:5], tasks.cov_eps[5:])
    evals = torch.linalg.eigvalsh(tasks.cov_eps)
    # eigenvalues of Q diag(s) Q^T are s: inside [0.2, 5] up to float64 rounding of eigh
    assert float(evals.min()) >= 0.2 * (1 - 1e-12) and float(evals.max()) <= 5 * (1 + 1e-12)
    assert len({round(float(v), 6) for v in evals.flatten()}) > 10


def test_two_layer_runs_need_one_init_for_per_run_tasks() -> None:
    tasks = random_noise_tasks(torch.eye(2, dtype=F64), [1.0, 1.0], 3, [0.2, 5.0], seed=0)
    with pytest.raises(ValueError, match="needs one init and a number of etas dividing 3"):
        two_layer_runs(
            tasks,
            [[0.5, 0.5]],
            [0.01, 0.02],
            width=2,
            batch_size=2,
            steps=1,
            method="sgd",
            every=1,
            seed=0,
        )


def test_phi_config_must_name_its_settings(ctx: RunContext) -> None:
    bad = {**TINY, "phi": {**TINY["phi"], "phis": [0.5, 1.5]}}
    with pytest.raises(ValueError, match=r"must include 1\.0"):
        run(bad, ctx)


def test_figures(result: Result) -> None:
    figs = figures(result)
    assert set(figs) == {
        "orbit",
        "two_layer",
        "prediction_scatter",
        "weight_decay_grid",
        "phi_sweep",
        "warmup",
    }
    assert len(figs["warmup"].axes[0].lines) == 3 + 2 + 2  # SGD, GD, equilibrium, switch
    assert math.isclose(figs["orbit"].axes[0].lines[-1].get_xdata()[0], result.values["lam_star"])
