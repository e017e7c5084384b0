"""Two-layer nonlinear nets ``f(x) = U act(W x)`` (Figures 6 and 9 of the paper).

With ``act`` = ReLU or leaky-ReLU (positively homogeneous) each hidden unit j has an exact
rescaling symmetry ``(u_j, w_j) -> (c u_j, w_j / c)``, ``c > 0`` (``u_j`` column j of U, ``w_j``
row j of W): one symmetry per neuron, which constrains one number per neuron and nothing
between neurons. tanh and swish have no continuous exact symmetry; near 0 they are linear (slopes
1 and 1/2), where the net inherits the approximate ``GL(d)`` symmetry of a linear net. So the
layer-wise balance of Theorem 5.2 applies to them heuristically (spec §4). Parameters are
``(W, U)`` with ``W`` (K, d, dx) and ``U`` (K, dy, d), in the same input-to-output order as
:class:`gdlab.symmetry.linear.DeepLinear`. The per-sample loss is ``||f(x) - y||^2``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gdlab.symmetry.checks import check_choice
from gdlab.symmetry.linear import Params
from gdlab.symmetry.tasks import FiniteTask, GaussianTask, full_batch_of, normalized

__all__ = ["ACTIVATIONS", "TwoLayerNet", "balance_sides"]

LEAKY_SLOPE = 0.1


def _swish_prime(a: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(a)
    return s * (1 + a * (1 - s))


# name -> (activation, derivative)
ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], ...]] = {
    "tanh": (torch.tanh, lambda a: 1 - torch.tanh(a) ** 2),
    "relu": (torch.relu, lambda a: (a > 0).to(a.dtype)),
    "leaky_relu": (
        lambda a: torch.where(a > 0, a, LEAKY_SLOPE * a),
        lambda a: torch.where(a > 0, torch.ones_like(a), torch.full_like(a, LEAKY_SLOPE)),
    ),
    "swish": (lambda a: a * torch.sigmoid(a), _swish_prime),
}


class TwoLayerNet:
    """``f(x) = U act(W x)`` with ``act`` in :data:`ACTIVATIONS`; closed-form gradients."""

    def __init__(self, activation: str = "tanh") -> None:
        self.activation = check_choice("activation", activation, tuple(ACTIVATIONS))
        self._act, self._act_prime = ACTIVATIONS[activation]
        self.name = f"two-layer-{activation}"

    def _check(self, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        if len(params) != 2 or params[0].dim() != 3 or params[1].dim() != 3:
            raise ValueError(
                "TwoLayerNet takes params = (W, U) with W (K, d, dx) and U (K, dy, d), got "
                f"{[tuple(p.shape) for p in params]}"
            )
        W, U = params
        if U.shape[2] != W.shape[1]:
            raise ValueError(f"W {tuple(W.shape)} and U {tuple(U.shape)} widths do not match")
        return W, U

    def dims(self, params: Params) -> tuple[int, int]:
        """``(dx, dy)``: the input and output sizes of ``(W, U)`` (their shapes are checked)."""
        W, U = self._check(params)
        return int(W.shape[2]), int(U.shape[1])

    def loss(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Minibatch mean ``(1/S) sum_s ||U act(W x_s) - y_s||^2``, shape (K,)."""
        W, U = self._check(params)
        r = self._act(x @ W.transpose(-1, -2)) @ U.transpose(-1, -2) - y
        return (r**2).sum(-1).mean(-1)

    def grad(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params:
        """Backpropagation of the minibatch mean loss; returns ``(g_W, g_U)``."""
        W, U = self._check(params)
        pre = x @ W.transpose(-1, -2)
        hidden = self._act(pre)
        delta = (2.0 / x.shape[1]) * (hidden @ U.transpose(-1, -2) - y)
        g_U = delta.transpose(-1, -2) @ hidden
        back = (delta @ U) * self._act_prime(pre)
        return back.transpose(-1, -2) @ x, g_U

    def population_grad(self, params: Params, task: GaussianTask | FiniteTask) -> Params:
        """Full-batch gradient on a :class:`FiniteTask` (:func:`full_batch_of`)."""
        return self.grad(params, *full_batch_of(self.name, task, params[0].shape[0]))


def balance_sides(
    params: Params, cov_x: torch.Tensor, cov_eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two sides of the balance Eq. (14), ``W bar Sigma_x W^T`` and ``U^T bar Sigma_eps U``
    (``bar Sigma = Sigma / Tr Sigma``), each (K, d, d).

    For ReLU and leaky-ReLU with Gaussian ``x`` at a global minimum (``r = -eps``), the noise
    equilibrium of neuron j's rescaling symmetry, ``E||g_{u_j}||^2 = E||g_{w_j}||^2``, reads
    ``Tr Sigma_eps E[act(a_j)^2] = u_j^T Sigma_eps u_j E[act'(a_j)^2 ||x||^2]`` with
    ``a_j = w_j^T x``; both expectations carry the same factor (``(1 + slope^2)/2``, by the
    symmetry ``x -> -x``), so it is the equality of the diagonal entries j of the two sides. The
    off-diagonal entries are constrained only by the ``GL(d)`` symmetry of a linear net.
    """
    W, U = params
    left = W @ normalized(cov_x) @ W.transpose(-1, -2)
    right = U.transpose(-1, -2) @ normalized(cov_eps) @ U
    return left, right
