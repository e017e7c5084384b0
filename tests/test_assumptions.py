"""Tests of gdlab.stepsize.assumptions: Assumption 2 constants, the sampled Assumption 1 check
and the margin of the network along the data's max-margin direction."""

from __future__ import annotations

import math

import pytest
import torch

from gdlab import data
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.assumptions import (
    SAMPLE_RTOL,
    activation_constants,
    aligned_margin,
    check_assumption1,
)
from gdlab.stepsize.network import TwoLayerNet


def test_activation_constants_flag_gelu_kappa_only() -> None:
    names = ["gelu", "softplus", "silu", "leaky_softplus_ex31", "leaky_gelu", "tanh"]
    rows = activation_constants(names, num=20_001)
    failures = [(r.name, k) for r in rows for k in r.printed_failures]
    assert failures == [("gelu", "kappa")]
    for r in rows:
        for key in r.tight:
            # Grid spacing 5e-3: interior extrema missed by at most sup|g''| h^2/8 < 1e-4.
            assert abs(r.grid[key] - r.tight[key]) <= 1e-4, (r.name, key)
        assert r.satisfies_2a == r.name.startswith("leaky"), r.name
    with pytest.raises(ValueError, match="unknown constant"):
        rows[0].printed_is_bound("rho")


def test_check_assumption1_holds_and_is_tight_for_a_linear_net() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 6)
    check = check_assumption1(net, math.sqrt(2), samples=128, seed=1)
    assert all(v <= 1 + SAMPLE_RTOL for v in check.ratios().values())
    assert check.ratios()["rho"] == check.max_grad_norm / check.rho
    # The draws do not depend on the chunking.
    again = check_assumption1(net, math.sqrt(2), samples=128, seed=1, chunk=17)
    assert again.max_grad_norm == pytest.approx(check.max_grad_norm, rel=1e-12)
    # Linear f: ||grad f|| = R/sqrt(m) = rho exactly, and f = <grad f, w>.
    lin = check_assumption1(TwoLayerNet.balanced(get_activation("identity"), 4), 2.0, samples=32)
    assert lin.max_grad_norm == pytest.approx(lin.rho, rel=1e-12)  # float64 rounding
    assert lin.max_homogeneity_gap <= 1e-12  # float64 rounding of sums of 4 terms of size ~1e2
    # A zero constant: ratio 0 for a zero maximum, inf otherwise.
    assert lin.kappa == 0 and lin.ratios()["kappa"] in (0.0, math.inf)
    for bad in ({"samples": 0}, {"log10_scale": (1.0, 0.0)}, {"step": 0.0}, {"d": 0}):
        with pytest.raises(ValueError):
            check_assumption1(net, 1.0, **bad)
    with pytest.raises(ValueError, match="radius"):
        check_assumption1(net, 0.0)


def test_check_assumption1_catches_a_too_small_constant() -> None:
    net = TwoLayerNet.balanced(get_activation("softplus"), 4)
    check = check_assumption1(net, 3.0, samples=64)
    # Measured at radius 3 but judged against the constants of radius 1: rho scales with R.
    small = check_assumption1(net, 1.0, samples=64)
    assert check.max_grad_norm > small.rho


def test_aligned_margin_of_the_figure4_net() -> None:
    ds = data.five_point()
    net = TwoLayerNet(get_activation("leaky_softplus_half"), torch.tensor([1.0, -1.0]))
    w_star, gamma = data.max_margin_direction(ds.X, ds.y)
    assert gamma == pytest.approx(0.05, rel=1e-9)  # the SVM solves to float64 rounding
    # Both neurons along +-w_*: gamma-bar -> (phi(g) - phi(-g))/2 / sqrt 2 = 0.75 g / sqrt 2,
    # up to phi(0)/scale ~ 1e-9 at scale 1e8.
    assert aligned_margin(net, ds.X, ds.y, w_star) == pytest.approx(
        0.75 * 0.05 / math.sqrt(2), abs=1e-8
    )
    with pytest.raises(ValueError, match="scale"):
        aligned_margin(net, ds.X, ds.y, torch.tensor([1.0, 0.0, 0.0]), scale=0.0)
