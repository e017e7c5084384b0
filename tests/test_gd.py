"""Tests of gdlab.stepsize.gd: agreement with a naive autograd loop, stability, records."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from ulp import assert_ulp_close

from gdlab.stepsize import gd, network
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.gd import margin_statistics, train
from gdlab.stepsize.network import TwoLayerNet, risk_and_grad
from gdlab.stepsize.trajectory import Trajectory

F64 = torch.float64
XOR_X = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]], dtype=F64)
XOR_Y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=F64)
SERIES = ("risk", "log_risk", "grad_norm_sq", "param_norm", "min_margin", "normalized_margin")
SERIES += ("v", "G", "F")


def _separable(n: int = 12, d: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-norm points with y_i x_i^T e_1 >= 0.2 (margin 0.2 along e_1)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=F64)
    y = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).to(F64)
    X[:, 0] = y * (0.2 + X[:, 0].abs())
    return X / X.norm(dim=1, keepdim=True).clamp_min(1.0), y


def _naive_run(net: TwoLayerNet, X, y, W0, lr: float, steps: int) -> dict[str, list[float]]:
    """One GD run with autograd and eq. (2) written neuron by neuron (independent of gd.py)."""
    W = W0.clone().requires_grad_(True)
    out: dict[str, list[float]] = {key: [] for key in SERIES}
    m = net.m
    for _ in range(steps + 1):
        f = sum(net.a[j] * net.activation.phi(X @ W[j]) for j in range(m)) * (net.b / m)
        q = y * f
        L = torch.log1p(torch.exp(-q)).mean()
        (g,) = torch.autograd.grad(L, W)
        with torch.no_grad():
            rho = float(W.norm())
            values = {
                "risk": float(L),
                "log_risk": math.log(float(L)),
                "grad_norm_sq": float((g * g).sum()),
                "param_norm": rho,
                "min_margin": float(q.min()),
                "normalized_margin": float(q.min()) / rho,
                "v": -float((g * W).sum()),
                "G": float((1 / (1 + torch.exp(q))).mean()),
                "F": float(torch.exp(-q).mean()),
            }
            W -= lr * g
        for key, value in values.items():
            out[key].append(value)
    return out


@pytest.mark.parametrize(
    ("name", "lr"),
    [("leaky_softplus_ex31", 0.5), ("gelu", 2.0), ("identity", 1.0), ("huberized_relu", 3.0)],
)
def test_agrees_with_naive_autograd_loop(name: str, lr: float) -> None:
    net = TwoLayerNet.balanced(get_activation(name), 4, b=1.5)
    X, y = _separable(seed=1)
    W0 = net.init(1, X.shape[1], scale=0.5, seed=3)
    steps = 15
    lrs = [lr / 4, lr, 4 * lr]  # K = 3 runs at once
    traj = train(net, X, y, lrs, steps, W0, device="cpu", dtype=F64)
    for k, lr_k in enumerate(lrs):
        ref = _naive_run(net, X, y, W0[0], lr_k, steps)
        for key in SERIES:
            # Same GD in different summation orders: differences stay at float64 rounding
            # (a few 1e-16 relative per step) over 15 steps.
            torch.testing.assert_close(
                getattr(traj, key)[k], torch.tensor(ref[key], dtype=F64), rtol=1e-12, atol=1e-14
            )


def test_risk_and_grad_is_what_train_steps_along() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_silu", c=0.7), 6)
    X, y = _separable(seed=2)
    W0 = net.init(2, X.shape[1], seed=4)
    W0_copy = W0.clone()
    traj = train(net, X, y, [0.3, 3.0], 1, W0, device="cpu")
    assert torch.equal(W0, W0_copy)  # the caller's W0 is not modified
    L, g = risk_and_grad(net, W0, X, y)
    torch.testing.assert_close(traj.risk[:, 0], L, rtol=1e-14, atol=0)  # float64 rounding
    w1 = W0 - torch.tensor([0.3, 3.0], dtype=F64).view(2, 1, 1) * g
    torch.testing.assert_close(traj.w_final, w1, rtol=1e-14, atol=1e-16)  # float64 rounding


def test_huge_stepsizes_stay_finite_on_xor() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20)
    lrs = [1e-2, 1.0, 1e2, 1e3, 1e4]
    with pytest.warns(UserWarning, match=r"max \|\|x_i\|\| = 1\.41421 > 1"):
        traj = train(net, XOR_X, XOR_Y, lrs, 2000, device="cpu")
    assert traj.meta["R"] == pytest.approx(math.sqrt(2), rel=1e-15)
    for key in set(SERIES) - {"F"}:
        assert bool(torch.isfinite(getattr(traj, key)).all()), key
    assert bool(torch.isfinite(traj.w_final).all())
    # F = mean e^{-q_i} overflows (to inf, never NaN) only when e^{-q_min} exceeds the range.
    assert not bool(traj.F.isnan().any())
    assert bool((torch.isfinite(traj.F) | (traj.min_margin < -700)).all())
    assert float(traj.risk[-1].max()) > 1.0  # the 1e4 run is far from converged: a real test


def test_tiny_risks_are_resolved() -> None:
    """From a large-margin start the risk decreases strictly at every step from ~1e-15, and
    the log-risk stays finite and exact when the risk itself underflows to 0."""
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 4)
    X, y = _separable(seed=5)
    w_star = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    margin = float((y * X[:, 0]).min())
    direction = net.a.view(4, 1) * w_star  # bar-w_*: every neuron along a_j w_*
    # With balanced a and w_j = s a_j w_*: f(x) = (phi(u) - phi(-u))/2 = 0.5625 u, u = s x^T w_*.
    W_mid = direction * (34.0 / (0.5625 * margin))  # q_min = 34: L ~ 1e-15
    W_far = direction * (900.0 / (0.5625 * margin))  # q_min = 900: L underflows to 0
    traj = train(net, X, y, 1e6, 200, torch.stack([W_mid, W_far]), device="cpu")
    risk, log_risk = traj.risk[0], traj.log_risk[0]
    assert 1e-17 < float(risk[-1]) < float(risk[0]) < 1e-14
    assert bool((risk.diff() < 0).all())
    # exp(log L) = L up to float64 rounding of the log-sum-exp.
    torch.testing.assert_close(log_risk.exp(), risk, rtol=1e-13, atol=0)
    assert bool((traj.risk[1] == 0).all())
    q_far = y * net.forward(W_far.unsqueeze(0), X)[0]
    exact = float(torch.logsumexp(-q_far, 0)) - math.log(len(y))  # log mean e^{-q}, q >= 900
    assert exact < -900
    # The gradient (~e^{-900}) is itself below the float64 range, so w stays put; its log-risk
    # is still resolved, to float64 rounding.
    torch.testing.assert_close(
        traj.log_risk[1], torch.full((201,), exact, dtype=F64), rtol=1e-15, atol=0
    )


def test_deterministic() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_gelu"), 8)
    X, y = _separable(n=20, d=5, seed=6)
    runs = [train(net, X, y, [0.1, 10.0, 300.0], 300, device="cpu") for _ in range(2)]
    for key, value in runs[0].__dict__.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, getattr(runs[1], key)), key


def test_recorded_steps() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_tanh"), 3)
    X, y = _separable(n=6, d=2, seed=7)
    for steps, every, expected in [
        (20, 7, [0, 7, 14, 20]),
        (21, 7, [0, 7, 14, 21]),
        (3, 50, [0, 3]),
    ]:
        traj = train(net, X, y, [0.5, 5.0], steps, record_every=every, device="cpu")
        assert traj.steps.dtype == torch.int64 and traj.steps.tolist() == expected
        assert traj.risk.shape == (2, len(expected))


@pytest.mark.parametrize(
    ("n", "activation", "batch", "product_form"),
    [
        (7, "leaky_gelu", 256, False),
        (11, "leaky_softplus_ex31", 256, False),
        (11, "leaky_softplus_ex31", 3, True),
        (13, "leaky_tanh", 5, False),
    ],
)
def test_a_record_does_not_depend_on_the_recording_or_the_restarts(
    n: int, activation: str, batch: int, product_form: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: records used to be reduced in batches of recorded steps with a record's
    margins wherever they fell, so a step's values depended on its position in the batch
    (vectorised kernels take a scalar path for the last elements: 1-ulp differences in
    exp/log1p), and a run restarted from ``w_final`` recorded its boundary step differently
    from the whole run. Records are batched again (up to ``batch`` per reduction) with every
    record's margins in an aligned, padded block, so the values are bit-identical whatever the
    batch, the recording and the restarts, in both forms of the evaluator. (The first two
    settings showed the old 1-ulp differences with both AVX2 and AVX-512 kernels.)"""
    monkeypatch.setattr(gd, "_RECORD_BATCH", batch)
    if product_form:
        monkeypatch.setattr(network, "PRODUCT_FORM_MIN_ENTRIES", 1)
    net = TwoLayerNet.balanced(get_activation(activation), 4)
    X, y = _separable(n=n, d=3, seed=0)
    kwargs = {"device": "cpu", "w_star": torch.tensor([1.0, 0.0, 0.0], dtype=F64)}
    kwargs["per_neuron"] = True
    whole = train(net, X, y, [1.0, 8.0], 24, **kwargs)
    keys = (*SERIES, "w_star_inner", "neuron_margins", "neuron_linear_margins")
    for every in (2, 5, 7, 24):
        sparse = train(net, X, y, [1.0, 8.0], 24, record_every=every, **kwargs)
        for key in keys:
            assert torch.equal(getattr(sparse, key), getattr(whole, key)[:, sparse.steps]), key
        assert torch.equal(sparse.w_final, whole.w_final)
    W, start = None, 0
    for stop in (5, 11, 24):
        part = train(net, X, y, [1.0, 8.0], stop - start, W, **kwargs)
        for key in keys:
            assert torch.equal(getattr(part, key), getattr(whole, key)[:, start : stop + 1]), key
        W, start = part.w_final, stop
    assert torch.equal(W, whole.w_final)


