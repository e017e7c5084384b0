"""Minibatch SGD (fresh samples every step) and full-batch GD, vectorised over K runs: the one
update and the one training loop of Part II.

One step with weight decay gamma (spec §2):

    theta_{t+1} = (1 - 2 eta gamma) theta_t - eta g_t,

where ``g_t`` is the gradient of the *unregularised* minibatch mean loss (SGD) or of the full risk
(GD); it is the gradient of ``l + gamma ||theta||^2``. ``eta`` and ``gamma`` may differ per run.
A run whose parameters stop being finite or exceed ``blowup`` in norm is frozen and flagged as
diverged; the other runs are unaffected.

:func:`train` has two hooks. ``observe`` maps the parameters at the recorded steps to the series
of the returned :class:`Run`. ``on_step`` sees every update as a :class:`Step` (the parameters
before and after, the gradient, the batch it came from, the step's eta and gamma): the exact
one-step identities of :mod:`gdlab.symmetry.identities` and per-step statistics of a gradient are
computed there, on the very update the run makes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from gdlab.runtime import check_record_bytes
from gdlab.symmetry.checks import (
    check_choice,
    check_fit,
    check_int,
    check_params,
    check_real,
    per_run,
)
from gdlab.symmetry.linear import Params
from gdlab.symmetry.tasks import FiniteTask, GaussianTask

__all__ = ["METHODS", "Model", "Run", "Step", "Task", "run_names", "runs_to_arrays", "train"]

METHODS = ("sgd", "gd")

Task = GaussianTask | FiniteTask
Observer = Callable[[Params], dict[str, torch.Tensor]]
#: Below this many entries in the largest parameter tensor, a run is computed single-threaded.
SMALL_PROBLEM = 2**16


class Model(Protocol):
    """What the engine needs from a model: its input/output sizes (checking the parameters'
    shapes), minibatch and full-batch gradients."""

    name: str

    def dims(self, params: Params) -> tuple[int, int]: ...

    def grad(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params: ...

    def population_grad(self, params: Params, task: Task) -> Params: ...


@dataclass(frozen=True)
class Step:
    """One update ``new_params = (1 - 2 eta gamma) params - eta grads`` of K runs, as the
    ``on_step`` hook of :func:`train` sees it.

    Attributes
    ----------
    t : the step index (``params`` is theta_t, ``new_params`` theta_{t+1}).
    batch : the ``(x, y)`` the gradient was computed on, (K, S, dx) and (K, S, dy): the
        minibatch (SGD) or the whole data set (GD on a :class:`FiniteTask`); None for GD on a
        :class:`GaussianTask` (the exact population gradient).
    eta, gamma : (K,) the step's learning rate and weight decay (eta is 0 for a frozen run).
    """

    t: int
    params: Params
    grads: Params
    batch: tuple[torch.Tensor, torch.Tensor] | None
    eta: torch.Tensor
    gamma: torch.Tensor
    new_params: Params


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

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The run as NumPy arrays named ``prefix.steps``, ``prefix.diverged_at``,
        ``prefix.series.<name>`` and ``prefix.params.<i>`` (:meth:`from_arrays` inverts it)."""
        out = {f"{prefix}.steps": self.steps, f"{prefix}.diverged_at": self.diverged_at}
        out.update({f"{prefix}.series.{k}": v for k, v in self.series.items()})
        out.update({f"{prefix}.params.{i}": p for i, p in enumerate(self.params)})
        return {k: v.detach().cpu().numpy() for k, v in out.items()}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> Run:
        """The run stored under ``prefix`` by :meth:`to_arrays`, as CPU tensors."""

        def part(name: str) -> dict[str, torch.Tensor]:
            head = f"{prefix}.{name}."
            return {
                k.removeprefix(head): torch.from_numpy(np.array(v))
                for k, v in arrays.items()
                if k.startswith(head)
            }

        if f"{prefix}.steps" not in arrays:
            raise KeyError(f"no run {prefix!r} in the arrays; runs: {run_names(arrays)}")
        params = part("params")
        return cls(
            torch.from_numpy(np.array(arrays[f"{prefix}.steps"])),
            part("series"),
            tuple(params[str(i)] for i in range(len(params))),
            torch.from_numpy(np.array(arrays[f"{prefix}.diverged_at"])),
        )


def runs_to_arrays(runs: Mapping[str, Run]) -> dict[str, np.ndarray]:
    """Named runs as one dict of arrays (each run under its name, :meth:`Run.to_arrays`)."""
    return {key: value for name, r in runs.items() for key, value in r.to_arrays(name).items()}


