"""A scale-invariant model: ``f(x) = (theta / ||theta||)^T x`` (spec (D6), toy T4, App. A.1).

The per-sample loss ``(f(x) - y)^2`` satisfies ``l(c theta) = l(theta)`` for every ``c > 0``: the
exponential symmetry with ``A = I`` and charge ``C = ||theta||^2``. Sample gradients are
orthogonal to ``theta`` and scale like ``1 / ||theta||``. Parameters are a one-tuple
``(theta,)`` with ``theta`` of shape (K, n).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from gdlab.symmetry.checks import check_int
from gdlab.symmetry.linear import Params
from gdlab.symmetry.tasks import FiniteTask, GaussianTask

__all__ = [
    "NormalizedLinear",
    "equilibrium_norm4",
    "increment_relative_sd",
    "stationary_k",
    "stationary_k_of",
]


def _unit(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    norm = theta.norm(dim=-1, keepdim=True)
    return theta / norm, norm


class NormalizedLinear:
    """``f(x) = theta^T x / ||theta||`` with the squared loss; closed-form gradient."""

    name = "normalized-linear"

    def _check(self, params: Params) -> torch.Tensor:
        if len(params) != 1 or params[0].dim() != 2:
            raise ValueError(
                "NormalizedLinear takes params = (theta,) with theta of shape (K, n), got "
                f"{[tuple(p.shape) for p in params]}"
            )
        return params[0]

    def dims(self, params: Params) -> tuple[int, int]:
        """``(dx, dy) = (n, 1)`` for ``theta`` of shape (K, n) (its shape is checked)."""
        return int(self._check(params).shape[1]), 1

    def loss(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Minibatch mean ``(1/S) sum_s (f(x_s) - y_s)^2``: (K,); ``y`` has shape (K, S, 1)."""
        unit, _ = _unit(self._check(params))
        r = (x @ unit.unsqueeze(-1)) - y
        return (r**2).sum(-1).mean(-1)

    def grad(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params:
        """``(2/S) sum_s r_s (I - hat theta hat theta^T) x_s / ||theta||`` (orthogonal to theta)."""
        unit, norm = _unit(self._check(params))
        proj = (x @ unit.unsqueeze(-1)).squeeze(-1)  # (K, S)
        r = proj - y.squeeze(-1)
        mean_rx = (2.0 / x.shape[1]) * (r.unsqueeze(-1) * x).sum(1)
        mean_r_proj = (2.0 / x.shape[1]) * (r * proj).sum(1, keepdim=True)
        return ((mean_rx - mean_r_proj * unit) / norm,)

    def grad_magnitude(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params:
        """The gradient formula on absolute values: bounds the rounding of each entry."""
        unit, norm = _unit(self._check(params))
        proj = (x.abs() @ unit.abs().unsqueeze(-1)).squeeze(-1)
        r = ((x @ unit.unsqueeze(-1)).squeeze(-1) - y.squeeze(-1)).abs()
        mean_rx = (2.0 / x.shape[1]) * (r.unsqueeze(-1) * x.abs()).sum(1)
        mean_r_proj = (2.0 / x.shape[1]) * (r * proj).sum(1, keepdim=True)
        return ((mean_rx + mean_r_proj * unit.abs()) / norm,)

    def rounding_length(self, params: Params, batch_size: int) -> int:
        """Longest chain of sums in one gradient: the batch plus twice the dimension."""
        return batch_size + 2 * params[0].shape[-1]

    def population_grad(self, params: Params, task: GaussianTask | FiniteTask) -> Params:
        """Full-batch gradient ``2 P Sigma_x (hat theta - beta) / ||theta||``.

        ``P = I - hat theta hat theta^T`` projects out theta; ``beta = V^T``.
        """
        theta = self._check(params)
        if isinstance(task, FiniteTask):
            return self.grad(params, *task.full_batch(theta.shape[0]))
        unit, norm = _unit(theta)
        pull = ((unit - task.V[:, 0, :]).unsqueeze(1) @ task.cov_x).squeeze(1)
        return (2.0 * (pull - (pull * unit).sum(-1, keepdim=True) * unit) / norm,)

    def population_grad_magnitude(self, params: Params, task: GaussianTask) -> Params:
        """:meth:`population_grad` on absolute values: bounds the rounding of each entry."""
        unit, norm = _unit(self._check(params))
        pull = ((unit.abs() + task.V[:, 0, :].abs()).unsqueeze(1) @ task.cov_x.abs()).squeeze(1)
        return (2.0 * (pull + (pull * unit.abs()).sum(-1, keepdim=True) * unit.abs()) / norm,)


def stationary_k(theta: torch.Tensor, task: GaussianTask, batch_size: int) -> torch.Tensor:
    """``k(theta) = ||theta||^2 E[||hat g||^2 | theta]`` exactly, for ``Sigma_x = I`` (spec (D6)).

    With ``a = hat theta - beta`` and ``P = I - hat theta hat theta^T`` (``beta = V^T``):
    ``k = 4 ||P a||^2 + 4 (||a||^2 (n - 1) + 2 ||P a||^2 + var_eps (n - 1) - ||P a||^2) / S``
    (Isserlis' theorem). At the minimiser ``a = 0``: ``k = 4 var_eps (n - 1) / S``.
    """
    return stationary_k_of(task, batch_size)(theta)


def stationary_k_of(task: GaussianTask, batch_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """:func:`stationary_k` as a function of ``theta`` alone, for an observer called inside a
    training loop: the task is checked (``Sigma_x = I``, else ValueError) once, here, so no call
    reads a value back to the host."""
    n = task.dx
    eye = torch.eye(n, dtype=task.cov_x.dtype, device=task.cov_x.device)
    if not torch.equal(task.cov_x[0], eye):
        raise ValueError("stationary_k assumes Sigma_x = I, got a different input covariance")
    beta, var_eps = task.V[:, 0, :], task.cov_eps[:, 0, 0]

    def k(theta: torch.Tensor) -> torch.Tensor:
        unit, _ = _unit(theta)
        a = unit - beta
        pa = a - (a * unit).sum(-1, keepdim=True) * unit
        pa2, a2 = (pa**2).sum(-1), (a**2).sum(-1)
        return 4 * pa2 + 4 * (a2 * (n - 1) + 2 * pa2 + var_eps * (n - 1) - pa2) / batch_size

    return k


def equilibrium_norm4(*, eta: float, k: float, gamma: float) -> float:
    """(D6): stationary ``||theta||^4 = eta k / (4 gamma (1 - eta gamma))`` (corrected Eq. 9)."""
    if gamma <= 0 or eta <= 0 or k <= 0:
        raise ValueError(f"need eta, k, gamma > 0, got eta={eta!r}, k={k!r}, gamma={gamma!r}")
    return eta * k / (4 * gamma * (1 - eta * gamma))


def increment_relative_sd(n: int) -> float:
    """Relative standard deviation of one increment ``eta^2 ||g||^2`` of ``||theta||^2`` (D6) at
    the minimiser with batch size 1, ``x ~ N(0, I_n)``.

    There ``||g||^2 = 4 eps^2 ||P x||^2 / ||theta||^2`` with Gaussian ``eps``
    (``E eps^4 = 3 (E eps^2)^2``) independent of ``||P x||^2 ~ chi^2_{n-1}`` (relative second
    moment ``1 + 2/(n-1)``): ``sqrt(3 (1 + 2/(n-1)) - 1)``.
    """
    n = check_int("n", n, minimum=2)
    return math.sqrt(3 * (1 + 2 / (n - 1)) - 1)
