"""One symmetry orbit of a two-layer linear net: Lemma B.1, Theorem 4.3 and Theorem D.1 (toy T5).

The rescaling ``theta_lambda = (e^{-lambda} W, e^{lambda} U)`` has ``A = diag(-I_W, I_U)`` and
charge ``C = ||U||_F^2 - ||W||_F^2``. Along the orbit (exact Gaussian moments, spec §1):

    Lemma B.1:  Tr[Sigma(theta_lambda) A]
                  = e^{-2 lambda} Tr Sigma_U(theta) - e^{2 lambda} Tr Sigma_W(theta)
    Theorem 4.3 (corrected prefactor 2 sigma^2 = eta/S):
                G(lambda)   = -4 gamma C(theta_lambda) + (eta/S) Tr[Sigma(theta_lambda) A]
    Theorem D.1 (one SGD step, exact):
                G_d(lambda) = ((1 - 2 eta gamma)^2 - 1) C
                              + eta^2 (grad L^T A grad L + Tr[Sigma A]/S)

Both are strictly decreasing in lambda with a single root lambda* (for gamma >= 0, spec §7.8).
For a width-one net on its minimum manifold the orbit *is* the manifold, so SGD must end near
``theta_{lambda*}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.optimize import brentq

from gdlab.symmetry.charges import charge, flatten
from gdlab.symmetry.checks import check_int, check_real
from gdlab.symmetry.linear import DeepLinear, Params
from gdlab.symmetry.moments import expected_charge_drift, layer_moments
from gdlab.symmetry.sgd import Task
from gdlab.symmetry.tasks import GaussianTask

__all__ = [
    "OrbitDrift",
    "equilibrium_lambda",
    "monte_carlo_noise_trace",
    "orbit_coordinate",
    "orbit_drift",
    "orbit_point",
]


def orbit_coordinate(charge: torch.Tensor, params: Params) -> torch.Tensor:
    """The lambda at which ``C(theta_lambda)`` equals ``charge`` on the orbit of ``params``.

    Solves ``|U|^2 x - |W|^2 / x = C`` for ``x = e^{2 lambda} > 0`` (``params`` has one run).
    """
    u2, w2 = (params[1] ** 2).sum(), (params[0] ** 2).sum()
    x = (charge + torch.sqrt(charge**2 + 4 * u2 * w2)) / (2 * u2)
    return 0.5 * torch.log(x)


def orbit_point(params: Params, lam: float) -> Params:
    """``theta_lambda = (e^{-lambda} W, e^{lambda} U)`` for ``params = (W, U)``."""
    if len(params) != 2:
        raise ValueError(
            f"the orbit is defined for two-layer nets (W, U), got {len(params)} layers"
        )
    lam = check_real("lam", lam)
    return params[0] * math.exp(-lam), params[1] * math.exp(lam)


@dataclass
class OrbitDrift:
    """Drift of the charge along the orbit at the points ``lams`` (each (L, K)).

    Attributes
    ----------
    noise_u, noise_w : ``Tr Sigma_U`` and ``Tr Sigma_W`` at theta_lambda (exact).
    charge : ``C(theta_lambda)``.
    G : continuous-time drift of Theorem 4.3 (corrected prefactor).
    G_d : expected one-step change of Theorem D.1 (exact).
    """

    lams: torch.Tensor
    noise_u: torch.Tensor
    noise_w: torch.Tensor
    charge: torch.Tensor
    G: torch.Tensor
    G_d: torch.Tensor


def _point_drift(
    params: Params, task: GaussianTask, eta: float, S: int, gamma: float
) -> tuple[torch.Tensor, ...]:
    """``(Tr Sigma_U, Tr Sigma_W, C, G, G_d)`` at ``params``; ``G_d`` is the trace of the exact
    expected one-step change of the matrix charge (:func:`expected_charge_drift`)."""
    noise = layer_moments(params, task).noise_trace()
    tr_w, tr_u = noise[:, 0], noise[:, 1]
    W, U = params
    C = (U**2).sum((-1, -2)) - (W**2).sum((-1, -2))
    G = -4 * gamma * C + eta / S * (tr_u - tr_w)
    drift = expected_charge_drift(params, task, eta=eta, batch_size=S, gamma=gamma)[0]
    G_d = torch.diagonal(drift, dim1=-2, dim2=-1).sum(-1)
    return tr_u, tr_w, C, G, G_d


def orbit_drift(
    params: Params,
    task: GaussianTask,
    lams: torch.Tensor,
    *,
    eta: float,
    batch_size: int,
    gamma: float = 0.0,
) -> OrbitDrift:
    """Evaluate :class:`OrbitDrift` at every ``lambda`` in ``lams`` (exact Gaussian moments)."""
    eta = check_real("eta", eta, positive=True)
    S = check_int("batch_size", batch_size, minimum=1)
    gamma = check_real("gamma", gamma, nonneg=True)
    rows = [_point_drift(orbit_point(params, float(lam)), task, eta, S, gamma) for lam in lams]
    cols = [torch.stack([row[j] for row in rows]).cpu() for j in range(5)]
    return OrbitDrift(torch.as_tensor(lams).cpu(), *cols)


def equilibrium_lambda(
    params: Params,
    task: GaussianTask,
    *,
    eta: float,
    batch_size: int,
    gamma: float = 0.0,
    discrete: bool = False,
    bracket: float = 20.0,
) -> torch.Tensor:
    """The root lambda* of ``G`` (or ``G_d`` if ``discrete``) on each run's orbit: (K,).

    Found by Brent's method on ``[-bracket, bracket]``; raises ValueError if a run has no sign
    change there (root at infinity, e.g. a symmetry without noise on one side).
    """
    K = params[0].shape[0]
    out = []
    for k in range(K):
        single = tuple(p[k : k + 1] for p in params)
        sub = _single_run(task, k)

        def drift(lam: float, single=single, sub=sub) -> float:
            row = _point_drift(orbit_point(single, lam), sub, eta, batch_size, gamma)
            return float(row[4 if discrete else 3][0])

        lo, hi = drift(-bracket), drift(bracket)
        if not lo > 0 > hi:
            raise ValueError(
                f"run {k}: the drift does not change sign on [-{bracket}, {bracket}] "
                f"(G = {lo:.3g} .. {hi:.3g}); lambda* is at infinity or outside the bracket"
            )
        out.append(brentq(drift, -bracket, bracket, xtol=1e-14, rtol=1e-14))
    return torch.tensor(out, dtype=params[0].dtype)


def _single_run(task: GaussianTask, k: int) -> GaussianTask:
    def pick(t: torch.Tensor) -> torch.Tensor:
        return t[k : k + 1] if t.shape[0] > 1 else t

    return GaussianTask(pick(task.V), pick(task.cov_x), pick(task.cov_eps))


def monte_carlo_noise_trace(
    params: Params, task: Task, A: torch.Tensor, *, samples: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte-Carlo ``Tr[Sigma(theta) A]`` from ``samples`` per-sample gradients, with its std error.

    ``Sigma`` is the covariance of the per-sample gradient (flattened in (W, U) order); returns
    (estimate, standard error), each (K,). Per-sample gradients are computed as a batch of
    ``samples`` runs with batch size 1.
    """
    check_int("samples", samples, minimum=2)
    K = params[0].shape[0]
    model = DeepLinear()
    x, y = task.sample(K, samples, generator)
    rep = tuple(p.repeat_interleave(samples, dim=0) for p in params)
    g = flatten(model.grad(rep, x.reshape(K * samples, 1, -1), y.reshape(K * samples, 1, -1)))
    g = g.reshape(K, samples, -1)
    centred = g - g.mean(1, keepdim=True)
    quad = charge(centred.reshape(K * samples, -1), A).reshape(K, samples)
    est = quad.sum(1) / (samples - 1)
    return est, quad.std(1) / math.sqrt(samples)