def run_names(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The prefixes of the runs stored in ``arrays`` by :meth:`Run.to_arrays`."""
    return sorted(k.removesuffix(".steps") for k in arrays if k.endswith(".steps"))


@contextmanager
def _threads_for(params: Params) -> Iterator[None]:
    """Run intra-op single-threaded while the largest tensor of ``params`` has fewer than
    :data:`SMALL_PROBLEM` entries.

    The K-batched problems of Part II are tiny: thread synchronisation then costs more than the
    arithmetic, and on a shared machine OpenMP spin-waiting can slow a 68 x 68 product down from
    microseconds to milliseconds. Larger problems (paper scale) keep torch's thread count.
    """
    before = torch.get_num_threads()
    if max(p.numel() for p in params) < SMALL_PROBLEM:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Update:
    """The SGD update ``theta <- (1 - 2 eta gamma) theta - eta g`` with the per-run factors
    broadcast once (the hot loop of :func:`train`); ``eta``, ``gamma``: (K,). ``decay`` says
    whether any run has weight decay (decided once, before the loop: no host read here)."""

    def __init__(self, params: Params, eta: torch.Tensor, gamma: torch.Tensor, decay: bool) -> None:
        self.eta, self.gamma = eta, gamma
        self.factor = [_expand(eta, p) for p in params]
        shrink = 1.0 - 2.0 * eta * gamma
        self.shrink = [_expand(shrink, p) for p in params] if decay else None

    def __call__(self, params: Params, grads: Params) -> Params:
        if self.shrink is None:
            return tuple(p - e * g for p, g, e in zip(params, grads, self.factor, strict=True))
        return tuple(
            c * p - e * g
            for p, g, e, c in zip(params, grads, self.factor, self.shrink, strict=True)
        )


def _expand(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


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
    on_step: Callable[[Step], None] | None = None,
    blowup: float = 1e8,
) -> Run:
    """Train K runs for ``steps`` steps of SGD (fresh minibatch of ``batch_size``) or GD.

    Parameters
    ----------
    model, params : the model and its initial parameters (tuple of (K, ...) tensors).
    task : data; SGD draws ``task.sample(K, batch_size, generator)`` every step, GD uses the
        whole data set of a :class:`FiniteTask` or ``model.population_grad(params, task)``.
    eta, gamma : learning rate and weight decay, a float or a (K,) tensor.
    observe : maps parameters to a dict of (K, ...) tensors, recorded every ``every`` steps.
    on_step : called after every update with its :class:`Step`.
    blowup : runs whose parameter norm exceeds this (or is not finite) are frozen as diverged.

    Raises
    ------
    TypeError, ValueError : before any step, one line naming the value: invalid arguments;
        params that are not finite, disagree on K, dtype or device, or do not fit the task
        (``model.dims(params)`` against ``task.dx``, ``task.dy``; K against the task's runs;
        dtype and device); records (step indices and observations) beyond
        :data:`~gdlab.runtime.RECORD_BYTES_CAP`. Tasks refuse non-finite or empty data when
        they are built.
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
    check_record_bytes(S * 8, f"{S} recorded step indices x 8 bytes", "record fewer steps (every)")
    device = params[0].device
    active = torch.ones(K, dtype=params[0].dtype, device=device)
    diverged_at = torch.full((K,), -1, dtype=torch.int64, device=device)
    decay = bool((gamma_k != 0).any())  # the one host read, before the first step
    series: dict[str, torch.Tensor] = {}
    s = 0
    with _threads_for(params), torch.inference_mode():
        for t in range(steps + 1):
            if t % every == 0 or t == steps:
                sq = sum(p.reshape(K, -1).pow(2).sum(-1) for p in params)
                bad = ~torch.isfinite(sq) | (sq > blowup**2)
                diverged_at = torch.where(bad & (diverged_at < 0), t, diverged_at)
                active = active * (~bad).to(active.dtype)  # frozen: eta = 0 from now on
                update = _Update(params, eta_k * active, gamma_k * active, decay)
                observed = {} if observe is None else observe(params)
                if s == 0:
                    series = _allocate(observed, S)
                for key, value in observed.items():
                    series[key][:, s] = value
                s += 1
            if t == steps:
                break
            if method == "sgd":
                batch = task.sample(K, batch_size, generator)
                grads = model.grad(params, *batch)
            else:
                batch = task.full_batch(K) if isinstance(task, FiniteTask) else None
                grads = model.population_grad(params, task)
            new = update(params, grads)
            if on_step is not None:
                on_step(Step(t, params, grads, batch, update.eta, update.gamma, new))
            params = new
    recorded = torch.arange(0, steps + 1, every)
    if steps % every:
        recorded = torch.cat((recorded, torch.tensor([steps])))
    # the records cross to the host once, after the loop
    series = {key: value.cpu() for key, value in series.items()}
    return Run(recorded, series, params, diverged_at.cpu())


def _allocate(observed: dict[str, torch.Tensor], S: int) -> dict[str, torch.Tensor]:
    """Tensors (K, S, ...) on the observations' device for ``S`` records shaped like the first
    ``observed`` (at step 0, before any training step), refused beyond the record cap.
    Allocated outside inference mode, so the returned series are ordinary tensors."""
    nbytes = S * (8 + sum(v.numel() * v.element_size() for v in observed.values()))
    check_record_bytes(
        nbytes,
        f"{S} records of the step index and {len(observed)} observables",
        "record fewer steps (every)",
    )
    with torch.inference_mode(False):
        return {
            key: torch.empty((v.shape[0], S, *v.shape[1:]), dtype=v.dtype, device=v.device)
            for key, v in observed.items()
        }
