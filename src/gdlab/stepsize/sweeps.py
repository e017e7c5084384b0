"""Stepsize sweeps: one vectorized GD call, the constants of every run, and their verdicts.

This is the layer the Part I chapters call: :func:`run_sweep` trains K stepsizes at once on one
dataset (:func:`gdlab.stepsize.gd.train`), attaches to every run its
:class:`~gdlab.stepsize.theory.ProblemConstants`, and answers the questions every chapter asks of a
run: where does the risk become monotone in fact (:meth:`SweepResult.monotone_from`), where do
conditions (4) and (5) first hold, and do the certificates of :mod:`gdlab.stepsize.certify` pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from gdlab.claims import ClaimTable
from gdlab.data import Dataset
from gdlab.stepsize import certify
from gdlab.stepsize.gd import train
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.theory import ProblemConstants, run_constants
from gdlab.stepsize.trajectory import Trajectory

__all__ = ["SweepResult", "run_sweep", "sweep_from_trajectory"]


@dataclass
class SweepResult:
    """K GD runs on one dataset (one per stepsize) with their constants.

    ``constants[k]`` holds the Assumption 1-3 constants of run k (radius-R form, with the
    data's ``w_*`` and ``gamma`` when the data are separable), ``traj`` the record.
    """

    dataset: Dataset
    net: TwoLayerNet
    traj: Trajectory
    constants: list[ProblemConstants]

    @property
    def lrs(self) -> np.ndarray:
        """The GD stepsizes tilde-eta of the K runs."""
        return self.traj.lr.numpy()

    def run(self, k: int) -> Trajectory:
        """The record of run k alone."""
        return self.traj.run(k)

    def monotone_from(self, k: int) -> int:
        """The first recorded step after which run k's risk never increases (up to rounding).

        See :func:`gdlab.stepsize.certify.risk_monotone_from`.
        """
        return certify.risk_monotone_from(self.run(k), self.constants[k])

    def first_increase(self, k: int) -> int | None:
        """The first recorded step t whose successor has a larger risk (beyond rounding)."""
        return certify.risk_first_increase(self.run(k), self.constants[k])

    def risk_increases(self, k: int) -> int:
        """How many recorded steps of run k increase the risk beyond rounding."""
        return certify.risk_increase_count(self.run(k), self.constants[k])

    def r_star(self, k: int) -> int | None:
        """The first recorded step at which eq. (4) holds for run k (None if never)."""
        return certify.first_step_condition4(self.run(k), self.constants[k])

    def s_star(self, k: int) -> int | None:
        """The first recorded step at which eq. (5) holds for run k (None if never)."""
        return certify.first_step_condition5(self.run(k), self.constants[k])

    @cached_property
    def stable_verdicts(self) -> list[ClaimTable]:
        """:func:`~gdlab.stepsize.certify.certify_stable_phase` of every run (Theorem 2.2)."""
        return [certify.certify_stable_phase(self.run(k), c) for k, c in enumerate(self.constants)]

    def final_risk(self) -> np.ndarray:
        """``L(w_T)`` of every run."""
        return self.traj.risk[:, -1].numpy()


def run_sweep(
    dataset: Dataset,
    net: TwoLayerNet,
    lrs: Sequence[float] | np.ndarray | torch.Tensor,
    steps: int,
    *,
    W0: torch.Tensor | None = None,
    init_scale: float = 0.1,
    seed: int = 0,
    record_every: int = 1,
    per_neuron: bool = False,
    w_star: torch.Tensor | None = None,
    gamma: float | None = None,
    quiet_radius: bool = True,
) -> SweepResult:
    """Train ``net`` on ``dataset`` with every stepsize of ``lrs`` at once (shared W0).

    ``w_star``/``gamma`` (Assumption 3) enter the constants and, with ``w_star``, the record of
    ``<w_t, bar-w_*>``. ``quiet_radius`` silences the engine's warning for ``max||x|| > 1``: the
    figures keep the paper's data as printed (spec §6.5) and the constants use radius R, so the
    certificates already say when an assumption fails.
    """
    with warnings.catch_warnings():
        if quiet_radius:
            warnings.filterwarnings("ignore", message=".*max \\|\\|x_i\\|\\|.*")
        traj = train(
            net,
            dataset.X,
            dataset.y,
            lrs,
            steps,
            W0,
            init_scale=init_scale,
            seed=seed,
            record_every=record_every,
            per_neuron=per_neuron,
            w_star=w_star,
            meta={"dataset": dataset.name},
        )
    return sweep_from_trajectory(dataset, net, traj, w_star=w_star, gamma=gamma)


def sweep_from_trajectory(
    dataset: Dataset,
    net: TwoLayerNet,
    traj: Trajectory,
    *,
    w_star: torch.Tensor | None = None,
    gamma: float | None = None,
) -> SweepResult:
    """A :class:`SweepResult` from a record of ``net`` on ``dataset`` (e.g. a cached one): the
    record with each run's Assumption 1-3 constants."""
    constants = [
        run_constants(traj.run(k), net, dataset.X, dataset.y, w_star=w_star, gamma=gamma)
        for k in range(traj.num_runs)
    ]
    return SweepResult(dataset, net, traj, constants)
