"""The exact discrete-time charge identities (spec §2) and their step-by-step checks.

With ``theta' = c theta - eta g``, ``c = 1 - 2 eta gamma`` and ``theta^T A g = 0`` (Eq. 3):

    (D0)  C' = c^2 C + eta^2 g^T A g          (any exponential symmetry; GD: (D2); A = I: (D6))
    (D4/D5) D_i' = c^2 D_i + eta^2 (g_{i+1}^T g_{i+1} - g_i g_i^T)      (linear chains)
    (D3)  C' = C [c^2 - eta^2 G^2]            (scalar toy; G = 2 m = (2/S) sum r_s x_s)

Rounding bound used by the checks (first order in the unit roundoff u = 2^-53, Higham,
*Accuracy and Stability of Numerical Algorithms*, §3.1: a computed sum of n terms has absolute
error <= n u sum |terms|). Write ``s = (c|theta| + eta |g|_abs)^T |A| (c|theta| + eta |g|_abs)``
where ``|g|_abs`` is the gradient formula evaluated on absolute values. Every term of the
identity is <= s in absolute value, and
  * the charges ``theta'^T A theta'``, ``C`` and ``g^T A g`` are sums of q products: 3 q u s;
  * the update ``theta'`` carries 2 u (c|theta| + eta|g|) per entry, so ``C'`` moves <= 4 u s;
  * the cross term ``-2 c eta theta^T A g``, zero in exact arithmetic, is <= m u s where m
    is the longest chain of sums in one gradient (rounding of g is <= m u |g|_abs);
  * the final combination adds <= 3 u s.
So ``|C' - prediction| <= (6 q + m + 7) u s`` (6 q covers the two-sided count for dense A).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from gdlab.symmetry._checks import check_choice, check_int, per_run, threads_for_params
from gdlab.symmetry.charges import _check_generator, charge, flatten, layer_charges
from gdlab.symmetry.linear import DeepLinear, Params, grads_from_end
from gdlab.symmetry.sgd import METHODS, Model, Task, sgd_step
from gdlab.symmetry.tasks import FiniteTask

__all__ = [
    "IdentityCheck",
    "ProductLaw",
    "check_charge_identity",
    "check_layer_identity",
    "check_product_law",
    "predicted_charge",
    "predicted_layer_charges",
    "product_factor",
]

UNIT_ROUNDOFF = 2.0**-53


def predicted_charge(
    C: torch.Tensor, grad: torch.Tensor, A: torch.Tensor, eta: torch.Tensor, gamma: torch.Tensor
) -> torch.Tensor:
    """(D0): ``c^2 C + eta^2 g^T A g``, ``c = 1 - 2 eta gamma``; ``grad`` (K, p), returns (K,)."""
    return (1 - 2 * eta * gamma) ** 2 * C + eta**2 * charge(grad, A)


def predicted_layer_charges(
    charges: list[torch.Tensor], grads: Params, eta: torch.Tensor, gamma: torch.Tensor
) -> list[torch.Tensor]:
    """(D4/D5): ``c^2 D_i + eta^2 (g_{i+1}^T g_{i+1} - g_i g_i^T)`` for every pair i."""
    c2 = ((1 - 2 * eta * gamma) ** 2)[:, None, None]
    e2 = (eta**2)[:, None, None]
    return [c2 * D + e2 * inc for D, inc in zip(charges, layer_charges(grads), strict=True)]


def product_factor(G: torch.Tensor, eta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """(D3) and its vector case: ``(1 - 2 eta gamma)^2 - eta^2 G^2`` for a scalar ``G`` (K,)."""
    return (1 - 2 * eta * gamma) ** 2 - eta**2 * G**2


@dataclass
class IdentityCheck:
    """Per-step check of an identity over K runs.

    Attributes
    ----------
    error : (T, K) max over entries of ``|measured - predicted|``.
    relative : (T, K) max over entries of ``|measured - predicted| / s`` (s: rounding scale).
    ratio : (T, K) max over entries of ``|measured - predicted| / bound``; <= 1 means the identity
        holds to float64 rounding.
    """

    error: torch.Tensor
    relative: torch.Tensor
    ratio: torch.Tensor

    @property
    def holds(self) -> bool:
        """Whether every step of every run is within the rounding bound."""
        return bool((self.ratio <= 1).all())


def _gradient(
    model: Model, params: Params, task: Task, method: str, batch: int, gen: torch.Generator
) -> tuple[Params, Params, int]:
    """The step's gradient, its magnitude bound ``|g|_abs`` and the sum length m."""
    K = params[0].shape[0]
    if method == "sgd" or isinstance(task, FiniteTask):
        x, y = task.sample(K, batch, gen) if method == "sgd" else task.full_batch(K)
        return (
            model.grad(params, x, y),
            model.grad_magnitude(params, x, y),
            model.rounding_length(params, x.shape[1]),
        )
    return (
        model.population_grad(params, task),
        model.population_grad_magnitude(params, task),
        model.rounding_length(params, task.dx),
    )


