"""Regression tests: the training entries refuse bad inputs before any step, in one line.

Part I's :func:`gdlab.stepsize.gd.train`, the deep MLP's :func:`gdlab.stepsize.mlp.train_mlp`
and Part II's :func:`gdlab.symmetry.sgd.train` (with its tasks and models). Each test checks
the exception type, that the message names the value given, and that no training step ran
(the step's code is replaced by one that fails the test).
"""

from __future__ import annotations

import math

import pytest
import torch

from gdlab.data import Dataset, separable_gaussian
from gdlab.runtime import RuntimeConfigError, make_generator
from gdlab.stepsize import gd, mlp
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.network import TwoLayerNet
from gdlab.symmetry import sgd
from gdlab.symmetry.autoencoder import TwoLayerNet as AutoEncoderNet
from gdlab.symmetry.linear import DeepLinear, init_chain
from gdlab.symmetry.scale_invariant import NormalizedLinear
from gdlab.symmetry.tasks import FiniteTask, GaussianTask

F64 = torch.float64
XOR_X = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]], dtype=F64) / 2
XOR_Y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=F64)
NET = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 2)


def _no_step(*args: object, **kwargs: object) -> None:
    raise AssertionError("a training step ran on an invalid configuration")


@pytest.fixture
def no_gd_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Part I: building the evaluator (the first computation of a run) fails the test."""
    monkeypatch.setattr(gd, "Evaluator", _no_step)


@pytest.fixture
def no_mlp_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deep MLP: its forward pass (the first computation of a step) fails the test."""
    monkeypatch.setattr(mlp, "mlp_forward", _no_step)


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a CUDA GPU, also on one that has one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# ----------------------------------------------------------------------------- Part I: train


@pytest.mark.parametrize(
    ("device", "error", "match"),
    [
        ("tpu", RuntimeConfigError, r"'tpu'.*allowed values: auto, cpu, cuda"),
        (" TPU ", RuntimeConfigError, r"' TPU '.*allowed values: auto, cpu, cuda"),
        ("cuda", RuntimeConfigError, r"cuda.*no CUDA GPU is available"),
        (torch.device("cuda"), RuntimeConfigError, r"cuda.*no CUDA GPU is available"),
        (torch.device("meta"), RuntimeConfigError, r"type='meta'.*allowed: a cpu or cuda"),
        (3, TypeError, r"device must be None, a str \(auto, cpu, cuda\) or a torch.device.*3"),
    ],
)
def test_train_refuses_a_device_before_any_step(
    device: object, error: type[Exception], match: str, no_gd_step: None, no_cuda: None
) -> None:
    with pytest.raises(error, match=match) as info:
        gd.train(NET, XOR_X, XOR_Y, 1.0, 3, device=device)
    assert "\n" not in str(info.value)


def test_device_names_are_case_insensitive_and_torch_devices_accepted() -> None:
    upper = gd.train(NET, XOR_X, XOR_Y, 1.0, 2, device="CPU")
    typed = gd.train(NET, XOR_X, XOR_Y, 1.0, 2, device=torch.device("cpu"))
    assert upper.meta["device"] == typed.meta["device"] == "cpu"
    assert torch.equal(upper.risk, typed.risk)  # the same call on the same device: deterministic


def test_train_refuses_records_beyond_the_cap_without_building_them(no_gd_step: None) -> None:
    """steps = 10**12 recorded every step would take ~100 TB: refused from arithmetic alone
    (a list of the recorded steps would itself exhaust memory first)."""
    with pytest.raises(ValueError, match=r"1000000000001 recorded steps x 1 runs x 9 values") as e:
        gd.train(NET, XOR_X, XOR_Y, 1.0, 10**12, device="cpu")
    assert "RECORD_BYTES_CAP = 4 GiB" in str(e.value) and "record_every" in str(e.value)
    with pytest.raises(ValueError, match=r"recorded steps x 3 runs x 13 values"):
        gd.train(NET, XOR_X, XOR_Y, [1.0, 2.0, 3.0], 10**9, per_neuron=True, device="cpu")


@pytest.mark.parametrize(
    ("scale", "lr", "match"),
    [
        (1e200, 1.0, r"max \|x_ij\| = 1e\+200 and max \|\|x_i\|\|\^2 overflows the float64"),
        (
            1e150,
            1e20,
            r"max \|x_ij\| = 1e\+150 and lr \* max \|\|x_i\|\|\^2 = 1e\+20 \* 2e\+300 exceeds",
        ),
    ],
)
def test_train_blames_inputs_too_large_for_a_step(
    scale: float, lr: float, match: str, no_gd_step: None
) -> None:
    """Such inputs used to stop after a step with advice to use a smaller stepsize: the data
    are the problem (a step moves the margins by about lr ||x||^2)."""
    X = XOR_X * (2 * scale)  # entries +-scale
    with pytest.raises(ValueError, match=match) as info:
        gd.train(NET, X, XOR_Y, lr, 3, device="cpu")
    assert "rescale X" in str(info.value) and "stepsize" not in str(info.value)


