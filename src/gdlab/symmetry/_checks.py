"""Input validation shared by the symmetry modules (messages name the value and what is allowed)."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import torch

__all__ = [
    "check_choice",
    "check_int",
    "check_real",
    "per_run",
    "small_problem_threads",
    "threads_for_params",
]

P = ParamSpec("P")
R = TypeVar("R")


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


@contextmanager
def small_problem_threads(size: int, limit: int = 2**16) -> Iterator[None]:
    """Run intra-op single-threaded while ``size`` (entries per tensor) is below ``limit``.

    The K-batched problems of Part II are tiny: thread synchronisation then costs more than the
    arithmetic, and on a shared machine OpenMP spin-waiting can slow a 68 x 68 product down from
    microseconds to milliseconds. Larger problems (paper scale) keep torch's thread count.
    """
    before = torch.get_num_threads()
    if size < limit:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def threads_for_params(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``func`` under :func:`small_problem_threads`, sized by its ``params``."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        params = signature.bind_partial(*args, **kwargs).arguments.get("params") or ()
        with small_problem_threads(max((p.numel() for p in params), default=0)):
            return func(*args, **kwargs)

    return wrapper
