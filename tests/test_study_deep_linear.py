"""Tests of the deep-linear study (gdlab.studies.deep_linear) on tiny configurations.

Besides running the study, each statistical device is fed a deliberately wrong input (a wrong
target, a drifting window, an anisotropy that does not vanish, a wrong balance) and must reject
it: these are the results that the chapter's claims rule out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from studytools import check_chapter_references, check_round_trip

from gdlab.claims import Claim
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting.deep_linear import figures
from gdlab.runtime import make_generator
from gdlab.stats import critical_z
from gdlab.studies.deep_linear import (
    MATCH,
    QUICK,
    autoencoder_runs,
    digits_runs,
    eta_exponent,
    run,
    stationarity,
)
from gdlab.symmetry.autoencoder import balance_sides
from gdlab.symmetry.sgd import Run

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part2" / "deep-linear.md"
TINY = {
    **QUICK,
    # converged enough for the scalar z-test (the window starts after ~5 relaxation times)
    "scalar": {**QUICK["scalar"], "etas": [0.02, 0.03], "steps": 16000, "gd_steps": 500},
    "vector": {**QUICK["vector"], "steps": 3000, "gd_steps": 500},
    "digits": {**QUICK["digits"], "steps": 400},
    "autoencoder": {
        **QUICK["autoencoder"],
        "dx": 4,
        "width": 8,
        "steps": 600,
        "gd_steps": 300,
        "gd_samples": 50,
        "seeds": 3,
    },
}
#: Claims on the explicit chains of Theorem 5.4: no training, they hold at any scale.
THEOREM = [
    "both chains of Theorem 5.4 are global minima",
    "corrected Theorem 5.4 solves Eq. (122)",
    "printed Theorem 5.4 violates Eq. (122) when Tr Sigma != d",
    "the two versions agree when Tr Sigma_x = Tr Sigma_eps = d",
]
CONTRADICTED = "tanh autoencoder: the per-neuron sides match under SGD"


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


def test_tiny_result_covers_the_chapter(result: Result) -> None:
    check_chapter_references(CHAPTER, "dl_", result)
    # 4 theorem + 3 scalar + 4 vector + 4 digits + 3 per activation
    assert len(result.claims) == 15 + 3 * len(QUICK["autoencoder"]["activations"])
    assert set(result.tables) == {"scalar", "vector", "autoencoder"}
    assert result.values["n_contradicted"] == 2 and result.values["dig_steps"] == 400
    check_round_trip(result)


def test_theorem_claims_hold(result: Result) -> None:
    assert [result.claims[name].status for name in THEOREM] == ["holds"] * 4


def test_contradicted_claims_state_the_contradiction(result: Result) -> None:
    claim = result.claims[CONTRADICTED]
    assert claim.contradicts and claim.relation == ">=" and claim.bound == MATCH
    assert claim.note.startswith(f"the paper's claim needs < {MATCH:g}, which fails")
    assert claim.as_stated().relation == "<"


def test_a_contradicted_claim_that_holds_fails_the_check(ctx: RunContext) -> None:
    """Listing a claim that holds as contradicted makes its row fail: the check cannot be
    satisfied by listing claims."""
    name = "tanh autoencoder: no run diverges"
    with pytest.raises(ValueError, match="cannot be stated as contradicted"):
        run({**TINY, "contradicted": [*TINY["contradicted"], name]}, ctx)
    name = "vector chain: every run rejects the printed Theorem 5.4"
    listed = run({**TINY, "contradicted": [*TINY["contradicted"], name]}, ctx)
    assert listed.claims[name].contradicts and listed.claims[name].status == "fails"


def test_unknown_contradicted_names_are_refused(ctx: RunContext) -> None:
    with pytest.raises(ValueError, match=r"contradicted=\['no such claim'\]: not claims"):
        run({**TINY, "contradicted": ["no such claim"]}, ctx)


def test_a_wrong_scalar_target_is_rejected(result: Result) -> None:
    """The scalar chain's z-test at its threshold: |v|^(1/D) passes, the value of a chain of
    depth 2 (|v|^(1/2)) fails, so the test distinguishes the depth."""
    rows = result.tables["scalar"].records()
    crit = critical_z(len(rows), QUICK["blocks"] - 1, QUICK["alpha"])
    z = [abs(r["SGD |w_i| at eta -> 0"] - r["|v|^(1/D)"]) / r["s.e."] for r in rows]
    wrong = QUICK["scalar"]["v"] ** 0.5
    z_wrong = [abs(r["SGD |w_i| at eta -> 0"] - wrong) / r["s.e."] for r in rows]
    assert max(z) < crit < min(z_wrong)


def test_eta_exponent_rejects_an_anisotropy_that_does_not_vanish() -> None:
    """a = c eta gives p = 1; a constant a (a middle layer that is not orthogonal) gives p = 0,
    which the claim's one-sided z-test does not accept; a non-positive quantity is refused."""
    etas = [0.01, 0.02]
    se = torch.full((2, 3), 1e-3, dtype=torch.float64)
    linear = torch.tensor([[0.1] * 3, [0.2] * 3], dtype=torch.float64)
    p, p_se = eta_exponent(etas, linear, se)
    torch.testing.assert_close(p, torch.ones(3, dtype=torch.float64), rtol=1e-12, atol=0)
    constant = torch.full((2, 3), 0.1, dtype=torch.float64)
    p0, p0_se = eta_exponent(etas, constant, se)
    crit = critical_z(3, 9, 2 * QUICK["alpha"])
    assert float((p / p_se).min()) > crit > float((p0 / p0_se).max())
    with pytest.raises(ValueError, match="positive quantity"):
        eta_exponent(etas, linear - 0.15, se)