def test_train_refuses_non_finite_data_naming_the_entry(no_gd_step: None) -> None:
    X = XOR_X.clone()
    X[2, 1] = math.nan
    with pytest.raises(ValueError, match=r"finite entries, got X\[2, 1\] = nan \(1 non-finite"):
        gd.train(NET, X, XOR_Y, 1.0, 3, device="cpu")


def test_train_refuses_a_start_whose_margins_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """W0 near the float maximum: x^T w = 2e308 overflows at step 0, before any record."""
    monkeypatch.setattr(gd._Recorder, "record", _no_step)
    W0 = torch.full((2, 2), 1e308, dtype=F64)
    X, y = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=F64), torch.tensor([1.0, -1.0], dtype=F64)
    match = r"initial parameters are not finite .*max \|W0\| = 1e\+308"
    with pytest.warns(UserWarning, match=r"max \|\|x_i\|\| = 1\.41421 > 1"):
        with pytest.raises(ValueError, match=match):
            gd.train(NET, X, y, 1.0, 3, W0, device="cpu")


# ----------------------------------------------------------------------------- Part I: MLP


@pytest.fixture(scope="module")
def small() -> Dataset:
    return separable_gaussian(n=8, d=3, seed=0)


def test_mlp_refuses_a_device_before_any_step(small: Dataset, no_mlp_step: None) -> None:
    with pytest.raises(RuntimeConfigError, match=r"'tpu'.*allowed values: auto, cpu, cuda"):
        mlp.train_mlp(small, [0.1], 3, width=2, device="tpu")
    with pytest.raises(RuntimeConfigError, match=r"'tpu'.*allowed values"):
        mlp.init_mlp(3, width=2, device="tpu")
    with pytest.raises(RuntimeConfigError, match=r"'tpu'.*allowed values"):
        NET.init(1, 2, device="tpu")


def test_mlp_refuses_cuda_without_a_gpu(small: Dataset, no_mlp_step: None, no_cuda: None) -> None:
    with pytest.raises(RuntimeConfigError, match=r"cuda.*no CUDA GPU is available"):
        mlp.train_mlp(small, [0.1], 3, width=2, device="cuda")


def test_mlp_refuses_a_stepsize_that_is_not_a_number(small: Dataset, no_mlp_step: None) -> None:
    with pytest.raises(TypeError, match=r"lr must be a sequence of positive stepsizes, got 'fast'"):
        mlp.train_mlp(small, "fast", 3, width=2, device="cpu")


def test_mlp_refuses_records_beyond_the_cap(small: Dataset, no_mlp_step: None) -> None:
    with pytest.raises(ValueError, match=r"1000000000001 recorded steps x 2 runs x 5 values"):
        mlp.train_mlp(small, [0.1, 0.2], 10**12, width=2, device="cpu")


def test_mlp_blames_inputs_too_large_for_a_step(small: Dataset, no_mlp_step: None) -> None:
    huge = Dataset("huge", small.X / small.X.abs().max() * 1e200, small.y)  # max |x_ij| = 1e200
    with pytest.raises(ValueError, match=r"max \|x_ij\| = 1e\+200 .* rescale X"):
        mlp.train_mlp(huge, [0.1], 3, width=2, device="cpu")


# ----------------------------------------------------------------------------- Part II


def _task(dx: int = 2, dy: int = 2) -> GaussianTask:
    return GaussianTask.isotropic(torch.ones(dy, dx, dtype=F64))


def _failing(model: object) -> object:
    """``model`` whose gradients fail the test: no SGD or GD step may run."""
    model.grad = _no_step  # type: ignore[attr-defined]
    model.population_grad = _no_step  # type: ignore[attr-defined]
    return model


