"""Experiments of the chapter "Noether charge and its flow" (spec §2, §8; toys T1, T4).

Each function runs one experiment and returns plain tensors/floats; the chapter plots and
asserts. Sizes are arguments so the chapter can pick them with :func:`gdlab.runtime.by_scale`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gdlab.runtime import get_device, get_dtype, make_generator
from gdlab.symmetry.charges import flatten, layer_charges, pair_generator
from gdlab.symmetry.checks import check_int
from gdlab.symmetry.identities import (
    IdentityCheck,
    ProductLaw,
    check_charge_identity,
    check_layer_identity,
    check_product_law,
)
from gdlab.symmetry.linear import DeepLinear, Params, init_chain
from gdlab.symmetry.scale_invariant import NormalizedLinear, stationary_k
from gdlab.symmetry.sgd import Run, Step, train
from gdlab.symmetry.tasks import GaussianTask

__all__ = [
    "IdentityRow",
    "RateSweep",
    "conservation_runs",
    "drift_rate_sweep",
    "identity_table",
    "product_law_run",
    "scalar_task",
    "scale_invariant_runs",
    "scale_invariant_task",
]


def _t(values) -> torch.Tensor:
    return torch.as_tensor(values, dtype=get_dtype(), device=get_device())


def scalar_task(v: float = 1.0, var_x: float = 1.0, var_eps: float = 1.0) -> GaussianTask:
    """T1: ``y = v x + eps`` with scalar Gaussian ``x`` and ``eps``."""
    return GaussianTask.isotropic(_t([[v]]), var_x, var_eps)


def scalar_params(u: list[float], w: list[float]) -> Params:
    """Scalar-toy parameters ``(w, u)`` as a two-layer chain of width 1, one run per entry."""
    return _t(w).reshape(-1, 1, 1), _t(u).reshape(-1, 1, 1)


@dataclass
class IdentityRow:
    """One line of the identity table: which model/method/decay, and the check."""

    identity: str
    model: str
    method: str
    gamma: float
    check: IdentityCheck


def identity_table(*, steps: int, seed: int = 0, runs: int = 4) -> list[IdentityRow]:
    """(D0)-(D6) step by step for every model, SGD and GD, with and without weight decay.

    Models: scalar toy (D3), two-layer (D4, every matrix charge), depth-3 chain (D5), and the
    flattened charge of pair 1 of the chain (D0 with an explicit A), the scale-invariant model (D6).
    """
    gen = make_generator(seed, get_device())
    out: list[IdentityRow] = []
    V = torch.randn(3, 4, generator=gen, dtype=get_dtype(), device=get_device())
    task = GaussianTask(V, torch.diag(_t([2.0, 1.0, 0.5, 0.25])), 0.5 * torch.eye(3, dtype=V.dtype))
    beta = torch.randn(1, 8, generator=gen, dtype=V.dtype, device=V.device)
    task_si = GaussianTask(beta / beta.norm(), torch.eye(8, dtype=V.dtype), _t([[0.25]]))
    chains = {
        "scalar u w x (D3)": (scalar_task(), init_chain((1, 1, 1), runs, 1.0, gen), 0.05),
        "two-layer U W (D4)": (task, init_chain((4, 5, 3), runs, 0.5, gen), 0.01),
        "depth-3 chain (D5)": (task, init_chain((4, 5, 6, 3), runs, 0.5, gen), 0.01),
    }
    for method in ("sgd", "gd"):
        for gamma in (0.0, 0.05):
            kw = dict(steps=steps, generator=gen, gamma=gamma, batch_size=4, method=method)
            for name, (tk, params, eta) in chains.items():
                check = check_layer_identity(params, tk, eta=eta, **kw)
                out.append(
                    IdentityRow("D4/D5" if "D3" not in name else "D3", name, method, gamma, check)
                )
            tk, params, eta = chains["depth-3 chain (D5)"]
            A = pair_generator(params, 2)
            check = check_charge_identity(DeepLinear(), params, tk, A, eta=eta, **kw)
            out.append(
                IdentityRow("D0", "depth-3 chain, C = |W3|^2 - |W2|^2", method, gamma, check)
            )
            theta = (torch.randn(runs, 8, generator=gen, dtype=V.dtype, device=V.device),)
            A = torch.eye(8, dtype=V.dtype, device=V.device)
            check = check_charge_identity(NormalizedLinear(), theta, task_si, A, eta=0.1, **kw)
            out.append(IdentityRow("D6", "scale-invariant, C = |theta|^2", method, gamma, check))
    return out


def product_law_run(
    *, steps: int, runs: int, eta: float, batch_size: int, seed: int = 0
) -> ProductLaw:
    """(D3) over a whole SGD run of the scalar toy, from ``u = 2, w = 1/2`` (on the minimum)."""
    gen = make_generator(seed, get_device())
    params = scalar_params([2.0] * runs, [0.5] * runs)
    return check_product_law(
        params, scalar_task(), eta=eta, steps=steps, generator=gen, batch_size=batch_size
    )


def conservation_runs(
    u0: list[float], w0: list[float], *, eta: float, steps: int, batch_size: int, seed: int = 0
) -> dict[str, Run]:
    """T1: the scalar toy from the inits ``(u0, w0)`` under SGD and GD, recording every step.

    Series: ``C = u^2 - w^2``, ``loss`` (population risk) and, for the (D2) bound,
    ``grad_sq = ||grad L||^2`` (population gradient at the recorded point).
    """
    task = scalar_task()
    model = DeepLinear()

    def observe(p: Params) -> dict[str, torch.Tensor]:
        g = flatten(model.population_grad(p, task))
        return {
            "C": layer_charges(p)[0][:, 0, 0],
            "loss": model.population_loss(p, task),
            "grad_sq": (g**2).sum(-1),
        }

    return {
        method: train(
            model,
            scalar_params(u0, w0),
            task,
            eta=eta,
            steps=steps,
            generator=make_generator(seed, get_device()),
            batch_size=batch_size,
            method=method,
            observe=observe,
        )
        for method in ("sgd", "gd")
    }


@dataclass
class RateSweep:
    """T1 decay rate of the charge per SGD step, on an (eta, S) grid (each tensor (n_eta, n_S)).

    measured : mean over steps and runs of ``-Delta C / C = eta^2 G_t^2`` (exact by (D3)).
    stderr : its standard error over the independent runs.
    conditional : mean of ``eta^2 E[G_t^2 | theta_t]`` (Eq. 5 with the noise at the visited
        states, exact Gaussian moments).
    eq5, eq7 : the closed forms ``4 eta^2 Var[r x] / S`` and half of it (prefactor sigma^2).
    """

    etas: torch.Tensor
    batch_sizes: torch.Tensor
    measured: torch.Tensor
    stderr: torch.Tensor
    conditional: torch.Tensor
    eq5: torch.Tensor
    eq7: torch.Tensor


def drift_rate_sweep(
    etas: list[float], batch_sizes: list[int], *, replicas: int, steps: int, seed: int = 0
) -> RateSweep:
    """Measure the T1 rate from the minimum ``u = 2, w = 1/2`` (``v = 1``, unit variances)."""
    check_int("replicas", replicas, minimum=2)
    check_int("steps", steps, minimum=1)
    gen = make_generator(seed, get_device())
    task, model = scalar_task(), DeepLinear()
    n_eta = len(etas)
    eta_k = _t(etas).repeat_interleave(replicas)
    shape = (n_eta, len(batch_sizes))
    measured, stderr, conditional = (torch.zeros(shape, dtype=get_dtype()) for _ in range(3))
    for j, S in enumerate(batch_sizes):
        real = torch.zeros_like(eta_k)
        cond = torch.zeros_like(eta_k)

        def on_step(step: Step, S: int = S, real=real, cond=cond) -> None:
            G = model.end_gradient(step.params, *step.batch)[:, 0, 0]
            M = (step.params[1] * step.params[0])[:, 0, 0] - 1.0
            # E[G^2 | theta] = 4 E[m^2] = 4 (M^2 (1 + 2/S) + 1/S) for unit variances (Isserlis).
            cond.add_(step.eta**2 * 4 * (M**2 * (1 + 2 / S) + 1 / S))
            real.add_(step.eta**2 * G**2)

        params = scalar_params([2.0] * len(eta_k), [0.5] * len(eta_k))
        train(
            model,
            params,
            task,
            eta=eta_k,
            steps=steps,
            generator=gen,
            batch_size=S,
            every=steps,
            on_step=on_step,
        )
        per_run = (real / steps).reshape(n_eta, replicas).cpu()
        measured[:, j] = per_run.mean(1)
        stderr[:, j] = per_run.std(1) / math.sqrt(replicas)
        conditional[:, j] = (cond / steps).reshape(n_eta, replicas).mean(1).cpu()
    e = torch.tensor(etas, dtype=get_dtype())[:, None]
    s = torch.tensor(batch_sizes, dtype=get_dtype())[None, :]
    eq5 = 4 * e**2 / s
    return RateSweep(e[:, 0], s[0], measured, stderr, conditional, eq5, eq5 / 2)


def scale_invariant_task(n: int, var_eps: float) -> GaussianTask:
    """T4: ``y = beta^T x + eps`` with ``beta = e_1`` (unit norm), ``x ~ N(0, I_n)``."""
    beta = torch.zeros(1, check_int("n", n, minimum=2), dtype=get_dtype(), device=get_device())
    beta[0, 0] = 1.0
    return GaussianTask(beta, torch.eye(n, dtype=beta.dtype), _t([[var_eps]]))


def scale_invariant_runs(
    task: GaussianTask,
    norms0: list[float],
    gammas: list[float],
    *,
    eta: float,
    steps: int,
    batch_size: int,
    every: int,
    seed: int = 0,
) -> Run:
    """T4: SGD on ``f = (theta/||theta||)^T x`` from ``theta_0 = norm0 * beta`` (the minimiser).

    One run per (norm0, gamma) pair. Series: ``norm_sq = ||theta||^2`` and ``k`` (exact
    ``||theta||^2 E[||g||^2 | theta]`` of :func:`stationary_k`).
    """
    if len(norms0) != len(gammas):
        raise ValueError(
            f"norms0 and gammas must have equal lengths, got {len(norms0)}, {len(gammas)}"
        )
    theta = task.V[0].expand(len(norms0), -1) * _t(norms0)[:, None]

    def observe(p: Params) -> dict[str, torch.Tensor]:
        return {"norm_sq": (p[0] ** 2).sum(-1), "k": stationary_k(p[0], task, batch_size)}

    return train(
        NormalizedLinear(),
        (theta,),
        task,
        eta=eta,
        gamma=_t(gammas),
        steps=steps,
        generator=make_generator(seed, get_device()),
        batch_size=batch_size,
        observe=observe,
        every=every,
    )
