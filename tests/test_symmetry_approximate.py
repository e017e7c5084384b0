"""Tests of the §5.4 approximate-symmetry toy (gdlab.symmetry.approximate, T6)."""

from __future__ import annotations

import pytest
import torch

from gdlab.runtime import make_generator
from gdlab.symmetry.approximate import AnchoredProduct, anchored_shift, scalar_noise_trace
from gdlab.symmetry.charges import layer_charges
from gdlab.symmetry.linear import DeepLinear
from gdlab.symmetry.tasks import GaussianTask

F64 = torch.float64


def _task(v: float = 1.0, var_x: float = 1.5, var_eps: float = 0.7) -> GaussianTask:
    return GaussianTask.isotropic(torch.full((1, 1), v, dtype=F64), var_x, var_eps)


def _params(u: list[float], w: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(w, dtype=F64).reshape(-1, 1, 1),
        torch.tensor(u, dtype=F64).reshape(-1, 1, 1),
    )


def test_gradient_is_that_of_the_anchored_loss() -> None:
    """Against autograd of mean (u w x - y)^2 + zeta/2 (u - u0)^2; a wrong anchor factor (zeta
    instead of zeta/2 in the loss, i.e. 2 zeta in the gradient) would differ by zeta (u - u0)."""
    zeta, u0 = torch.tensor([0.5, 3.0], dtype=F64), 0.4
    model = AnchoredProduct(zeta, u0)
    W, U = _params([0.9, -0.3], [1.2, 0.8])
    x, y = _task().sample(2, 5, make_generator(1))
    leaves = [W.clone().requires_grad_(True), U.clone().requires_grad_(True)]
    r = x * leaves[1] * leaves[0] - y
    loss = (r**2).sum(-1).mean(-1) + zeta / 2 * (leaves[1][:, 0, 0] - u0) ** 2
    auto = torch.autograd.grad(loss.sum(), leaves)
    for got, want in zip(model.grad((W, U), x, y), auto, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-15)


def test_population_gradient_vanishes_only_at_the_minimiser() -> None:
    model, task = AnchoredProduct(2.0, 0.5), _task(v=1.0)
    at_min = model.population_grad(_params([0.5], [2.0]), task)
    assert all(float(g.abs().max()) < 1e-15 for g in at_min)  # theta* = (u0, v / u0)
    off = model.population_grad(_params([0.6], [1.0 / 0.6]), task)  # on uw = v, off u0
    assert float(off[1].abs().max()) == pytest.approx(2.0 * 0.1, rel=1e-12)


def test_noise_trace_matches_monte_carlo() -> None:
    """Tr[Sigma A] = Var[g_u] - Var[g_w] for the per-sample gradients, by Monte Carlo (the anchor
    is deterministic and adds no noise); a missing factor 4 or a swapped sign is far outside."""
    u, w, v, vx, ve = 0.7, 1.1, 1.0, 1.5, 0.7
    task, n = _task(v, vx, ve), 200_000
    x, y = task.sample(1, n, make_generator(3))
    r = (u * w * x - y)[0, :, 0]
    g_u, g_w = 2 * r * x[0, :, 0] * w, 2 * r * x[0, :, 0] * u
    q = g_u**2 - g_w**2
    mc = float(g_u.var() - g_w.var())
    se = float(q.std()) / n**0.5
    exact = scalar_noise_trace(u, w, v=v, var_x=vx, var_eps=ve)
    assert abs(mc - exact) < 4.5 * se  # 4.5 standard errors: false alarm below 1e-5


def test_one_step_charge_change_is_the_exact_identity() -> None:
    """The cross term of the symmetric part vanishes: C' - C = -2 eta zeta u (u - u0)
    + eta^2 [(g_u + zeta (u - u0))^2 - g_w^2] for every batch (float64 rounding)."""
    zeta, u0, eta = 1.5, 0.5, 0.03
    model = AnchoredProduct(zeta, u0)
    params = _params([0.8, 0.2, -0.4], [1.1, 2.0, 0.5])
    x, y = _task().sample(3, 4, make_generator(5))
    g = model.grad(params, x, y)
    new = tuple(p - eta * gi for p, gi in zip(params, g, strict=True))
    change = (layer_charges(new)[0] - layer_charges(params)[0])[:, 0, 0]
    u = params[1][:, 0, 0]
    anchor = zeta * (u - u0)
    g_u, g_w = g[1][:, 0, 0], g[0][:, 0, 0]
    predicted = -2 * eta * anchor * u + eta**2 * (g_u**2 - g_w**2)
    torch.testing.assert_close(change, predicted, rtol=1e-12, atol=1e-15)
    # the anchor enters g_u only: g_w is the gradient of the product loss alone
    torch.testing.assert_close(g[0], DeepLinear().grad(params, x, y)[0], rtol=0, atol=0)


def test_anchored_shift_formula_and_errors() -> None:
    # u0 = 0.5, v = 1: theta* = (0.5, 2), Tr[Sigma A] = 4 * 1 * (4 - 0.25) = 15
    s = anchored_shift(eta=0.02, batch_size=1, zeta=4.0, u0=0.5, v=1.0, var_x=1.0, var_eps=1.0)
    assert s == pytest.approx(0.01 * 15 / (4.0 * 0.5), rel=1e-14)
    with pytest.raises(ValueError, match="u0 must be nonzero"):
        anchored_shift(eta=0.02, batch_size=1, zeta=4.0, u0=0.0, v=1.0, var_x=1.0, var_eps=1.0)
    with pytest.raises(ValueError, match="zeta must be > 0"):
        anchored_shift(eta=0.02, batch_size=1, zeta=0.0, u0=0.5, v=1.0, var_x=1.0, var_eps=1.0)
    with pytest.raises(ValueError, match="scalar"):
        AnchoredProduct(1.0, 0.5).grad(
            (torch.ones(1, 2, 1, dtype=F64), torch.ones(1, 1, 2, dtype=F64)),
            torch.ones(1, 1, 1, dtype=F64),
            torch.ones(1, 1, 1, dtype=F64),
        )
