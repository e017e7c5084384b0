"""How the certificates turn per-step inequalities of a recorded run into claims.

:class:`Evidence` is what every certificate reads (the record, the constants, the rounding
allowances and the note on the assumptions); :func:`inequality` states inequalities checked at
many steps as one claim at the step of least slack, :func:`monotone` a monotone series,
:func:`untestable` a claim whose hypothesis never held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gdlab.claims import Claim
from gdlab.stepsize.certify.record import Record, read_record
from gdlab.stepsize.certify.rounding import ROUNDING_REASON, Rounding, rounding
from gdlab.stepsize.theory import Array, ProblemConstants
from gdlab.stepsize.trajectory import Trajectory

__all__ = [
    "Evidence",
    "Side",
    "assumption_notes",
    "evidence",
    "inequality",
    "monotone",
    "untestable",
]


@dataclass(frozen=True)
class Evidence:
    """A recorded run, its constants, its rounding allowances and the note every claim carries."""

    r: Record
    c: ProblemConstants
    e: Rounding
    note: str


def assumption_notes(c: ProblemConstants, *, radius: bool) -> str:
    """Which constants were used; with ``radius``, the assumptions on the inputs that fail
    (``||x_i|| <= 1``, ``sup|phi'| <= 1``, ``b = 1`` of Theorems 3.2 and 4.1)."""
    notes = [f"{c.constants} constants"]
    if radius and c.R > 1 + 1e-12:  # unit-norm inputs have ||x|| = 1 up to a few ulps
        notes.append(f"ASSUMPTION FAILS: max||x_i|| = R = {c.R:.4g} > 1 (rescale the data, §5)")
    if radius and c.sup_dphi > 1:
        notes.append(f"ASSUMPTION 2A FAILS: sup|phi'| = {c.sup_dphi:.4g} > 1")
    if radius and c.b != 1:
        notes.append(f"eq. (2) has b = 1, here b = {c.b:.4g}")
    return "; ".join(notes)


def evidence(traj_run: Trajectory, c: ProblemConstants, note: str) -> Evidence:
    """The :class:`Evidence` of a single run with stepsize ``c.lr``; ``note`` ends every claim's
    note."""
    r = read_record(traj_run, c)
    return Evidence(r, c, rounding(r, c), note)


@dataclass(frozen=True)
class Side:
    """One inequality ``value <= bound`` (``upper``) or ``value >= bound`` with its allowance."""

    value: Array
    bound: Array
    allow: Array
    upper: bool = True


def inequality(
    claim: str,
    source: str,
    steps: np.ndarray,
    sides: Sequence[Side],
    note: str,
    *,
    relative: bool = True,
) -> Claim:
    """A claim for inequalities checked at ``steps``: the side and step of the least slack.

    The slack of a step is ``(bound - value + allowance) / scale`` (sides flipped for lower
    bounds), with ``scale = |bound|`` if ``relative``; the claim states the step where it is
    least, so it holds iff the inequality holds, allowance included, at every step. A bound
    that is infinite on the permissive side tests nothing: such a step needs no allowance, and
    a claim stated at one (every bound infinite) is ``vacuous``.
    """
    best: tuple[float, float, float, float, int, bool, bool] | None = None
    for side in sides:
        vacuous = np.isposinf(side.bound) if side.upper else np.isneginf(side.bound)
        with np.errstate(invalid="ignore"):
            gap = side.bound - side.value if side.upper else side.value - side.bound
            scale = np.abs(side.bound) if relative else np.ones_like(side.bound)
            slack = np.where(vacuous, np.inf, (gap + side.allow) / np.where(scale > 0, scale, 1.0))
        k = int(np.argmin(slack))
        if best is None or slack[k] < best[0]:
            best = (
                float(slack[k]),
                float(side.value[k]),
                float(side.bound[k]),
                0.0 if vacuous[k] else float(side.allow[k]),
                int(steps[k]),
                side.upper,
                bool(vacuous[k]),
            )
    if best is None:
        raise ValueError(f"claim {claim!r} needs at least one side, got none")
    _, measured, bound, allow, step, upper, vacuous_bound = best
    return Claim(
        claim,
        source,
        measured,
        bound,
        relation="<=" if upper else ">=",
        tol=allow,
        tol_reason=ROUNDING_REASON,
        trivial=bound if vacuous_bound else None,
        step=step,
        note=f"{note}; least {'relative' if relative else 'absolute'} slack at this step",
    )


def monotone(
    claim: str,
    source: str,
    r: Record,
    pairs: np.ndarray,
    increment: Array,
    allow: Array,
    *,
    increasing: bool,
    note: str,
) -> Claim:
    """A claim that a series is non-decreasing (``increasing``) or non-increasing on ``pairs``,
    stated at the pair where the allowance minus the adverse increment is least."""
    adverse = -increment if increasing else increment
    slack = allow - adverse
    k = int(np.argmin(slack))
    bad = int(np.sum(slack < 0))
    within = int(np.sum((adverse > 0) & (slack >= 0)))
    word = "decrements" if increasing else "increments"
    return Claim(
        claim,
        source,
        float(increment[k]),
        0.0,
        relation=">=" if increasing else "<=",
        tol=float(allow[k]),
        tol_reason=ROUNDING_REASON,
        step=int(r.steps[pairs[k] + 1]),
        note=f"{bad} {word} beyond the rounding allowance, {within} within it "
        f"(most adverse {float(np.max(adverse)):.3g}, max allowance {float(np.max(allow)):.3g}) "
        f"over {pairs.size} recorded pairs{r.subsample_note()}; {note}",
    )


def untestable(claim: str, source: str, needs: str) -> Claim:
    """A claim whose hypothesis never held in the record: ``needs`` says what it would need."""
    return Claim(claim, source, None, None, needs=needs)
