"""GPU efficiency of the training loops (Part I engine and MLP, Part II SGD), measured without a
GPU.

A host synchronisation is a Python-level read of a device tensor (``.item()``, ``bool()``,
``float()``, ``int()``, ``.tolist()``, ``.cpu()``, ``.numpy()``): these are counted by wrapping
those methods, and must not grow with the number of steps (none between the first and the last
step). Kernel launches are counted as the aten operators that compute (not the views) in torch's
CPU profiler: each is one kernel launch on CUDA. The counts per step are printed (``pytest -s``)
and bounded here; the reproducibility appendix quotes them.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from gdlab.data import Dataset
from gdlab.runtime import AUTO_CUDA_MIN_WORK, get_device
from gdlab.stepsize import gd, network
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.gd import train
from gdlab.stepsize.mlp import train_mlp
from gdlab.stepsize.network import TwoLayerNet
from gdlab.symmetry import sgd as part2
from gdlab.symmetry.linear import DeepLinear, init_chain
from gdlab.symmetry.tasks import GaussianTask

F64 = torch.float64
_SYNCS = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist", "cpu", "numpy")
# Operators that only make views or metadata: no kernel on a GPU.
_VIEWS = {
    "aten::view", "aten::reshape", "aten::_reshape_alias", "aten::as_strided", "aten::slice",
    "aten::select", "aten::unsqueeze", "aten::squeeze", "aten::expand", "aten::transpose",
    "aten::t", "aten::permute", "aten::_unsafe_view", "aten::alias", "aten::detach",
    "aten::numpy_T", "aten::mT", "aten::empty", "aten::empty_like", "aten::empty_strided",
    "aten::resize_", "aten::lift_fresh", "aten::result_type", "aten::matmul", "aten::to",
    "aten::_to_copy", "aten::squeeze_", "aten::unsqueeze_", "aten::resolve_conj",
    "aten::resolve_neg", "aten::contiguous", "aten::split", "aten::unbind", "aten::narrow",
}  # fmt: skip
# aten::matmul and aten::to dispatch to the operators that compute (mm, bmm, copy_), counted.


def _xor() -> tuple[TwoLayerNet, torch.Tensor, torch.Tensor, list[float]]:
    """The book's workload: XOR, m = 20, K = 16 stepsizes."""
    X = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]], dtype=F64) / math.sqrt(2)
    y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=F64)
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20)
    return net, X, y, torch.logspace(-1, 1, 16, dtype=F64).tolist()


def _moderate() -> tuple[TwoLayerNet, torch.Tensor, torch.Tensor, list[float]]:
    """A problem in the product form: n = 300, d = 16, m = 32, K = 8 (K m n = 76800)."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(300, 16, generator=gen, dtype=F64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.where(X[:, 0] >= 0, 1.0, -1.0).to(F64)
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 32)
    return net, X, y, torch.logspace(-1, 1, 8, dtype=F64).tolist()


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host synchronisation through the wrapped Tensor methods, by name."""
    log: list[str] = []
    for name in _SYNCS:
        method = getattr(torch.Tensor, name)

        def wrapped(self, *args, _method=method, _name=name, **kwargs):
            log.append(_name)
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapped)
    return log


def _syncs_of(log: list[str], run) -> int:
    log.clear()
    run()
    return len(log)


@pytest.mark.parametrize("problem", [_xor, _moderate])
def test_no_host_sync_between_the_first_and_the_last_step(problem, syncs) -> None:
    """The host syncs of a run (validation before the loop, the records' transfer after it) do
    not depend on the number of steps: none inside the loop, recorded every step or not."""
    net, X, y, lrs = problem()
    counts = {
        (steps, every): _syncs_of(
            syncs, lambda s=steps, e=every: train(net, X, y, lrs, s, device="cpu", record_every=e)
        )
        for steps in (20, 200)
        for every in (1, 7)
    }
    print(f"\n{problem.__name__}: host syncs per run {counts}")
    assert len(set(counts.values())) == 1, counts