def _setup(params: Params, eta, gamma, steps: int, method: str):
    check_choice("method", method, METHODS)
    check_int("steps", steps, minimum=1)
    K = params[0].shape[0]
    return (
        per_run("eta", eta, K, params[0], nonneg=True),
        per_run("gamma", gamma, K, params[0], nonneg=True),
    )


@threads_for_params
def check_charge_identity(
    model: Model,
    params: Params,
    task: Task,
    A: torch.Tensor,
    *,
    eta: float | torch.Tensor,
    steps: int,
    generator: torch.Generator,
    gamma: float | torch.Tensor = 0.0,
    batch_size: int = 1,
    method: str = "sgd",
) -> IdentityCheck:
    """Run ``steps`` steps and compare ``C_{t+1}`` with (D0) at every step (module docstring)."""
    eta_k, gamma_k = _setup(params, eta, gamma, steps, method)
    _check_generator(A, flatten(params).shape[1])
    absA = A.abs()
    q = int((A != 0).sum(1).max())
    errors, scales, bounds = [], [], []
    for _ in range(steps):
        grads, mags, m = _gradient(model, params, task, method, batch_size, generator)
        theta, g = flatten(params), flatten(grads)
        pred = predicted_charge(charge(theta, A), g, A, eta_k, gamma_k)
        mag = (1 - 2 * eta_k * gamma_k)[:, None] * theta.abs() + eta_k[:, None] * flatten(mags)
        s = ((mag @ absA) * mag).sum(-1)
        params = sgd_step(params, grads, eta_k, gamma_k)
        errors.append((charge(flatten(params), A) - pred).abs())
        scales.append(s)
        bounds.append((6 * q + m + 7) * UNIT_ROUNDOFF * s)
    err, s, bound = (torch.stack(v).cpu() for v in (errors, scales, bounds))
    return IdentityCheck(err, err / s, err / bound)


def _layer_step(params: Params, grads: Params, mags: Params, m: int, eta_k, gamma_k):
    """One step of a chain: new params, the (D4/D5) predictions and their rounding bounds."""
    c = (1 - 2 * eta_k * gamma_k)[:, None, None]
    e = eta_k[:, None, None]
    pred = predicted_layer_charges(layer_charges(params), grads, eta_k, gamma_k)
    mag = [c * w.abs() + e * g for w, g in zip(params, mags, strict=True)]
    scales = [
        up.transpose(-1, -2) @ up + lo @ lo.transpose(-1, -2) for lo, up in itertools.pairwise(mag)
    ]
    bounds = [
        (6 * (params[i + 1].shape[1] + params[i].shape[2]) + m + 7) * UNIT_ROUNDOFF * s
        for i, s in enumerate(scales)
    ]
    return sgd_step(params, grads, eta_k, gamma_k), pred, scales, bounds


