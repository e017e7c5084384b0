"""Models, data and the SGD engine of gdlab.symmetry: gradients against autograd, validation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from gdlab.runtime import make_generator
from gdlab.symmetry.autoencoder import ACTIVATIONS, TwoLayerNet
from gdlab.symmetry.charges import charge, flatten, pair_generator
from gdlab.symmetry.linear import DeepLinear, end_to_end, init_chain
from gdlab.symmetry.orbit import orbit_point
from gdlab.symmetry.scale_invariant import NormalizedLinear
from gdlab.symmetry.sgd import Run, Step, run_names, train
from gdlab.symmetry.tasks import FiniteTask, GaussianTask, digits_task

F64 = torch.float64
# Gradients are compared with autograd of the same float64 loss: both are sums of a few hundred
# products, so they agree to ~1e-15 relative; 1e-12 leaves room for the different summation order.
GRAD_RTOL = 1e-12


def _task(gen: torch.Generator) -> GaussianTask:
    V = torch.randn(3, 4, generator=gen, dtype=F64)
    A = torch.randn(4, 4, generator=gen, dtype=F64)
    return GaussianTask(
        V,
        A @ A.T / 4 + 0.1 * torch.eye(4, dtype=F64),
        torch.diag(torch.tensor([1.0, 0.5, 0.2], dtype=F64)),
    )


def _autograd(loss_fn, params):
    leaves = [p.clone().requires_grad_(True) for p in params]
    return torch.autograd.grad(loss_fn(tuple(leaves)).sum(), leaves)


@pytest.mark.parametrize("widths", [(4, 5, 3), (4, 2, 6, 3), (4, 3)])
def test_deep_linear_gradients_match_autograd(widths):
    gen = make_generator(0)
    task, model = _task(gen), DeepLinear()
    params = init_chain(widths, 3, 0.7, gen)
    x, y = task.sample(3, 7, gen)
    for mine, ref in zip(
        model.grad(params, x, y), _autograd(lambda p: model.loss(p, x, y), params), strict=True
    ):
        torch.testing.assert_close(mine, ref, rtol=GRAD_RTOL, atol=0)
    for mine, ref in zip(
        model.population_grad(params, task),
        _autograd(lambda p: model.population_loss(p, task), params),
        strict=True,
    ):
        torch.testing.assert_close(mine, ref, rtol=GRAD_RTOL, atol=1e-14)


def test_population_loss_matches_monte_carlo():
    gen = make_generator(1)
    task, model = _task(gen), DeepLinear()
    params = init_chain((4, 5, 3), 1, 0.7, gen)
    x, y = task.sample(1, 200_000, gen)
    per_sample = ((x @ end_to_end(params).transpose(-1, -2) - y) ** 2).sum(-1)
    se = per_sample.std() / math.sqrt(per_sample.numel())
    # Monte-Carlo mean of 2e5 draws: 5 standard errors.
    assert abs(per_sample.mean() - model.population_loss(params, task)[0]) < 5 * se


def test_normalized_linear_gradient_is_tangent_and_matches_autograd():
    gen = make_generator(2)
    n = 6
    beta = torch.randn(1, n, generator=gen, dtype=F64)
    task = GaussianTask(beta, torch.eye(n, dtype=F64) * 1.5, torch.full((1, 1), 0.3, dtype=F64))
    model = NormalizedLinear()
    theta = (torch.randn(4, n, generator=gen, dtype=F64),)
    x, y = task.sample(4, 5, gen)
    (g,) = model.grad(theta, x, y)
    (ref,) = _autograd(lambda p: model.loss(p, x, y), theta)
    torch.testing.assert_close(g, ref, rtol=GRAD_RTOL, atol=1e-15)
    # theta^T g = 0 (Eq. 3 with A = I): a sum of n products, relative to |theta| |g|.
    assert ((theta[0] * g).sum(-1).abs() <= 1e-14 * theta[0].norm(dim=-1) * g.norm(dim=-1)).all()

    def population(p):
        unit = p[0] / p[0].norm(dim=-1, keepdim=True)
        a = unit - beta
        return (a @ task.cov_x[0] * a).sum(-1)

    (pg,) = model.population_grad(theta, task)
    torch.testing.assert_close(pg, _autograd(population, theta)[0], rtol=GRAD_RTOL, atol=1e-15)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_two_layer_net_gradients_match_autograd(activation):
    gen = make_generator(3)
    task = _task(gen)
    model = TwoLayerNet(activation)
    W, U = init_chain((4, 6, 3), 2, 0.8, gen)
    x, y = task.sample(2, 9, gen)
    for mine, ref in zip(
        model.grad((W, U), x, y), _autograd(lambda p: model.loss(p, x, y), (W, U)), strict=True
    ):
        torch.testing.assert_close(mine, ref, rtol=GRAD_RTOL, atol=1e-14)


def test_relu_has_per_neuron_rescaling_symmetry():
    gen = make_generator(4)
    task, model = _task(gen), TwoLayerNet("relu")
    W, U = init_chain((4, 6, 3), 2, 0.8, gen)
    c = torch.exp(torch.randn(6, generator=gen, dtype=F64))
    x, y = task.sample(2, 50, gen)
    rescaled = (W / c[:, None], U * c)
    # Same loss up to float64 rounding of a few dozen products.
    torch.testing.assert_close(
        model.loss((W, U), x, y), model.loss(rescaled, x, y), rtol=1e-13, atol=0
    )


def test_charges_and_orbit():
    gen = make_generator(5)
    params = init_chain((3, 4, 2), 2, 1.0, gen)
    theta = flatten(params)
    A = pair_generator(params, 1)
    W, U = params
    expected = (U**2).sum((-1, -2)) - (W**2).sum((-1, -2))
    torch.testing.assert_close(charge(theta, A), expected, rtol=1e-14, atol=1e-14)
    moved = orbit_point(params, 0.3)
    torch.testing.assert_close(moved[0], W * math.exp(-0.3), rtol=1e-14, atol=0)
    torch.testing.assert_close(end_to_end(moved), end_to_end(params), rtol=1e-13, atol=1e-14)
    # the charge moves along the orbit as e^(2 lambda) |U|^2 - e^(-2 lambda) |W|^2
    moved_charge = charge(flatten(moved), A)
    torch.testing.assert_close(
        moved_charge,
        math.exp(0.6) * (U**2).sum((-1, -2)) - math.exp(-0.6) * (W**2).sum((-1, -2)),
        rtol=1e-13,
        atol=1e-14,
    )


def test_gaussian_task_sample_covariance():
    gen = make_generator(6)
    task = _task(gen)
    x, y = task.sample(1, 100_000, gen)
    emp = x[0].T @ x[0] / x.shape[1]
    # Entry-wise Monte-Carlo error of a covariance is about sqrt(2/n) * scale: 6 of those.
    tol = 6 * math.sqrt(2 / x.shape[1]) * task.cov_x.abs().max()
    assert (emp - task.cov_x[0]).abs().max() < tol
    resid = y - x @ task.V.transpose(-1, -2)
    emp_eps = resid[0].T @ resid[0] / x.shape[1]
    assert (emp_eps - task.cov_eps[0]).abs().max() < 6 * math.sqrt(2 / x.shape[1])


def test_diagonal_task():
    V = torch.ones(2, 3, dtype=F64)
    task = GaussianTask.diagonal(V, [2.0, 1.0, 0.5], [0.3, 4.0])
    assert torch.equal(task.cov_x[0], torch.diag(torch.tensor([2.0, 1.0, 0.5], dtype=F64)))
    assert torch.equal(task.cov_eps[0], torch.diag(torch.tensor([0.3, 4.0], dtype=F64)))
    with pytest.raises(ValueError, match=r"cov_eps must have shape \(2, 2\)"):
        GaussianTask.diagonal(V, [2.0, 1.0, 0.5], [1.0])


def test_finite_task_and_digits():
    task = digits_task()
    assert task.X.shape == (1, 1797, 64) and task.Y.shape == (1, 1797, 10)
    assert torch.equal(task.Y.sum(-1), torch.ones(1, 1797, dtype=F64))
    gen = make_generator(7)
    x, y = task.sample(3, 5, gen)
    assert x.shape == (3, 5, 64) and y.shape == (3, 5, 10)
    rows = {tuple(r.tolist()) for r in task.X[0]}
    assert all(tuple(r.tolist()) in rows for r in x.reshape(-1, 64))


def test_train_records_and_flags_divergence():
    gen = make_generator(8)
    task = GaussianTask.isotropic(torch.eye(3, dtype=F64))
    params = init_chain((3, 3, 3), 2, 0.5, gen)
    run = train(
        DeepLinear(),
        params,
        task,
        eta=torch.tensor([0.01, 5.0], dtype=F64),
        steps=300,
        generator=gen,
        batch_size=4,
        every=7,
        observe=lambda p: {"loss": DeepLinear().population_loss(p, task)},
    )
    assert run.steps[0] == 0 and run.steps[-1] == 300 and run.series["loss"].shape[1] == 44
    assert run.diverged.tolist() == [False, True]
    assert torch.isfinite(run.params[0][0]).all()


@pytest.mark.parametrize(("method", "gamma"), [("sgd", 0.0), ("sgd", 0.1), ("gd", 0.1)])
def test_on_step_sees_every_update_of_the_run(method, gamma):
    """The hook gets the update the run makes: theta' = (1 - 2 eta gamma) theta - eta g, with g
    the gradient on the step's batch (SGD) or of the population risk (GD), bit for bit."""
    gen = make_generator(11)
    task = _task(gen)
    model = DeepLinear()
    params = init_chain((4, 5, 3), 2, 0.5, gen)
    eta = torch.tensor([0.01, 0.02], dtype=F64)
    seen: list[Step] = []
    run = train(
        model, params, task, eta=eta, gamma=gamma, steps=5, generator=gen, batch_size=3,
        method=method, on_step=seen.append,
    )  # fmt: skip
    assert [s.t for s in seen] == list(range(5))
    assert all(torch.equal(a, b) for a, b in zip(seen[0].params, params, strict=True))
    for before, after in itertools.pairwise(seen):
        assert all(torch.equal(a, b) for a, b in zip(before.new_params, after.params, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(seen[-1].new_params, run.params, strict=True))
    for step in seen:
        assert (step.batch is None) == (method == "gd")
        grads = (
            model.population_grad(step.params, task)
            if step.batch is None
            else model.grad(step.params, *step.batch)
        )
        for p, g, mine, new in zip(step.params, grads, step.grads, step.new_params, strict=True):
            assert torch.equal(g, mine)
            c = (1 - 2 * eta * gamma).view(-1, 1, 1)
            expected = c * p - eta.view(-1, 1, 1) * g if gamma else p - eta.view(-1, 1, 1) * g
            assert torch.equal(new, expected)


def test_gd_on_a_finite_task_steps_on_the_whole_data_set():
    gen = make_generator(12)
    X = torch.randn(1, 6, 3, generator=gen, dtype=F64)
    task = FiniteTask(X, X @ torch.randn(1, 3, 2, generator=gen, dtype=F64))
    seen: list[Step] = []
    train(
        DeepLinear(), init_chain((3, 2), 2, 1.0, gen), task, eta=0.1, steps=2, generator=gen,
        method="gd", on_step=seen.append,
    )  # fmt: skip
    x, y = seen[0].batch
    assert torch.equal(x, task.X.expand(2, -1, -1)) and torch.equal(y, task.Y.expand(2, -1, -1))


def test_run_round_trips_through_arrays():
    gen = make_generator(13)
    task = GaussianTask.isotropic(torch.eye(2, dtype=F64))
    run = train(
        DeepLinear(), init_chain((2, 3, 2), 2, 0.5, gen), task, eta=0.05, steps=7, every=3,
        generator=gen, observe=lambda p: {"w": p[0], "loss": DeepLinear().population_loss(p, task)},
    )  # fmt: skip
    arrays = {**run.to_arrays("a"), **run.to_arrays("b")}
    assert run_names(arrays) == ["a", "b"]
    back = Run.from_arrays(arrays, "b")
    assert torch.equal(back.steps, run.steps) and torch.equal(back.diverged_at, run.diverged_at)
    assert back.series.keys() == run.series.keys()
    assert all(torch.equal(back.series[k], run.series[k]) for k in run.series)
    assert all(torch.equal(a, b) for a, b in zip(back.params, run.params, strict=True))
    with pytest.raises(KeyError, match=r"no run 'c' in the arrays; runs: \['a', 'b'\]"):
        Run.from_arrays(arrays, "c")


def test_weight_decay_gd_shrinks_to_zero_without_data_signal():
    gen = make_generator(9)
    task = GaussianTask.isotropic(torch.zeros(2, 2, dtype=F64))
    params = init_chain((2, 2, 2), 1, 1.0, gen)
    run = train(
        DeepLinear(), params, task, eta=0.1, gamma=0.5, steps=200, generator=gen, method="gd"
    )
    # With V = 0 every factor shrinks by at least (1 - 2 eta gamma) = 0.9 per step.
    assert all(p.abs().max() < 0.9**200 * 10 for p in run.params)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: GaussianTask(torch.eye(2), torch.eye(3), torch.eye(2)), ValueError, "cov_x"),
        (
            lambda: GaussianTask(torch.eye(2), -torch.eye(2), torch.eye(2)),
            ValueError,
            "positive semi-definite",
        ),
        (lambda: GaussianTask([[1.0]], torch.eye(1), torch.eye(1)), TypeError, "torch.Tensor"),
        (lambda: init_chain((2, 3, 2), 1, [1.0], make_generator(0)), ValueError, "one per layer"),
        (lambda: init_chain((2,), 1, 1.0, make_generator(0)), ValueError, "at least"),
        (lambda: TwoLayerNet("sigmoid"), ValueError, "unknown activation"),
        (
            lambda: TwoLayerNet().population_grad(
                init_chain((2, 2, 2), 1, 1.0, make_generator(0)),
                GaussianTask.isotropic(torch.eye(2, dtype=F64)),
            ),
            TypeError,
            "FiniteTask",
        ),
        (
            lambda: charge(torch.ones(1, 2), torch.tensor([[0.0, 1.0], [0.0, 0.0]])),
            ValueError,
            "symmetric",
        ),
        (
            lambda: pair_generator(init_chain((2, 2, 2), 1, 1.0, make_generator(0)), 2),
            ValueError,
            "pair index",
        ),
        (lambda: FiniteTask(torch.ones(1, 3, 2), torch.ones(1, 4, 1)), ValueError, "same K"),
    ],
)
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "adam"}, ValueError, "unknown method"),
        ({"eta": -0.1}, ValueError, "eta must be >= 0"),
        ({"eta": "0.1"}, TypeError, "eta must be a real number"),
        ({"gamma": torch.ones(3, dtype=F64)}, ValueError, "gamma must be a scalar or have shape"),
        ({"steps": -1}, ValueError, "steps must be an int >= 0"),
        ({"batch_size": 0}, ValueError, "batch_size must be an int >= 1"),
    ],
)
def test_train_validation(kwargs, error, match):
    gen = make_generator(0)
    task = GaussianTask.isotropic(torch.eye(2, dtype=F64))
    args = {"eta": 0.1, "steps": 2, "generator": gen, **kwargs}
    with pytest.raises(error, match=match):
        train(DeepLinear(), init_chain((2, 2, 2), 2, 1.0, gen), task, **args)
