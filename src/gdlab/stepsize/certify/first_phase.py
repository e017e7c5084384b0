"""Certificates of the first phase: Theorem 3.2, Lemmas B.1, B.2, C.3 and Theorem 4.1.

One function per claim, each returning the claim at its step of least slack with the rounding
allowance of :mod:`gdlab.stepsize.certify.rounding` (or an untestable claim);
:func:`certify_first_phase` composes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdlab.claims import Claim, ClaimTable
from gdlab.stepsize import theory as th
from gdlab.stepsize.certify.checks import (
    Evidence,
    Side,
    assumption_notes,
    evidence,
    inequality,
    untestable,
)
from gdlab.stepsize.certify.record import first_index
from gdlab.stepsize.theory import Array, ProblemConstants
from gdlab.stepsize.trajectory import Trajectory

__all__ = [
    "PER_STEP_FIRST_PHASE",
    "FirstPhaseEvidence",
    "PerceptronSteps",
    "certify_first_phase",
    "first_phase_evidence",
    "lemma_b1",
    "lemma_b2",
    "lemma_c3_average_G",
    "lemma_c3_perceptron_step",
    "perceptron_steps",
    "theorem32",
    "theorem41_rate",
    "theorem41_transition",
]

#: The per-step claims of :func:`certify_first_phase` that need ``<w_t, bar-w_*>``.
PER_STEP_FIRST_PHASE = (
    ("Lemma C.3 perceptron step", "Lemma C.3"),
    ("Lemma B.1", "Lemma B.1"),
    ("Lemma B.2", "Lemma B.2"),
)


@dataclass(frozen=True)
class FirstPhaseEvidence(Evidence):
    """:class:`~gdlab.stepsize.certify.checks.Evidence` of a fully recorded run, with the
    running sums the averaged bounds share, over the horizons ``t = 1..T``.

    ``cum_delta`` is ``sum_(k<t) ||Delta_k||``; ``pert`` the iterate errors in Theorem 3.2's
    telescoped ``||w_k - u||^2`` with the comparator ``u`` of Theorem B.3 for horizon t,
    ``sum_(k<t) [(rho_(k+1) + ||u||) ||Delta_k|| + ||Delta_k||^2/2]``; ``run_eps`` the
    relative rounding error of a running mean of t recorded values.
    """

    T: int
    t: Array
    cum_delta: Array
    pert: Array
    run_eps: Array


def first_phase_evidence(traj_run: Trajectory, c: ProblemConstants) -> FirstPhaseEvidence:
    """The :class:`FirstPhaseEvidence` of one run; ValueError unless the constants carry
    Assumptions 2A and 3 and the run's ``||w_0||``, and every step is recorded."""
    th.require_assumptions(c, "certify_first_phase", w0=True)
    ev = evidence(traj_run, c, assumption_notes(c, radius=True))
    r, e = ev.r, ev.e
    if not np.array_equal(r.steps, np.arange(r.steps.size)):
        raise ValueError(
            "certify_first_phase needs every step recorded (train(..., record_every=1)); "
            f"got recorded steps {r.steps[:3].tolist()}..., {r.steps.size} of {r.steps[-1] + 1}"
        )
    if abs(r.norm[0] - c.w0_norm) > 4 * e.norm_rel * r.norm[0]:  # two rounded norms
        raise ValueError(
            f"c.w0_norm={c.w0_norm!r} differs from the run's ||w_0|| = {r.norm[0]!r}; "
            "build the constants with run_constants"
        )
    T = int(r.steps[-1])
    t = np.arange(1, T + 1, dtype=np.float64)
    s1, s2 = th.theoremb3_comparator(c, t)
    u_norm = math.sqrt(c.m) * (np.abs(s1) + s2)
    cum_delta = np.cumsum(e.delta)
    pert = np.cumsum(r.norm[1:] * e.delta + e.delta**2 / 2) + u_norm * cum_delta
    run_eps = np.maximum.accumulate(e.eps_L[:-1]) + t * r.u  # summation of t terms
    return FirstPhaseEvidence(
        ev.r, ev.c, ev.e, ev.note, T=T, t=t, cum_delta=cum_delta, pert=pert, run_eps=run_eps
    )