# Records of two runs computed by the engine at commit 5339f48 (before records were batched
# again and before the product form), on an AVX-512 CPU: XOR (two-kernel form, lr 1 and 8,
# steps 0/20/40) and the moderate problem of benchmarks/gd_throughput.py (K m n = 128000, the
# product form now; lr 1 and 10, steps 0/10/20).
_RECORDS_AT_5339F48 = {
    "xor": {
        "risk": [
            [0.693157100610714, 0.6931549427493413, 0.6931528740572435],
            [0.693157100610714, 0.6931419250845211, 0.6931299734875598],
        ],
        "log_risk": [
            [-0.36649860907602516, -0.36650172217221866, -0.3665047066350815],
            [-0.36649860907602516, -0.36652050265874037, -0.3665377454477976],
        ],
        "grad_norm_sq": [
            [1.1019189456438394e-07, 1.0554435134753864e-07, 1.0127946837455612e-07],
            [1.1019189456438394e-07, 8.20868731883022e-08, 6.873590351569262e-08],
        ],
        "param_norm": [
            [0.6060953470039018, 0.6055096809842044, 0.605063055732291],
            [0.6060953470039018, 0.6049517933456768, 0.6108606811154101],
        ],
        "min_margin": [
            [-0.013372155101216006, -0.012928755586730529, -0.012503270796035231],
            [-0.013372155101216006, -0.01026912745229226, -0.008044011261609724],
        ],
        "v": [
            [-1.985720458252548e-05, -1.5545908813701206e-05, -1.1412934842975553e-05],
            [-1.985720458252548e-05, 1.0458473143402662e-05, 3.432432865746665e-05],
        ],
        "G": [
            [0.499997691305907, 0.49999714992608124, 0.499996610881841],
            [0.499997691305907, 0.49999340676374276, 0.49998913906342124],
        ],
        "F": [
            [1.0000489150110867, 1.000042448951244, 1.000036330249967],
            [1.0000489150110867, 1.0000053505048965, 0.9999746148911683],
        ],
    },
    "moderate": {
        "risk": [
            [0.6929524413233169, 0.6928167190289578, 0.6926810541699815],
            [0.6929524413233169, 0.6915976711965719, 0.6902486229512493],
        ],
        "log_risk": [
            [-0.36679390938627154, -0.3669897894775245, -0.3671856250277994],
            [-0.36679390938627154, -0.3687508924479417, -0.3707034231738646],
        ],
        "grad_norm_sq": [
            [1.357495839899216e-05, 1.3569213657032037e-05, 1.356347144904576e-05],
            [1.357495839899216e-05, 1.3517619297269438e-05, 1.3460533379361015e-05],
        ],
        "param_norm": [
            [6.377094249657999, 6.377494280518763, 6.378106945429922],
            [6.377094249657999, 6.390637381752414, 6.425179701653187],
        ],
        "min_margin": [
            [-0.024224309745080518, -0.024248650056387943, -0.024272961221911086],
            [-0.024224309745080518, -0.024466533377503003, -0.024705851491235616],
        ],
        "v": [
            [0.00018726411265572468, 0.00032293976527144767, 0.0004585292757027799],
            [0.00018726411265572468, 0.0015402779858597392, 0.002884715858468642],
        ],
        "G": [
            [0.4998987564637125, 0.4998308708334074, 0.49976299958410914],
            [0.4998987564637125, 0.49922048328189106, 0.49854365220737046],
        ],
        "F": [
            [0.9996260132507204, 0.9993546626724408, 0.9990834842545004],
            [0.9996260132507204, 0.996919980164394, 0.9942310343957023],
        ],
    },
}


