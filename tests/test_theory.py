"""Tests of gdlab.stepsize.theory: every bound on hand-checked values and its stated properties."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
from ulp import assert_ulp_close

from gdlab import data
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.gd import train
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.theory import ProblemConstants, problem_constants, run_constants

# Closed forms evaluated two ways in float64 agree to a few ulps of O(1e3) values.
REL = 1e-13


def _linear(
    n: int = 2, gamma: float = 0.5, eta: float = 2.0, w0: float = 3.0, **kw
) -> ProblemConstants:
    """The linear special case of spec §3.3: m = 1, phi = identity, R = 1."""
    base = dict(
        n=n, m=1, d=2, lr=eta, eta=eta, rho=1.0, beta=0.0, kappa=0.0, alpha=1.0,
        beta_tilde=0.0, sup_dphi=1.0, R=1.0, gamma=gamma, w0_norm=w0,
    )  # fmt: skip
    return ProblemConstants(**{**base, **kw})


def test_linear_special_case_theorem32_and_condition5() -> None:
    c = _linear()
    # Spec §3.3: (1 + 8 log^2(gamma^2 eta t) + eta^2)/(gamma^2 eta t) + ||w0||^2/(eta t),
    # gamma^2 eta t = 0.25 * 2 * 10 = 5.
    expected = (1 + 8 * math.log(5.0) ** 2 + 4.0) / 5.0 + 9.0 / 20.0
    assert th.theorem32_average_risk_bound(c, 10) == pytest.approx(expected, rel=REL)
    # eq. (5) becomes min{1/(2 e^2 n), 1/(4 eta)}: here 1/(4 e^2) < 1/8.
    assert th.condition5_threshold(c) == pytest.approx(1 / (4 * math.e**2), rel=REL)
    assert th.condition5_threshold(c.with_lr(0.5)) == pytest.approx(1 / (4 * math.e**2), rel=REL)
    assert th.condition5_threshold(c.with_lr(100.0)) == pytest.approx(1 / 400, rel=REL)
    assert th.condition4_threshold(c) == pytest.approx(1 / 4, rel=REL)


def test_linear_special_case_from_the_builder() -> None:
    net = TwoLayerNet(get_activation("identity"), torch.tensor([1.0]))
    ds = data.separable_gaussian(n=6, d=3, margin=0.3, seed=1)
    w, gamma = data.max_margin_direction(ds.X, ds.y)
    c = problem_constants(net, ds.X, ds.y, 2.0, W0=torch.zeros(1, 3), w_star=w)
    assert (c.alpha, c.kappa, c.beta_tilde, c.beta, c.f0, c.w0_norm) == (1, 0, 0, 0, 0, 0)
    assert c.eta == c.lr == 2.0
    assert c.rho == pytest.approx(ds.radius, rel=REL)
    assert c.gamma == pytest.approx(gamma, rel=1e-12)  # margin recomputed from w_star
    # with ||w0|| = 0 Theorem 3.2 is (1 + 8 log^2(gamma^2 eta t) + eta^2)/(gamma^2 eta t)
    g2et = gamma**2 * 2.0 * 7
    expected = (1 + 8 * math.log(g2et) ** 2 + 4.0) / g2et
    assert th.theorem32_average_risk_bound(c, 7) == pytest.approx(expected, rel=REL)


def test_vectorised_over_numpy_and_torch_times() -> None:
    c = _linear()
    t = np.array([1.0, 10.0, 100.0])
    a = th.theorem32_average_risk_bound(c, t)
    b = th.theorem32_average_risk_bound(c, torch.tensor(t))
    assert isinstance(a, np.ndarray) and a.shape == (3,)
    np.testing.assert_array_equal(a, b)
    # The same formula on a 3-vector and on a scalar: numpy's vectorised log (arrays) and
    # libm's (scalar) may differ by an ulp, squared and summed with O(1) terms: 4 ulps.
    why = "the bound's numpy log on an array against on a scalar"
    assert_ulp_close(a[1], th.theorem32_average_risk_bound(c, 10), 4, why)
    # the bound is a log^2(t)/t: it eventually decreases in t
    assert a[2] < a[1]


def test_width_free_thresholds() -> None:
    # leaky_softplus_half has sup|phi'| = 1, so the general and width-free forms coincide.
    half = get_activation("leaky_softplus_half")
    X = torch.tensor([[0.6, 0.8], [-0.3, 0.1]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    for m in (1, 7, 40):
        c = problem_constants(TwoLayerNet.balanced(half, m), X, y, lr=3.0 * m)
        assert th.condition5_threshold(c) == pytest.approx(
            th.condition5_threshold_two_layer(c), rel=REL
        )
        # width-free: eta = 3, R = 1, beta~ = 1/8, n = 2, kappa = log(2)/2 (phi = (z +
        # softplus z)/2) -> min{1/(4 e^(log(2)/2 + 2)), 1/(3 (4 + 1/4))}
        expected = min(1 / (4 * math.exp(math.log(2) / 2 + 2)), 1 / (3 * 4.25))
        assert th.condition5_threshold_two_layer(c) == pytest.approx(expected, rel=REL)
    # ex31 has sup|phi'| = 0.625 < 1: the width-free form (|phi'| <= 1) is more demanding.
    c = problem_constants(TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 5), X, y, 50)
    assert th.condition5_threshold_two_layer(c) <= th.condition5_threshold(c)
    with pytest.raises(ValueError, match="b = 1"):
        th.condition5_threshold_two_layer(dataclasses.replace(c, b=2.0))


def test_lemma_a10_constant_and_phi() -> None:
    c = _linear(n=2, eta=0.25)
    const, k1, k2 = th.lemma_a10_constant(c)
    assert k1 == pytest.approx(2.0, rel=REL)  # 1 + 4 * 1 * 0.25
    assert k2 == pytest.approx(math.log(4.0), rel=REL)
    e2 = math.exp(2.0)
    assert const == pytest.approx((k2 + 2 * e2 + 2 * k2 * e2) * (k2 + 1), rel=REL)
    # Phi(x) = log(-log(4x)) + 2/log(4x) on (0, 1/4), NaN from 1/4 on
    x = np.array([1e-3, 0.1, 0.25, 0.5])
    phi = th.Phi(c, log_x=np.log(x))
    assert phi[0] == pytest.approx(math.log(-math.log(4e-3)) + 2 / math.log(4e-3), rel=REL)
    assert np.isnan(phi[2]) and np.isnan(phi[3])
    # log space: x = e^-1000 underflows, Phi does not
    ell = -1000 + math.log(4.0)
    assert th.Phi(c, log_x=-1000.0) == pytest.approx(math.log(-ell) + 2 / ell, rel=REL)


def test_lemma_a10_vacuous_for_huge_stepsizes() -> None:
    c = _linear(n=2, eta=1000.0)  # k_1 = 4001: e^{k_1} overflows float64
    const, k1, _ = th.lemma_a10_constant(c)
    assert const == math.inf and k1 == pytest.approx(4001.0)
    # gamma^c = e^Phi/||w|| underflows to 0 there; the bound stays +inf, not NaN
    assert th.lemma_a10_sandwich(c, -100.0, 0.0) == math.inf
    assert np.isnan(th.lemma_a10_sandwich(c, -1.0, 0.0))  # outside L <= 1/(2n e^(kappa+2))


def test_lemma_a11_phi_convex() -> None:
    """Lemma A.11: Phi is convex on (0, 1/(2 n e^(kappa+2)))."""
    c = _linear(n=4, eta=3.0)
    top = math.log(1 / (2 * 4 * math.e**2))
    x = np.exp(np.linspace(top - 30, top, 2001))
    phi = th.Phi(c, log_x=np.log(x))
    slope = np.diff(phi) / np.diff(x)
    # convex: slopes of chords increase (relative rounding of the chord slopes ~1e-10 here)
    assert np.all(np.diff(slope) >= -1e-10 * np.abs(slope[1:]))


def test_lemma_a3_a7_a8_a9_hypotheses_give_nan() -> None:
    c = _linear(n=2, eta=1.0)
    low, up = th.lemma_a3_bounds(c, [0.5, 2.0], [1.0, 1.0])
    assert low[0] == pytest.approx(-1.0) and up[0] == pytest.approx(-(1 - 2 * 0.5))
    assert np.isnan(low[1]) and np.isnan(up[1])  # L > 1/(lr rho^2) = 1
    log_L = np.log([1e-3, 0.3])  # 1/(2 n e^kappa) = 1/4
    v = th.lemma_a7_lower_bound(c, log_L)
    assert v[0] == pytest.approx(-1e-3 * math.log(4e-3), rel=REL) and np.isnan(v[1])
    lo8, up8 = th.lemma_a8_bounds(c, log_L, [2.0, 2.0])
    assert lo8[0] == 4.0 and up8[0] == pytest.approx(4 * (1 - 1 / (2 * math.log(4e-3))))
    assert np.isnan(lo8[1]) and np.isnan(up8[1])
    lo9, up9 = th.lemma_a9_bounds(c, log_L, [5.0, 5.0])
    assert (lo9[0], up9[0]) == (5.0, pytest.approx(5.0 + math.log(4.0)))
    assert np.isnan(lo9[1])


def test_lemma_a14_a15() -> None:
    c = _linear(n=2, eta=0.5, gamma=0.5)
    low, up = th.lemma_a14_bounds(c, [3, 4, 13], s=3, log_risk_s=math.log(0.01), gamma_c_s=0.2)
    assert low[0] == pytest.approx(0.01) and up[0] == math.inf
    assert low[2] == pytest.approx(1 / (100 + 3 * 0.5 * 10), rel=REL)
    assert up[2] == pytest.approx(2 / (10 * 0.5 * 0.04), rel=REL)
    with pytest.raises(ValueError, match="s=3"):
        th.lemma_a14_bounds(c, [2], s=3, log_risk_s=math.log(0.01), gamma_c_s=0.2)
    lo15, up15 = th.lemma_a15_bounds(c, 13, s=3, log_risk_s=math.log(0.01), gamma_c_s=0.2, b0=2.0)
    assert lo15 == pytest.approx(math.log(10 * 0.5 * 0.04 / 4) / 4, rel=REL)
    assert up15 == pytest.approx(math.log(115 / 4) / 0.2, rel=REL)
    assert th.lemma_a12_b0(dataclasses.replace(c, f0=1.0), 2.0) == pytest.approx(
        1 + (1 + math.log(4)) / 2
    )


def test_lemma_a13_lower_bound() -> None:
    value = th.lemma_a13_lower_bound(2.0, 2.0 * math.e, 4.0, 3.0)
    assert value == pytest.approx(4 / 16 * 3 * 1.0, rel=REL)
    # a step whose gradient underflowed (v = mu = 0, the iterate does not move) gives 0, not NaN
    assert th.lemma_a13_lower_bound(2.0, 2.0, 0.0, 0.0) == 0.0


def test_lemma_a14_a15_survive_an_underflowed_risk() -> None:
    """L_s = e^-800 is 0 in float64; the bounds use log L_s and stay defined."""
    c = _linear(n=2, eta=0.5, gamma=0.5)
    low, _ = th.lemma_a14_bounds(c, [4], s=3, log_risk_s=-800.0, gamma_c_s=0.2)
    assert low[0] == 0.0  # 1/(e^800 + ...) is below float64's range: the valid bound 0
    _, up15 = th.lemma_a15_bounds(c, 13, s=3, log_risk_s=-800.0, gamma_c_s=0.2, b0=2.0)
    assert up15 == pytest.approx((800 - math.log(4)) / 0.2, rel=REL)


def test_first_phase_bounds_need_their_assumptions() -> None:
    c = _linear()
    with pytest.raises(ValueError, match="Assumption 3"):
        th.theorem32_average_risk_bound(dataclasses.replace(c, gamma=None), 5)
    with pytest.raises(ValueError, match="alpha"):
        th.theorem41_tau(dataclasses.replace(c, alpha=0.0))
    with pytest.raises(ValueError, match="w_0"):
        th.lemma_c3_average_G_bound(dataclasses.replace(c, w0_norm=None), 5)
    with pytest.raises(ValueError, match="t must be > 0"):
        th.theorem32_average_risk_bound(c, 0)


def test_lemma_c3_reads_log_as_abs() -> None:
    c = _linear(gamma=0.5, eta=2.0, w0=0.0)
    # gamma^2 eta t = 0.5 < 1: |log| (Lemma C.2's note) with alpha = 1, kappa = 0, m = 1
    expected = (2 + 8 * abs(math.log(0.5)) + 4 * 2.0) / (0.25 * 2.0 * 1)
    assert th.lemma_c3_average_G_bound(c, 1) == pytest.approx(expected, rel=REL)
    assert th.lemma_c3_step_gain(c, 0.5) == pytest.approx(1 * 1 * 0.5 * 2.0 * 0.5)


def test_theorem41_tau_hand_value() -> None:
    c = _linear(n=2, gamma=0.5, eta=2.0, w0=3.0)
    c1, c2 = 4 * math.e**2, 8.0  # kappa = 0, beta~ = 0
    ratio = (c2 * 2 + c1 * 2) / 2
    inner = max(16.0, c1 * 2, math.e, ratio * math.log(ratio), ratio * 3.0)
    assert th.theorem41_tau(c) == pytest.approx(128 / 0.25 * inner, rel=REL)


def test_stable_rate_factors() -> None:
    c = _linear(gamma=0.5, eta=2.0)
    safe = th.theorem41_stable_bound(c, 11, 1)
    assert safe == pytest.approx(8 / (0.25 * 2.0 * 10), rel=REL)
    assert th.theorem41_stable_bound(c, 11, 1, factor=2.0) == pytest.approx(safe / 4)


def test_corollary42_budget_stepsize_and_tau() -> None:
    """Corollary 4.2: with T >= the budget and eta of the corollary, tau <= T/2 (§6.3)."""
    act = get_activation("leaky_softplus_ex31")
    ds = data.separable_gaussian(n=8, d=4, margin=0.2, seed=0)
    w, _ = data.max_margin_direction(ds.X, ds.y)
    net = TwoLayerNet.balanced(act, 10)
    c = problem_constants(net, ds.X, ds.y, 1.0, W0=net.init(1, 4, 0.1, 0), w_star=w)
    budget = th.corollary42_budget(c)
    c1, c2 = 4 * math.exp(c.kappa + 2), 8 + 4 * c.beta_tilde
    raw = 256 * (1 + 4 * c.kappa) / (c.alpha**2 * c.gamma**2) * max(c1 * 8, 4 * c2**2)
    assert budget == math.ceil(raw)  # ||w0|| is small here, so the max is over c1 n, 4 c2^2
    for T in (budget, 3 * budget, 100 * budget):
        eta = th.corollary42_stepsize(c, T)
        assert eta == pytest.approx(c.alpha**2 * c.gamma**2 * T / (256 * (1 + 4 * c.kappa) * c2))
        # at T = budget the slot c_2 eta is the max and tau = T/2 exactly, up to rounding
        assert th.theorem41_tau(c.with_lr(c.m * eta)) <= T / 2 * (1 + 1e-12)
    T = 10 * budget
    printed = th.corollary42_risk_bound(c, T)
    assert printed == pytest.approx(2048 * (1 + 4 * c.kappa) * c2 / (c.alpha * c.gamma) ** 4 / T**2)
    assert th.corollary42_risk_bound(c, T, factor=th.COROLLARY42_FACTORS["safe"]) == 2 * printed


def test_problem_constants_tight_and_printed() -> None:
    act = get_activation("leaky_softplus_ex31")
    net = TwoLayerNet.balanced(act, 20)
    ds = data.xor()
    c = problem_constants(net, ds.X, ds.y, 10.0)
    assert (c.n, c.m, c.d, c.eta) == (4, 20, 2, 0.5)
    assert c.R == pytest.approx(math.sqrt(2), rel=REL)
    assert (c.rho, c.beta, c.kappa) == net.assumption1_constants(c.R)
    assert c.f0 == pytest.approx(0.125 * math.log(2), rel=REL)  # |phi(0)|
    assert c.gamma is None and c.w0_norm is None and c.constants == "tight"
    p = problem_constants(net, ds.X, ds.y, 10.0, constants="printed")
    # Example 3.1: kappa = 1, alpha = 0.25, beta~ = 1, |phi'| <= 1
    assert (p.kappa, p.alpha, p.beta_tilde) == (1.0, 0.25, 1.0)
    assert p.rho == pytest.approx(math.sqrt(2) / math.sqrt(20), rel=REL)
    assert p.beta == pytest.approx(2 / 20, rel=REL)
    assert th.condition5_threshold(p) < th.condition5_threshold(c)  # printed is looser
    # plain softplus: the paper states no alpha, the tight value (0) is used and noted
    sp = problem_constants(TwoLayerNet.balanced(get_activation("softplus"), 4), ds.X, ds.y, 1.0,
                           constants="printed")  # fmt: skip
    assert sp.alpha == 0.0 and "alpha" in sp.note
    with pytest.raises(ValueError, match="constants="):
        problem_constants(net, ds.X, ds.y, 1.0, constants="loose")


def test_problem_constants_separability_checks() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_half"), 4)
    ds = data.separable_gaussian(n=10, d=3, margin=0.2, seed=3)
    w, gamma = data.max_margin_direction(ds.X, ds.y)
    c = problem_constants(net, ds.X, ds.y, 1.0, w_star=5 * w)  # normalised to unit length
    assert np.linalg.norm(c.w_star) == pytest.approx(1.0, rel=REL)
    assert c.gamma == pytest.approx(gamma, rel=1e-12)
    with pytest.raises(ValueError, match="exceeds the margin"):
        problem_constants(net, ds.X, ds.y, 1.0, w_star=w, gamma=2 * gamma)
    with pytest.raises(ValueError, match="does not separate"):
        problem_constants(net, ds.X, ds.y, 1.0, w_star=-w)
    xor = data.xor()
    with pytest.raises(ValueError, match="does not separate"):
        problem_constants(net, xor.X, xor.y, 1.0, w_star=torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="lr="):
        problem_constants(net, ds.X, ds.y, -1.0)
    with pytest.raises(TypeError, match="TwoLayerNet"):
        problem_constants("net", ds.X, ds.y, 1.0)


def test_run_constants_reads_lr_and_w0() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 6)
    ds = data.xor().rescaled()
    W0 = net.init(1, 2, 0.3, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rescaled data: no R > 1 warning
        traj = train(net, ds.X, ds.y, [1.0, 2.0], 3, W0=W0)
    c = run_constants(traj.run(1), net, ds.X, ds.y)
    assert c.lr == 2.0 and c.eta == 2.0 / 6
    assert c.w0_norm == pytest.approx(float(W0.norm()), rel=1e-14)  # one rounded norm each
    with pytest.raises(ValueError, match="single run"):
        run_constants(traj, net, ds.X, ds.y)
