"""Tests of the deep-linear study (gdlab.studies.deep_linear) on tiny configurations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, RunContext
from gdlab.plotting.deep_linear import figures
from gdlab.studies.deep_linear import QUICK, digits_runs, run

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "part2" / "deep-linear.md"
TINY = {
    **QUICK,
    "scalar": {**QUICK["scalar"], "steps": 3000, "gd_steps": 500},
    "vector": {**QUICK["vector"], "steps": 3000, "gd_steps": 500},
    "digits": {**QUICK["digits"], "steps": 400},
    "autoencoder": {**QUICK["autoencoder"], "dx": 4, "width": 4, "steps": 600, "gd_samples": 50},
}
#: Claims on the explicit chains of Theorem 5.4: no training, they hold at any scale.
THEOREM = [
    "both chains of Theorem 5.4 are global minima",
    "corrected Theorem 5.4 solves Eq. (122)",
    "printed Theorem 5.4 violates Eq. (122) when Tr Sigma != d",
    "the two versions agree when Tr Sigma_x = Tr Sigma_eps = d",
]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> RunContext:
    return RunContext(torch.device("cpu"), ResultCache(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def result(ctx: RunContext) -> Result:
    return run(TINY, ctx)


def test_tiny_result_covers_the_chapter(result: Result) -> None:
    glued = set(re.findall(r"\{glue:text\}`dl_(\w+)", CHAPTER.read_text(encoding="utf-8")))
    assert glued <= set(result.values), glued - set(result.values)
    assert len(result.claims) == 19 and set(result.tables) == {"scalar", "vector"}
    assert result.values["n_contradicted"] == 3 and result.values["dig_steps"] == 400
    again = Result.from_entry(*result.to_entry())
    assert again.values == result.values and again.claims.names() == result.claims.names()


def test_theorem_claims_hold(result: Result) -> None:
    assert [result.claims[name].status for name in THEOREM] == ["holds"] * 4


def test_contradicted_claims_state_the_contradiction(result: Result) -> None:
    claim = result.claims["tanh autoencoder: the two sides match under SGD (contradicted)"]
    assert claim.relation == ">=" and claim.bound == 0.1
    assert claim.note.startswith("the paper's claim (< 0.1) fails in these runs")


def test_a_contradicted_claim_that_holds_fails_the_check(ctx: RunContext) -> None:
    """Listing a claim that holds as contradicted makes its row fail: the check cannot be
    satisfied by listing claims."""
    name = "tanh autoencoder: SGD is closer to the balance than GD"
    listed = run({**TINY, "contradicted": [*TINY["contradicted"], name]}, ctx)
    assert [c.name for c in listed.claims.failures if c.name.startswith("tanh")] == [
        f"{name} (contradicted)"
    ]


def test_unknown_contradicted_names_are_refused(ctx: RunContext) -> None:
    with pytest.raises(ValueError, match=r"contradicted=\['no such claim'\]: not claims"):
        run({**TINY, "contradicted": ["no such claim"]}, ctx)


def test_digits_runs_start_from_the_same_function() -> None:
    """Both runs factorise the least-squares solution: equal losses at step 0, different norms."""
    dig = digits_runs({**QUICK["digits"], "steps": 2, "every": 1}, seed=0)
    loss, n_sq = dig.series["loss"], dig.series["norm_sq"]
    # the same product of layers, computed through different factors: float64 rounding
    torch.testing.assert_close(loss[0, 0], loss[1, 0], rtol=1e-10, atol=0)
    assert float((n_sq[0, 0] - n_sq[1, 0]).abs().max()) > 0.1
    middle = n_sq[0, 0, 1:-1]
    torch.testing.assert_close(middle, middle.mean().expand_as(middle), rtol=1e-12, atol=0)


def test_figures(result: Result) -> None:
    figs = figures(result)
    assert set(figs) == {"vector_norms", "digits_norms", "balance_heatmaps"}
    assert len(figs["vector_norms"].axes) == 3 and len(figs["balance_heatmaps"].axes) == 8
