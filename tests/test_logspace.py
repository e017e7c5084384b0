"""Tests of gdlab.stepsize.logspace: stable-phase quantities in log space."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab import data
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.logspace import log10_lemma_a10_constant, log10_lemma_a14_bounds, log_gamma_c
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
