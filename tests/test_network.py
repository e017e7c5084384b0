"""Tests of gdlab.stepsize.network: eq. (2), the closed-form gradient, Assumption 1 constants."""

from __future__ import annotations

import math

import pytest
import torch
from ulp import assert_ulp_close

from gdlab.stepsize import network
from gdlab.stepsize.activations import ACTIVATION_NAMES, Activation, get_activation
from gdlab.stepsize.network import (
    TwoLayerNet,
    log_logistic_loss,
    logistic_loss,
    logistic_loss_grad,
    risk_and_grad,
)

F64 = torch.float64


def _naive_f(net: TwoLayerNet, W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Eq. (2) neuron by neuron: f_k(x) = (b/m) sum_j a_j phi(x^T w_kj)."""
    out = torch.zeros(W.shape[0], X.shape[0], dtype=W.dtype)
    for j in range(net.m):
        out = out + net.a[j] * net.activation.phi(W[:, j, :] @ X.T)
    return out * (net.b / net.m)


def _problem(seed: int, K: int = 3, m: int = 5, d: int = 4, n: int = 7, w_scale: float = 1.5):
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(K, m, d, generator=gen, dtype=F64) * w_scale
    X = torch.randn(n, d, generator=gen, dtype=F64)
    y = torch.where(torch.rand(n, generator=gen, dtype=F64) < 0.5, -1.0, 1.0).to(F64)
    return W, X, y


def _unit_ball(n: int, d: int, seed: int) -> torch.Tensor:
    """n points with ||x|| <= 1, half of them exactly on the sphere."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=F64)
    X = X / X.norm(dim=1, keepdim=True)
    radii = torch.ones(n, dtype=F64)
    radii[n // 2 :] = torch.rand(n - n // 2, generator=gen, dtype=F64)
    return X * radii.unsqueeze(1)


def test_validation() -> None:
    act = get_activation("tanh")
    with pytest.raises(ValueError, match=r"output signs a must be in \{-1, \+1\}"):
        TwoLayerNet(act, torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="m >= 1"):
        TwoLayerNet(act, torch.tensor([]))
    with pytest.raises(ValueError, match=r"b=0\.0 must be finite and > 0"):
        TwoLayerNet(act, torch.ones(2), b=0.0)
    with pytest.raises(ValueError, match="width m=0"):
        TwoLayerNet.balanced(act, 0)
    with pytest.raises(TypeError, match="activation must be an Activation"):
        TwoLayerNet("tanh", torch.ones(2))  # type: ignore[arg-type]
    net = TwoLayerNet.balanced(act, 3)
    W, X, y = _problem(0, m=3)
    with pytest.raises(ValueError, match=r"W must have shape \(K, m=3, d\), got \(3, 4\)"):
        net.forward(W[0], X)
    with pytest.raises(ValueError, match="input dimension 4 but the data have d=3"):
        net.forward(W, X[:, :3])
    with pytest.raises(ValueError, match=r"X must have shape \(n, d\)"):
        net.forward(W, X[0])
    with pytest.raises(ValueError, match=r"labels y must be in \{-1, \+1\}, got 0\.0"):
        risk_and_grad(net, W, X, torch.zeros(7, dtype=F64))
    with pytest.raises(ValueError, match=r"y must have shape \(7,\)"):
        risk_and_grad(net, W, X, y[:5])
    with pytest.raises(ValueError, match="must share dtype and device"):
        net.forward(W.float(), X)
    with pytest.raises(ValueError, match="init scale=-1"):
        net.init(2, 4, scale=-1)


def test_balanced_signs_and_init() -> None:
    net = TwoLayerNet.balanced(get_activation("gelu"), 5, b=2.0)
    assert net.a.tolist() == [1, 1, 1, -1, -1] and net.m == 5 and net.b == 2.0
    assert TwoLayerNet.balanced(get_activation("gelu"), 4).a.tolist() == [1, 1, -1, -1]
    W = net.init(3, 2, scale=0.5, seed=7)
    assert W.shape == (3, 5, 2) and W.dtype == F64
    assert torch.equal(W, net.init(3, 2, scale=0.5, seed=7))
    assert not torch.equal(W, net.init(3, 2, scale=0.5, seed=8))
    # Drawn in float64, then cast: the same draw and one correctly rounded cast, exactly.
    assert torch.equal(net.init(3, 2, scale=0.5, seed=7, dtype=torch.float32), W.float())


def test_logistic_loss_is_stable() -> None:
    q = torch.tensor([-1e6, -800.0, -30.0, 0.0, 30.0, 50.0, 800.0, 1e6], dtype=F64)
    loss = logistic_loss(q)
    assert bool(torch.isfinite(loss).all())
    assert loss[0] == 1e6  # softplus is the identity beyond its threshold: exact
    # torch's softplus(0) = log1p(exp(0)) (a vectorised or a scalar kernel, by CPU) against
    # libm's log 2: each within an ulp of log 2, so at most 1 ulp apart on a correctly rounded
    # libm.
    assert_ulp_close(loss[3], torch.tensor(math.log(2), dtype=F64), 1, "torch log1p vs libm log")
    # l(q) = e^{-q} (1 - e^{-q}/2 + ...) for large q: relative error ~ e^{-q}, below rounding.
    assert float(loss[4]) == pytest.approx(math.exp(-30.0), rel=1e-12)
    assert float(log_logistic_loss(q)[-1]) == -1e6
    assert float(log_logistic_loss(q)[5]) == pytest.approx(-50.0, rel=1e-15)
    assert float(log_logistic_loss(q)[4]) == pytest.approx(math.log(math.log1p(math.exp(-30))))
    torch.testing.assert_close(logistic_loss_grad(q), -1 / (1 + torch.exp(q)))


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_forward_equals_eq2(name: str) -> None:
    net = TwoLayerNet.balanced(get_activation(name), 5, b=1.7)
    W, X, _ = _problem(1)
    # Same sums in a different order: float64 rounding only.
    torch.testing.assert_close(net.forward(W, X), _naive_f(net, W, X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@pytest.mark.parametrize("b", [1.0, 3.0])
def test_closed_form_gradient_equals_autograd(name: str, b: float) -> None:
    net = TwoLayerNet(get_activation(name), torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0]), b=b)
    W, X, y = _problem(2)
    Wg = W.clone().requires_grad_(True)
    L_auto = torch.log1p(torch.exp(-y * _naive_f(net, Wg, X))).mean(-1)
    (g_auto,) = torch.autograd.grad(L_auto.sum(), Wg)
    L, g = risk_and_grad(net, W, X, y)
    assert g.shape == W.shape and L.shape == (3,)
    # float64 rounding of O(10)-term sums; the spec asks for 1e-10 relative error.
    torch.testing.assert_close(L, L_auto.detach(), rtol=1e-12, atol=0)
    rel = float((g - g_auto).norm() / g_auto.norm())
    assert rel < 1e-10


def _per_input_constants(act: Activation, seed: int, R: float):
    """Largest observed ||grad_w f||, Hessian spectral norm and |f - <grad f, w>| over random
    (w, x) with ||x|| <= R, for a width-3 net in d = 2."""
    m, d = 3, 2
    net = TwoLayerNet.balanced(act, m, b=1.3)
    gen = torch.Generator().manual_seed(seed)
    X = _unit_ball(6, d, seed) * R
    worst = [0.0, 0.0, 0.0]
    for _ in range(4):
        w = torch.randn(m * d, generator=gen, dtype=F64) * 3

        def f_of(w_flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return net.forward(w_flat.view(1, m, d), x.unsqueeze(0))[0, 0]

        for x in X:
            wg = w.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(f_of(wg, x), wg)
            hess = torch.autograd.functional.hessian(lambda v, x=x: f_of(v, x), w)
            worst[0] = max(worst[0], float(grad.norm()))
            worst[1] = max(worst[1], float(torch.linalg.matrix_norm(hess, ord=2)))
            worst[2] = max(worst[2], abs(float(f_of(w, x) - grad @ w)))
    return net, worst


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_assumption1_constants_hold(name: str) -> None:
    act = get_activation(name)
    for R in (1.0, 2.0):
        net, (lip, smooth, homog) = _per_input_constants(act, seed=3, R=R)
        rho, beta, kappa = net.assumption1_constants(R)
        # float64 rounding of O(1) quantities.
        assert lip <= rho * (1 + 1e-12)
        assert smooth <= beta * (1 + 1e-12) + 1e-15
        assert homog <= kappa * (1 + 1e-12) + 1e-15
    assert net.assumption1_constants() == (
        1.3 * act.sup_dphi / math.sqrt(3),
        1.3 * act.beta_tilde / 3,
        1.3 * act.kappa,
    )


def test_assumption1_lipschitz_constant_is_attained() -> None:
    """For the identity, ||grad_w f|| = (b/sqrt m) ||x||: rho is tight at ||x|| = R."""
    net = TwoLayerNet.balanced(get_activation("identity"), 4, b=2.0)
    x = torch.tensor([[0.6, 0.8]], dtype=F64)
    w = torch.randn(1, 4, 2, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(net.forward(w, x).sum(), w)
    assert float(grad.norm()) == pytest.approx(net.assumption1_constants(1.0)[0], rel=1e-14)


@pytest.mark.parametrize(
    ("name", "signs", "dtype"),
    [
        ("leaky_softplus_ex31", [1.0] * 40 + [-1.0] * 40, F64),  # 2 equal blocks: one reduction
        ("leaky_softplus", [1.0] * 100 + [-1.0] * 50, F64),  # blocks of 64, 36 and 50
        ("leaky_softplus_half", [1.0, -1.0] * 6, F64),  # 12 blocks of one neuron
        ("leaky_softplus_ex31", [1.0] * 40 + [-1.0] * 40, torch.float32),
    ],
)
def test_product_form_agrees_with_the_per_entry_softplus(
    name: str, signs: list[float], dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product form of f (one log per block of neurons) against softplus per entry, on
    pre-activations from 1e-3 to 1e2 in size; the gradient is the same computation in both.

    f is compared in ulps of the scale of its terms, ``(b/m) sum_j |a_j phi(z_j)|`` (f itself
    may cancel to 0): each form is within about m ulps of that scale (a sum of m terms; a
    block's log carries ``|B| + 1`` ulps of 1, and ``|phi| >= c |z|`` with ``c >= 1/2``), so
    they stay within 2m; measured up to 4."""
    net = TwoLayerNet(get_activation(name), torch.tensor(signs), b=1.5)
    m = net.m
    gen = torch.Generator().manual_seed(m)
    X = _unit_ball(30, 5, m).to(dtype)
    y = torch.where(X[:, 0] >= 0, 1.0, -1.0).to(dtype)
    scales = torch.logspace(-3, 2, 4, dtype=F64).view(4, 1, 1)
    W = (torch.randn(4, m, 5, generator=gen, dtype=F64) * scales).to(dtype)
    ev = network.Evaluator(net, X, y)
    per_entry_q, per_entry_grad = ev.margins_and_grad(W)
    monkeypatch.setattr(network, "PRODUCT_FORM_MIN_ENTRIES", 1)
    assert ev.product_form
    product_q, product_grad = ev.margins_and_grad(W)
    terms = (net.activation.phi(W @ X.T).abs().sum(1) * (net.b / m)).to(dtype)
    eps = torch.finfo(dtype).eps
    ulps = ((product_q - per_entry_q).abs() / (terms * eps)).max()
    assert float(ulps) <= 2 * m, f"{float(ulps):.3g} ulps of the terms' scale"
    # The gradient differs only through r = l'(q) y / n: within 2m ulps of q, relative to the
    # largest entry of each run's gradient.
    scale = per_entry_grad.abs().amax(dim=(1, 2), keepdim=True)
    assert float(((product_grad - per_entry_grad).abs() / (scale * eps)).max()) <= 2 * m


def test_product_form_only_where_it_is_exact_and_cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not for plain softplus (c = 0: a neuron far below 0 contributes e^z, which only the
    per-entry form resolves), not for other shapes, and not on tensors that need gradients
    (its buffers are written in place): autograd through ``forward`` still works."""
    X = _unit_ball(8, 3, 0)

    def product_form(name: str, signs: torch.Tensor | None = None) -> bool:
        act = get_activation(name)
        net = TwoLayerNet.balanced(act, 4) if signs is None else TwoLayerNet(act, signs)
        return network.Evaluator(net, X).product_form

    assert product_form("leaky_softplus") and product_form("leaky_softplus_ex31")
    assert not product_form("softplus") and not product_form("leaky_gelu")
    assert not product_form("leaky_softplus", torch.tensor([1.0, -1.0] * 9))  # 18 blocks
    monkeypatch.setattr(network, "PRODUCT_FORM_MIN_ENTRIES", 1)
    net = TwoLayerNet.balanced(get_activation("leaky_softplus"), 4)
    W = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(net.forward(W, X).sum(), W)
    (naive,) = torch.autograd.grad(_naive_f(net, W, X).sum(), W)
    torch.testing.assert_close(grad, naive, rtol=1e-13, atol=1e-15)  # same sums reordered
