"""Turn a recorded GD run into one claim per result of Part I (spec §3, §7).

:func:`certify_stable_phase` checks Theorem 2.2 and its lemmas (App. A),
:func:`certify_first_phase` Theorem 3.2, Lemmas B.1, B.2, C.3 and Theorem 4.1. Both take one
run (``traj.run(k)``) and its :class:`~gdlab.stepsize.theory.ProblemConstants` and return a
:class:`~gdlab.claims.ClaimTable` whose every comparison carries the float rounding allowance
derived in :mod:`gdlab.stepsize.certify.rounding`.

Modules, bottom up: ``record`` (the run as float64 series), ``rounding`` (the float model),
``checks`` (inequalities and monotone series as claims), ``monotone`` (the first steps of
eqs. (4), (5) and the measured start of the monotone phase), ``stable`` (Theorem 2.2, one
function per lemma), ``first_phase`` (Theorems 3.2 and 4.1, one function per claim).
"""

from gdlab.stepsize.certify.first_phase import PER_STEP_FIRST_PHASE, certify_first_phase
from gdlab.stepsize.certify.monotone import (
    first_step_condition4,
    first_step_condition5,
    risk_first_increase,
    risk_increase_count,
    risk_monotone_from,
)
from gdlab.stepsize.certify.rounding import ROUNDING_REASON
from gdlab.stepsize.certify.stable import AFTER_S_STAR, certify_stable_phase

__all__ = [
    "AFTER_S_STAR",
    "PER_STEP_FIRST_PHASE",
    "ROUNDING_REASON",
    "certify_first_phase",
    "certify_stable_phase",
    "first_step_condition4",
    "first_step_condition5",
    "risk_first_increase",
    "risk_increase_count",
    "risk_monotone_from",
]
