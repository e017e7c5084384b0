"""Minibatch SGD (fresh samples every step) and full-batch GD, vectorised over K runs.

One step with weight decay gamma (spec §2):

    theta_{t+1} = (1 - 2 eta gamma) theta_t - eta g_t,

where ``g_t`` is the gradient of the *unregularised* minibatch mean loss (SGD) or of the full risk
(GD); it is the gradient of ``l + gamma ||theta||^2``. ``eta`` and ``gamma`` may differ per run.
A run whose parameters stop being finite or exceed ``blowup`` in norm is frozen and flagged as
diverged; the other runs are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from gdlab.symmetry._checks import (
    check_choice,
    check_fit,
    check_int,
    check_params,
    check_real,
    check_record_bytes,
    per_run,
    threads_for_params,
)
from gdlab.symmetry.linear import Params
from gdlab.symmetry.tasks import FiniteTask, GaussianTask

__all__ = ["METHODS", "Model", "Run", "sgd_step", "train"]

METHODS = ("sgd", "gd")

Task = GaussianTask | FiniteTask
Observer = Callable[[Params], dict[str, torch.Tensor]]


class Model(Protocol):
    """What the engine needs from a model: its input/output sizes (checking the parameters'
    shapes), minibatch and full-batch gradients."""

    name: str

    def dims(self, params: Params) -> tuple[int, int]: ...

    def grad(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params: ...

    def population_grad(self, params: Params, task: Task) -> Params: ...


@dataclass
class Run:
    """Record of K runs trained together.

    Attributes
    ----------
    steps : (T,) int64, the recorded step indices (always 0 and the last step).
    series : name -> (K, T, ...) tensor of the observer's outputs at the recorded steps.
    params : the parameters after the last step.
    diverged_at : (K,) int64, the first recorded step at which a run had diverged, -1 if never.
    """

    steps: torch.Tensor
    series: dict[str, torch.Tensor]
    params: Params
    diverged_at: torch.Tensor

    @property
    def diverged(self) -> torch.Tensor:
        """(K,) bool, whether each run diverged."""
        return self.diverged_at >= 0

    def window(self, name: str, start: int) -> torch.Tensor:
        """The series ``name`` restricted to recorded steps ``>= start``: (K, T', ...)."""
        return self.series[name][:, self.steps >= start]


def _expand(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def sgd_step(params: Params, grads: Params, eta: torch.Tensor, gamma: torch.Tensor) -> Params:
    """``theta <- (1 - 2 eta gamma) theta - eta g`` for every tensor; ``eta``, ``gamma``: (K,)."""
    shrink = 1.0 - 2.0 * eta * gamma
    return tuple(
        _expand(shrink, p) * p - _expand(eta, p) * g for p, g in zip(params, grads, strict=True)
    )


@threads_for_params
def train(
    model: Model,
    params: Params,
    task: Task,
    *,
    eta: float | torch.Tensor,
    steps: int,
    generator: torch.Generator,
    batch_size: int = 1,
    gamma: float | torch.Tensor = 0.0,
    method: str = "sgd",
    observe: Observer | None = None,
    every: int = 1,
    blowup: float = 1e8,
) -> Run:
    """Train K runs for ``steps`` steps of SGD (fresh minibatch of ``batch_size``) or GD.

    Parameters
    ----------
    model, params : the model and its initial parameters (tuple of (K, ...) tensors).
    task : data; SGD draws ``task.sample(K, batch_size, generator)`` every step, GD uses
        ``model.population_grad(params, task)``.
    eta, gamma : learning rate and weight decay, a float or a (K,) tensor.
    observe : maps parameters to a dict of (K, ...) tensors, recorded every ``every`` steps.
    blowup : runs whose parameter norm exceeds this (or is not finite) are frozen as diverged.

    Raises
    ------
    TypeError, ValueError : before any step, one line naming the value: invalid arguments;
        params that are not finite, disagree on K, dtype or device, or do not fit the task
        (``model.dims(params)`` against ``task.dx``, ``task.dy``; K against the task's runs;
        dtype and device); records (step indices and observations) beyond
        :data:`~gdlab.symmetry._checks.RECORD_BYTES_CAP`. Tasks refuse non-finite or empty data
        when they are built.
    """
    check_choice("method", method, METHODS)
    check_int("steps", steps, minimum=0)
    check_int("every", every, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_real("blowup", blowup, positive=True)
    K = check_params(params)
    check_fit(model.name, params, model.dims(params), task)
    eta_k = per_run("eta", eta, K, params[0], nonneg=True)
    gamma_k = per_run("gamma", gamma, K, params[0], nonneg=True)
    S = steps // every + 1 + (steps % every != 0)  # steps 0, every, 2 every, ... and the last
    check_record_bytes(S * 8, f"{S} recorded step indices x 8 bytes")
    active = torch.ones(K, dtype=params[0].dtype, device=params[0].device)
    diverged_at = torch.full((K,), -1, dtype=torch.int64)
    series: dict[str, torch.Tensor] = {}
    s = 0
    with torch.inference_mode():
        for t in range(steps + 1):
            if t % every == 0 or t == steps:
                sq = sum(p.reshape(K, -1).pow(2).sum(-1) for p in params)
                bad = ~torch.isfinite(sq) | (sq > blowup**2)
                diverged_at[bad.cpu() & (diverged_at < 0)] = t
                active = active * (~bad).to(active.dtype)  # frozen: eta = 0 from now on
                step = _Stepper(params, eta_k * active, gamma_k * active)
                observed = {} if observe is None else observe(params)
                if s == 0:
                    series = _allocate(observed, S)
                for key, value in observed.items():
                    series[key][:, s] = value
                s += 1
            if t == steps:
                break
            if method == "sgd":
                grads = model.grad(params, *task.sample(K, batch_size, generator))
            else:
                grads = model.population_grad(params, task)
            params = step(params, grads)
    recorded = torch.arange(0, steps + 1, every)
    if steps % every:
        recorded = torch.cat((recorded, torch.tensor([steps])))
    return Run(recorded, series, params, diverged_at)


def _allocate(observed: dict[str, torch.Tensor], S: int) -> dict[str, torch.Tensor]:
    """CPU tensors (K, S, ...) for ``S`` records shaped like the first ``observed`` (at step 0,
    before any training step), refused beyond the record cap. Allocated outside inference
    mode, so the returned series are ordinary tensors."""
    nbytes = S * (8 + sum(v.numel() * v.element_size() for v in observed.values()))
    check_record_bytes(nbytes, f"{S} records of the step index and {len(observed)} observables")
    with torch.inference_mode(False):
        return {
            key: torch.empty((v.shape[0], S, *v.shape[1:]), dtype=v.dtype)
            for key, v in observed.items()
        }


class _Stepper:
    """:func:`sgd_step` with the per-run factors broadcast once (the hot loop of :func:`train`)."""

    def __init__(self, params: Params, eta: torch.Tensor, gamma: torch.Tensor) -> None:
        self.eta = [_expand(eta, p) for p in params]
        shrink = 1.0 - 2.0 * eta * gamma
        self.shrink = None if bool((gamma == 0).all()) else [_expand(shrink, p) for p in params]

    def __call__(self, params: Params, grads: Params) -> Params:
        if self.shrink is None:
            return tuple(p - e * g for p, g, e in zip(params, grads, self.eta, strict=True))
        return tuple(
            c * p - e * g for p, g, e, c in zip(params, grads, self.eta, self.shrink, strict=True)
        )