def _benchmark_problem() -> tuple[TwoLayerNet, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(1000, 64, generator=gen, dtype=F64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.where(X[:, 0] + 0.3 * X[:, 1] >= 0, 1.0, -1.0).to(F64)
    return TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 64), X, y


def test_records_agree_with_the_previous_engine_in_ulps() -> None:
    """The batched records and the product form change results by float64 rounding only.

    Bounds: the step is the same computation on XOR (two-kernel form), so parameters agree and
    each series differs by the rounding of its own reduction: risk and G are means of 4 terms
    (a few ulps), log L is now log of the mean instead of a log-sum-exp of logs (8 ulps). On the
    moderate problem f is the product form (within 4 ulps of its terms, see
    test_network.py) and every series is a sum of 1000 terms, each with an ulp of its own:
    32 ulps covers the measured 17 (log L near log 2)."""
    runs = {
        "xor": train(
            TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20),
            XOR_X / math.sqrt(2),
            XOR_Y,
            [1.0, 8.0],
            40,
            device="cpu",
            record_every=20,
        ),
        "moderate": train(*_benchmark_problem(), [1.0, 10.0], 20, device="cpu", record_every=10),
    }
    for name, bound in (("xor", 8), ("moderate", 32)):
        for key, old in _RECORDS_AT_5339F48[name].items():
            why = f"{name} {key}: rounding of the reductions and of f (docstring)"
            assert_ulp_close(getattr(runs[name], key), torch.tensor(old, dtype=F64), bound, why)


