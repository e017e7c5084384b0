"""Tests of the noise-equilibrium study (gdlab.studies.noise_equilibrium) on tiny configurations.

Tiny runs are too short for SGD to reach its equilibria: the claims that need one may fail there,
while the Monte-Carlo and exact ones hold at any length. Each test of a check feeds it a wrong
input (a wrong prefactor, the wrong Theorem 5.2, a stepsize that does not diverge) and asserts
that the check then fails.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from studytools import check_chapter_references, check_round_trip

import gdlab.studies.noise_equilibrium as ne
from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting.noise_equilibrium import figures
from gdlab.studies.noise_equilibrium import (
    PAPER,
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
CPU = torch.device("cpu")
TINY = {
    **QUICK,
    "contradicted": [],
    "orbit": {**QUICK["orbit"], "steps": 2000, "gd_steps": 300, "mc_samples": 2000},
    "two_layer": {**QUICK["two_layer"], "steps": 4000, "gd_steps": 300, "every": 20},
    "scatter": {**QUICK["scatter"], "runs": 2, "steps": 2000, "gd_steps": 300},
    "weight_decay": {**QUICK["weight_decay"], "kappas": [1.0, 4.0], "steps": 2000, "burn_in": 1000},
    "phi": {
        **QUICK["phi"],
        "dx": 6,
        "width": 6,
        "batch_size": 6,
        "dims": [[4, 4], [6, 6]],
        "batch_sizes": [6, 12],
        "steps": 300,
        "gd_steps": 300,
        "records": 60,
    },
    "warmup": {**QUICK["warmup"], "replicas": 4, "switch": 1500, "steps": 2500, "records": 50},
    "anchor": {**QUICK["anchor"], "replicas": 2, "steps": 1000, "gd_steps": 2000},
}
#: Monte-Carlo, exact and structural claims: they hold in runs of any length.
EXACT = [
    "Lemma B.1: Tr[Sigma(theta_lambda) A] = Tr[e^(-2 lambda A) Sigma A]",
    "G_d: simulated one-step change of C = (D1)",
    "G_d changes sign at lambda* (simulated)",
    "GD moves C only within the (D2) budget",
    "Prop. 5.3 is half the Hessian trace (1/2-loss convention)",
    "Kaiming init is beyond the stability limit of the large eta",
    "Eq. (15): the Xavier draws start at E S_init",
    "T6: GD has no shift",
]


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


def test_tiny_result_covers_the_chapter(result: Result) -> None:
    check_chapter_references(CHAPTER, "ne_", result)
    assert set(result.tables) == {
        "invariants",
        "residuals",
        "weight_decay",
        "phi_settings",
        "phi_sharpness",
        "warmup",
        "anchor",
    }
    assert len(result.claims) == 45
    check_round_trip(result)


def test_monte_carlo_and_exact_claims_hold_in_short_runs(result: Result) -> None:
    assert {c.name: c.status for c in result.claims if c.name in EXACT} == dict.fromkeys(
        EXACT, "holds"
    )


def test_paper_configuration_differs_only_in_sizes() -> None:
    assert set(PAPER) == set(QUICK)
    for key in ("orbit", "two_layer", "phi", "warmup", "anchor"):
        assert set(PAPER[key]) == set(QUICK[key]), key
    # Figure 8 at the paper's d_x = S = 100 (the stepsize 0.1 is stable only for S >= d_x)
    assert PAPER["phi"]["dx"] == PAPER["phi"]["batch_size"] == 100
    # Figure 4 at the paper's rates and switch
    assert (PAPER["warmup"]["eta_small"], PAPER["warmup"]["eta_large"]) == (0.001, 0.008)
    assert PAPER["warmup"]["switch"] == 5000


def test_a_wrong_drift_prefactor_fails_the_simulated_G_d(tmp_path, monkeypatch) -> None:
    """Eq. (7)'s prefactor (half the noise term) in the exact G_d: the simulation rejects it."""
    true_drift = ne.orbit_drift

    def halved(*args, **kw):
        out = true_drift(*args, **kw)
        out.G_d = out.G_d / 2
        return out

    monkeypatch.setattr(ne, "orbit_drift", halved)
    out = Result("noise-equilibrium", "", TINY)
    fresh = RunContext(CPU, ResultCache(tmp_path))  # empty: the patch is inside the orbit unit
    ne._orbit(TINY, fresh, out)
    assert out.claims["G_d: simulated one-step change of C = (D1)"].status == "fails"


