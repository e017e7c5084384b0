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
    assert mg.gamma_bar(2.0, rho) == 0.5
    assert mg.gamma_a(math.log(L), rho) == pytest.approx(-math.log(L) / rho, rel=REL)
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
    assert np.all(np.isfinite(mg.gamma_a(log_L, np.ones(3))))


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
    assert mg.gamma_a(-2000.0, 100.0) == 20.0
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


def test_trajectory_margins_on_real_runs() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20)
    ds = data.xor()
    lrs = [30.0, 300.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # XOR has R = sqrt 2 > 1, as printed
        traj = train(net, ds.X, ds.y, lrs, 3000, record_every=10)
    c = run_constants(traj.run(0), net, ds.X, ds.y)
    out = mg.trajectory_margins(traj, c)
    S = traj.steps.numel()
    assert out.gamma_bar.shape == out.gamma_c.shape == (2, S)
    np.testing.assert_allclose(out.gamma_bar, traj.normalized_margin.numpy(), rtol=REL)
    # gamma^c depends on the stepsize through k_1: run 1 uses lr = 300, not c.lr = 30
    own = mg.gamma_c(traj.log_risk[1], traj.param_norm[1], c.with_lr(300.0))
    np.testing.assert_array_equal(out.gamma_c[1], own)
    # defined exactly where L < 1/(2 n e^kappa)
    defined = traj.log_risk.numpy() < -math.log(2 * 4 * math.exp(c.kappa))
    assert defined[1].any() and not defined[:, 0].any()
    np.testing.assert_array_equal(np.isfinite(out.gamma_b), defined)
    np.testing.assert_array_equal(np.isfinite(out.gamma_c), defined)
    # Lemma A.10 ordering gamma^c <= gamma^b where defined, Lemma A.9 gamma-bar <= gamma^a
    # where L <= 1/(2n); differences are exact identities up to rounding of O(1) values.
    assert np.all(out.gamma_c[defined] <= out.gamma_b[defined])
    low = traj.log_risk.numpy() <= -math.log(8)
    assert np.all(out.gamma_bar[low] <= out.gamma_a[low] + 1e-12)