def theorem32(ev: FirstPhaseEvidence) -> Claim:
    """Theorem 3.2: ``(1/t) sum_(k<t) L_k`` below
    :func:`~gdlab.stepsize.theory.theorem32_average_risk_bound` for every ``t = 1..T``."""
    r, c = ev.r, ev.c
    avg_L = np.cumsum(r.risk[:-1]) / ev.t
    bound = th.theorem32_average_risk_bound(c, ev.t)
    return inequality(
        "Theorem 3.2",
        "Theorem 3.2",
        r.steps[1:],
        [Side(avg_L, bound, avg_L * ev.run_eps + ev.pert / (c.m * c.eta * ev.t))],
        f"(1/t) sum_(k<t) L_k <= bound for t = 1..{ev.T}; max ratio "
        f"{float(np.max(avg_L / bound)):.3g}; {ev.note}",
    )


def lemma_c3_average_G(ev: FirstPhaseEvidence) -> Claim:
    """Lemma C.3: ``(1/t) sum_(k<t) G_k`` below
    :func:`~gdlab.stepsize.theory.lemma_c3_average_G_bound` for every ``t = 1..T``."""
    r, c = ev.r, ev.c
    avg_G = np.cumsum(r.G[:-1]) / ev.t
    bound = th.lemma_c3_average_G_bound(c, ev.t)
    scale = math.sqrt(c.m) * c.alpha * c.gamma * c.eta * ev.t
    allow = avg_G * ev.run_eps + (ev.cum_delta + np.sqrt(2 * ev.pert)) / scale
    return inequality(
        "Lemma C.3 average G",
        "Lemma C.3",
        r.steps[1:],
        [Side(avg_G, bound, allow)],
        f"(1/t) sum_(k<t) G_k <= bound for t = 1..{ev.T}; {ev.note}",
    )


@dataclass(frozen=True)
class PerceptronSteps:
    """``D_t = <-grad L_t, bar-w_*>`` (``||bar-w_*|| = sqrt m``) from the recorded
    ``<w_t, bar-w_*>``, and its rounding error, for ``t = 0..T-1``."""

    D: Array
    err_D: Array


def perceptron_steps(ev: FirstPhaseEvidence) -> PerceptronSteps | None:
    """:class:`PerceptronSteps` of the run, or None when it recorded no ``<w_t, bar-w_*>``."""
    r, c, e = ev.r, ev.c, ev.e
    if r.w_star_inner is None:
        return None
    sqrt_m = math.sqrt(c.m)
    inner = r.w_star_inner
    D = (inner[1:] - inner[:-1]) / c.lr
    err_D = (
        2 * c.m * c.d * r.u * sqrt_m * np.maximum(r.norm[:-1], r.norm[1:]) + sqrt_m * e.delta
    ) / c.lr
    return PerceptronSteps(D, err_D)


def lemma_c3_perceptron_step(ev: FirstPhaseEvidence, p: PerceptronSteps) -> Claim:
    """Lemma C.3 (perceptron step): ``<w_(t+1) - w_t, bar-w_*> >= m alpha gamma eta G_t``
    at every step (:func:`~gdlab.stepsize.theory.lemma_c3_step_gain`)."""
    r, c, e = ev.r, ev.c, ev.e
    gain = th.lemma_c3_step_gain(c, r.G[:-1])
    return inequality(
        "Lemma C.3 perceptron step",
        "Lemma C.3",
        r.steps[:-1],
        [Side(c.lr * p.D, gain, c.lr * p.err_D + gain * e.eps_L[:-1], upper=False)],
        f"<w_(t+1) - w_t, bar-w_*> >= m alpha gamma eta G_t at {ev.T} steps; {ev.note}",
    )