def test_optional_records() -> None:
    net = TwoLayerNet(get_activation("leaky_softplus_half"), torch.tensor([1.0, -1.0]))
    X, y = _separable(n=5, d=3, seed=8)
    w_star = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    traj = train(net, X, y, 3.0, 50, per_neuron=True, w_star=w_star, device="cpu")
    W = traj.w_final[0]
    inner = float(W[0] @ w_star - W[1] @ w_star)  # <w, (a_1 w*, a_2 w*)>
    assert float(traj.w_star_inner[0, -1]) == pytest.approx(inner, rel=1e-14)
    Z = W @ X.T  # (m, n)
    sign = net.a.view(2, 1) * y
    phi = net.activation.phi(Z)
    expected = (phi * sign).amin(1) / W.norm(dim=1)
    # float64 rounding (same formula, different batching).
    torch.testing.assert_close(traj.neuron_margins[0, -1], expected, rtol=1e-14, atol=1e-16)
    expected_lin = (Z * sign).amin(1) / W.norm(dim=1)
    torch.testing.assert_close(
        traj.neuron_linear_margins[0, -1], expected_lin, rtol=1e-14, atol=1e-16
    )  # float64 rounding (same formula)
    assert traj.neuron_margins.shape == (1, 51, 2)
    plain = train(net, X, y, 3.0, 50, device="cpu")
    assert plain.w_star_inner is None and plain.neuron_margins is None