def test_the_appendix_theorem_5_2_fails_the_weight_decay_check(ctx, monkeypatch) -> None:
    """App. C's eta E + gamma I (an S-times stronger weight decay term) is not what SGD reaches."""
    true_ratio = ne.width_one_ratio

    def appendix(**kw):
        return true_ratio(**{**kw, "version": "appendix" if "version" not in kw else kw["version"]})

    monkeypatch.setattr(ne, "width_one_ratio", appendix)
    cfg = {**TINY, "weight_decay": {**QUICK["weight_decay"], "steps": 6000, "burn_in": 3000}}
    out = Result("noise-equilibrium", "", cfg)
    ne._weight_decay(cfg, ctx, out)
    assert out.claims["weight decay: the adopted (eta/S) E + gamma I holds at eta -> 0"].status == (
        "fails"
    )


def test_a_small_large_rate_fails_the_divergence_claims(ctx) -> None:
    """At eta_large = 2 eta_small nothing diverges: the Figure 4 claims of divergence fail."""
    cfg = {**TINY, "warmup": {**TINY["warmup"], "eta_large": 0.002}}
    out = Result("noise-equilibrium", "", cfg)
    ne._warmup(cfg, ctx, out)
    assert out.claims["constant eta with Kaiming init diverges"].status == "fails"
    assert out.claims["Kaiming init is beyond the stability limit of the large eta"].status == (
        "fails"
    )


def test_an_unconverged_gd_fails_the_no_shift_claim(ctx) -> None:
    """GD stopped after 5 steps is still far from theta*: the T6 GD claim fails."""
    cfg = {**TINY, "anchor": {**TINY["anchor"], "gd_steps": 5}}
    out = Result("noise-equilibrium", "", cfg)
    ne._anchor(cfg, ctx, out)
    assert out.claims["T6: GD has no shift"].status == "fails"


def test_warmup_records_diverged_constant_runs() -> None:
    arrays, _ = warmup_runs(TINY["warmup"], seed=0, device=CPU)
    constant = Run.from_arrays(arrays, "constant")
    first = Run.from_arrays(arrays, "first")
    assert constant.diverged.any()
    assert not first.diverged.any()
    assert first.series["sharpness"].shape[0] == 2 * TINY["warmup"]["replicas"]


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
            device=CPU,
        )


def test_phi_config_must_name_its_settings(ctx) -> None:
    bad = {**TINY, "phi": {**TINY["phi"], "phis": [0.5, 1.5]}}
    with pytest.raises(ValueError, match=r"must include 1\.0"):
        run(bad, ctx)


def test_same_seed_same_numbers(tmp_path) -> None:
    cfg = TINY["anchor"]
    a, _ = ne.anchor_unit(cfg, 0, CPU)
    b, _ = ne.anchor_unit(cfg, 0, CPU)
    assert all(torch.equal(torch.from_numpy(a[k]), torch.from_numpy(b[k])) for k in a)


def test_figures(result: Result) -> None:
    figs = figures(result)
    assert set(figs) == {
        "orbit",
        "two_layer",
        "eq14_scaling",
        "prediction_scatter",
        "weight_decay_grid",
        "phi_sweep",
        "figure8",
        "warmup",
        "anchor",
    }
    assert len(figs["figure8"].axes) == 3
    assert math.isclose(figs["orbit"].axes[0].lines[-1].get_xdata()[0], result.values["lam_star"])
