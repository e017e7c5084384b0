"""Tests of gdlab.stepsize.logspace: stable-phase quantities in log space."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab import data
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.logspace import (
    lemma_a15_lower,
    log10_lemma_a10_constant,
    log10_lemma_a14_bounds,
    log_gamma_c,
)
from gdlab.stepsize.margins import gamma_b, gamma_c
from gdlab.stepsize.network import TwoLayerNet


@pytest.fixture(scope="module")
def constants() -> th.ProblemConstants:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20)
    ds = data.xor()
    return th.problem_constants(net, ds.X, ds.y, 10.0)


def test_log10_a10_constant_matches_the_direct_formula(constants) -> None:
    direct, _, _ = th.lemma_a10_constant(constants)
    assert log10_lemma_a10_constant(constants) == pytest.approx(math.log10(direct), rel=1e-12)
    big = constants.with_lr(1e5)  # c overflows float64; its log does not
    assert math.isinf(th.lemma_a10_constant(big)[0])
    assert math.isfinite(log10_lemma_a10_constant(big))


def test_log_gamma_c_matches_gamma_c_and_survives_underflow(constants) -> None:
    log_risk = np.array([-1.0, -5.0, -50.0])  # the first is above 1/(2 n e^kappa): undefined
    norm = np.array([1.0, 2.0, 30.0])
    direct = gamma_c(log_risk, norm, constants)
    logged = log_gamma_c(constants, log_risk, norm)
    assert np.isnan(direct[0]) and np.isnan(logged[0])
    np.testing.assert_allclose(np.exp(logged[1:]), direct[1:], rtol=1e-12)  # rounding
    big = constants.with_lr(1e5)  # gamma^c = e^(-k_1/...) underflows to 0
    assert gamma_c(log_risk[1:2], norm[1:2], big)[0] == 0
    assert np.isfinite(log_gamma_c(big, log_risk[1:2], norm[1:2])[0])


def test_log10_a14_bounds_match_lemma_a14(constants) -> None:
    t, s, log_risk_s, log_gc = np.array([5.0, 10.0, 100.0]), 5, -6.0, -3.0
    lower, upper = log10_lemma_a14_bounds(constants, t, s, log_risk_s, log_gc)
    plain_lower, plain_upper = th.lemma_a14_bounds(constants, t, s, log_risk_s, math.exp(log_gc))
    np.testing.assert_allclose(10**lower, plain_lower, rtol=1e-12)  # rounding
    assert upper[0] == math.inf and np.isinf(plain_upper[0])
    np.testing.assert_allclose(10 ** upper[1:], plain_upper[1:], rtol=1e-12)


def test_log_gamma_c_below_log_gamma_b(constants) -> None:
    # Lemma A.10's left end: gamma^c = gamma^b e^(k_1/ell) <= gamma^b, ell = log(2 n e^kappa L).
    log_risk = np.linspace(-3.0, -500.0, 50)
    norm = np.linspace(1.0, 40.0, 50)
    defined = ~np.isnan(gamma_b(log_risk, norm, constants))
    assert defined.sum() > 40
    lgc = log_gamma_c(constants, log_risk, norm)[defined]
    assert np.all(lgc < np.log(gamma_b(log_risk, norm, constants)[defined]))


def test_lemma_a15_lower_matches_lemma_a15(constants) -> None:
    t, s, log_risk_s, log_gc, norm_s = np.array([6.0, 50.0, 1e4]), 5, -6.0, -3.0, 4.0
    b0 = th.lemma_a12_b0(constants, norm_s)
    plain, _ = th.lemma_a15_bounds(constants, t, s, log_risk_s, math.exp(log_gc), b0)
    np.testing.assert_allclose(lemma_a15_lower(constants, t, s, log_gc, norm_s), plain, rtol=1e-12)
    # gamma^c(w_s) underflowing to 0 gives -inf in the plain form; the log form stays finite
    assert np.all(np.isfinite(lemma_a15_lower(constants.with_lr(1e5), t, s, -800.0, norm_s)))
    with pytest.raises(ValueError, match="t > s"):
        lemma_a15_lower(constants, [5.0], s, log_gc, norm_s)


def test_gap_between_gamma_b_and_gamma_c_grows_with_the_stepsize(constants) -> None:
    # Algebra (formerly a claim of the margin chapter): log gamma^b - log gamma^c = -k_1 / ell
    # with ell = log(2 n e^kappa L) < 0 and k_1 = 1 + (4 rho^2 + 2 beta) lr, so at a fixed risk
    # and norm the gap grows linearly with the stepsize.
    log_risk, norm = np.array([-20.0]), np.array([10.0])
    gaps = [
        float(np.log(gamma_b(log_risk, norm, c))[0] - log_gamma_c(c, log_risk, norm)[0])
        for c in (constants.with_lr(lr) for lr in (10.0, 100.0, 1000.0))
    ]
    assert gaps[0] < gaps[1] < gaps[2]
    ell = float(th.log_scaled_risk(constants, log_risk)[0])
    k1 = [th.lemma_a10_constant(constants.with_lr(lr))[1] for lr in (10.0, 100.0, 1000.0)]
    np.testing.assert_allclose(gaps, [-k / ell for k in k1], rtol=1e-10)  # rounding
