"""Figure 1's deep MLP: four bias-free trainable layers, trained by full-batch GD (spec §4, §5).

The predictor is ``f(w; x) = W_4 phi(W_3 phi(W_2 phi(W_1 x)))`` with ``W_1 in R^{h x d}``,
``W_2, W_3 in R^{h x h}``, ``W_4 in R^{1 x h}`` (paper: ``d = 3072``, ``h = 200``, ``phi`` = GELU),
``w = (W_1, ..., W_4)`` and no biases. GD uses the logistic risk of eq. (1) and one stepsize
``tilde-eta`` for all layers, ``w_{t+1} = w_t - tilde-eta grad L(w_t)``, the gradient from
autograd. K stepsizes train together from the same initialisation, as a leading batch
dimension of every weight (batched matrix products).

Figure 1(b) normalises the margin by ``||w||^4`` (the norm of all parameters stacked): with a
positively 1-homogeneous ``phi`` (ReLU) ``f`` would be 4-homogeneous, ``f(c w) = c^4 f(w)``.
GELU is not homogeneous, so this holds only asymptotically: ``GELU(c z)/c -> ReLU(z)`` as
``c -> infinity`` and ``f(c w)/c^4`` tends to the ReLU network's output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm import tqdm

from gdlab.data import Dataset
from gdlab.runtime import check_device, check_record_bytes, get_dtype, make_generator
from gdlab.stepsize.activations import Activation, get_activation
from gdlab.stepsize.gd import margin_statistics
from gdlab.stepsize.network import check_input_scale, logistic_loss

__all__ = ["DEPTH", "MLPTrajectory", "init_mlp", "mlp_forward", "train_mlp"]

DEPTH = 4
# The recorded series, in the order of a step's record.
_SERIES = ("risk", "log_risk", "grad_norm_sq", "param_norm", "min_margin")


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass
class MLPTrajectory:
    """Per-step record of K full-batch GD runs of the deep MLP (CPU tensors).

    Attributes
    ----------
    lr : (K,) stepsizes tilde-eta (the same for every layer).
    steps : (S,) recorded steps (every step ``0..T``).
    risk, log_risk : (K, S) ``L(w_t)`` (eq. 1) and ``log L(w_t)``.
    grad_norm_sq : (K, S) ``||grad L(w_t)||^2`` (NaN at the last step, where none is taken).
    param_norm : (K, S) ``||w_t||`` over all parameters.
    min_margin : (K, S) ``min_i y_i f(w_t; x_i)``.
    normalized_margin : (K, S) ``min_i y_i f(w_t; x_i) / ||w_t||^4`` (Figure 1(b)).
    test_steps : (S2,) steps at which test accuracy was recorded (empty without test data).
    test_accuracy : (K, S2) fraction of test points with ``sign f = y``.
    weights : final weights, one (K, out, in) tensor per layer.
    meta : description (dataset, width, activation, seed, ...).
    """

    lr: Tensor
    steps: Tensor
    risk: Tensor
    log_risk: Tensor
    grad_norm_sq: Tensor
    param_norm: Tensor
    min_margin: Tensor
    normalized_margin: Tensor
    test_steps: Tensor
    test_accuracy: Tensor
    weights: list[Tensor]
    meta: dict = field(default_factory=dict)


def init_mlp(
    d: int,
    width: int = 200,
    runs: int = 1,
    seed: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> list[Tensor]:
    """Standard (PyTorch ``nn.Linear``) initialisation, shared by the ``runs`` copies.

    Layer ``W_l`` of fan-in ``k`` has i.i.d. ``Uniform(-1/sqrt(k), 1/sqrt(k))`` entries, drawn in
    float64 on the CPU from ``seed`` (so identical on every device), then repeated ``runs`` times.
    Returns the four weights with shapes ``(runs, h, d), (runs, h, h), (runs, h, h), (runs, 1, h)``.
    """
    for name, value in (("d", d), ("width", width), ("runs", runs)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    device = check_device(device)
    gen = make_generator(seed)
    shapes = [(width, d), (width, width), (width, width), (1, width)]
    weights = []
    for out_dim, in_dim in shapes:
        bound = 1.0 / math.sqrt(in_dim)
        w = (2.0 * torch.rand(out_dim, in_dim, generator=gen, dtype=torch.float64) - 1.0) * bound
        weights.append(w.to(device=device, dtype=dtype or get_dtype()))
    return [w.expand(runs, -1, -1).clone() for w in weights]


def mlp_forward(weights: Sequence[Tensor], X: Tensor, phi: Activation | None = None) -> Tensor:
    """``f(w_k; x_i)`` for every run k and point i: shape ``(K, n)``; ``phi`` defaults to GELU."""
    phi = phi or get_activation("gelu")
    h = torch.einsum("nd,khd->knh", X, weights[0])
    for w in weights[1:]:
        h = torch.bmm(phi.phi(h), w.transpose(1, 2))
    return h.squeeze(-1)


def train_mlp(
    data: Dataset,
    lr: Sequence[float] | Tensor,
    steps: int,
    *,
    width: int = 200,
    seed: int = 0,
    activation: str = "gelu",
    test_every: int = 10,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    progress: bool = False,
) -> MLPTrajectory:
    """Full-batch GD on the deep MLP for each stepsize in ``lr`` (one shared initialisation).

    Records at every step ``t = 0..steps`` the risk, its log, ``||grad L||^2``, ``||w||``, the min
    margin and the ``||w||^4``-normalised margin; the test accuracy every ``test_every`` steps
    (and at the last step) when ``data`` has a test split. Every record is taken by the same
    code at every step (:func:`~gdlab.stepsize.gd.margin_statistics` on the (K, n) margins).

    Raises ValueError/TypeError/RuntimeConfigError before any step, one line naming the value:
    invalid arguments, a ``device`` that ``GDLAB_DEVICE`` would refuse, records beyond
    :data:`~gdlab.runtime.RECORD_BYTES_CAP`, inputs too large for a GD step in ``dtype``
    (:func:`~gdlab.stepsize.network.check_input_scale`) or non-finite margins at initialisation.
    """
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a gdlab.data.Dataset, got {type(data).__name__}")
    try:
        lr_t = torch.as_tensor(lr, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"lr must be a sequence of positive stepsizes, got {lr!r}") from err
    if lr_t.numel() == 0 or not bool((lr_t > 0).all()) or not bool(lr_t.isfinite().all()):
        raise ValueError(f"lr must be a non-empty list of positive finite stepsizes, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if isinstance(test_every, bool) or not isinstance(test_every, int) or test_every < 1:
        raise ValueError(f"test_every must be a positive int, got {test_every!r}")
    requested, device = device, check_device(device)
    dtype = get_dtype() if dtype is None else dtype
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype!r}")
    phi = get_activation(activation)
    K = lr_t.numel()
    work = K * data.n * width * (data.d + (DEPTH - 2) * width + 1)  # multiply-adds of f
    device = check_device(requested, work)  # auto: CUDA only where it pays
    has_test = data.X_test is not None
    tests = steps // test_every + 2 if has_test else 0  # an upper bound on the test records
    check_record_bytes(
        (steps + 1) * (8 + K * len(_SERIES) * dtype.itemsize) + tests * (8 + K * dtype.itemsize),
        f"{steps + 1} recorded steps x {K} runs x {len(_SERIES)} values x {dtype.itemsize} bytes",
    )
    X, y = data.X.to(device, dtype), data.y.to(device, dtype)
    check_input_scale(X, float(lr_t.max()))
    if has_test:
        X_test, y_test = data.X_test.to(device, dtype), data.y_test.to(device, dtype)
    lr_b = lr_t.to(device, dtype)[:, None, None]
    weights = init_mlp(data.d, width, K, seed, device, dtype)

    rec = torch.empty(steps + 1, len(_SERIES), K, device=device, dtype=dtype)
    no_grad = torch.full((K,), math.nan, device=device, dtype=dtype)  # no step after the last
    test_steps: list[int] = []
    test_acc: list[Tensor] = []
    for t in tqdm(range(steps + 1), disable=not progress, desc="deep MLP GD", leave=False):
        for w in weights:
            w.requires_grad_(t < steps)
        q = y * mlp_forward(weights, X, phi)
        if t == 0 and not bool(torch.isfinite(q).all()):
            raise ValueError(
                f"the margins at initialisation are not finite in {_name(dtype)} (max |x_ij| "
                f"= {float(X.abs().max()):.3g}): rescale the inputs"
            )
        risk = logistic_loss(q).mean(dim=1)
        if t < steps:
            grads = torch.autograd.grad(risk.sum(), weights)
        with torch.no_grad():
            stats = margin_statistics(q)
            stats["param_norm"] = sum(w.square().sum(dim=(1, 2)) for w in weights).sqrt()
            if has_test and (t % test_every == 0 or t == steps):
                test_steps.append(t)
                pred = mlp_forward(weights, X_test, phi)
                test_acc.append(((pred * y_test) > 0).to(dtype).mean(dim=1))
            if t < steps:
                stats["grad_norm_sq"] = sum(g.square().sum(dim=(1, 2)) for g in grads)
                weights = [w.detach() - lr_b * g for w, g in zip(weights, grads, strict=True)]
            else:
                stats["grad_norm_sq"] = no_grad
            torch.stack([stats[key] for key in _SERIES], out=rec[t])
    series = {key: rec[:, i].T.contiguous().cpu() for i, key in enumerate(_SERIES)}
    return MLPTrajectory(
        lr=lr_t,
        steps=torch.arange(steps + 1),
        normalized_margin=series["min_margin"] / series["param_norm"] ** DEPTH,
        test_steps=torch.tensor(test_steps, dtype=torch.int64),
        test_accuracy=(torch.stack(test_acc, dim=1).cpu() if test_acc else torch.empty(K, 0)),
        weights=[w.detach().cpu() for w in weights],
        meta={
            "dataset": data.name,
            "n": data.n,
            "d": data.d,
            "width": width,
            "depth": DEPTH,
            "activation": activation,
            "seed": seed,
            "device": device.type,
            "dtype": _name(dtype),
            "note": data.note,
        },
        **series,
    )
