"""Throughput of the GD engine in two regimes, side by side (a script, not a test).

Eq. (2) with the leaky softplus of Example 3.1 (``0.5 x + 0.125 softplus(x)``), float64, CPU,
full records at every step (:func:`gdlab.stepsize.gd.train`).

(i) The book's workload: XOR (n=4, d=2), m=20, K=16 stepsizes, T=2000 steps, one thread. The
    engine (K runs batched, closed-form gradient) against the loop a user would write without
    it: a ``torch.nn`` two-layer module and ``torch.optim.SGD`` with autograd, one run after
    another, recording the loss each step. Here every step is a few dozen tiny kernels, so the
    cost is their launches, which batching the runs and the records divides.
(ii) A moderate problem: n=1000, d=64, m=64, K=8. The engine against its floor, the two matrix
    products of one batched step alone (``(K m, d) x (d, n)`` and ``(K m, n) x (n, d)``), on
    1 and 2 threads. Here the matrix products dominate and the engine's elementwise work (one
    sigmoid per entry of Z and four cheap passes, see :class:`gdlab.stepsize.network.Evaluator`)
    and its records are what it adds.

Both wall-clock and CPU (process) time are reported: on a shared machine the wall clock includes
time-slicing with other processes, while CPU time does not (on one thread it is the work done;
on two it sums over both). Each measurement is repeated ``--repeats`` times, interleaved so that
all see similar load, and the best is kept. ``make bench`` runs ``python
benchmarks/gd_throughput.py``; ``--quick`` runs shorter horizons.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.gd import train
from gdlab.stepsize.network import TwoLayerNet

Timing = tuple[float, float]  # (wall seconds, CPU seconds)


class _TwoLayer(nn.Module):
    """Eq. (2) as a user would write it: a bias-free linear layer, leaky softplus, fixed +-1/m."""

    def __init__(self, W0: torch.Tensor, a: torch.Tensor) -> None:
        super().__init__()
        self.hidden = nn.Linear(W0.shape[1], W0.shape[0], bias=False, dtype=W0.dtype)
        with torch.no_grad():
            self.hidden.weight.copy_(W0)
        self.register_buffer("out", a / a.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.hidden(x)
        return (0.5 * z + 0.125 * nn.functional.softplus(z)) @ self.out


def _naive_sweep(W0, a, X, y, lrs, steps) -> list[list[float]]:
    losses = []
    for lr in lrs:
        model = _TwoLayer(W0, a)
        opt = torch.optim.SGD(model.parameters(), lr=float(lr))
        run = []
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.softplus(-y * model(X)).mean()
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(run)
    return losses


def _timed(fn: Callable[[], object]) -> tuple[Timing, object]:
    """``((wall seconds, CPU seconds), fn())``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - wall, time.process_time() - cpu), out


def _best(timings: list[Timing]) -> Timing:
    return min(t[0] for t in timings), min(t[1] for t in timings)


def _floor(K: int, m: int, n: int, d: int, steps: int) -> Callable[[], None]:
    """The two matrix products of one batched step, ``steps`` times."""
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(K * m, d, generator=gen, dtype=torch.float64)
    XT = torch.randn(d, n, generator=gen, dtype=torch.float64)
    D = torch.randn(K * m, n, generator=gen, dtype=torch.float64)
    X = XT.T.contiguous()

    def run() -> None:
        for _ in range(steps):
            torch.mm(W, XT)
            torch.mm(D, X)

    return run


def _with_threads(threads: int, fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(previous)

    return run


def book_workload(steps: int, repeats: int) -> None:
    """Regime (i): the engine against torch.nn + SGD on XOR, one thread."""
    X = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    X = X / math.sqrt(2)
    y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20)
    W0 = net.init(1, 2, scale=0.1, seed=0)
    lrs = torch.logspace(-1, 1, 16, dtype=torch.float64)
    engine = _with_threads(1, lambda: train(net, X, y, lrs, steps, W0, device="cpu"))
    naive = _with_threads(1, lambda: _naive_sweep(W0[0], net.a, X, y, lrs, steps))
    engine()  # warm-up
    times: dict[str, list[Timing]] = {"engine": [], "naive": []}
    for _ in range(repeats):
        t, traj = _timed(engine)
        times["engine"].append(t)
        t, losses = _timed(naive)
        times["naive"].append(t)
    # Same model and GD: the last losses of the loop are those of the engine one step earlier.
    gap = max(abs(run[-1] - float(traj.risk[k, -2])) for k, run in enumerate(losses))
    (ew, ec), (nw, nc) = _best(times["engine"]), _best(times["naive"])
    print(f"(i) book workload: XOR n=4 d=2, m=20, K=16 stepsizes, T={steps}, 1 thread")
    print(f"    {'':22s} {'wall s':>9s} {'CPU s':>9s} {'us/step wall':>13s} {'us/step CPU':>12s}")
    for label, w, c in (("engine (gd.train)", ew, ec), ("torch.nn + SGD loop", nw, nc)):
        print(f"    {label:22s} {w:9.3f} {c:9.3f} {w / steps * 1e6:13.1f} {c / steps * 1e6:12.1f}")
    print(f"    engine speed-up: {nw / ew:.1f}x wall, {nc / ec:.1f}x CPU; max |loss gap| {gap:.1e}")


def moderate_problem(steps: int, repeats: int) -> None:
    """Regime (ii): the engine against its two-matrix-product floor, on 1 and 2 threads."""
    K, n, d, m = 8, 1000, 64, 64
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.where(X[:, 0] + 0.3 * X[:, 1] >= 0, 1.0, -1.0).to(torch.float64)
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), m)
    W0 = net.init(1, d, scale=0.1, seed=0)
    lrs = torch.logspace(-1, 2, K, dtype=torch.float64)
    print(f"(ii) moderate problem: n={n} d={d} m={m} K={K}, T={steps}")
    print(f"    {'':36s} {'ms/step wall':>13s} {'ms/step CPU':>12s}")
    for threads in (1, 2):
        engine = _with_threads(
            threads, lambda t=threads: train(net, X, y, lrs, steps, W0, device="cpu", threads=t)
        )
        floor = _with_threads(threads, _floor(K, m, n, d, steps))
        engine(), floor()  # warm-up
        times: dict[str, list[Timing]] = {"engine": [], "floor": []}
        for _ in range(repeats):
            times["engine"].append(_timed(engine)[0])
            times["floor"].append(_timed(floor)[0])
        (ew, ec), (fw, fc) = _best(times["engine"]), _best(times["floor"])
        for label, w, c in (("engine", ew, ec), ("floor (2 matrix products)", fw, fc)):
            row = f"{w / steps * 1e3:13.3f} {c / steps * 1e3:12.3f}"
            print(f"    {threads} thread{'s' if threads > 1 else ' '} {label:26s} {row}")
        print(
            f"    {threads} thread{'s' if threads > 1 else ' '} engine/floor: "
            f"{ew / fw:.2f}x wall, {ec / fc:.2f}x CPU"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="keep the best of (default 3)")
    parser.add_argument("--quick", action="store_true", help="T=500 and T=50 (a smoke run)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats} must be >= 1")
    print(
        f"float64, CPU {platform.machine()} ({torch.backends.cpu.get_cpu_capability()}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads available, "
        f"best of {args.repeats}"
    )
    book_workload(500 if args.quick else 2000, args.repeats)
    moderate_problem(50 if args.quick else 200, args.repeats)


if __name__ == "__main__":
    main()