def _train(model: object, params: tuple, task: object, **kwargs: object) -> None:
    args = {"eta": 0.1, "steps": 3, "generator": make_generator(0), **kwargs}
    sgd.train(_failing(model), params, task, **args)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: GaussianTask(torch.tensor([[1.0, math.nan]]), torch.eye(2), torch.eye(1)),
            r"V must have finite entries, got V\[0, 0, 1\] = nan",
        ),
        (
            lambda: GaussianTask(torch.eye(2), torch.eye(2) * math.inf, torch.eye(2)),
            r"cov_x must have finite entries, got cov_x\[0, 0, 0\] = inf",
        ),
        (
            lambda: GaussianTask.isotropic(torch.eye(2), var_eps=math.nan),
            "var_eps must be finite, got nan",
        ),
        (
            lambda: GaussianTask(torch.ones(1, 0), torch.eye(0), torch.eye(1)),
            r"V must have no empty dimension, got shape \(1, 1, 0\)",
        ),
        (
            lambda: FiniteTask(torch.ones(1, 0, 2, dtype=F64), torch.ones(1, 0, 1, dtype=F64)),
            r"non-empty task\), got \(1, 0, 2\) and \(1, 0, 1\)",
        ),
        (
            lambda: FiniteTask(torch.full((1, 3, 2), math.inf), torch.ones(1, 3, 1)),
            r"X must have finite entries, got X\[0, 0, 0\] = inf \(6 of 6",
        ),
        (
            lambda: FiniteTask(torch.ones(1, 3, 2), torch.ones(1, 3, 1, dtype=F64)),
            r"X \(torch.float32 on cpu\) and Y \(torch.float64 on cpu\) must share dtype",
        ),
    ],
)
def test_tasks_refuse_non_finite_or_empty_data(build: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("model", "params", "task", "match"),
    [
        (
            DeepLinear(),
            init_chain((2, 3, 1), 2, 1.0, make_generator(0)),
            _task(dx=4, dy=1),
            r"deep-linear params map 2 inputs to 1 outputs, but the task has dx=4 and dy=1; "
            r"param shapes: \(2, 3, 2\), \(2, 1, 3\)",
        ),
        (
            DeepLinear(),
            (torch.ones(2, 3, 2, dtype=F64), torch.ones(2, 2, 4, dtype=F64)),
            _task(),
            r"W_1 \(2, 3, 2\) and W_2 \(2, 2, 4\) do not chain",
        ),
        (
            AutoEncoderNet("tanh"),
            (torch.ones(2, 3, 2, dtype=F64), torch.ones(2, 2, 4, dtype=F64)),
            FiniteTask(torch.ones(1, 5, 2, dtype=F64), torch.ones(1, 5, 2, dtype=F64)),
            r"W \(2, 3, 2\) and U \(2, 2, 4\) widths do not match",
        ),
        (
            NormalizedLinear(),
            (torch.ones(2, 3, dtype=F64),),
            _task(dx=4, dy=1),
            r"normalized-linear params map 3 inputs to 1 outputs, but the task has dx=4",
        ),
        (
            DeepLinear(),
            init_chain((2, 2), 2, 1.0, make_generator(0)),
            GaussianTask.isotropic(torch.ones(3, 2, 2, dtype=F64)),
            r"the task has 3 runs .* but params have K=2; allowed: 1 \(shared\) or K",
        ),
        (
            DeepLinear(),
            (torch.ones(2, 2, 2, dtype=torch.float32),),
            _task(),
            r"params \(torch.float32 on cpu\) and the task \(torch.float64 on cpu\) must share",
        ),
        (
            DeepLinear(),
            (torch.tensor([[[1.0, math.nan], [0.0, 1.0]]], dtype=F64),),
            _task(),
            r"params\[0\] must have finite entries, got params\[0\]\[0, 0, 1\] = nan",
        ),
        (
            DeepLinear(),
            (torch.ones(2, 2, 2, dtype=F64), torch.ones(3, 2, 2, dtype=F64)),
            _task(),
            r"params disagree on the run count K \(dimension 0\): \(2, 2, 2\), \(3, 2, 2\)",
        ),
        (DeepLinear(), (), _task(), r"params must be a non-empty tuple .* got \(\)"),
    ],
)
def test_sgd_refuses_params_that_do_not_fit_the_task(
    model: object, params: tuple, task: object, match: str
) -> None:
    with pytest.raises(ValueError, match=match) as info:
        _train(model, params, task)
    assert "\n" not in str(info.value)


def test_sgd_refuses_records_beyond_the_cap() -> None:
    params = init_chain((2, 2), 2, 1.0, make_generator(0))
    for observe in (None, lambda p: {"w": p[0]}):
        with pytest.raises(ValueError, match=r"1000000000001 recorded step indices x 8 bytes"):
            _train(DeepLinear(), params, _task(), steps=10**12, observe=observe)

    # Recorded every 10**5 steps the indices fit, but observations of 2 x 2048 doubles per
    # record do not: refused after the observation at step 0, before the first step.
    def big(p: tuple) -> dict[str, torch.Tensor]:
        return {"w": p[0].reshape(2, -1).repeat(1, 512)}

    with pytest.raises(ValueError, match=r"10000001 records of the step index and 1 observ"):
        _train(DeepLinear(), params, _task(), steps=10**12, every=10**5, observe=big)


def test_sgd_refuses_params_that_are_not_tensors() -> None:
    with pytest.raises(TypeError, match=r"params\[1\] must be a torch.Tensor, got float"):
        _train(DeepLinear(), (torch.ones(1, 2, 2, dtype=F64), 1.0), _task())