def test_no_host_sync_in_the_mlp_loop(syncs) -> None:
    """The deep MLP: its margins are checked once, at step 0; the test accuracy stays on the
    run's device; records come to the CPU after the loop."""
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(12, 3, generator=gen, dtype=F64)
    y = torch.where(X[:, 0] >= 0, 1.0, -1.0).to(F64)
    data = Dataset("toy", X, y, X_test=X[:6], y_test=y[:6])
    counts = [
        _syncs_of(syncs, lambda s=s: train_mlp(data, [0.1, 1.0], s, width=8, test_every=2))
        for s in (4, 40)
    ]
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("gamma", [0.0, 0.01])
def test_no_host_sync_in_the_part2_loop(syncs, gamma) -> None:
    """Part II SGD: divergence flags, the frozen-run mask and the records stay on the run's
    device; the syncs of a run (argument checks before the loop, the records' transfer after it)
    do not depend on the number of steps or records. A diverging run is included, so the
    freezing path is exercised."""
    task = GaussianTask.isotropic(torch.eye(3, dtype=F64))
    model = DeepLinear()

    def run(steps: int, every: int) -> None:
        gen = torch.Generator().manual_seed(0)
        params = init_chain((3, 3, 3), 2, 0.5, gen)
        out = part2.train(
            model, params, task, eta=torch.tensor([0.01, 5.0], dtype=F64), gamma=gamma,
            steps=steps, generator=gen, batch_size=4, every=every,
            observe=lambda p: {"norm": p[0].reshape(2, -1).norm(dim=-1)},
        )  # fmt: skip
        assert out.diverged_at[1] >= 0 > out.diverged_at[0]

    counts = {
        (s, e): _syncs_of(syncs, lambda s=s, e=e: run(s, e)) for s in (40, 400) for e in (1, 9)
    }
    print(f"\npart II: host syncs per run {counts}")
    assert len(set(counts.values())) == 1, counts


def _launches(run) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return sum(e.count for e in prof.key_averages() if e.key not in _VIEWS)


@pytest.mark.parametrize(
    ("problem", "every", "bound"),
    [(_xor, 1, 24), (_xor, 1000, 19), (_moderate, 1, 30), (_moderate, 1000, 25)],
)
def test_kernel_launches_per_step(problem, every, bound) -> None:
    """Launches per step, from the difference of two horizons (setup and the final transfer
    cancel). Measured (torch 2.13): XOR 16 per step plus 4 per record and 0.3 for the batched
    reductions (20.3); the product form 23 plus the same (27.6). The bounds leave a few
    launches of slack for another torch version."""
    net, X, y, lrs = problem()
    runs = {s: _launches(lambda s=s: train(net, X, y, lrs, s, device="cpu", record_every=every))
            for s in (100, 300)}  # fmt: skip
    per_step = (runs[300] - runs[100]) / 200
    print(f"\n{problem.__name__} record_every={every}: {per_step:.2f} kernel launches per step")
    assert per_step <= bound


def test_records_are_reduced_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """One reduction of margins per batch of up to 256 records, not one per record."""
    calls: list[int] = []
    statistics = gd.margin_statistics

    def counting(q, n=None, work=None):
        calls.append(q.shape[0])
        return statistics(q, n, work)

    monkeypatch.setattr(gd, "margin_statistics", counting)
    net, X, y, lrs = _xor()
    train(net, X, y, lrs, 600, device="cpu")
    assert calls == [256, 256, 89]


def test_auto_uses_cuda_only_where_it_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto`` with a problem size: CUDA (when present) from AUTO_CUDA_MIN_WORK multiply-adds
    per product on; the book's XOR sweep stays on the CPU even on a machine with a GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device("auto", AUTO_CUDA_MIN_WORK - 1).type == "cpu"
    assert get_device("auto", AUTO_CUDA_MIN_WORK).type == "cuda"
    assert get_device("auto").type == "cuda"  # no size: CUDA when present, as before
    assert get_device("cpu", 10**12).type == "cpu"  # an explicit choice is kept
    net, X, y, lrs = _xor()
    assert 16 * 20 * 4 * 2 < AUTO_CUDA_MIN_WORK <= 8 * 64 * 1000 * 64  # XOR vs the benchmark
    monkeypatch.setenv("GDLAB_DEVICE", "auto")
    assert train(net, X, y, lrs, 3).meta["device"] == "cpu"


def test_the_product_form_is_what_the_moderate_problem_runs() -> None:
    net, X, y, lrs = _moderate()
    assert len(lrs) * net.m * X.shape[0] >= network.PRODUCT_FORM_MIN_ENTRIES
    assert network.Evaluator(net, X, y).product_form