def test_initialisation_and_meta() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_huberized_relu", h=0.5), 4)
    X, y = _separable(seed=9)
    same = train(net, X, y, [1.0, 1.0], 5, device="cpu", meta={"dataset": "toy", "m": -1})
    # Two runs of one batch: the vectorised kernels may take their scalar path for the entries
    # of the last run (1 ulp in sigmoid), carried through 5 steps of size 1: a few ulps. 64
    # ulps (1.4e-14 relative) still tells a shared initialisation from two draws (1e13 ulps).
    why = "runs of one batch, 1-ulp kernel paths over 5 steps"
    assert_ulp_close(same.w_final[0], same.w_final[1], 64, why)  # W0=None: one shared draw
    drawn = net.init(1, 3, scale=0.1, seed=0)[0]
    shared = train(net, X, y, [1.0, 2.0], 5, drawn, device="cpu")
    assert_ulp_close(shared.w_final[0], same.w_final[0], 64, why)
    meta = same.meta
    assert meta["dataset"] == "toy" and meta["m"] == 4  # computed facts win
    assert meta["activation"] == "leaky_huberized_relu"
    assert meta["activation_params"] == {"c": 0.5, "h": 0.5}
    assert (meta["n"], meta["d"], meta["b"]) == (12, 3, 1.0)
    assert (meta["seed"], meta["init_scale"]) == (0, 0.1)
    assert shared.meta["init"] == "given" and shared.meta["seed"] is None
    assert meta["R"] <= 1.0
    assert shared.eta.tolist() == [0.25, 0.5]  # eta = lr / m, exact in binary
    assert isinstance(shared, Trajectory) and shared.num_runs == 2
    seeds = train(net, X, y, 1.0, 5, net.init(3, 3, seed=1), device="cpu")
    assert seeds.num_runs == 3 and not torch.equal(seeds.w_final[0], seeds.w_final[1])


def test_no_warning_for_unit_inputs_and_threads_restored() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 2)
    X = XOR_X / math.sqrt(2)
    threads = torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto = train(net, X, XOR_Y, np.array([1.0, 2.0]), 3, device="cpu")
    assert torch.get_num_threads() == threads
    pinned = train(net, X, XOR_Y, [1.0, 2.0], 3, device="cpu", threads=threads + 1)
    assert torch.get_num_threads() == threads
    # The thread count may change the BLAS summation order: float64 rounding at most.
    torch.testing.assert_close(auto.risk, pinned.risk, rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": 0.0}, ValueError, r"finite and > 0, got lr=0\.0 \(at index 0\)"),
        ({"lr": [1.0, -2.0]}, ValueError, r"got lr=-2\.0 \(at index 1\)"),
        ({"lr": float("nan")}, ValueError, "got lr=nan"),
        ({"lr": float("inf")}, ValueError, "got lr=inf"),
        ({"lr": [[1.0]]}, ValueError, r"non-empty 1-D sequence, got shape \(1, 1\)"),
        ({"lr": True}, TypeError, "lr must be a positive number"),
        ({"lr": "fast"}, TypeError, "lr must be a positive number"),
        ({"steps": 0}, ValueError, "steps=0 must be an int >= 1"),
        ({"steps": 2.5}, ValueError, r"steps=2\.5 must be an int"),
        ({"record_every": 0}, ValueError, "record_every=0 must be an int >= 1"),
        ({"threads": 0}, ValueError, "threads=0 must be an int >= 1"),
        ({"W0": torch.zeros(3, 3, 2)}, ValueError, r"shape \(K, m=2, d\), got \(3, 3, 2\)"),
        ({"W0": torch.zeros(2, 3)}, ValueError, "input dimension 3 but the data have d=2"),
        ({"W0": torch.zeros(3, 2, 2), "lr": [1.0, 2.0]}, ValueError, "lr gives 2 runs but W0 gi"),
        ({"W0": torch.full((2, 2), math.nan)}, ValueError, "W0 must have finite entries"),
        ({"w_star": torch.ones(3)}, ValueError, r"w_star must be a tensor of shape \(2,\)"),
        ({"dtype": torch.int64}, ValueError, "dtype must be torch.float64 or torch.float32"),
        ({"y": torch.tensor([1.0, 2.0, -1.0, 1.0])}, ValueError, "labels y must be in"),
        ({"X": XOR_X[:3]}, ValueError, r"y must have shape \(3,\)"),
    ],
)
def test_validation(kwargs: dict, error: type[Exception], match: str) -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 2)
    args = {"X": XOR_X / 2, "y": XOR_Y, "lr": 1.0, "steps": 3, "device": "cpu", **kwargs}
    with pytest.raises(error, match=match):
        train(net, **args)


