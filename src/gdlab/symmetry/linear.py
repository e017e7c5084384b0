"""Deep linear networks ``f(x) = W_D ... W_1 x`` with the squared loss (spec §3.2-3.3).

One class covers the scalar toy ``u w x`` (D = 2, all widths 1, spec (D3)), the two-layer net
``U W x`` of Eq. (12) (D = 2, ``W_1 = W``, ``W_2 = U``) and the deep chains of Theorem 5.4.
Parameters are a tuple ``(W_1, ..., W_D)`` with ``W_i`` of shape ``(K, d_i, d_{i-1})``: K runs are
trained together. The per-sample loss is ``||W_D ... W_1 x - y||^2`` (no 1/2, spec §6).

Every neighbouring pair ``(W_i, W_{i+1})`` has the rescaling symmetry
``(W_i, W_{i+1}) -> (M^{-1} W_i, W_{i+1} M)`` (Eq. 10). All gradients are written through
``G = dl/dP`` for the end-to-end matrix ``P = W_D ... W_1``: ``g_i = xi_i^T G h_i^T`` with
``xi_i = W_D ... W_{i+1}`` and ``h_i = W_{i-1} ... W_1`` (spec (D5)).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

from gdlab.runtime import get_dtype
from gdlab.symmetry.checks import check_int, check_real
from gdlab.symmetry.tasks import FiniteTask, GaussianTask

__all__ = [
    "DeepLinear",
    "Params",
    "end_to_end",
    "grads_from_end",
    "init_chain",
    "prefix_products",
    "suffix_products",
]

Params = tuple[torch.Tensor, ...]


def _check_chain(params: Sequence[torch.Tensor]) -> None:
    if len(params) < 1:
        raise ValueError("a deep linear net needs at least one layer, got none")
    for i, w in enumerate(params, start=1):
        if w.dim() != 3:
            raise ValueError(f"layer W_{i} must have shape (K, d_i, d_(i-1)), got {tuple(w.shape)}")
    for i, (lower, upper) in enumerate(itertools.pairwise(params), start=1):
        if upper.dim() != 3 or lower.dim() != 3 or upper.shape[2] != lower.shape[1]:
            raise ValueError(
                f"layers W_{i} {tuple(lower.shape)} and W_{i + 1} {tuple(upper.shape)} do not "
                "chain: expected shapes (K, d_i, d_{i-1}) with matching inner widths"
            )


def prefix_products(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``[h_1, ..., h_{D+1}]`` with ``h_1 = I`` and ``h_{i+1} = W_i h_i`` (so ``h_{D+1} = P``)."""
    first = params[0]
    eye = torch.eye(first.shape[2], dtype=first.dtype, device=first.device)
    out = [eye.expand(first.shape[0], -1, -1)]
    for w in params:
        out.append(w @ out[-1])
    return out


