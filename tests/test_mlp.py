"""Tests of the deep bias-free MLP of Figure 1 (gdlab.stepsize.mlp)."""

from __future__ import annotations

import math

import pytest
import torch

from gdlab.data import separable_gaussian
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.mlp import DEPTH, init_mlp, mlp_forward, train_mlp
from gdlab.stepsize.network import logistic_loss

F64 = torch.float64


@pytest.fixture(scope="module")
def data():
    return separable_gaussian(n=30, d=6, margin=0.1, seed=1, n_test=20)


def test_init_is_standard_shared_and_seeded() -> None:
    w = init_mlp(7, width=5, runs=3, seed=2, device="cpu")
    assert [tuple(t.shape) for t in w] == [(3, 5, 7), (3, 5, 5), (3, 5, 5), (3, 1, 5)]
    for t, fan_in in zip(w, (7, 5, 5, 5), strict=True):
        assert t.dtype == F64
        assert float(t.abs().max()) <= 1 / math.sqrt(fan_in)
        assert torch.equal(t[0], t[2])  # one initialisation shared by the runs
    again = init_mlp(7, width=5, runs=3, seed=2, device="cpu")
    other = init_mlp(7, width=5, runs=3, seed=3, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(w, again, strict=True))
    assert not torch.equal(w[0], other[0])


def test_forward_matches_explicit_layers(data) -> None:
    w = init_mlp(data.d, width=4, runs=2, seed=0, device="cpu")
    gelu = get_activation("gelu").phi
    k = 1
    h = gelu(data.X @ w[0][k].T)
    h = gelu(h @ w[1][k].T)
    h = gelu(h @ w[2][k].T)
    expected = (h @ w[3][k].T).squeeze(-1)
    # Same products in a different order (einsum/bmm vs matmul): float64 rounding.
    torch.testing.assert_close(mlp_forward(w, data.X)[k], expected, rtol=1e-12, atol=1e-15)


def test_autograd_gradient_passes_gradcheck(data) -> None:
    w = [t.clone().requires_grad_(True) for t in init_mlp(data.d, width=3, runs=1, device="cpu")]

    def risk(*weights: torch.Tensor) -> torch.Tensor:
        return logistic_loss(data.y * mlp_forward(weights, data.X)).mean()

    assert torch.autograd.gradcheck(risk, tuple(w))


def test_gd_step_and_records(data) -> None:
    traj = train_mlp(data, [0.5, 0.1], 3, width=4, test_every=2, device="cpu")
    w = init_mlp(data.d, width=4, runs=2, device="cpu")
    for _ in range(3):
        w = [t.requires_grad_(True) for t in w]
        risk = logistic_loss(data.y * mlp_forward(w, data.X)).mean(dim=1)
        grads = torch.autograd.grad(risk.sum(), w)
        w = [
            (t - torch.tensor([0.5, 0.1], dtype=F64)[:, None, None] * g).detach()
            for t, g in zip(w, grads, strict=True)
        ]
    for a, b in zip(traj.weights, w, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=0)  # identical ops; float64 rounding
    q = data.y * mlp_forward(w, data.X)
    torch.testing.assert_close(traj.risk[:, -1], logistic_loss(q).mean(dim=1), rtol=1e-13, atol=0)
    norm = torch.sqrt(sum(t.square().sum(dim=(1, 2)) for t in w))
    torch.testing.assert_close(traj.param_norm[:, -1], norm, rtol=1e-13, atol=0)
    torch.testing.assert_close(traj.normalized_margin, traj.min_margin / traj.param_norm**DEPTH)
    torch.testing.assert_close(traj.log_risk, traj.risk.log(), rtol=1e-13, atol=0)
    assert traj.test_steps.tolist() == [0, 2, 3]
    test_margins = mlp_forward(w, data.X_test) * data.y_test
    acc = (test_margins > 0).to(F64).mean(dim=1)
    # Fractions of points: equal unless a test margin is within rounding (1e-13 relative, the
    # weights' agreement above) of 0, which the next line rules out.
    assert float(test_margins.abs().min()) > 1e-9
    assert torch.equal(traj.test_accuracy[:, -1], acc)
    assert bool(traj.grad_norm_sq[:, :-1].gt(0).all()) and bool(
        traj.grad_norm_sq[:, -1].isnan().all()
    )


def test_runs_are_independent_and_deterministic(data) -> None:
    both = train_mlp(data, [0.5, 0.1], 5, width=4, device="cpu")
    again = train_mlp(data, [0.5, 0.1], 5, width=4, device="cpu")
    assert torch.equal(both.risk, again.risk)
    alone = train_mlp(data, [0.1], 5, width=4, device="cpu")
    # A batch of one vs two in the batched matmul kernels: float64 rounding only.
    torch.testing.assert_close(both.risk[1], alone.risk[0], rtol=1e-12, atol=0)


def test_normalized_margin_is_only_asymptotically_scale_invariant(data) -> None:
    """GELU is not homogeneous, so f(c w) != c^4 f(w); but GELU(c z)/c -> ReLU(z) with error
    at most sup_u u Phi(-u) / c (about 0.17/c), so f(c w)/c^4 tends to the bias-free ReLU
    network's output at rate O(1/c)."""
    w = init_mlp(data.d, width=5, runs=1, seed=4, device="cpu")

    def relu_net(weights: list[torch.Tensor]) -> torch.Tensor:
        h = data.X @ weights[0][0].T
        for t in weights[1:]:
            h = torch.relu(h) @ t[0].T
        return h.squeeze(-1)

    target = relu_net(w)
    errors = []
    for c in (10.0, 100.0, 1000.0):
        scaled = mlp_forward([c * t for t in w], data.X)[0] / c**DEPTH
        errors.append(float((scaled - target).abs().max()))
    assert errors[0] > 1e-6 * float(target.abs().max())  # visibly not homogeneous at c = 10
    assert errors[1] < errors[0] / 5 and errors[2] < errors[1] / 5  # O(1/c) decay


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": [-1.0], "steps": 2}, "positive finite stepsizes"),
        ({"lr": [], "steps": 2}, "non-empty"),
        ({"lr": [0.1], "steps": -1}, "steps must be"),
        ({"lr": [0.1], "steps": 2, "test_every": 0}, "test_every"),
    ],
)
def test_train_mlp_rejects_bad_arguments(data, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        train_mlp(data, device="cpu", **kwargs)
