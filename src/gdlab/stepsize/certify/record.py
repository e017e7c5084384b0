"""The recorded run as the certificates read it: float64 NumPy series over the recorded steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gdlab.stepsize.theory import Array, ProblemConstants
from gdlab.stepsize.trajectory import Trajectory

__all__ = ["Record", "first_index", "read_record"]


@dataclass(frozen=True)
class Record:
    """One run's series as float64 NumPy vectors over the S recorded steps.

    ``norm`` is ``||w_t||``, ``gamma_bar`` the normalized margin of eq. (3), ``v`` is
    ``<grad L_t, -w_t>``, ``G`` the ``G(w_t)`` of Lemma C.3; ``u`` is the unit roundoff of the
    recorded dtype (``2^-53`` for float64).
    """

    steps: np.ndarray
    risk: Array
    log_risk: Array
    grad_norm_sq: Array
    norm: Array
    min_margin: Array
    gamma_bar: Array
    v: Array
    mu_norm_sq: Array
    G: Array
    w_star_inner: Array | None
    u: float

    @property
    def gap(self) -> np.ndarray:
        """Steps between consecutive recorded steps (length S - 1)."""
        return np.diff(self.steps)

    @property
    def one_step(self) -> np.ndarray:
        """The pair indices ``i`` with ``t_(i+1) = t_i + 1`` (single GD steps in the record)."""
        return np.flatnonzero(self.gap == 1)

    def step_at(self, index: int | None) -> int | None:
        """The step recorded at ``index``, or None for None."""
        return None if index is None else int(self.steps[index])

    def subsample_note(self) -> str:
        """A note for claims checked between recorded steps when the record is subsampled."""
        return (
            "" if bool(np.all(self.gap == 1)) else "; checked between recorded steps (subsampled)"
        )


def read_record(traj_run: Trajectory, c: ProblemConstants) -> Record:
    """The :class:`Record` of a single run (``traj.run(k)``) whose stepsize is ``c.lr``."""
    if not isinstance(traj_run, Trajectory):
        raise TypeError(f"expected a Trajectory, got {type(traj_run).__name__}")
    if traj_run.num_runs != 1:
        raise ValueError(f"expected a single run (use traj.run(k)), got {traj_run.num_runs}")
    lr = float(traj_run.lr[0])
    if not math.isclose(lr, c.lr, rel_tol=1e-12):
        raise ValueError(f"the run has lr={lr!r} but the constants have lr={c.lr!r}")
    if len(traj_run.steps) < 2:
        raise ValueError("the run must record at least two steps")

    def vec(x: torch.Tensor) -> Array:
        return x[0].detach().cpu().to(torch.float64).numpy()

    return Record(
        steps=traj_run.steps.cpu().numpy().astype(np.int64),
        risk=vec(traj_run.risk),
        log_risk=vec(traj_run.log_risk),
        grad_norm_sq=vec(traj_run.grad_norm_sq),
        norm=vec(traj_run.param_norm),
        min_margin=vec(traj_run.min_margin),
        gamma_bar=vec(traj_run.normalized_margin),
        v=vec(traj_run.v),
        mu_norm_sq=vec(traj_run.mu_norm_sq),
        G=vec(traj_run.G),
        w_star_inner=None if traj_run.w_star_inner is None else vec(traj_run.w_star_inner),
        u=float(torch.finfo(traj_run.risk.dtype).eps) / 2,
    )


def first_index(log_risk: Array, threshold: float) -> int | None:
    """The first index with ``L <= threshold`` (compared in log space), or None."""
    hit = np.flatnonzero(log_risk <= math.log(threshold))
    return int(hit[0]) if hit.size else None
