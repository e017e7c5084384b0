"""Reliability of the GD engine under extreme settings (issue 8): huge stepsizes, float range
overflow, float32 resolution, validation before compute, bit-identical reruns."""

from __future__ import annotations

import math
import re
import warnings

import pytest
import torch

from gdlab.data import two_point, xor
from gdlab.stepsize import gd
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.gd import NonFiniteRecordError, train
from gdlab.stepsize.network import TwoLayerNet

F64, F32 = torch.float64, torch.float32
SERIES = ("risk", "log_risk", "grad_norm_sq", "param_norm", "min_margin", "normalized_margin")
SERIES += ("v", "G", "F", "mu_norm_sq", "w_star_inner", "neuron_margins", "neuron_linear_margins")


def _data(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(X, y, w_star): unit-radius XOR or the Theorem 4.3 two-point data."""
    if name == "xor":
        ds = xor()
        return ds.X / ds.radius, ds.y, torch.tensor([1.0, 0.0], dtype=F64)
    ds = two_point(0.05)
    return ds.X, ds.y, torch.tensor([1.0, 0.0], dtype=F64)


@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("zero_init", [False, True])
@pytest.mark.parametrize("name", ["xor", "two_point"])
def test_huge_stepsizes_record_only_finite_series(name: str, zero_init: bool, dtype) -> None:
    X, y, w_star = _data(name)
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 4)
    W0 = torch.zeros(4, 2, dtype=F64) if zero_init else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traj = train(
            net, X, y, [1e4, 1e5, 1e6], 200, W0, per_neuron=True, w_star=w_star, device="cpu",
            dtype=dtype,
        )  # fmt: skip
    for key in SERIES:
        assert bool(torch.isfinite(getattr(traj, key)).all()), key
    assert bool(torch.isfinite(traj.w_final).all())
    # float32 runs that fit the data warn that the risk left float32's resolution; no other
    # warning (R = 1) and none in float64.
    lost = traj.meta.get("float32_resolution_lost_at", [None])
    assert len(caught) == (0 if all(t is None for t in lost) else 1)
    assert all("float32 no longer resolves" in str(w.message) for w in caught)
    if zero_init and name == "xor":
        # XOR's symmetry makes w = 0 a stationary point: GD stays there, margins stay 0.
        assert bool((traj.param_norm == 0).all()) and bool((traj.min_margin == 0).all())
    else:
        # The regime is really extreme: e^{-q_min} exceeds the float range, so F saturates.
        assert float(traj.min_margin.min()) < -1e4
        assert bool((traj.F == torch.finfo(dtype).max).any())
    # The saturated F still bounds L = mean log(1 + e^{-q}) <= mean e^{-q} from above. For
    # q >> 1 the two agree to first order, and they are rounded differently: the risk by
    # softplus + mean (a few ulps), F as exp(logsumexp - log n), which turns the absolute
    # rounding of a log-space value of size |log F| into a relative error of about
    # |log F| ulps (float32 at q_min = 37: 21 ulps, seen with torch's scalar kernels). Allow
    # (16 + |log F|) ulps (log F taken at the smallest normal float where F underflows to 0,
    # where the risk is 0 as well).
    info = torch.finfo(dtype)
    slack = (16 + traj.F.clamp_min(info.tiny).log().abs()) * info.eps
    assert bool((traj.F >= traj.risk * (1 - slack)).all())
    if zero_init:
        # W0 = 0: no direction, so gamma-bar(w_0) = 0 by convention, q_min(0) = 0 is kept.
        assert bool((traj.param_norm[:, 0] == 0).all())
        assert bool((traj.normalized_margin[:, 0] == 0).all())
        assert bool((traj.min_margin[:, 0] == 0).all())
        assert bool((traj.neuron_margins[:, 0] == 0).all())
        # With no radial direction all of the gradient is tangential (g - 0 is exact).
        assert torch.equal(traj.mu_norm_sq[:, 0], traj.grad_norm_sq[:, 0])


@pytest.mark.parametrize(("dtype", "lr"), [(F64, 1e300), (F32, 1e30)])
def test_overflow_raises_a_named_error(dtype, lr: float) -> None:
    X, y, _ = _data("xor")
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 4)
    name = str(dtype).removeprefix("torch.")
    # One step of size lr moves ||w|| to ~lr/10, whose square overflows the float range.
    lr_text = re.escape(f"{lr:.6g}")
    match = rf"GD run 1 \(lr={lr_text}\) left the {name} range: param_norm = inf at step 1"
    with pytest.raises(NonFiniteRecordError, match=match) as info:
        train(net, X, y, [1.0, lr], 5, device="cpu", dtype=dtype)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, FloatingPointError)


def _large_margin_start(
    q_min: float,
) -> tuple[TwoLayerNet, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Separable unit-norm data and a start with every neuron along a_j w_*, margin q_min."""
    gen = torch.Generator().manual_seed(5)
    X = torch.randn(12, 3, generator=gen, dtype=F64)
    y = torch.where(torch.arange(12) % 2 == 0, 1.0, -1.0).to(F64)
    X[:, 0] = y * (0.2 + X[:, 0].abs())
    X = X / X.norm(dim=1, keepdim=True).clamp_min(1.0)
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 4)
    margin = float((y * X[:, 0]).min())
    # Balanced a, w_j = s a_j e_1: f(x) = (phi(u) - phi(-u))/2 = 0.5625 u with u = s x_1.
    W0 = net.a.view(4, 1) * torch.tensor([1.0, 0.0, 0.0], dtype=F64) * (q_min / (0.5625 * margin))
    return net, X, y, W0


