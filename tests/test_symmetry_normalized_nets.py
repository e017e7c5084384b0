"""Net-A and Net-B (gdlab.symmetry.normalized_nets): gradients against autograd, symmetries."""

from __future__ import annotations

import pytest
import torch

from gdlab.symmetry.normalized_nets import (
    VARIANTS,
    NormalizedTanhNet,
    init_normalized,
    layer_norms_sq,
)
from gdlab.symmetry.sgd import train
from gdlab.symmetry.tasks import FiniteTask, GaussianTask

DTYPE = torch.float64
#: float64 rounding of a gradient of a few dozen terms of size O(1): a few 1e-16 per entry;
#: a wrong gradient (a missing norm term, the other variant) is off by O(1e-2) or more.
GRAD_ATOL = 1e-12


def _setup(seed: int = 0, K: int = 3, dx: int = 5, d: int = 4, dy: int = 2, S: int = 7):
    gen = torch.Generator().manual_seed(seed)
    params = init_normalized(dx, d, dy, K, norm_w=1.3, norm_u=0.7, generator=gen)
    x = torch.randn(K, S, dx, generator=gen, dtype=DTYPE)
    y = torch.randn(K, S, dy, generator=gen, dtype=DTYPE)
    return params, x, y


def _autograd(model: NormalizedTanhNet, params, x, y) -> tuple[torch.Tensor, ...]:
    leaves = tuple(p.clone().requires_grad_(True) for p in params)
    model.loss(leaves, x, y).sum().backward()  # runs are independent: grad of the sum
    return tuple(p.grad for p in leaves)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("S", [1, 7])
def test_gradient_matches_autograd(variant: str, S: int) -> None:
    model = NormalizedTanhNet(variant)
    params, x, y = _setup(S=S)
    for ours, auto in zip(model.grad(params, x, y), _autograd(model, params, x, y), strict=True):
        assert ours.shape == auto.shape
        assert float((ours - auto).abs().max()) < GRAD_ATOL


def test_the_autograd_check_catches_a_wrong_gradient() -> None:
    """Net-B's gradient is not Net-A's: the comparison above would fail on a swapped model."""
    params, x, y = _setup()
    wrong = NormalizedTanhNet("B").grad(params, x, y)
    auto = _autograd(NormalizedTanhNet("A"), params, x, y)
    assert max(float((a - b).abs().max()) for a, b in zip(wrong, auto, strict=True)) > 1e-3


@pytest.mark.parametrize("variant", VARIANTS)
def test_joint_scale_invariance_and_orthogonal_gradient(variant: str) -> None:
    model = NormalizedTanhNet(variant)
    params, x, y = _setup()
    scaled = tuple(3.7 * p for p in params)
    assert torch.allclose(model.loss(scaled, x, y), model.loss(params, x, y), rtol=1e-13)
    g = model.grad(params, x, y)
    radial = sum((p * q).sum((1, 2)) for p, q in zip(params, g, strict=True))
    size = sum(p.norm(dim=(1, 2)) * q.norm(dim=(1, 2)) for p, q in zip(params, g, strict=True))
    assert float((radial.abs() / size).max()) < 1e-14  # Eq. (3) with A = I


def test_only_net_b_is_invariant_per_layer() -> None:
    """Net-B: each layer's gradient is orthogonal to it; Net-A: the layers exchange norm."""
    params, x, y = _setup()
    w, u = params
    per_layer = {}
    for variant in VARIANTS:
        model = NormalizedTanhNet(variant)
        g_w, g_u = model.grad(params, x, y)
        per_layer[variant] = max(
            float(((m * g).sum((1, 2)) / (m.norm(dim=(1, 2)) * g.norm(dim=(1, 2)))).abs().max())
            for m, g in ((w, g_w), (u, g_u))
        )
        change = (model.loss((w, 2.0 * u), x, y) - model.loss(params, x, y)).abs().max()
        assert (float(change) < 1e-13) == (variant == "B")
    assert per_layer["B"] < 1e-14 < 1e-3 < per_layer["A"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_sgd_never_shrinks_the_norm_and_gd_needs_a_data_set(variant: str) -> None:
    model = NormalizedTanhNet(variant)
    gen = torch.Generator().manual_seed(1)
    V = torch.randn(1, 1, 4, generator=gen, dtype=DTYPE)
    task = GaussianTask(V, torch.eye(4, dtype=DTYPE), 0.25 * torch.eye(1, dtype=DTYPE))
    params = init_normalized(4, 3, 1, 2, norm_w=1.0, norm_u=1.0, generator=gen)
    run = train(
        model,
        params,
        task,
        eta=0.2,
        steps=50,
        generator=gen,
        observe=lambda p: {"n": sum(layer_norms_sq(p))},
    )
    assert bool((run.series["n"].diff(dim=1) > 0).all())  # (D6): +eta^2 ||g||^2 every step
    with pytest.raises(TypeError, match="needs a FiniteTask"):
        model.population_grad(params, task)
    data = task.fixed_sample(2, 16, gen)
    full = model.population_grad(params, data)
    batch = model.grad(params, data.X, data.Y)
    assert all(torch.equal(a, b) for a, b in zip(full, batch, strict=True))
    assert isinstance(data, FiniteTask)


def test_init_and_bad_inputs() -> None:
    gen = torch.Generator().manual_seed(2)
    w, u = init_normalized(3, 4, 2, 5, norm_w=2.0, norm_u=0.5, generator=gen)
    assert w.shape == (5, 4, 3) and u.shape == (5, 2, 4)
    w2, u2 = layer_norms_sq((w, u))
    assert torch.allclose(w2, torch.full_like(w2, 4.0)) and torch.allclose(
        u2, torch.full_like(u2, 0.25)
    )
    with pytest.raises(ValueError, match="unknown variant 'C'"):
        NormalizedTanhNet("C")
    with pytest.raises(ValueError, match=r"u must have shape \(K, dy, d\)"):
        NormalizedTanhNet("A").dims((w, u[:, :, :3]))
    with pytest.raises(ValueError, match="norm_u must be > 0"):
        init_normalized(3, 4, 2, 5, norm_w=1.0, norm_u=0.0, generator=gen)
