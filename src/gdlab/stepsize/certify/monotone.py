"""Where a run's phases start: the first steps of eqs. (4) and (5) (Theorem 2.2) and the
measured start of the monotone phase, up to the rounding allowance of
:mod:`gdlab.stepsize.certify.rounding`."""

from __future__ import annotations

import numpy as np

from gdlab.stepsize import theory as th
from gdlab.stepsize.certify.record import Record, first_index, read_record
from gdlab.stepsize.certify.rounding import risk_increase_allowance, rounding
from gdlab.stepsize.theory import ProblemConstants
from gdlab.stepsize.trajectory import Trajectory

__all__ = [
    "first_step_condition4",
    "first_step_condition5",
    "risk_first_increase",
    "risk_increase_count",
    "risk_monotone_from",
]


def first_step_condition4(traj_run: Trajectory, c: ProblemConstants) -> int | None:
    """``r*``: the first recorded step with ``L_t <= 1/(lr (2 rho^2 + beta))`` (eq. 4), or None.

    With a subsampled record this is the first *recorded* such step (an upper bound on r*).
    """
    r = read_record(traj_run, c)
    return r.step_at(first_index(r.log_risk, th.condition4_threshold(c)))


def first_step_condition5(
    traj_run: Trajectory, c: ProblemConstants, *, width_free: bool = False
) -> int | None:
    """``s*``: the first recorded step satisfying eq. (5), or None.

    ``width_free=True`` uses the two-layer form of Theorem 4.1 / Lemma C.4,
    ``min{1/(2 n e^{kappa+2}), 1/(eta R^2 (4 + 2 beta~))}``; otherwise the general eq. (5)
    with ``c``'s Assumption 1 constants.
    """
    r = read_record(traj_run, c)
    thr = th.condition5_threshold_two_layer(c) if width_free else th.condition5_threshold(c)
    return r.step_at(first_index(r.log_risk, thr))


def _risk_increases(traj_run: Trajectory, c: ProblemConstants) -> tuple[Record, np.ndarray]:
    """The record and the indices i where ``L_(t_(i+1)) - L_(t_i)`` exceeds its allowance."""
    r = read_record(traj_run, c)
    allow = risk_increase_allowance(r, rounding(r, c), c)
    return r, np.flatnonzero(np.diff(r.risk) > allow)


def risk_monotone_from(traj_run: Trajectory, c: ProblemConstants) -> int:
    """The first recorded step after which the risk never increases, beyond float64 rounding.

    This is the *measured* start of the monotone phase, to compare with ``r*`` (the step that
    Theorem 2.2's eq. (4) certifies). The allowance is
    :func:`~gdlab.stepsize.certify.rounding.risk_increase_allowance`. Returns 0 for a run that
    is monotone from the start; a run whose last recorded pair still increases returns its last
    recorded step.
    """
    r, up = _risk_increases(traj_run, c)
    return 0 if up.size == 0 else int(r.steps[up[-1] + 1])


def risk_increase_count(traj_run: Trajectory, c: ProblemConstants) -> int:
    """How many recorded steps are followed by a risk increase beyond rounding."""
    return int(_risk_increases(traj_run, c)[1].size)


def risk_first_increase(traj_run: Trajectory, c: ProblemConstants) -> int | None:
    """The first recorded step ``t`` whose successor has a larger risk beyond rounding, or None."""
    r, up = _risk_increases(traj_run, c)
    return None if up.size == 0 else int(r.steps[up[0]])