def test_float32_warns_when_the_risk_is_below_its_resolution() -> None:
    net, X, y, W0 = _large_margin_start(8.0)  # L_0 ~ 5e-5
    lrs = [1.0, 100.0]
    exact = train(net, X, y, lrs, 2000, W0, device="cpu", dtype=F64)
    with pytest.warns(
        UserWarning, match=r"float32 no longer resolves the risk from step 0 \(run 0"
    ):
        single = train(net, X, y, lrs, 2000, W0, device="cpu", dtype=F32)
    assert "float32_resolution_lost_at" not in exact.meta
    # lr = 1 changes L by ~1e-6 relative per step, below float32's rounding of L; lr = 100 does not.
    assert single.meta["float32_resolution_lost_at"] == [0, None]
    # Why it matters: in float64 the lr = 1 risk decreases at every step, in float32 it does not.
    assert bool((exact.risk[0].diff() < 0).all())
    assert bool((single.risk[0].diff() >= 0).any())
    assert bool((single.risk[1].diff() < 0).all())


def test_float32_silent_while_the_risk_is_resolved() -> None:
    net, X, y, W0 = _large_margin_start(4.0)  # L_0 ~ 4e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traj = train(net, X, y, [1.0, 100.0], 500, W0, device="cpu", dtype=F32)
    assert traj.meta["float32_resolution_lost_at"] == [None, None]
    assert bool((traj.risk.diff(dim=1) < 0).all())


def test_float32_risk_underflow_is_reported_at_its_step() -> None:
    # q_min = 120: L ~ e^{-120} ~ 8e-53 is below float32's range (it records 0) from step 0.
    net, X, y, W0 = _large_margin_start(120.0)
    with pytest.warns(
        UserWarning, match=r"from step 0 \(run 0, lr=1\): L_t = 0 is below the normal float32 range"
    ):
        traj = train(net, X, y, 1.0, 3, W0, device="cpu", dtype=F32)
    assert traj.meta["float32_resolution_lost_at"] == [0]
    assert bool((traj.risk == 0).all()) and bool(torch.isfinite(traj.log_risk).all())


XOR_X = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]], dtype=F64) / 2
XOR_Y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=F64)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"init_scale": -0.1}, ValueError, r"init_scale=-0\.1 must be finite and >= 0"),
        ({"init_scale": math.nan}, ValueError, "init_scale=nan must be finite"),
        ({"init_scale": math.inf}, ValueError, "init_scale=inf must be finite"),
        ({"init_scale": "0.1"}, TypeError, "init_scale must be a real number, got '0.1'"),
        ({"init_scale": True}, TypeError, "init_scale must be a real number, got True"),
        ({"X": XOR_X.clone().fill_(math.inf)}, ValueError, r"finite entries, got X\[0, 0\] = inf"),
        ({"X": XOR_X.clone().fill_(math.nan)}, ValueError, r"finite entries, got X\[0, 0\] = nan"),
        ({"lr": 1e39, "dtype": F32}, ValueError, r"lr=1e\+39 \(at index 0\) is not a finite pos"),
        ({"lr": 1e-46, "dtype": F32}, ValueError, r"lr=1e-46 \(at index 0\) is not a finite pos"),
        ({"per_neuron": "yes"}, TypeError, "per_neuron must be a bool, got 'yes'"),
        ({"meta": [("a", 1)]}, TypeError, "meta must be a mapping or None, got list"),
        ({"net": "mlp"}, TypeError, "net must be a TwoLayerNet, got str"),
        ({"W0": torch.zeros(2, 2, 2), "lr": [1.0] * 3}, ValueError, "lr gives 3 runs but W0 gives"),
        ({"seed": -1}, ValueError, "seed must be a non-negative int, got -1"),
    ],
)
def test_invalid_configurations_fail_before_any_compute(
    kwargs: dict, error: type[Exception], match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_compute(*args: object, **kw: object) -> None:
        raise AssertionError("GD started on an invalid configuration")

    monkeypatch.setattr(gd, "Evaluator", no_compute)
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 2)
    args = {"net": net, "X": XOR_X, "y": XOR_Y, "lr": 1.0, "steps": 3, "device": "cpu", **kwargs}
    with pytest.raises(error, match=match):
        train(**args)


def test_record_every_beyond_steps_records_the_endpoints() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 2)
    sparse = train(net, XOR_X, XOR_Y, 1.0, 5, record_every=50, device="cpu")
    full = train(net, XOR_X, XOR_Y, 1.0, 5, device="cpu")
    assert sparse.steps.tolist() == [0, 5]
    # The same steps, and every record is the same kernel calls on same-shaped tensors whatever
    # is recorded around it (gd._Recorder): bit-identical by construction, on every CPU.
    assert torch.equal(sparse.risk, full.risk[:, [0, 5]])


@pytest.mark.parametrize("dtype", [F64, F32])
def test_same_seed_is_bit_identical_across_thread_settings(dtype) -> None:
    """Below 2**24 multiply-adds per step the engine pins one CPU thread (``threads=None``), so
    reruns are bit-identical whatever torch's thread setting. Larger problems use torch's
    setting, where BLAS may split sums differently: only same-thread-count reruns are identical
    there (test_gd.test_deterministic)."""
    X, y, _ = _data("xor")
    net = TwoLayerNet.balanced(get_activation("leaky_gelu"), 16)
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            runs.append(train(net, X, y, [0.1, 10.0, 1e4], 300, seed=7, device="cpu", dtype=dtype))
    finally:
        torch.set_num_threads(before)
    for other in runs[1:]:
        for key, value in runs[0].__dict__.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, getattr(other, key)), key
        assert other.meta == runs[0].meta