def test_float32_runs_follow_float64() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 6)
    X, y = _separable(seed=11)
    runs = [train(net, X, y, [0.5, 5.0], 30, device="cpu", dtype=dt) for dt in (F64, torch.float32)]
    assert runs[1].risk.dtype == torch.float32 and runs[1].meta["dtype"] == "float32"
    # float32 rounding (6e-8 relative) accumulated over 30 contracting steps.
    torch.testing.assert_close(runs[1].risk.double(), runs[0].risk, rtol=1e-5, atol=1e-6)


def test_margin_statistics() -> None:
    q = torch.tensor([[0.0, 1.0], [800.0, 900.0]], dtype=F64)
    stats = margin_statistics(q)
    assert float(stats["risk"][0]) == pytest.approx(
        (math.log(2) + math.log1p(math.exp(-1))) / 2, rel=1e-15
    )
    assert float(stats["risk"][1]) == 0.0  # underflows, but its log does not:
    assert float(stats["log_risk"][1]) == pytest.approx(-800 - math.log(2), rel=1e-15)
    assert stats["min_margin"].tolist() == [0.0, 800.0]
    assert float(stats["G"][0]) == pytest.approx((0.5 + 1 / (1 + math.e)) / 2, rel=1e-15)
    assert float(stats["F"][0]) == pytest.approx((1 + math.exp(-1)) / 2, rel=1e-15)
    # A zero margin of either sign is on the boundary: 1/(1 + e^0) = 1/2 (G counts -0 as the
    # negative side of its sign split, and its t = 1/2 with it).
    signed_zeros = margin_statistics(torch.tensor([[-0.0, 0.0]], dtype=F64))
    assert float(signed_zeros["G"][0]) == 0.5 and float(signed_zeros["risk"][0]) == math.log(2)
    # Underflowing risks (all q > 745): log L from the log-sum-exp branch, exact to rounding.
    assert float(stats["log_risk"][1]) == pytest.approx(-800 - math.log(2), rel=1e-15)
    assert float(stats["F"][1]) == float(stats["risk"][1]) == 0.0


def test_margin_statistics_of_padded_rows() -> None:
    """+inf padding adds nothing; a row's statistics do not depend on the rows reduced with it
    (the batched records rely on this, bitwise, with rows padded to 16 entries)."""
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(37, 5, 11, generator=gen, dtype=F64) * 20
    padded = torch.full((37, 5, 16), math.inf, dtype=F64)
    padded[..., :11] = q
    together = margin_statistics(padded, 11)
    plain = margin_statistics(q)
    for key, value in together.items():
        # Sums over 16 entries instead of 11 (five exact zeros): another summation order,
        # a few ulps; 8 bounds a sum of 11 terms with one rounding each.
        assert_ulp_close(value, plain[key], 8, f"{key}: summation order of 11 terms")
        for rows in (slice(0, 1), slice(5, 6), slice(36, 37), slice(3, 20)):
            alone = margin_statistics(padded[rows].clone(), 11)[key]
            assert torch.equal(alone, value[rows]), (key, rows)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_gelu"), 16)
    X, y = _separable(n=40, d=6, seed=10)
    cpu = train(net, X, y, [0.5, 20.0], 200, device="cpu")
    gpu = train(net, X, y, [0.5, 20.0], 200, device="cuda")
    assert gpu.meta["device"] == "cuda" and gpu.risk.device.type == "cpu"
    for key in SERIES:
        # Different reduction orders on the two devices; 200 steps keep the gap near rounding.
        torch.testing.assert_close(getattr(gpu, key), getattr(cpu, key), rtol=1e-9, atol=1e-12)
