"""Experiments of the chapter "Noise equilibrium" (spec §3.2, §8; toys T2, T2', T5; Figs. 2-4, 8).

Each function runs one experiment and returns tensors; the chapter plots and asserts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gdlab.runtime import get_device, get_dtype, make_generator
from gdlab.symmetry.charges import layer_charges
from gdlab.symmetry.checks import check_int
from gdlab.symmetry.equilibrium import (
    NoiseBalance,
    balance_residual,
    noise_balance,
    theorem_5_2_gammas,
    width_one_ratio,
)
from gdlab.symmetry.linear import DeepLinear, Params, init_chain
from gdlab.symmetry.orbit import (
    OrbitDrift,
    equilibrium_lambda,
    monte_carlo_noise_trace,
    orbit_coordinate,
    orbit_drift,
    orbit_point,
)
from gdlab.symmetry.sgd import Run, train
from gdlab.symmetry.sharpness import init_std, sharpness, top_eigenvalue
from gdlab.symmetry.tasks import GaussianTask, normalized

__all__ = [
    "OrbitResult",
    "WeightDecayGrid",
    "anisotropic_task",
    "orbit_experiment",
    "phi_sweep",
    "phi_task",
    "random_noise_tasks",
    "two_layer_equilibrium",
    "warmup_experiment",
    "weight_decay_grid",
]


def _t(values) -> torch.Tensor:
    return torch.as_tensor(values, dtype=get_dtype(), device=get_device())


def anisotropic_task(V: torch.Tensor, var_x: list[float], var_eps: list[float]) -> GaussianTask:
    """``y = V x + eps`` with diagonal covariances ``diag(var_x)`` and ``diag(var_eps)``."""
    return GaussianTask(V, torch.diag(_t(var_x)), torch.diag(_t(var_eps)))


# --- T5: one orbit (Lemma B.1, Theorems 4.3 and D.1) ---------------------------------------------


@dataclass
class OrbitResult:
    """T5 on a width-one net started on its minimum manifold.

    lemma_lams, lemma_mc, lemma_se, lemma_exact : Lemma B.1, Monte Carlo vs exact.
    drift : :class:`OrbitDrift` on a lambda grid; lam_star, lam_star_d : roots of G and G_d.
    charge_star : ``C(theta_{lambda*})``; etas : (K,) learning rate of each SGD run;
    runs : SGD and GD from theta (series ``C`` and its orbit coordinate ``lam``).
    """

    lemma_lams: torch.Tensor
    lemma_mc: torch.Tensor
    lemma_se: torch.Tensor
    lemma_exact: torch.Tensor
    drift: OrbitDrift
    lam_star: float
    lam_star_d: float
    charge_star: float
    etas: torch.Tensor
    runs: dict[str, Run]


def orbit_experiment(
    etas: list[float],
    *,
    replicas: int,
    batch_size: int,
    steps: int,
    mc_samples: int,
    seed: int = 0,
) -> OrbitResult:
    """T5 for ``f = u (w^T x)`` with ``V = a b^T`` (dx = 3, dy = 2), gamma = 0.

    The start ``theta = (w = b^T, u = a)`` is a global minimum whose width-one orbit is the whole
    minimum manifold; Lemma B.1 is checked at lambda in {-1, -0.5, 0, 0.5, 1}. With gamma = 0
    and grad L = 0 on the manifold, the roots of G and G_d do not depend on eta or S; the drift
    curves are drawn for the first eta. ``replicas`` SGD runs per eta, one GD run per eta.
    """
    check_int("replicas", replicas, minimum=1)
    gen = make_generator(seed, get_device())
    a, b = _t([1.0, 0.5]), _t([1.5, -1.0, 0.5])
    task = anisotropic_task(torch.outer(a, b), [2.0, 1.0, 0.5], [0.3, 1.0])
    params = (b.reshape(1, 1, 3), a.reshape(1, 2, 1))
    lams = _t([-1.0, -0.5, 0.0, 0.5, 1.0])
    stacked = tuple(
        torch.cat(t) for t in zip(*(orbit_point(params, float(x)) for x in lams), strict=True)
    )
    A = torch.diag(_t([-1.0] * 3 + [1.0] * 2))
    mc, se = monte_carlo_noise_trace(stacked, task, A, samples=mc_samples, generator=gen)
    eta0 = etas[0]
    base = orbit_drift(params, task, _t([0.0]), eta=eta0, batch_size=batch_size)
    exact = (
        torch.exp(-2 * lams.cpu()) * base.noise_u[0, 0]
        - torch.exp(2 * lams.cpu()) * (base.noise_w[0, 0])
    )
    drift = orbit_drift(params, task, torch.linspace(-3, 3, 61), eta=eta0, batch_size=batch_size)
    lam_star = float(equilibrium_lambda(params, task, eta=eta0, batch_size=batch_size)[0])
    lam_star_d = float(
        equilibrium_lambda(params, task, eta=eta0, batch_size=batch_size, discrete=True)[0]
    )
    w_star, u_star = orbit_point(params, lam_star)
    charge_star = float((u_star**2).sum() - (w_star**2).sum())

    def observe(p: Params) -> dict[str, torch.Tensor]:
        C = layer_charges(p)[0][:, 0, 0]
        return {"C": C, "lam": orbit_coordinate(C, params)}

    eta_sgd = _t(etas).repeat_interleave(replicas)
    runs = {
        method: train(
            DeepLinear(),
            tuple(p.expand(len(eta_k), -1, -1).clone() for p in params),
            task,
            eta=eta_k,
            steps=steps,
            generator=gen,
            batch_size=batch_size,
            method=method,
            every=max(steps // 400, 1),
            observe=observe,
        )
        for method, eta_k in (("sgd", eta_sgd), ("gd", _t(etas)))
    }
    return OrbitResult(
        lams.cpu(),
        mc.cpu(),
        se.cpu(),
        exact,
        drift,
        lam_star,
        lam_star_d,
        charge_star,
        eta_sgd.cpu(),
        runs,
    )


# --- T2 / Figure 2: two-layer equilibrium with gamma = 0 -----------------------------------------


def two_layer_equilibrium(
    task: GaussianTask,
    init_scales: list[tuple[float, float]],
    etas: list[float],
    *,
    width: int,
    batch_size: int,
    steps: int,
    method: str,
    every: int,
    seed: int = 0,
) -> Run:
    """SGD or GD on ``U W x`` (gamma = 0): one run per (eta, init) pair, eta-major order.

    Inits are Gaussian with std ``(s_W, s_U)``; every eta starts from the same draws. With a
    task of several runs (one noise covariance each), a single init is shared by all runs and
    the etas split the runs into equal consecutive groups. Series:
    ``lhs = U^T bar Sigma_eps U`` and ``rhs = W bar Sigma_x W^T`` (the two sides of Eq. 14),
    ``lhs_state``/``rhs_state`` (Theorem 5.2 with the Gammas at the current state; for gamma = 0
    the common factor eta/S does not matter), and the invariants under hidden rotations
    ``u_sq``, ``w_sq``, ``sv`` and ``sv_rhs`` (eigenvalues of ``lhs`` and ``rhs``), ``cross``
    (``Tr[lhs rhs]``, equal to ``sum S^2`` only if ``lhs = rhs`` with spectrum S), and the
    population ``loss``.
    """
    gen = make_generator(seed, get_device())
    ws = [init_chain((task.dx, width), 1, sw, gen)[0] for sw, _ in init_scales]
    us = [init_chain((width, task.dy), 1, su, gen)[0] for _, su in init_scales]
    W0, U0 = torch.cat(ws).repeat(len(etas), 1, 1), torch.cat(us).repeat(len(etas), 1, 1)
    task_runs = task.cov_eps.shape[0]
    eta_k = _t(etas).repeat_interleave(len(init_scales))
    if task_runs > 1:  # one task per run (Figure 2, right): every run starts from the same init
        if len(init_scales) != 1 or task_runs % len(etas):
            raise ValueError(
                f"a task with {task_runs} runs needs one init and a number of etas dividing "
                f"{task_runs}, got {len(init_scales)} inits and {len(etas)} etas"
            )
        W0, U0 = (p[:1].expand(task_runs, -1, -1).clone() for p in (W0, U0))
        eta_k = _t(etas).repeat_interleave(task_runs // len(etas))
    nx, ne = normalized(task.cov_x), normalized(task.cov_eps)
    model = DeepLinear()

    def observe(p: Params) -> dict[str, torch.Tensor]:
        W, U = p
        gu, gw = theorem_5_2_gammas(task, eta=1.0, batch_size=1, params=p)
        lhs_s, rhs_s = balance_residual(p, gu, gw)
        lhs, rhs = U.transpose(-1, -2) @ ne @ U, W @ nx @ W.transpose(-1, -2)
        return {
            "lhs": lhs,
            "rhs": rhs,
            "lhs_state": lhs_s,
            "rhs_state": rhs_s,
            "u_sq": (U**2).sum((-1, -2)),
            "w_sq": (W**2).sum((-1, -2)),
            "sv": torch.linalg.eigvalsh(lhs),
            "sv_rhs": torch.linalg.eigvalsh(rhs),
            "cross": (lhs * rhs).sum((-1, -2)),
            "loss": model.population_loss(p, task),
        }

    return train(
        model,
        (W0, U0),
        task,
        eta=eta_k,
        steps=steps,
        generator=gen,
        batch_size=batch_size,
        method=method,
        observe=observe,
        every=every,
    )


def random_noise_tasks(
    V: torch.Tensor, var_x: list[float], runs: int, *, repeats: int = 1, seed: int = 0
) -> GaussianTask:
    """Figure 2 (right): one task per run with a random noise covariance ``Q diag(s) Q^T``.

    ``s`` is drawn log-uniform in [0.2, 5] and ``Q`` is a random rotation, independently per run;
    the ``runs`` covariances are repeated ``repeats`` times (one block per learning rate).
    """
    check_int("runs", runs, minimum=1)
    check_int("repeats", repeats, minimum=1)
    gen = make_generator(seed, get_device())
    dy = V.shape[0]
    covs = []
    for _ in range(runs):
        z = torch.randn(dy, dy, generator=gen, dtype=get_dtype(), device=get_device())
        q, _ = torch.linalg.qr(z)
        u = torch.rand(dy, generator=gen, dtype=get_dtype(), device=get_device())
        s = 0.2 * 25.0**u  # log-uniform on [0.2, 5]
        covs.append(q @ torch.diag(s) @ q.T)
    cov = torch.stack(covs).repeat(repeats, 1, 1)
    return GaussianTask(V.expand(runs * repeats, -1, -1), torch.diag(_t(var_x)), cov)


# --- T2': width one with weight decay ------------------------------------------------------------


@dataclass
class WeightDecayGrid:
    """T2' on an (eta, gamma) grid, two inits per point: ``||u||^2/||w||^2`` and predictions.

    measured, stderr : (n_points, n_inits) time-averaged ratio and its batch-means error.
    adopted, printed, appendix : (n_points,) Theorem 5.2 versions (spec §7.2).
    """

    etas: torch.Tensor
    gammas: torch.Tensor
    measured: torch.Tensor
    stderr: torch.Tensor
    adopted: torch.Tensor
    printed: torch.Tensor
    appendix: torch.Tensor


def weight_decay_grid(
    etas: list[float],
    gammas: list[float],
    *,
    batch_size: int,
    steps: int,
    burn_in: int,
    seed: int = 0,
) -> WeightDecayGrid:
    """``f = u (w^T x)`` with ``dx = 4``, ``dy = 2``, ``V = a b^T``, unit isotropic covariances."""
    from gdlab.symmetry.stats import time_average

    check_int("steps", steps, minimum=burn_in + 20)
    gen = make_generator(seed, get_device())
    dx, dy = 4, 2
    task = GaussianTask.isotropic(torch.outer(_t([1.0, 0.5]), _t([1.0, -1.0, 0.5, 0.0])))
    grid = [(e, g) for e in etas for g in gammas]
    n = len(grid)
    eta_k = _t([e for e, _ in grid] * 2)
    gamma_k = _t([g for _, g in grid] * 2)
    inits = [(0.2, 1.5), (1.5, 0.2)]
    W = torch.cat([init_chain((dx, 1), n, sw, gen)[0] for sw, _ in inits])
    U = torch.cat([init_chain((1, dy), n, su, gen)[0] for _, su in inits])
    run = train(
        DeepLinear(),
        (W, U),
        task,
        eta=eta_k,
        gamma=gamma_k,
        steps=steps,
        generator=gen,
        batch_size=batch_size,
        every=10,
        observe=lambda p: {"ratio": (p[1] ** 2).sum((-1, -2)) / (p[0] ** 2).sum((-1, -2))},
    )
    mean, se = time_average(run.window("ratio", burn_in), blocks=10)
    preds = {
        v: _t(
            [
                width_one_ratio(
                    eta=e,
                    gamma=g,
                    batch_size=batch_size,
                    dx=dx,
                    dy=dy,
                    var_x=1.0,
                    var_eps=1.0,
                    version=v,
                )
                for e, g in grid
            ]
        ).cpu()
        for v in ("adopted", "main", "appendix")
    }
    return WeightDecayGrid(
        _t([e for e, _ in grid]).cpu(),
        _t([g for _, g in grid]).cpu(),
        mean.reshape(2, n).T,
        se.reshape(2, n).T,
        preds["adopted"],
        preds["main"],
        preds["appendix"],
    )


# --- Figures 3 and 8: the phi_x sweep ------------------------------------------------------------


def phi_task(phis: list[float], dx: int) -> GaussianTask:
    """Figure 8 task: autoencoding ``y = x + eps``, ``x_{1:dx/2} ~ N(0, phi)``,
    ``x_{dx/2+1:dx} ~ N(0, 2 - phi)``, ``Sigma_eps = I``; one run per ``phi``."""
    check_int("dx", dx, minimum=2)
    if dx % 2:
        raise ValueError(f"dx must be even (two halves), got {dx}")
    half = dx // 2
    diag = _t([[p] * half + [2 - p] * half for p in phis])
    eye = torch.eye(dx, dtype=diag.dtype, device=diag.device)
    return GaussianTask(eye.expand(len(phis), -1, -1), torch.diag_embed(diag), eye)


def phi_sweep(
    phis: list[float],
    settings: dict[str, tuple[str, float, float]],
    *,
    dx: int,
    width: int,
    batch_size: int,
    steps: int,
    init_gain: float,
    seed: int = 0,
) -> tuple[dict[str, Run], NoiseBalance, torch.Tensor]:
    """The Figure 8 task, one run per phi, for every setting ``name -> (method, eta, gamma)``.

    Init: ``W ~ N(0, init_gain/dx)``, ``U ~ N(0, init_gain/width)`` (Kaiming for gain 1), the
    same draw for every phi and setting. Returns the runs (series ``u_sq``, ``w_sq``,
    ``sharpness``, ``loss``), the gamma = 0 prediction of Theorem 5.2 and the initial sharpness.
    """
    gen = make_generator(seed, get_device())
    task = phi_task(phis, dx)
    K = len(phis)
    base = init_chain(
        (dx, width, dx), 1, [(init_gain / dx) ** 0.5, (init_gain / width) ** 0.5], gen
    )
    params = tuple(p.expand(K, -1, -1).clone() for p in base)
    model = DeepLinear()

    def observe(p: Params) -> dict[str, torch.Tensor]:
        return {
            "u_sq": (p[1] ** 2).sum((-1, -2)),
            "w_sq": (p[0] ** 2).sum((-1, -2)),
            "sharpness": sharpness(p, task.cov_x),
            "loss": model.population_loss(p, task),
        }

    runs = {
        name: train(
            model,
            params,
            task,
            eta=eta,
            gamma=gamma,
            steps=steps,
            generator=gen,
            batch_size=batch_size,
            method=method,
            observe=observe,
            every=max(steps // 200, 1),
        )
        for name, (method, eta, gamma) in settings.items()
    }
    return runs, noise_balance(task), sharpness(params, task.cov_x).cpu()


# --- Figure 4: warmup and the two inits ----------------------------------------------------------


def warmup_experiment(
    *,
    dx: int,
    width: int,
    var_eps: float,
    eta_small: float,
    eta_large: float,
    switch: int,
    steps: int,
    batch_size: int,
    seed: int = 0,
) -> dict[str, object]:
    """Rank-1 factorisation ``V = e_1 e_1^T`` (dx = dy), isotropic data, five runs.

    SGD + Kaiming at ``eta_large`` throughout; SGD + Kaiming and SGD + Xavier with warmup
    (``eta_small`` until ``switch``, then ``eta_large``); GD + Kaiming and GD + Xavier at
    ``eta_small``. Returns the two phases' runs (series ``sharpness``, ``loss``), the top Hessian
    eigenvalue at init and at the end, and the Theorem 5.2 prediction.
    """
    gen = make_generator(seed, get_device())
    V = torch.zeros(dx, dx, dtype=get_dtype(), device=get_device())
    V[0, 0] = 1.0
    task = GaussianTask.isotropic(V, 1.0, var_eps)
    inits = {}
    for scheme in ("kaiming", "xavier"):
        sw, su = init_std(scheme, dx=dx, d=width, dy=dx)
        inits[scheme] = init_chain((dx, width, dx), 1, [sw, su], gen)
    names = ["SGD Kaiming, constant", "SGD Kaiming, warmup", "SGD Xavier, warmup"]
    order = ["kaiming", "kaiming", "xavier"]
    sgd_params = tuple(torch.cat([inits[s][j] for s in order]) for j in range(2))
    gd_params = tuple(torch.cat([inits[s][j] for s in ("kaiming", "xavier")]) for j in range(2))
    model = DeepLinear()

    def observe(p: Params) -> dict[str, torch.Tensor]:
        return {"sharpness": sharpness(p, task.cov_x), "loss": model.population_loss(p, task)}

    every = max(steps // 200, 1)
    first = train(
        model,
        sgd_params,
        task,
        eta=_t([eta_large, eta_small, eta_small]),
        steps=switch,
        generator=gen,
        batch_size=batch_size,
        observe=observe,
        every=every,
    )
    second = train(
        model,
        first.params,
        task,
        eta=eta_large,
        steps=steps - switch,
        generator=gen,
        batch_size=batch_size,
        observe=observe,
        every=every,
    )
    gd = train(
        model,
        gd_params,
        task,
        eta=eta_small,
        steps=steps,
        generator=gen,
        method="gd",
        observe=observe,
        every=every,
    )
    return {
        "names": names,
        "gd_names": ["GD Kaiming", "GD Xavier"],
        "first": first,
        "second": second,
        "gd": gd,
        "prediction": noise_balance(task),
        "top_init": top_eigenvalue(sgd_params, task.cov_x),
        "top_end": top_eigenvalue(second.params, task.cov_x),
        "top_gd_end": top_eigenvalue(gd.params, task.cov_x),
    }