def lemma_b1(ev: FirstPhaseEvidence, p: PerceptronSteps) -> Claim:
    """Lemma B.1 with ``T`` the last step: ``<grad L_t, u_1 - w_t> <= 1/(gamma^2 eta T) - L_t``
    (:func:`~gdlab.stepsize.theory.theoremb3_comparator`); untestable unless
    ``gamma^2 eta T >= e^-kappa`` (a comparator ``s_1 >= 0``)."""
    r, c, e = ev.r, ev.c, ev.e
    c1, _ = th.theoremb3_comparator(c, ev.T)
    if c1 < 0:
        return untestable(
            "Lemma B.1", "Lemma B.1", f"gamma^2 eta T >= e^-kappa for its comparator (T = {ev.T})"
        )
    lhs = -c1 * p.D + r.v[:-1]
    rhs = 1 / (c.gamma**2 * c.eta * ev.T) - r.risk[:-1]
    allow = c1 * p.err_D + e.err_v[:-1] + r.risk[:-1] * e.eps_L[:-1]
    return inequality(
        "Lemma B.1",
        "Lemma B.1",
        r.steps[:-1],
        [Side(lhs, rhs, allow)],
        f"<grad L_t, u_1 - w_t> <= 1/(gamma^2 eta T) - L_t, T = {ev.T}; {ev.note}",
    )


def lemma_b2(ev: FirstPhaseEvidence, p: PerceptronSteps) -> Claim:
    """Lemma B.2: ``2 <grad L_t, u_2> + m eta ||grad L_t||^2 <= 0`` at every step, divided by
    the sum of the moduli of its terms (``u_2`` of Theorem B.3)."""
    r, c, e = ev.r, ev.c, ev.e
    _, c2 = th.theoremb3_comparator(c, ev.T)
    lhs = -2 * c2 * p.D + c.m * c.eta * r.grad_norm_sq[:-1]
    scale = 2 * c2 * np.abs(p.D) + c.m * c.eta * r.grad_norm_sq[:-1]
    scale = np.where(scale > 0, scale, 1.0)
    allow = 2 * c2 * p.err_D + c.m * c.eta * e.err_g2[:-1]
    return inequality(
        "Lemma B.2",
        "Lemma B.2",
        r.steps[:-1],
        [Side(lhs / scale, np.zeros_like(lhs), allow / scale)],
        f"2 <grad L_t, u_2> + m eta ||grad L_t||^2 <= 0 at {ev.T} steps, divided by "
        f"the sum of the moduli of its terms; {ev.note}",
        relative=False,
    )


def theorem41_transition(ev: FirstPhaseEvidence, si: int | None) -> Claim:
    """Theorem 4.1: ``s* <= tau`` (:func:`~gdlab.stepsize.theory.theorem41_tau`), with ``s*``
    (index ``si``) the first step satisfying the width-free eq. (5); a run that never reaches
    it by ``T >= tau`` fails with ``s* = T + 1``, one with ``T < tau`` is untestable.

    A step ``s*`` found in the run is at most its horizon ``T``, so the claim has ``trivial =
    T``: with ``tau >= T`` it cannot fail within the run and is ``vacuous`` (its detail gives
    the decades ``log10(tau/T)``)."""
    r, c = ev.r, ev.c
    tau = th.theorem41_tau(c)
    name, source = "s* <= tau (Theorem 4.1)", "Theorem 4.1"
    if si is None and ev.T < tau:
        return untestable(
            name, source, f"the width-free eq. (5) reached, or T >= tau = {tau:.4g} (T = {ev.T})"
        )
    s = ev.T + 1 if si is None else int(r.steps[si])
    reached = "" if si is not None else f", not reached by T = {ev.T} >= tau"
    thr = th.condition5_threshold_two_layer(c)
    return Claim(
        name,
        source,
        float(s),
        tau,
        trivial=float(ev.T),
        step=r.step_at(si),
        note=f"s* = first step with L_t <= {thr:.4g} (width-free eq. (5)){reached}; "
        f"tau/T = 10^{math.log10(tau / ev.T):.1f}: s* <= T a priori, so tau >= T tests "
        f"nothing; {ev.note}",
    )


