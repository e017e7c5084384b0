"""Experiments of the chapter "Deep linear networks and beyond" (spec §3.3, §4; T3, Figs. 5, 6, 9).

Each function runs one experiment and returns tensors; the chapter plots and asserts.
"""

from __future__ import annotations

import torch

from gdlab.runtime import get_device, get_dtype, make_generator
from gdlab.symmetry.autoencoder import TwoLayerNet
from gdlab.symmetry.linear import DeepLinear, Params, init_chain
from gdlab.symmetry.sgd import Run, train
from gdlab.symmetry.tasks import FiniteTask, GaussianTask, digits_task, normalized

__all__ = [
    "anisotropy",
    "autoencoder_runs",
    "chain_runs",
    "digits_runs",
    "layer_norms",
    "random_inits",
    "scalar_chain",
]


def layer_norms(params: Params) -> dict[str, torch.Tensor]:
    """Observer: ``norm_sq`` (K, D) of every layer and the singular values ``sv_i`` of each.

    Runs with non-finite weights (diverged) get NaN singular values.
    """
    out = {"norm_sq": torch.stack([(w**2).sum((-1, -2)) for w in params], dim=-1)}
    for i, w in enumerate(params, start=1):
        finite = torch.isfinite(w).flatten(1).all(1)
        sv = torch.linalg.svdvals(torch.where(finite[:, None, None], w, torch.zeros_like(w)))
        out[f"sv_{i}"] = torch.where(finite[:, None], sv, torch.full_like(sv, float("nan")))
    return out


def anisotropy(singular_values: torch.Tensor) -> torch.Tensor:
    """``sum_i (s_i^2 - mean s^2)^2 / (mean s^2)^2`` over the last axis: 0 iff ``W^T W`` is a
    multiple of the identity (a scaled orthogonal map, as Theorem 5.4 says of middle layers).

    Linear in the fluctuation variance, so its O(eta) stationary value extrapolates to 0 as
    eta -> 0, unlike the individual ordered singular values (which repel each other).
    """
    sq = singular_values**2
    mean = sq.mean(-1, keepdim=True)
    return ((sq - mean) ** 2).sum(-1) / mean[..., 0] ** 2


def random_inits(widths: tuple[int, ...], init_stds: list[list[float]], seed: int = 0) -> Params:
    """One Gaussian chain per entry of ``init_stds`` (per-layer stds), stacked as K runs."""
    gen = make_generator(seed, get_device())
    runs = [init_chain(widths, 1, stds, gen) for stds in init_stds]
    return tuple(torch.cat([r[i] for r in runs]) for i in range(len(widths) - 1))


def scalar_chain(values: list[list[float]]) -> Params:
    """Scalar chains ``f = w_D ... w_1 x`` with the given weights, one run per row."""
    t = torch.as_tensor(values, dtype=get_dtype(), device=get_device())
    return tuple(t[:, i].reshape(-1, 1, 1).contiguous() for i in range(t.shape[1]))


def chain_runs(
    task: GaussianTask,
    params: Params,
    etas: list[float],
    *,
    batch_size: int,
    steps: int,
    method: str,
    every: int,
    seed: int = 0,
) -> Run:
    """SGD or GD on a deep linear chain: every init in ``params`` (K runs) at every eta.

    Runs are eta-major (``K * len(etas)`` runs). Series: :func:`layer_norms` and the
    population ``loss``.
    """
    K = params[0].shape[0]
    stacked = tuple(p.repeat(len(etas), *([1] * (p.dim() - 1))) for p in params)
    eta_k = torch.as_tensor(etas, dtype=get_dtype(), device=get_device()).repeat_interleave(K)
    model = DeepLinear()

    def observe(p: Params) -> dict[str, torch.Tensor]:
        return {**layer_norms(p), "loss": model.population_loss(p, task)}

    return train(
        model,
        stacked,
        task,
        eta=eta_k,
        steps=steps,
        generator=make_generator(seed, get_device()),
        batch_size=batch_size,
        method=method,
        observe=observe,
        every=every,
    )


def _random_orthogonal(d: int, gen: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=get_dtype(), device=get_device()))
    return q * torch.sign(torch.diagonal(r))


