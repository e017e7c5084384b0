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

from gdlab.symmetry.charges import charge, check_generator, flatten, layer_charges
from gdlab.symmetry.checks import check_int
from gdlab.symmetry.linear import DeepLinear, Params
from gdlab.symmetry.sgd import Model, Step, Task, train

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


def _magnitudes(model: Model, step: Step, task: Task) -> tuple[Params, int]:
    """The step's gradient formula on absolute values ``|g|_abs`` and its sum length m."""
    if step.batch is None:
        return (
            model.population_grad_magnitude(step.params, task),
            model.rounding_length(step.params, task.dx),
        )
    x, y = step.batch
    return model.grad_magnitude(step.params, x, y), model.rounding_length(step.params, x.shape[1])


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
    """Train ``steps`` steps (:func:`~gdlab.symmetry.sgd.train`) and compare ``C_{t+1}`` with
    (D0) at every step (module docstring)."""
    check_int("steps", steps, minimum=1)
    check_generator(A, flatten(params).shape[1])
    absA = A.abs()
    q = int((A != 0).sum(1).max())
    errors, scales, bounds = [], [], []

    def on_step(step: Step) -> None:
        mags, m = _magnitudes(model, step, task)
        theta, g = flatten(step.params), flatten(step.grads)
        pred = predicted_charge(charge(theta, A), g, A, step.eta, step.gamma)
        c = 1 - 2 * step.eta * step.gamma
        mag = c[:, None] * theta.abs() + step.eta[:, None] * flatten(mags)
        s = ((mag @ absA) * mag).sum(-1)
        errors.append((charge(flatten(step.new_params), A) - pred).abs())
        scales.append(s)
        bounds.append((6 * q + m + 7) * UNIT_ROUNDOFF * s)

    train(
        model, params, task, eta=eta, steps=steps, generator=generator, gamma=gamma,
        batch_size=batch_size, method=method, every=steps, on_step=on_step,
    )  # fmt: skip
    err, s, bound = (torch.stack(v).cpu() for v in (errors, scales, bounds))
    return IdentityCheck(err, err / s, err / bound)


def _layer_bounds(
    step: Step, mags: Params, m: int
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """(D4/D5) for one step of a chain: the predictions, their scales s and rounding bounds."""
    c = (1 - 2 * step.eta * step.gamma)[:, None, None]
    e = step.eta[:, None, None]
    pred = predicted_layer_charges(layer_charges(step.params), step.grads, step.eta, step.gamma)
    mag = [c * w.abs() + e * g for w, g in zip(step.params, mags, strict=True)]
    scales = [
        up.transpose(-1, -2) @ up + lo @ lo.transpose(-1, -2) for lo, up in itertools.pairwise(mag)
    ]
    bounds = [
        (6 * (step.params[i + 1].shape[1] + step.params[i].shape[2]) + m + 7) * UNIT_ROUNDOFF * s
        for i, s in enumerate(scales)
    ]
    return pred, scales, bounds


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
    """Train a :class:`DeepLinear` chain and compare every matrix charge ``D_i`` with (D4/D5)."""
    check_int("steps", steps, minimum=1)
    model = DeepLinear()
    errors, rel, ratios = [], [], []

    def on_step(step: Step) -> None:
        mags, m = _magnitudes(model, step, task)
        pred, scales, bounds = _layer_bounds(step, mags, m)
        err = [(D - P).abs() for D, P in zip(layer_charges(step.new_params), pred, strict=True)]
        errors.append(_entry_max(err))
        rel.append(_entry_max([e / s for e, s in zip(err, scales, strict=True)]))
        ratios.append(_entry_max([e / b for e, b in zip(err, bounds, strict=True)]))

    train(
        model, params, task, eta=eta, steps=steps, generator=generator, gamma=gamma,
        batch_size=batch_size, method=method, every=steps, on_step=on_step,
    )  # fmt: skip
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
    def ratio(self) -> torch.Tensor:
        """(K,) ``max |measured - predicted|`` over the entries, divided by the bound: <= 1
        means the law holds to float64 rounding."""
        return (self.measured - self.predicted).abs().flatten(1).amax(1) / self.bound

    @property
    def holds(self) -> bool:
        """Whether every run's final charge is within the propagated rounding bound."""
        return bool((self.ratio <= 1).all())


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
    check_int("steps", steps, minimum=1)
    model = DeepLinear()
    K = params[0].shape[0]
    D0 = layer_charges(params)[0]
    product = torch.ones(K, dtype=D0.dtype, device=D0.device)
    bound = torch.zeros_like(product)
    logs = []

    def on_step(step: Step) -> None:
        nonlocal product, bound
        x, y = step.batch
        G = model.end_gradient(step.params, x, y)[:, 0, 0]
        factor = product_factor(G, step.eta, step.gamma)
        mags = model.grad_magnitude(step.params, x, y)
        _, _, bounds = _layer_bounds(step, mags, model.rounding_length(step.params, batch_size))
        bound = factor.abs() * bound + bounds[0].flatten(1).amax(1)
        product = product * factor
        logs.append(torch.log(factor.abs()))

    run = train(
        model, params, task, eta=eta, steps=steps, generator=generator, gamma=gamma,
        batch_size=batch_size, every=steps, on_step=on_step,
    )  # fmt: skip
    predicted = D0 * product[:, None, None]
    bound = bound + 3 * steps * UNIT_ROUNDOFF * predicted.abs().flatten(1).amax(1)
    return ProductLaw(
        layer_charges(run.params)[0].cpu(), predicted.cpu(), bound.cpu(), torch.stack(logs).cpu()
    )
