"""Throughput of the GD engine against plain torch.nn + torch.optim.SGD (a script, not a test).

A sweep of K stepsizes for T steps on eq. (2) with the leaky softplus of Example 3.1
(``0.5 x + 0.125 softplus(x)``), float64, CPU, trained

(a) by :func:`gdlab.stepsize.gd.train` (K runs batched, closed-form gradient, full records), and
(b) as a user would without it: a ``torch.nn`` two-layer module of the same model and
    ``torch.optim.SGD`` with autograd, one run after another, recording the loss each step.

It also times the floor: the two matrix products of one batched step alone
(``(K m, d) x (d, n)`` and ``(K m, n) x (n, d)``). Run ``python benchmarks/gd_throughput.py``
(``--steps 200 --k 4`` for a quick run, ``--threads 1`` to pin the thread count).

Both wall-clock and CPU (process) time are reported: on a shared machine the wall clock
includes time-slicing with other processes, while CPU time does not (for one thread it is
the work done; with several threads it sums over them).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
from torch import nn

from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.gd import train
from gdlab.stepsize.network import TwoLayerNet


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


def _timed(fn: Callable[[], object]) -> tuple[tuple[float, float], object]:
    """``((wall seconds, CPU seconds), fn())``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - wall, time.process_time() - cpu), out


def _floor(K: int, m: int, n: int, d: int, reps: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the two matrix products of one batched step."""
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(K * m, d, generator=gen, dtype=torch.float64)
    XT = torch.randn(d, n, generator=gen, dtype=torch.float64)
    D = torch.randn(K * m, n, generator=gen, dtype=torch.float64)
    X = XT.T.contiguous()
    torch.mm(W, XT), torch.mm(D, X)  # warm-up

    def run() -> None:
        for _ in range(reps):
            torch.mm(W, XT)
            torch.mm(D, X)

    (wall, cpu), _ = _timed(run)
    return wall / reps, cpu / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="GD steps T (default 2000)")
    parser.add_argument("--k", type=int, default=8, help="number of stepsizes K (default 8)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--m", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as is)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="time (a), (b), floor this often; keep the best"
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    K, T, n, d, m = args.k, args.steps, args.n, args.d, args.m

    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.where(X[:, 0] + 0.3 * X[:, 1] >= 0, 1.0, -1.0).to(torch.float64)
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), m)
    W0 = net.init(1, d, scale=0.1, seed=0)
    lrs = torch.logspace(-1, 2, K, dtype=torch.float64)
    print(
        f"K={K} stepsizes, T={T} steps, n={n}, d={d}, m={m}, float64, CPU, "
        f"threads={torch.get_num_threads()}, torch {torch.__version__}"
    )

    train(net, X, y, lrs, 5, W0, device="cpu")  # warm-up
    best = {key: [math.inf, math.inf] for key in ("engine", "naive", "floor")}
    for _ in range(args.repeats):  # interleaved, so that all three see similar machine load
        times = {}
        times["engine"], traj = _timed(lambda: train(net, X, y, lrs, T, W0, device="cpu"))
        times["naive"], losses = _timed(lambda: _naive_sweep(W0[0], net.a, X, y, lrs, T))
        floor = _floor(K, m, n, d, reps=max(20, T // 10))
        times["floor"] = (floor[0] * T, floor[1] * T)  # as if for T steps
        for key, (wall, cpu) in times.items():
            best[key] = [min(best[key][0], wall), min(best[key][1], cpu)]
    # Same model and GD: the last losses of (b) are those of (a) one step earlier.
    gap = max(abs(run[-1] - float(traj.risk[k, -2])) for k, run in enumerate(losses))
    print(f"max |loss gap| between (a) and (b): {gap:.1e}")
    for i, clock in enumerate(("wall", "CPU")):
        engine, naive, floor = (best[key][i] for key in ("engine", "naive", "floor"))
        print(
            f"[{clock:4s}] (a) engine {T / engine:7.1f} sweep-steps/s | "
            f"(b) nn+SGD {T / naive:7.1f} sweep-steps/s | (a)/(b) speed-up {naive / engine:.2f}x | "
            f"floor {floor / T * 1e3:.2f} ms/step | engine/floor {engine / floor:.2f}x"
        )


if __name__ == "__main__":
    main()