def theorem41_rate(ev: FirstPhaseEvidence, si: int | None) -> tuple[Claim, float | None]:
    """Theorem 4.1 / Lemma C.4 (spec §6.4): the factor ``L_t (t - s*) alpha^2 gamma^2 eta`` a
    run attains (``L_t`` over :func:`~gdlab.stepsize.theory.theorem41_stable_bound` with factor
    1) stays below the safe factor 8 at every ``t > s*``; the note compares its peak with the
    printed factor 2. Returns the claim and the peak (None when untestable)."""
    r, c, e = ev.r, ev.c, ev.e
    name, source = "Theorem 4.1 rate", "Theorem 4.1 / Lemma C.4 (spec §6.4)"
    if si is None or si >= ev.T:
        need = "the width-free eq. (5) reached before the last step"
        return untestable(name, source, need), None
    s = int(r.steps[si])
    later = np.arange(si + 1, ev.T + 1)
    scaled = r.risk[later] / th.theorem41_stable_bound(c, r.steps[later], s, factor=1.0)
    safe = th.THEOREM41_FACTORS["safe"]
    printed = th.THEOREM41_FACTORS["printed"]
    rel = e.eps_L[later] + c.rho * np.cumsum(e.delta[si:])
    peak = float(np.max(scaled))
    claim = inequality(
        name,
        source,
        r.steps[later],
        [Side(scaled, np.full_like(scaled, safe), safe * rel)],
        f"max_(t > s*) L_t (t - s*) alpha^2 gamma^2 eta = {peak:.3g} vs safe factor "
        f"{safe:g}; printed factor {printed:g} "
        f"{'holds' if peak <= printed else 'FAILS'}; s* = {s}; {ev.note}",
    )
    return claim, peak


def certify_first_phase(traj_run: Trajectory, c: ProblemConstants) -> ClaimTable:
    """Claims on Theorem 3.2, Lemmas B.1, B.2, C.3 and Theorem 4.1 for one run (spec §7).

    Needs Assumption 3 (``c.gamma``), ``alpha > 0``, ``c.w0_norm`` equal to the run's
    ``||w_0||`` (build ``c`` with :func:`~gdlab.stepsize.theory.run_constants`) and a record
    of every step (``record_every=1``; the running averages need all of them). The theorems
    assume ``||x_i|| <= 1``: run on rescaled data (spec §5); otherwise every note says the
    assumption fails. Comparisons include the rounding allowance of
    :mod:`gdlab.stepsize.certify.rounding`.

    Facts: ``"s* (width-free eq. 5)"``, its threshold, ``"tau"`` and ``"rate peak"``
    (``max_{t > s*} L_t (t - s*) alpha^2 gamma^2 eta``, None before s*).
    Rows: ``"Theorem 3.2"`` (running-average risk at every t), ``"Lemma C.3 average G"``,
    and, when the run recorded ``w_star_inner`` (``train(..., w_star=c.w_star)``), the
    per-step ``"Lemma C.3 perceptron step"``, ``"Lemma B.1"`` (with ``T`` the last step, only
    if ``gamma^2 eta T >= e^-kappa``) and ``"Lemma B.2"`` (else the untestable claims of
    :data:`PER_STEP_FIRST_PHASE`); then ``"s* <= tau (Theorem 4.1)"`` with ``s*`` the first
    step satisfying the width-free eq. (5) of Theorem 4.1, and ``"Theorem 4.1 rate"``:
    ``max_{t > s*} L_t (t - s*) alpha^2 gamma^2 eta <= 8`` (spec §6.4), with the printed
    factor 2 reported in the note.
    """
    ev = first_phase_evidence(traj_run, c)
    claims = [theorem32(ev), lemma_c3_average_G(ev)]
    p = perceptron_steps(ev)
    if p is None:
        claims += [
            untestable(name, source, "a record of <w_t, bar-w_*> (train(..., w_star=...))")
            for name, source in PER_STEP_FIRST_PHASE
        ]
    else:
        claims += [lemma_c3_perceptron_step(ev, p), lemma_b1(ev, p), lemma_b2(ev, p)]
    thr = th.condition5_threshold_two_layer(c)
    si = first_index(ev.r.log_risk, thr)
    rate, peak = theorem41_rate(ev, si)
    claims += [theorem41_transition(ev, si), rate]
    facts = {
        "s* (width-free eq. 5)": ev.r.step_at(si),
        "width-free eq. (5) threshold": thr,
        "tau": th.theorem41_tau(c),
        "rate peak": peak,
    }
    return ClaimTable(claims, facts)