def suffix_products(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``[xi_0, ..., xi_D]`` with ``xi_D = I`` and ``xi_{i-1} = xi_i W_i`` (so ``xi_0 = P``)."""
    last = params[-1]
    eye = torch.eye(last.shape[1], dtype=last.dtype, device=last.device)
    out = [eye.expand(last.shape[0], -1, -1)]
    for w in reversed(params):
        out.append(out[-1] @ w)
    return out[::-1]


def end_to_end(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """``P = W_D ... W_1``, shape (K, dy, dx)."""
    out = params[0]
    for w in params[1:]:
        out = w @ out
    return out


def grads_from_end(params: Sequence[torch.Tensor], G: torch.Tensor) -> Params:
    """Layer gradients ``g_i = xi_i^T G h_i^T`` from the end-to-end gradient ``G = dl/dP``.

    Computed without multiplying by identities: ``G h_i^T`` from the input side and
    ``xi_i = W_D ... W_{i+1}`` from the output side (the hot loop of every SGD step).
    """
    left = [G]
    for w in params[:-1]:
        left.append(left[-1] @ w.transpose(-1, -2))
    grads = [left[-1]]
    xi = params[-1]
    for i in range(len(params) - 2, -1, -1):
        grads.append(xi.transpose(-1, -2) @ left[i])
        xi = xi @ params[i]
    return tuple(grads[::-1])


class DeepLinear:
    """``f(x) = W_D ... W_1 x``, per-sample loss ``||f(x) - y||^2``; closed-form gradients."""

    name = "deep-linear"

    def dims(self, params: Params) -> tuple[int, int]:
        """``(dx, dy)``: the input and output sizes of the chain (its shapes are checked)."""
        _check_chain(params)
        return int(params[0].shape[2]), int(params[-1].shape[1])

    def loss(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Minibatch mean ``(1/S) sum_s ||P x_s - y_s||^2``, shape (K,)."""
        r = x @ end_to_end(params).transpose(-1, -2) - y
        return (r**2).sum(-1).mean(-1)

    def end_gradient(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``G = dl_B/dP = (2/S) sum_s r_s x_s^T`` with ``r_s = P x_s - y_s``: (K, dy, dx)."""
        _check_chain(params)
        r = x @ end_to_end(params).transpose(-1, -2) - y
        return (2.0 / x.shape[1]) * r.transpose(-1, -2) @ x

    def grad(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params:
        """Gradient of the minibatch mean loss, ``g_i = xi_i^T G h_i^T`` (spec (D5))."""
        return grads_from_end(params, self.end_gradient(params, x, y))

    def grad_magnitude(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params:
        """The gradient formula evaluated on absolute values: bounds the rounding of each entry."""
        r = x @ end_to_end(params).transpose(-1, -2) - y
        G = (2.0 / x.shape[1]) * r.abs().transpose(-1, -2) @ x.abs()
        return grads_from_end(tuple(w.abs() for w in params), G)

    def population_grad_magnitude(self, params: Params, task: GaussianTask) -> Params:
        """:meth:`population_grad` on absolute values, ``G_abs = 2 |P - V| |Sigma_x|``."""
        G = 2.0 * (end_to_end(params) - task.V).abs() @ task.cov_x.abs()
        return grads_from_end(tuple(w.abs() for w in params), G)

    def rounding_length(self, params: Params, batch_size: int) -> int:
        """Longest chain of sums in one gradient: the batch plus every width of the chain."""
        return batch_size + params[0].shape[2] + sum(w.shape[1] for w in params)

    def population_loss(self, params: Params, task: GaussianTask) -> torch.Tensor:
        """``L = Tr[(P - V) Sigma_x (P - V)^T] + Tr Sigma_eps``, shape (K,)."""
        M = end_to_end(params) - task.V
        fit = torch.einsum("kij,kjl,kil->k", M, task.cov_x.expand(M.shape[0], -1, -1), M)
        return fit + torch.diagonal(task.cov_eps, dim1=-2, dim2=-1).sum(-1)

    def population_grad(self, params: Params, task: GaussianTask | FiniteTask) -> Params:
        """Full-batch gradient: ``G = 2 (P - V) Sigma_x`` (Gaussian) or the whole data set."""
        _check_chain(params)
        if isinstance(task, FiniteTask):
            return self.grad(params, *task.full_batch(params[0].shape[0]))
        G = 2.0 * (end_to_end(params) - task.V) @ task.cov_x
        return grads_from_end(params, G)


def init_chain(
    widths: Sequence[int],
    num_runs: int,
    std: float | Sequence[float],
    generator: torch.Generator,
) -> Params:
    """Gaussian layers ``W_i`` of shape (K, widths[i], widths[i-1]) with entries ``N(0, std_i^2)``.

    ``widths = (d_0, d_1, ..., d_D)`` runs from the input to the output; ``std`` is one value or
    one per layer. The layers are drawn on the generator's device, in the run dtype.
    """
    if len(widths) < 2:
        raise ValueError(f"widths must list at least input and output sizes, got {widths!r}")
    for i, w in enumerate(widths):
        check_int(f"widths[{i}]", w, minimum=1)
    check_int("num_runs", num_runs, minimum=1)
    depth = len(widths) - 1
    stds = [std] * depth if isinstance(std, int | float) else list(std)
    if len(stds) != depth:
        raise ValueError(f"std must be one value or {depth} values (one per layer), got {std!r}")
    return tuple(
        check_real(f"std[{i}]", s, nonneg=True)
        * torch.randn(
            num_runs,
            widths[i + 1],
            widths[i],
            generator=generator,
            dtype=get_dtype(),
            device=generator.device,
        )
        for i, s in enumerate(stds)
    )