def test_stationarity_rejects_a_drifting_window() -> None:
    """White noise passes the two-halves test; the same noise on a slow exponential relaxation
    (a budget shorter than the relaxation time) fails it."""
    gen = make_generator(0)
    T = 2000
    steps = torch.arange(T)
    noise = 0.1 * torch.randn(3, T, 2, generator=gen, dtype=torch.float64)
    drift = torch.exp(-steps.to(torch.float64) / 3000)[None, :, None]
    flat = Run(steps, {"norm_sq": 1 + noise}, (), torch.full((3,), -1))
    slow = Run(steps, {"norm_sq": 1 + drift + noise}, (), torch.full((3,), -1))
    z_flat, crit = stationarity(flat, "norm_sq", T // 2, 10, 0.01)
    z_slow, _ = stationarity(slow, "norm_sq", T // 2, 10, 0.01)
    assert z_flat < crit < z_slow


def test_balance_sides_see_a_rescaled_neuron() -> None:
    """Rescaling neuron j, (u_j, w_j) -> (c u_j, w_j / c), is a symmetry of a ReLU net that moves
    only entry (j, j) of the per-neuron balance; and GD's relative difference exceeds MATCH (a
    balance test that GD passed would test nothing)."""
    gen = make_generator(1)
    W = torch.randn(1, 3, 4, generator=gen, dtype=torch.float64)
    U = torch.randn(1, 4, 3, generator=gen, dtype=torch.float64)
    cov = torch.eye(4, dtype=torch.float64)
    left, right = balance_sides((W, U), cov, 2 * cov)
    c = torch.tensor([1.0, 3.0, 1.0], dtype=torch.float64)
    left2, right2 = balance_sides((W / c[:, None], U * c), cov, 2 * cov)
    torch.testing.assert_close(left2[0, 1, 1], left[0, 1, 1] / 9, rtol=1e-12, atol=0)
    torch.testing.assert_close(right2[0, 1, 1], right[0, 1, 1] * 9, rtol=1e-12, atol=0)
    keep = torch.tensor([0, 2])
    torch.testing.assert_close(left2[0][keep][:, keep], left[0][keep][:, keep])


def test_gd_is_off_the_balance(result: Result) -> None:
    """At the TINY scale the ReLU net under GD is off the per-neuron balance by more than MATCH:
    the claim stated for SGD would fail for GD."""
    assert result.values["ae_relu_gd"] > MATCH
    gd = Claim("GD matches", "test", result.values["ae_relu_gd"], MATCH, relation="<")
    assert gd.status == "fails"


def test_window_mean_of_the_sides_matches_the_recorded_window() -> None:
    """The whole sides averaged in the loop (on_step) cover exactly the recorded steps of the
    window: their diagonals equal the time average of the recorded diagonals (float64 rounding
    of a sum of a few tens of terms); a window off by one record would differ."""
    cfg = {**TINY["autoencoder"], "steps": 100, "gd_steps": 70, "every": 10}
    arrays, _ = autoencoder_runs(cfg, "relu", 0, torch.device("cpu"))
    for method, steps in (("sgd", 100), ("gd", 70)):
        r = Run.from_arrays(arrays, method)
        for side in ("left", "right"):
            recorded = r.window(side, steps // 2).mean(1)
            whole = torch.from_numpy(arrays[f"{method}.mean_{side}"])
            torch.testing.assert_close(
                torch.diagonal(whole, dim1=-2, dim2=-1), recorded, rtol=1e-12, atol=0
            )


def test_digits_runs_start_from_the_same_function() -> None:
    """Both runs factorise the least-squares solution: equal losses at step 0, different norms."""
    dig = digits_runs({**QUICK["digits"], "steps": 2, "every": 1}, 0, torch.device("cpu"))
    loss, n_sq = dig.series["loss"], dig.series["norm_sq"]
    # the same product of layers, computed through different factors: float64 rounding
    torch.testing.assert_close(loss[0, 0], loss[1, 0], rtol=1e-10, atol=0)
    assert float((n_sq[0, 0] - n_sq[1, 0]).abs().max()) > 0.1
    middle = n_sq[0, 0, 1:-1]
    torch.testing.assert_close(middle, middle.mean().expand_as(middle), rtol=1e-12, atol=0)


def test_figures(result: Result) -> None:
    figs = figures(result)
    assert set(figs) == {"vector_norms", "digits_norms", "balance_heatmaps", "neuron_balance"}
    assert len(figs["vector_norms"].axes) == 3 and len(figs["balance_heatmaps"].axes) == 4
    assert len(figs["neuron_balance"].axes) == len(QUICK["autoencoder"]["activations"])