def digits_runs(
    *,
    depth: int,
    eta: float,
    batch_size: int,
    steps: int,
    every: int,
    spread: float = 0.5,
    seed: int = 0,
) -> tuple[Run, FiniteTask]:
    """Figure 5 analogue on scikit-learn's digits: deep linear regression onto one-hot labels.

    Both runs start at the least-squares solution ``P* = L S R`` (width 10 = rank, so no hidden
    direction is left without gradient), factorised as ``W_1 = S^{1/D} R``,
    ``W_i = S^{1/D}`` (middle), ``W_D = L S^{1/D}`` with random orthogonal maps between layers:
    run 0 has equal layer norms; run 1 multiplies layer i by ``c_i = exp(spread z_i)``
    (z standard normal, ``prod c_i = 1``), the same function with unequal norms. No weight
    decay; minibatches drawn with replacement.
    """
    task = digits_task()
    gen = make_generator(seed, get_device())
    X, Y = task.X[0], task.Y[0]
    P = (torch.linalg.pinv(X) @ Y).T  # minimum-norm least squares (X has constant pixels)
    L, s, R = torch.linalg.svd(P, full_matrices=False)
    root = torch.diag(s ** (1.0 / depth))
    width = s.shape[0]
    rots = [_random_orthogonal(width, gen) for _ in range(depth - 1)]
    layers = [rots[0] @ root @ R]
    layers += [rots[i] @ root @ rots[i - 1].T for i in range(1, depth - 1)]
    layers += [L @ root @ rots[-1].T]
    z = torch.randn(depth, generator=gen, dtype=get_dtype(), device=get_device())
    c = torch.exp(spread * (z - z.mean()))
    params = tuple(torch.stack([w, ci * w]) for w, ci in zip(layers, c, strict=True))
    model = DeepLinear()
    Xf, Yf = task.full_batch(2)

    def observe(p: Params) -> dict[str, torch.Tensor]:
        return {**layer_norms(p), "loss": model.loss(p, Xf, Yf)}

    run = train(
        model,
        params,
        task,
        eta=eta,
        steps=steps,
        generator=gen,
        batch_size=batch_size,
        observe=observe,
        every=every,
    )
    return run, task


def autoencoder_runs(
    activation: str,
    *,
    dx: int,
    width: int,
    noise_first: float,
    eta: float,
    batch_size: int,
    steps: int,
    gd_samples: int,
    init_std: tuple[float, float],
    every: int,
    seed: int = 0,
) -> dict[str, object]:
    """Figures 6 and 9: ``f = U act(W x)`` autoencoding ``y = x + eps``, SGD vs GD.

    ``x ~ N(0, I_dx)``, ``eps`` diagonal with variance ``noise_first`` on the first coordinate and
    1 elsewhere. SGD draws fresh samples; GD runs full-batch on ``gd_samples`` fixed draws.
    Both start from the same init (stds ``init_std`` for W, U). Series: the two sides of the
    balance, ``lhs = U^T bar Sigma_eps U`` and ``rhs = W bar Sigma_x W^T`` (d x d), and the loss.
    """
    gen = make_generator(seed, get_device())
    eye = torch.eye(dx, dtype=get_dtype(), device=get_device())
    var_eps = torch.ones(dx, dtype=get_dtype(), device=get_device())
    var_eps[0] = noise_first
    task = GaussianTask(eye, eye, torch.diag(var_eps))
    nx, ne = normalized(task.cov_x), normalized(task.cov_eps)
    model = TwoLayerNet(activation)
    params = init_chain((dx, width, dx), 1, list(init_std), gen)
    fixed = task.fixed_sample(1, gd_samples, gen)
    X, Y = fixed.full_batch(1)

    def observe(p: Params) -> dict[str, torch.Tensor]:
        W, U = p
        return {
            "lhs": U.transpose(-1, -2) @ ne @ U,
            "rhs": W @ nx @ W.transpose(-1, -2),
            "loss": model.loss(p, X, Y),
        }

    runs = {
        "sgd": train(
            model,
            params,
            task,
            eta=eta,
            steps=steps,
            generator=gen,
            batch_size=batch_size,
            observe=observe,
            every=every,
        ),
        "gd": train(
            model,
            params,
            fixed,
            eta=eta,
            steps=steps,
            generator=gen,
            method="gd",
            observe=observe,
            every=every,
        ),
    }
    return {"runs": runs, "task": task}
