"""Identities (D0)-(D6) and equilibrium predictions of gdlab.symmetry against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from gdlab.runtime import make_generator
from gdlab.symmetry.charges import flatten, pair_generator
from gdlab.symmetry.deep import eq122_sides, theorem_5_4
from gdlab.symmetry.equilibrium import (
    noise_balance,
    scalar_decay_rate,
    scalar_gradient_moment,
    theorem_5_2_gammas,
    width_one_ratio,
)
from gdlab.symmetry.identities import (
    check_charge_identity,
    check_layer_identity,
    check_product_law,
)
from gdlab.symmetry.linear import DeepLinear, end_to_end, init_chain
from gdlab.symmetry.moments import expected_charge_drift, layer_moments
from gdlab.symmetry.orbit import equilibrium_lambda, orbit_drift, orbit_point
from gdlab.symmetry.scale_invariant import (
    NormalizedLinear,
    equilibrium_norm4,
    increment_relative_sd,
    stationary_k,
)
from gdlab.symmetry.sharpness import (
    eq15_sharpness,
    hessian_trace,
    init_std,
    sharpness,
    top_eigenvalue,
)
from gdlab.symmetry.tasks import GaussianTask, normalized, sqrtm_psd

F64 = torch.float64


def _t(v) -> torch.Tensor:
    return torch.tensor(v, dtype=F64)


def _aniso_task() -> GaussianTask:
    V = _t([[1.0, 0.5, 0.0], [-0.3, 1.0, 0.4], [0.2, -0.6, 1.0]])
    return GaussianTask(V, torch.diag(_t([2.0, 1.0, 0.5])), torch.diag(_t([1.5, 1.0, 0.3])))


# --- exact one-step identities -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sgd", "gd"])
@pytest.mark.parametrize("gamma", [0.0, 0.1])
def test_layer_identity_d4_d5_holds_to_rounding(method, gamma):
    gen = make_generator(0)
    params = init_chain((3, 4, 5, 3), 3, 0.6, gen)
    check = check_layer_identity(
        params,
        _aniso_task(),
        eta=0.02,
        steps=30,
        generator=gen,
        gamma=gamma,
        batch_size=3,
        method=method,
    )
    assert check.holds
    # the measured error is at the level of float64 rounding, relative to the terms' size
    assert check.relative.max() < 1e-14


@pytest.mark.parametrize("method", ["sgd", "gd"])
def test_scale_invariant_identity_d6(method):
    gen = make_generator(1)
    n = 6
    beta = torch.randn(1, n, generator=gen, dtype=F64)
    task = GaussianTask(beta / beta.norm(), torch.eye(n, dtype=F64), _t([[0.5]]))
    theta = (torch.randn(3, n, generator=gen, dtype=F64),)
    check = check_charge_identity(
        NormalizedLinear(),
        theta,
        task,
        torch.eye(n, dtype=F64),
        eta=0.2,
        steps=30,
        generator=gen,
        gamma=0.05,
        method=method,
    )
    assert check.holds


def test_identity_check_detects_a_wrong_generator():
    """Negative control: ||theta||^2 is not a charge of a linear chain, so (D0) must fail."""
    gen = make_generator(2)
    params = init_chain((3, 4, 3), 2, 0.6, gen)
    A = torch.eye(flatten(params).shape[1], dtype=F64)
    check = check_charge_identity(
        DeepLinear(), params, _aniso_task(), A, eta=0.02, steps=5, generator=gen, batch_size=2
    )
    assert not check.holds and check.ratio.max() > 1e6


def test_scalar_product_law_d3():
    gen = make_generator(3)
    task = GaussianTask.isotropic(_t([[1.0]]))
    params = (torch.full((3, 1, 1), 0.5, dtype=F64), torch.full((3, 1, 1), 2.0, dtype=F64))
    law = check_product_law(
        params, task, eta=0.05, steps=200, generator=gen, batch_size=2, gamma=0.01
    )
    assert law.holds
    # vector case: every entry of D = U^T U - W W^T shrinks by the same factor
    vec = init_chain((1, 4, 1), 2, 0.8, gen)
    assert check_product_law(vec, task, eta=0.05, steps=100, generator=gen).holds


# --- exact Gaussian moments ----------------------------------------------------------------------


def test_scalar_moments_match_hand_derivation():
    """u w x toy: E g_u^2 = 4 w^2 (3 M^2 s_x^2 + s_e s_x), grad_u L = 2 M s_x w, M = u w - v."""
    vx, ve, v = 1.7, 0.6, 1.3
    task = GaussianTask.isotropic(_t([[v]]), vx, ve)
    w, u = 0.8, -1.1
    mom = layer_moments((_t([[[w]]]), _t([[[u]]])), task)
    M = u * w - v
    # E[r^2 x^2] for r = M x - eps (Gaussian): 3 M^2 vx^2 + ve vx.
    e_r2x2 = 3 * M**2 * vx**2 + ve * vx
    torch.testing.assert_close(mom.outer[1][0, 0, 0], _t(4 * w**2 * e_r2x2), rtol=1e-14, atol=0)
    torch.testing.assert_close(mom.outer[0][0, 0, 0], _t(4 * u**2 * e_r2x2), rtol=1e-14, atol=0)
    torch.testing.assert_close(mom.mean[1][0, 0, 0], _t(2 * M * vx * w), rtol=1e-14, atol=0)


def test_layer_moments_match_monte_carlo():
    gen = make_generator(4)
    task = _aniso_task()
    params = init_chain((3, 4, 3), 1, 0.7, gen)
    mom = layer_moments(params, task)
    n = 200_000
    x, y = task.sample(1, n, gen)
    rep = tuple(p.expand(n, -1, -1) for p in params)
    g_w, g_u = DeepLinear().grad(rep, x.reshape(n, 1, 3), y.reshape(n, 1, 3))
    outer = g_u @ g_u.transpose(-1, -2)
    inner = g_w.transpose(-1, -2) @ g_w
    for est, exact in ((outer, mom.outer[1][0]), (inner, mom.inner[0][0])):
        se = est.std(0) / math.sqrt(n)
        # Monte-Carlo mean of 2e5 heavy-tailed products: 6 standard errors entry-wise.
        assert ((est.mean(0) - exact).abs() <= 6 * se + 1e-12).all()


def test_expected_drift_vanishes_at_noise_balance_and_decays_with_weight_decay():
    task = _aniso_task()
    gen = make_generator(5)
    eq = _noise_balanced_point(task, gen)
    drift = expected_charge_drift(eq, task, eta=0.1, batch_size=4)[0]
    # At a global minimum satisfying Eq. (14) the exact one-step drift is zero (float64 level).
    assert drift.abs().max() < 1e-13
    decayed = expected_charge_drift(eq, task, eta=0.1, batch_size=4, gamma=0.2)[0]
    D = eq[1].transpose(-1, -2) @ eq[1] - eq[0] @ eq[0].transpose(-1, -2)
    torch.testing.assert_close(decayed, ((1 - 2 * 0.1 * 0.2) ** 2 - 1) * D, rtol=1e-10, atol=1e-13)


def _noise_balanced_point(task: GaussianTask, gen: torch.Generator):
    """App. C solution ``U = bar S_e^{-1/2} L sqrt(S) F``, ``W = F^T sqrt(S) R bar S_x^{-1/2}``."""
    nx, ne = normalized(task.cov_x), normalized(task.cov_eps)
    L, s, R = torch.linalg.svd(sqrtm_psd(ne) @ task.V @ sqrtm_psd(nx))
    F, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=F64))
    U = sqrtm_psd(ne, -0.5) @ L @ torch.diag_embed(s.sqrt()) @ F
    W = F.T @ torch.diag_embed(s.sqrt()) @ R @ sqrtm_psd(nx, -0.5)
    return W, U


# --- Theorem 5.2 ---------------------------------------------------------------------------------


def test_noise_balance_solution_satisfies_eq14_and_norm_predictions():
    task = _aniso_task()
    W, U = _noise_balanced_point(task, make_generator(6))
    torch.testing.assert_close(U @ W, task.V, rtol=0, atol=1e-13)
    nx, ne = normalized(task.cov_x), normalized(task.cov_eps)
    torch.testing.assert_close(
        U.transpose(-1, -2) @ ne @ U, W @ nx @ W.transpose(-1, -2), rtol=0, atol=1e-13
    )
    nb = noise_balance(task)
    torch.testing.assert_close(nb.u_sq, (U**2).sum((-1, -2)), rtol=1e-12, atol=0)
    torch.testing.assert_close(nb.w_sq, (W**2).sum((-1, -2)), rtol=1e-12, atol=0)
    torch.testing.assert_close(
        nb.nuclear, ((sqrtm_psd(ne) @ U) ** 2).sum((-1, -2)), rtol=1e-12, atol=0
    )
    torch.testing.assert_close(nb.sharpness, sharpness((W, U), task.cov_x), rtol=1e-12, atol=0)


def test_theorem_5_2_gammas_at_minimum_and_versions():
    task = _aniso_task()
    trx, tre = 3.5, 2.8
    gu, gw = theorem_5_2_gammas(task, eta=0.1, batch_size=5, gamma=0.01)
    torch.testing.assert_close(
        gu[0], 0.1 / 5 * trx * task.cov_eps[0] + 0.01 * torch.eye(3, dtype=F64), rtol=1e-14, atol=0
    )
    torch.testing.assert_close(
        gw[0], 0.1 / 5 * tre * task.cov_x[0] + 0.01 * torch.eye(3, dtype=F64), rtol=1e-14, atol=0
    )
    gu_main, _ = theorem_5_2_gammas(task, eta=0.1, batch_size=5, gamma=0.01, version="main")
    torch.testing.assert_close(
        gu_main[0], trx * task.cov_eps[0] + 0.02 * torch.eye(3, dtype=F64), rtol=1e-14, atol=0
    )


def test_width_one_ratio_versions():
    kw = dict(batch_size=2, dx=4, dy=2, var_x=1.0, var_eps=1.0)
    # gamma = 0: all versions give d_y / d_x
    for version in ("adopted", "main", "appendix"):
        assert width_one_ratio(eta=0.1, gamma=0.0, version=version, **kw) == pytest.approx(0.5)
    # adopted: (gamma + eta dy/S) / (gamma + eta dx/S) = (0.1 + 0.1) / (0.1 + 0.2)
    assert width_one_ratio(eta=0.1, gamma=0.1, **kw) == pytest.approx(2 / 3, rel=1e-14)
    assert width_one_ratio(eta=0.1, gamma=0.1, version="main", **kw) == pytest.approx(2.2 / 4.2)


def test_scalar_decay_rate():
    assert scalar_decay_rate(eta=0.1, batch_size=4, var_x=2.0, var_eps=0.5) == pytest.approx(
        4 * 0.01 * 1.0 / 4
    )
    assert scalar_decay_rate(
        eta=0.1, batch_size=4, var_x=2.0, var_eps=0.5, version="eq7"
    ) == pytest.approx(0.005)


def test_scalar_gradient_moment_matches_monte_carlo():
    """E[G^2 | theta] of the scalar toy off the minimum, G = (2/S) sum r_s x_s."""
    vx, ve, v, S = 1.5, 0.7, 1.0, 3
    task = GaussianTask.isotropic(_t([[v]]), vx, ve)
    u, w = 1.3, 0.6
    M = torch.tensor(u * w - v, dtype=F64)
    n = 400_000
    x, y = task.sample(n, S, make_generator(13))
    G = DeepLinear().end_gradient((_t([[[w]]]).expand(n, 1, 1), _t([[[u]]]).expand(n, 1, 1)), x, y)
    g2 = G[:, 0, 0] ** 2
    exact = scalar_gradient_moment(M, batch_size=S, var_x=vx, var_eps=ve)
    # Monte-Carlo mean of 4e5 draws: 5 standard errors
    assert abs(float(g2.mean() - exact)) < 5 * float(g2.std()) / math.sqrt(n)
    at_min = scalar_gradient_moment(torch.zeros((), dtype=F64), batch_size=S, var_x=vx, var_eps=ve)
    rate = scalar_decay_rate(eta=0.1, batch_size=S, var_x=vx, var_eps=ve)
    assert 0.01 * float(at_min) == pytest.approx(rate, rel=1e-14)


# --- Lemma B.1 and Theorems 4.3 / D.1 ------------------------------------------------------------


def test_lemma_b1_exact_off_the_minimum():
    gen = make_generator(7)
    task = _aniso_task()
    params = init_chain((3, 4, 3), 1, 0.8, gen)
    base = layer_moments(params, task).noise_trace()[0]
    for lam in (-0.7, 0.4, 1.3):
        moved = layer_moments(orbit_point(params, lam), task).noise_trace()[0]
        # Tr Sigma_W(theta_lambda) = e^{2 lam} Tr Sigma_W(theta), Tr Sigma_U = e^{-2 lam} Tr Sigma_U
        torch.testing.assert_close(
            moved, base * torch.exp(_t([2 * lam, -2 * lam])), rtol=1e-12, atol=0
        )


def test_orbit_drift_monotone_with_closed_form_root():
    a, b = _t([1.0, 0.5]), _t([1.5, -1.0, 0.5])
    task = GaussianTask(
        torch.outer(a, b), torch.diag(_t([2.0, 1.0, 0.5])), torch.diag(_t([0.3, 1.0]))
    )
    params = (b.reshape(1, 1, 3), a.reshape(1, 2, 1))
    drift = orbit_drift(params, task, torch.linspace(-2, 2, 41), eta=0.05, batch_size=4)
    assert (drift.G.diff(dim=0) < 0).all() and (drift.G_d.diff(dim=0) < 0).all()
    noise = layer_moments(params, task).noise_trace()[0]
    closed = 0.25 * math.log(noise[1] / noise[0])  # gamma = 0: e^{-2l} Tr S_U = e^{2l} Tr S_W
    for discrete in (False, True):
        lam = equilibrium_lambda(params, task, eta=0.05, batch_size=4, discrete=discrete)
        assert float(lam[0]) == pytest.approx(closed, abs=1e-12)
    with_decay = equilibrium_lambda(params, task, eta=0.05, batch_size=4, gamma=0.05)
    assert float(with_decay[0]) < closed  # weight decay pulls the charge down (Eq. 9)


# --- Theorem 5.4 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_corrected_theorem_5_4_satisfies_eq122(depth):
    task = _aniso_task()
    pred = theorem_5_4(task, depth, generator=make_generator(8))
    torch.testing.assert_close(end_to_end(pred.params), task.V, rtol=0, atol=1e-13)
    for left, right in eq122_sides(pred.params, task):
        torch.testing.assert_close(left, right, rtol=0, atol=1e-13)
    norms = torch.stack([(w**2).sum((-1, -2)) for w in pred.params], dim=-1)
    torch.testing.assert_close(norms, pred.layer_sq_norms, rtol=1e-12, atol=0)


def test_printed_theorem_5_4_fails_unless_traces_equal_rank():
    task = _aniso_task()  # Tr Sigma_x = 3.5, Tr Sigma_eps = 2.8, rank 3
    printed = theorem_5_4(task, 3, version="printed", generator=make_generator(9))
    torch.testing.assert_close(end_to_end(printed.params), task.V, rtol=0, atol=1e-13)
    worst = max(float((a - b).abs().max()) for a, b in eq122_sides(printed.params, task))
    assert worst > 1e-2
    rescaled = GaussianTask(task.V, task.cov_x * 3 / 3.5, task.cov_eps * 3 / 2.8)
    p1 = theorem_5_4(rescaled, 3, version="printed").layer_sq_norms
    p2 = theorem_5_4(rescaled, 3).layer_sq_norms
    torch.testing.assert_close(p1, p2, rtol=1e-12, atol=0)


def test_theorem_5_4_scalar_chain():
    task = GaussianTask.isotropic(_t([[-2.0]]), 3.0, 0.5)
    pred = theorem_5_4(task, 3)
    torch.testing.assert_close(
        pred.layer_sq_norms, torch.full((1, 3), 2.0 ** (2 / 3), dtype=F64), rtol=1e-13, atol=0
    )


# --- sharpness (Prop. 5.3, Eq. 15) ---------------------------------------------------------------


def test_sharpness_is_half_the_autograd_hessian_trace():
    gen = make_generator(10)
    task = _aniso_task()
    params = init_chain((3, 4, 3), 2, 0.9, gen)
    torch.testing.assert_close(
        hessian_trace(params, task), 2 * sharpness(params, task.cov_x), rtol=1e-12, atol=0
    )


def test_top_eigenvalue_matches_dense_hessian_at_a_minimum():
    task = _aniso_task()
    W, U = _noise_balanced_point(task, make_generator(11))
    params = (W, U)

    def loss(flat):
        w, u = flat[:9].reshape(1, 3, 3), flat[9:].reshape(1, 3, 3)
        return DeepLinear().population_loss((w, u), task).sum()

    H = torch.autograd.functional.hessian(loss, flatten(params)[0])
    top = torch.linalg.eigvalsh(H)[-1]
    torch.testing.assert_close(
        top_eigenvalue(params, task.cov_x, iters=500)[0], top, rtol=1e-8, atol=0
    )


def test_eq15_kaiming_and_xavier():
    s_init, s_end = eq15_sharpness("kaiming", dx=20, d=20, trace_x=20.0)
    assert s_init == pytest.approx(s_end)  # equality iff d = dx = dy
    s_init, s_end = eq15_sharpness("kaiming", dx=20, d=50, trace_x=20.0)
    assert s_init > s_end
    s_init, s_end = eq15_sharpness("xavier", dx=20, d=50, trace_x=20.0)
    assert s_init / s_end == pytest.approx(50 / 70)
    assert init_std("kaiming", dx=4, d=9, dy=4) == pytest.approx((0.5, 1 / 3))


# --- scale invariance (D6) -----------------------------------------------------------------------


def test_stationary_k_closed_form_and_monte_carlo():
    n, S = 5, 3
    beta = torch.zeros(1, n, dtype=F64)
    beta[0, 0] = 1.0
    task = GaussianTask(beta, torch.eye(n, dtype=F64), _t([[0.4]]))
    at_min = stationary_k(2.0 * beta, task, S)
    torch.testing.assert_close(at_min, _t([4 * 0.4 * (n - 1) / S]), rtol=1e-14, atol=0)
    gen = make_generator(12)
    theta = torch.randn(1, n, generator=gen, dtype=F64)
    reps = 100_000
    x, y = task.sample(reps, S, gen)
    (g,) = NormalizedLinear().grad((theta.expand(reps, -1),), x, y)
    samples = (theta**2).sum() * (g**2).sum(-1)
    se = samples.std() / math.sqrt(reps)
    # Monte-Carlo mean of 1e5 draws: 5 standard errors.
    assert abs(samples.mean() - stationary_k(theta, task, S)[0]) < 5 * se


def test_increment_relative_sd_matches_monte_carlo():
    n = 6
    beta = torch.zeros(1, n, dtype=F64)
    beta[0, 0] = 1.0
    task = GaussianTask(beta, torch.eye(n, dtype=F64), _t([[0.5]]))
    reps = 200_000
    x, y = task.sample(reps, 1, make_generator(14))
    (g,) = NormalizedLinear().grad((2.0 * beta.expand(reps, -1),), x, y)
    sq = (g**2).sum(-1)
    # the relative sd of a sample std from 2e5 heavy-tailed draws: a few percent
    assert float(sq.std() / sq.mean()) == pytest.approx(increment_relative_sd(n), rel=0.05)


def test_equilibrium_norm4_and_validation():
    assert equilibrium_norm4(eta=0.1, k=2.0, gamma=0.5) == pytest.approx(0.2 / (2 * 0.95))
    with pytest.raises(ValueError, match="gamma"):
        equilibrium_norm4(eta=0.1, k=2.0, gamma=0.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: theorem_5_4(_aniso_task(), 1), "depth must be an int >= 2"),
        (lambda: theorem_5_4(_aniso_task(), 3, version="paper"), "unknown version"),
        (
            lambda: width_one_ratio(
                eta=0.1, gamma=-1.0, batch_size=1, dx=2, dy=2, var_x=1.0, var_eps=1.0
            ),
            "gamma must be >= 0",
        ),
        (
            lambda: scalar_decay_rate(eta=0.0, batch_size=1, var_x=1.0, var_eps=1.0),
            "eta must be > 0",
        ),
        (lambda: eq15_sharpness("he", dx=2, d=2, trace_x=1.0), "unknown scheme"),
        (lambda: pair_generator(init_chain((2, 2), 1, 1.0, make_generator(0)), 1), "pair index"),
    ],
)
def test_prediction_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()
