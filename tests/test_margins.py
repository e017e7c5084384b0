"""Tests of gdlab.stepsize.margins: eqs. (3), (8)-(10) on hand values, tiny risks, real runs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from gdlab import data
from gdlab.stepsize import margins as mg
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.gd import train
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.theory import ProblemConstants, lemma_a10_constant, run_constants

# Closed forms evaluated two ways in float64 agree to a few ulps.
REL = 1e-13


@pytest.fixture
def consts() -> ProblemConstants:
    # n = 2, kappa = 0.5: 2 n e^kappa = 4 e^0.5; k_1 = 1 + (4 * 0.25 + 0) * 2 = 3
    return ProblemConstants(
        n=2, m=1, d=2, lr=2.0, eta=2.0, rho=0.5, beta=0.0, kappa=0.5, alpha=1.0,
        beta_tilde=0.0, sup_dphi=1.0, R=1.0,
    )  # fmt: skip


def test_hand_values(consts: ProblemConstants) -> None:
    L, rho = 1e-3, 4.0
    ell = math.log(4 * math.exp(0.5) * L)
    assert mg.gamma_b(math.log(L), rho, consts) == pytest.approx(-ell / rho, rel=REL)
    expected_c = math.exp(math.log(-ell) + 3 / ell) / rho
    assert mg.gamma_c(math.log(L), rho, consts) == pytest.approx(expected_c, rel=REL)
    assert lemma_a10_constant(consts)[1] == pytest.approx(3.0)


def test_undefined_range_is_nan(consts: ProblemConstants) -> None:
    edge = 1 / (4 * math.exp(0.5))
    log_L = np.log([edge * 0.999, edge, 0.5])
    for fn in (mg.gamma_b, mg.gamma_c):
        out = fn(log_L, np.ones(3), consts)
        assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])


def test_tiny_risks_in_log_space(consts: ProblemConstants) -> None:
    # L = 1e-200 is representable: the log-space value equals the direct one.
    log_L = math.log(1e-200)
    ell = -460.517018598809 + math.log(4) + 0.5  # log(1e-200) = -200 log 10
    assert mg.gamma_b(log_L, 10.0, consts) == pytest.approx(-ell / 10, rel=REL)
    assert mg.gamma_c(log_L, 10.0, consts) == pytest.approx(
        math.exp(math.log(-ell) + 3 / ell) / 10, rel=REL
    )
    # L = e^-2000 underflows to 0 in float64, the margins stay exact
    ell = -2000 + math.log(4) + 0.5
    assert mg.gamma_b(-2000.0, 100.0, consts) == pytest.approx(-ell / 100, rel=REL)
    # gamma^c / gamma^b = e^{k_1/ell} -> 1 as L -> 0
    ratio = mg.gamma_c(-2000.0, 100.0, consts) / mg.gamma_b(-2000.0, 100.0, consts)
    assert ratio == pytest.approx(math.exp(3 / ell), rel=REL)


def test_torch_inputs(consts: ProblemConstants) -> None:
    log_L = torch.tensor([-10.0, -20.0], dtype=torch.float64)
    rho = torch.tensor([2.0, 3.0], dtype=torch.float64)
    np.testing.assert_array_equal(
        mg.gamma_c(log_L, rho, consts), mg.gamma_c(log_L.numpy(), rho.numpy(), consts)
    )


def test_margins_on_real_runs() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20)
    ds = data.xor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # XOR has R = sqrt 2 > 1, as printed
        run = train(net, ds.X, ds.y, 300.0, 3000, record_every=10).run(0)
    c = run_constants(run, net, ds.X, ds.y)
    log_L, norm = run.log_risk[0], run.param_norm[0]
    gb, gc = mg.gamma_b(log_L, norm, c), mg.gamma_c(log_L, norm, c)
    # defined exactly where L < 1/(2 n e^kappa), reached within the horizon
    defined = log_L.numpy() < -math.log(2 * 4 * math.exp(c.kappa))
    assert defined.any() and not defined[0]
    np.testing.assert_array_equal(np.isfinite(gb), defined)
    np.testing.assert_array_equal(np.isfinite(gc), defined)
    # Lemma A.10's sandwich gamma^c <= gamma^b <= gamma-bar where L <= 1/(2 n e^(kappa+2));
    # both sides are O(1) values computed to a few ulps
    sandwich = log_L.numpy() <= -math.log(2 * 4 * math.exp(c.kappa + 2))
    assert sandwich.any()
    gbar = run.normalized_margin[0].numpy()
    assert np.all(gc[sandwich] <= gb[sandwich])
    assert np.all(gb[sandwich] <= gbar[sandwich] + 1e-12)