@threads_for_params
def check_layer_identity(
    params: Params,
    task: Task,
    *,
    eta: float | torch.Tensor,
    steps: int,
    generator: torch.Generator,
    gamma: float | torch.Tensor = 0.0,
    batch_size: int = 1,
    method: str = "sgd",
) -> IdentityCheck:
    """Run a :class:`DeepLinear` chain and compare every matrix charge ``D_i`` with (D4/D5)."""
    model = DeepLinear()
    eta_k, gamma_k = _setup(params, eta, gamma, steps, method)
    errors, rel, ratios = [], [], []
    for _ in range(steps):
        grads, mags, m = _gradient(model, params, task, method, batch_size, generator)
        params, pred, scales, bounds = _layer_step(params, grads, mags, m, eta_k, gamma_k)
        err = [(D - P).abs() for D, P in zip(layer_charges(params), pred, strict=True)]
        errors.append(_entry_max(err))
        rel.append(_entry_max([e / s for e, s in zip(err, scales, strict=True)]))
        ratios.append(_entry_max([e / b for e, b in zip(err, bounds, strict=True)]))
    return IdentityCheck(*(torch.stack(v).cpu() for v in (errors, rel, ratios)))


def _entry_max(mats: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([mat.flatten(1).amax(1) for mat in mats]).amax(0)


@dataclass
class ProductLaw:
    """(D3) over a whole run: ``D_T`` measured and ``D_0 prod_t [c^2 - eta^2 G_t^2]``.

    Attributes
    ----------
    measured, predicted : (K, d, d) the charge matrix after T steps (d = 1: ``C = u^2 - w^2``).
    bound : (K,) propagated rounding bound on ``max |measured - predicted|``.
    log_factors : (T, K) ``log |c^2 - eta^2 G_t^2|`` per step.
    """

    measured: torch.Tensor
    predicted: torch.Tensor
    bound: torch.Tensor
    log_factors: torch.Tensor

    @property
    def holds(self) -> bool:
        """Whether every run's final charge is within the propagated rounding bound."""
        err = (self.measured - self.predicted).abs().flatten(1).amax(1)
        return bool((err <= self.bound).all())


@threads_for_params
def check_product_law(
    params: Params,
    task: Task,
    *,
    eta: float | torch.Tensor,
    steps: int,
    generator: torch.Generator,
    gamma: float | torch.Tensor = 0.0,
    batch_size: int = 1,
) -> ProductLaw:
    """SGD on a two-layer linear net with scalar input and output (the scalar toy when d = 1).

    Every entry of ``D = U^T U - W W^T`` is multiplied by the same factor ``c^2 - eta^2 G_t^2``
    per step, ``G_t = (2/S) sum_s r_s x_s`` (spec (D3), vector case of (D4)). The bound propagates
    the per-step rounding bound ``b_t`` through the later factors, ``B_{t+1} = |f_t| B_t + b_t``,
    plus ``3 u`` per factor for the rounding of the product itself.
    """
    if len(params) != 2 or params[0].shape[2] != 1 or params[1].shape[1] != 1:
        raise ValueError(
            "the product law needs a two-layer chain with scalar input and output, got shapes "
            f"{[tuple(p.shape) for p in params]}"
        )
    model = DeepLinear()
    eta_k, gamma_k = _setup(params, eta, gamma, steps, "sgd")
    K = params[0].shape[0]
    D0 = layer_charges(params)[0]
    product = torch.ones(K, dtype=D0.dtype, device=D0.device)
    bound = torch.zeros_like(product)
    logs = []
    for _ in range(steps):
        x, y = task.sample(K, batch_size, generator)
        G = model.end_gradient(params, x, y)[:, 0, 0]
        factor = product_factor(G, eta_k, gamma_k)
        grads = grads_from_end(params, G[:, None, None])
        mags = model.grad_magnitude(params, x, y)
        m = model.rounding_length(params, batch_size)
        params, _, _, bounds = _layer_step(params, grads, mags, m, eta_k, gamma_k)
        bound = factor.abs() * bound + bounds[0].flatten(1).amax(1)
        product = product * factor
        logs.append(torch.log(factor.abs()))
    predicted = D0 * product[:, None, None]
    bound = bound + 3 * steps * UNIT_ROUNDOFF * predicted.abs().flatten(1).amax(1)
    return ProductLaw(
        layer_charges(params)[0].cpu(), predicted.cpu(), bound.cpu(), torch.stack(logs).cpu()
    )
