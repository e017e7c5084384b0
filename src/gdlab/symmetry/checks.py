"""Input validation shared by the symmetry modules (messages name the value and what is allowed)."""

from __future__ import annotations

import math

import torch

__all__ = [
    "check_choice",
    "check_finite",
    "check_fit",
    "check_int",
    "check_params",
    "check_real",
    "per_run",
]


def check_real(name: str, value: object, *, positive: bool = False, nonneg: bool = False) -> float:
    """``value`` as a finite float; ``positive`` (> 0) or ``nonneg`` (>= 0) if asked."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and out <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonneg and out < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return out


def check_int(name: str, value: object, *, minimum: int = 0) -> int:
    """``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(repr, allowed))}")
    return str(value)


def check_finite(name: str, value: torch.Tensor) -> torch.Tensor:
    """``value`` if it is a floating tensor with only finite entries (else the first bad one is
    named)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {value.dtype}")
    bad = ~torch.isfinite(value)
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} must have finite entries, got {name}{list(index)} = {value[index].item()} "
            f"({int(bad.sum())} of {value.numel()} entries not finite)"
        )
    return value


def _shapes(params: tuple[torch.Tensor, ...]) -> str:
    return ", ".join(str(tuple(p.shape)) for p in params)


def check_params(params: object) -> int:
    """The run count K of ``params``: a non-empty tuple of finite floating tensors of one dtype
    and device, all with the same leading dimension K >= 1."""
    if not isinstance(params, tuple | list) or not params:
        raise ValueError(f"params must be a non-empty tuple of (K, ...) tensors, got {params!r}")
    for i, p in enumerate(params):
        check_finite(f"params[{i}]", p)
        if p.dim() < 2 or p.shape[0] < 1:
            raise ValueError(
                f"params[{i}] must have shape (K, ...) with K >= 1 runs, got {tuple(p.shape)}"
            )
    first = params[0]
    if any(p.shape[0] != first.shape[0] for p in params):
        raise ValueError(f"params disagree on the run count K (dimension 0): {_shapes(params)}")
    if any(p.dtype != first.dtype or p.device != first.device for p in params):
        kinds = ", ".join(f"{p.dtype} on {p.device}" for p in params)
        raise ValueError(f"params must share one dtype and device, got {kinds}")
    return int(first.shape[0])


def check_fit(
    model: str, params: tuple[torch.Tensor, ...], dims: tuple[int, int], task: object
) -> None:
    """``params`` (input and output sizes ``dims`` under ``model``) fit ``task``: its ``dx``,
    ``dy``, run count (1 or K), dtype and device (``task.num_runs``, ``task.tensors()``)."""
    K, (dx, dy) = params[0].shape[0], dims
    if (dx, dy) != (task.dx, task.dy):
        raise ValueError(
            f"{model} params map {dx} inputs to {dy} outputs, but the task has dx={task.dx} and "
            f"dy={task.dy}; param shapes: {_shapes(params)}"
        )
    if task.num_runs not in (1, K):
        raise ValueError(
            f"the task has {task.num_runs} runs (leading dimension) but params have K={K}; "
            "allowed: 1 (shared) or K"
        )
    data = task.tensors()[0]
    if data.dtype != params[0].dtype or data.device != params[0].device:
        raise ValueError(
            f"params ({params[0].dtype} on {params[0].device}) and the task ({data.dtype} on "
            f"{data.device}) must share dtype and device"
        )


def per_run(
    name: str, value: float | torch.Tensor, num_runs: int, like: torch.Tensor, *, nonneg: bool
) -> torch.Tensor:
    """A scalar or a ``(K,)`` tensor of per-run values as a ``(K,)`` tensor like ``like``.

    Used for the learning rate eta and the weight decay gamma, which may differ between the K
    runs trained together.
    """
    if isinstance(value, torch.Tensor):
        if value.shape not in ((), (num_runs,)):
            raise ValueError(
                f"{name} must be a scalar or have shape ({num_runs},), got {tuple(value.shape)}"
            )
        out = value.to(dtype=like.dtype, device=like.device).expand(num_runs).clone()
        if not torch.isfinite(out).all() or (nonneg and (out < 0).any()):
            raise ValueError(f"{name} must be finite{' and >= 0' if nonneg else ''}, got {value}")
        return out
    return torch.full(
        (num_runs,), check_real(name, value, nonneg=nonneg), dtype=like.dtype, device=like.device
    )
