"""Certificates of the stable phase: Theorem 2.2 and Lemmas A.3, A.7-A.10, A.13-A.15 (App. A).

One function per claim (or per lemma, for the two-sided A.14 and A.15), each returning the
claim at its step of least slack with the rounding allowance of
:mod:`gdlab.stepsize.certify.rounding`, or an untestable claim when its hypothesis never holds
in the record; :func:`certify_stable_phase` composes them.
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
    monotone,
    untestable,
)
from gdlab.stepsize.certify.record import first_index
from gdlab.stepsize.certify.rounding import risk_increase_allowance
from gdlab.stepsize.logspace import log_gamma_c
from gdlab.stepsize.margins import gamma_b, gamma_c
from gdlab.stepsize.theory import Array, ProblemConstants
from gdlab.stepsize.trajectory import Trajectory

__all__ = [
    "AFTER_S_STAR",
    "LogGammaC",
    "certify_stable_phase",
    "gamma_c_non_decreasing_after_s_star",
    "lemma_a3",
    "lemma_a7",
    "lemma_a8",
    "lemma_a9",
    "lemma_a10",
    "lemma_a13",
    "lemma_a14",
    "lemma_a15",
    "measure_log_gamma_c",
    "norm_non_decreasing_after_s_star",
    "risk_non_increasing_after_r_star",
]

#: The claims of :func:`certify_stable_phase` that need eq. (5), with their sources.
AFTER_S_STAR = (
    ("norm non-decreasing after s*", "Theorem 2.2 (Lemma A.8)"),
    ("gamma^c non-decreasing after s*", "Theorem 2.2 (Lemma A.13)"),
    ("Lemma A.8", "Lemma A.8"),
    ("Lemma A.13", "Lemma A.13"),
    ("Lemma A.14 lower", "Lemma A.14"),
    ("Lemma A.14 upper", "Lemma A.14"),
    ("Lemma A.15 lower", "Lemma A.15"),
    ("Lemma A.15 upper", "Lemma A.15"),
)


@dataclass(frozen=True)
class LogGammaC:
    """``log gamma^c = Phi(L) - log ||w||`` (eq. 10) along the record, with its errors.

    ``eval_err`` is the evaluation error of one recorded value, ``drift`` (length S - 1) the
    change ``||grad log gamma^c|| ||Delta||`` caused by the iterate error between recorded steps.
    """

    gamma_c: Array
    value: Array
    eval_err: Array
    drift: Array


def measure_log_gamma_c(ev: Evidence) -> LogGammaC:
    """:class:`LogGammaC` of the run: ``|dPhi/dlog L| <= 1/|ell| + k_1/ell^2`` with
    ``ell = log(2 n e^kappa L)`` (Lemma A.10's ``k_1``) bounds the sensitivity to ``log L``,
    ``(|Phi'| rho + 1/||w||) ||Delta||`` the drift."""
    r, c, e = ev.r, ev.c, ev.e
    _, k1, _ = th.lemma_a10_constant(c)
    ell = th.log_scaled_risk(c, r.log_risk)
    with np.errstate(divide="ignore"):  # ell = 0 lies outside every hypothesis that uses this
        sens = 1 / np.abs(ell) + k1 / ell**2
    with np.errstate(divide="ignore"):  # ||w_t|| = 0 only before s*, where this is unused
        value = log_gamma_c(c, r.log_risk, r.norm)  # finite where gamma^c underflows
    with np.errstate(divide="ignore"):  # ||w_t|| = 0 only before s*, where this is unused
        drift = (np.maximum(sens[:-1], sens[1:]) * c.rho + 1 / r.norm[:-1]) * e.delta
    return LogGammaC(
        gamma_c=gamma_c(r.log_risk, r.norm, c),
        value=value,
        eval_err=sens * e.eps_log_L + e.norm_rel,
        drift=drift,
    )


def risk_non_increasing_after_r_star(ev: Evidence, ri: int | None) -> Claim:
    """Theorem 2.2, eq. (4): ``L_{t+1} <= L_t`` for every ``t >= r*`` (``ri``: index of r*).

    ``measured`` is the most adverse increment ``L_{t+1} - L_t``.
    """
    r = ev.r
    name, source = "risk non-increasing after r*", "Theorem 2.2, eq. (4)"
    if ri is None or ri >= r.steps.size - 1:
        return untestable(name, source, "eq. (4) reached before the last step")
    pairs = np.arange(ri, r.steps.size - 1)
    dL = r.risk[pairs + 1] - r.risk[pairs]
    allow = risk_increase_allowance(r, ev.e, ev.c)[pairs]
    return monotone(name, source, r, pairs, dL, allow, increasing=False, note=ev.note)


def lemma_a3(ev: Evidence) -> Claim:
    """Lemma A.3: ``L_{t+1} - L_t`` between its two bounds on every one-step pair with
    ``L_t <= 1/(lr rho^2)`` (:func:`~gdlab.stepsize.theory.lemma_a3_bounds`)."""
    r, c, e = ev.r, ev.c, ev.e
    lr, rho = c.lr, c.rho
    one = r.one_step
    a3 = one[r.risk[one] <= 1 / (lr * rho**2)]
    if a3.size == 0:
        return untestable("Lemma A.3", "Lemma A.3", "a one-step pair with L_t <= 1/(lr rho^2)")
    lower, upper = th.lemma_a3_bounds(c, r.risk[a3], r.grad_norm_sq[a3])
    dL = r.risk[a3 + 1] - r.risk[a3]
    coef = lr * (1 + (2 * rho**2 + c.beta) * lr * r.risk[a3])
    b_err = coef * e.err_g2[a3] + lr**2 * (2 * rho**2 + c.beta) * r.grad_norm_sq[a3] * (
        r.risk[a3] * e.eps_L[a3]
    )
    allow = risk_increase_allowance(r, e, c)[a3] + b_err
    return inequality(
        "Lemma A.3",
        "Lemma A.3",
        r.steps[a3],
        [Side(dL, upper, allow), Side(dL, lower, allow, upper=False)],
        f"L_(t+1) - L_t between the bounds where L_t <= 1/(lr rho^2); "
        f"{one.size} one-step pairs of {r.steps.size - 1}; {ev.note}",
    )


def lemma_a7(ev: Evidence) -> Claim:
    """Lemma A.7: ``v_t >= -L_t log(2 n e^kappa L_t)`` wherever ``L_t <= 1/(2 n e^kappa)``."""
    r, c, e = ev.r, ev.c, ev.e
    ell = th.log_scaled_risk(c, r.log_risk)
    a7 = np.flatnonzero(ell <= 0)
    if a7.size == 0:
        return untestable("Lemma A.7", "Lemma A.7", "a step with L_t <= 1/(2 n e^kappa)")
    bound = th.lemma_a7_lower_bound(c, r.log_risk[a7])
    allow = e.err_v[a7] + r.risk[a7] * np.abs(ell[a7] + 1) * e.eps_log_L[a7]
    return inequality(
        "Lemma A.7",
        "Lemma A.7",
        r.steps[a7],
        [Side(r.v[a7], bound, allow, upper=False)],
        f"v_t >= -L_t log(2 n e^kappa L_t) at {a7.size} recorded steps; {ev.note}",
    )


def lemma_a9(ev: Evidence) -> Claim:
    """Lemma A.9: ``q_min <= -log L_t <= log(2n) + q_min`` wherever ``L_t <= 1/(2n)``."""
    r, c, e = ev.r, ev.c, ev.e
    a9 = np.flatnonzero(r.log_risk <= -math.log(2 * c.n))
    if a9.size == 0:
        return untestable("Lemma A.9", "Lemma A.9", "a step with L_t <= 1/(2n)")
    lower, upper = th.lemma_a9_bounds(c, r.log_risk[a9], r.min_margin[a9])
    allow = e.E_q[a9] + e.eps_log_L[a9]
    value = -r.log_risk[a9]
    return inequality(
        "Lemma A.9",
        "Lemma A.9",
        r.steps[a9],
        [Side(value, upper, allow), Side(value, lower, allow, upper=False)],
        f"q_min <= -log L_t <= log(2n) + q_min at {a9.size} recorded steps; {ev.note}",
        relative=False,
    )


def lemma_a10(ev: Evidence, lgc: LogGammaC) -> Claim:
    """Lemma A.10: ``gamma^c <= gamma^b <= gamma-bar <= (1 + c/log(1/L)) gamma^c`` wherever
    ``L_t <= 1/(2 n e^(kappa+2))``."""
    r, c, e = ev.r, ev.c, ev.e
    ell = th.log_scaled_risk(c, r.log_risk)
    a10 = np.flatnonzero(ell <= -2)
    if a10.size == 0:
        return untestable("Lemma A.10", "Lemma A.10", "a step with L_t <= 1/(2 n e^(kappa+2))")
    gb = gamma_b(r.log_risk[a10], r.norm[a10], c)
    gbar, gca = r.gamma_bar[a10], lgc.gamma_c[a10]
    upper = th.lemma_a10_sandwich(c, r.log_risk[a10], gca)
    a10_c = th.lemma_a10_constant(c)[0]
    # e^{k_1} overflows at large stepsizes: the last inequality then tests nothing
    vacuous = "" if math.isfinite(a10_c) else " (the last inequality is vacuous: c overflows)"
    err_gb = gb * (e.eps_log_L[a10] / np.abs(ell[a10]) + e.norm_rel)
    err_gbar = e.E_q[a10] / r.norm[a10] + np.abs(gbar) * 2 * e.norm_rel
    err_gc = gca * lgc.eval_err[a10]
    err_up = upper * (lgc.eval_err[a10] + e.eps_log_L[a10] / np.abs(r.log_risk[a10]))
    return inequality(
        "Lemma A.10",
        "Lemma A.10",
        r.steps[a10],
        [
            Side(gca, gb, err_gc + err_gb),
            Side(gb, gbar, err_gb + err_gbar),
            Side(gbar, upper, err_gbar + err_up),
        ],
        f"gamma^c <= gamma^b <= gamma-bar <= (1 + c/log(1/L)) gamma^c at {a10.size} "
        f"recorded steps, c = {a10_c:.4g}{vacuous}; {ev.note}",
    )


def _s_note(ev: Evidence, si: int) -> str:
    return f"s* = {int(ev.r.steps[si])}; {ev.note}"


def norm_non_decreasing_after_s_star(ev: Evidence, si: int) -> Claim:
    """Theorem 2.2 (Lemma A.8): ``||w_{t+1}|| >= ||w_t||`` for every ``t >= s*`` (``si``: the
    index of s*); ``measured`` is the most negative increment."""
    r, e = ev.r, ev.e
    pairs = np.arange(si, r.steps.size - 1)
    d_norm = r.norm[pairs + 1] - r.norm[pairs]
    allow = e.norm_rel * (r.norm[pairs] + r.norm[pairs + 1]) + e.delta[pairs]
    return monotone(
        "norm non-decreasing after s*",
        "Theorem 2.2 (Lemma A.8)",
        r,
        pairs,
        d_norm,
        allow,
        increasing=True,
        note=_s_note(ev, si),
    )


def gamma_c_non_decreasing_after_s_star(ev: Evidence, lgc: LogGammaC, si: int) -> Claim:
    """Theorem 2.2 (Lemma A.13): ``gamma^c`` never decreases after s*, checked on the
    increments of ``log gamma^c`` (relative changes, exact even where gamma^c underflows).

    ``gamma^c`` is undefined where ``L_t >= 1/(2 n e^kappa)`` or ``||w_t|| = 0`` (eq. 10): a
    pair with an undefined end is skipped (counted in the note; a risk that climbs back that
    high fails ``"risk non-increasing after r*"``), and the claim is untestable when no pair is
    left."""
    r = ev.r
    name, source = "gamma^c non-decreasing after s*", "Theorem 2.2 (Lemma A.13)"
    pairs = np.arange(si, r.steps.size - 1)
    with np.errstate(invalid="ignore"):  # inf - inf where ||w_t|| = 0 at both ends
        increment = lgc.value[pairs + 1] - lgc.value[pairs]
    defined = np.isfinite(increment)
    if not defined.any():
        return untestable(
            name,
            source,
            "two recorded steps after s* where gamma^c is defined "
            f"(L_t < 1/(2 n e^kappa), ||w_t|| > 0); {pairs.size} pairs, none defined at both ends",
        )
    skipped = pairs.size - int(defined.sum())
    pairs, increment = pairs[defined], increment[defined]
    allow = lgc.eval_err[pairs] + lgc.eval_err[pairs + 1] + lgc.drift[pairs]
    return monotone(
        name,
        source,
        r,
        pairs,
        increment,
        allow,
        increasing=True,
        note=f"increments of log gamma^c (relative changes); {skipped} pairs skipped where "
        f"gamma^c is undefined (L_t >= 1/(2 n e^kappa) or ||w_t|| = 0); {_s_note(ev, si)}",
    )


def lemma_a8(ev: Evidence) -> Claim:
    """Lemma A.8: ``2 lr v_t <= rho_(t+1)^2 - rho_t^2 <= 2 lr v_t (1 - 1/(2 log(2ne^k L_t)))``
    on every one-step pair whose ``L_t`` satisfies eq. (5)'s two conditions."""
    r, c, e = ev.r, ev.c, ev.e
    lr = c.lr
    one = r.one_step
    ell = th.log_scaled_risk(c, r.log_risk)
    a8 = one[(ell[one] <= 0) & (r.log_risk[one] <= -math.log(lr * (4 * c.rho**2 + 2 * c.beta)))]
    if a8.size == 0:
        return untestable("Lemma A.8", "Lemma A.8", "a one-step pair in its hypothesis")
    lower, upper = th.lemma_a8_bounds(c, r.log_risk[a8], r.v[a8])
    d2 = r.norm[a8 + 1] ** 2 - r.norm[a8] ** 2
    err_d2 = 2 * e.norm_rel * (r.norm[a8] ** 2 + r.norm[a8 + 1] ** 2)
    err_d2 += 2 * r.norm[a8 + 1] * e.delta[a8] + e.delta[a8] ** 2
    err_low = 2 * lr * e.err_v[a8]
    err_up = err_low * (1 + 1 / (2 * np.abs(ell[a8])))
    err_up += lr * np.abs(r.v[a8]) * e.eps_log_L[a8] / ell[a8] ** 2
    return inequality(
        "Lemma A.8",
        "Lemma A.8",
        r.steps[a8],
        [Side(d2, upper, err_d2 + err_up), Side(d2, lower, err_d2 + err_low, upper=False)],
        f"2 lr v_t <= rho_(t+1)^2 - rho_t^2 <= 2 lr v_t (1 - 1/(2 log(2ne^k L_t))); "
        f"{a8.size} one-step pairs of {r.steps.size - 1}; {ev.note}",
    )


def lemma_a13(ev: Evidence, lgc: LogGammaC, si: int) -> Claim:
    """Lemma A.13: ``log gamma^c_(t+1) - log gamma^c_t >= (rho_t/v_t)^2 ||mu_t||^2
    log(rho_(t+1)/rho_t)`` on every one-step pair after s* (``si``: the index of s*)."""
    r, e = ev.r, ev.e
    one = r.one_step
    a13 = one[one >= si]
    # (rho_t/v_t)^2 is not representable where v_t underflowed (the gradient is below
    # float64's range and the iterate no longer moves): such steps carry no information on A.13.
    with np.errstate(divide="ignore", over="ignore"):
        representable = np.isfinite((r.norm[a13] / r.v[a13]) ** 2)
    underflow = int(np.sum(~representable))
    a13 = a13[representable]
    # gamma^c undefined at an end (L >= 1/(2 n e^kappa) or ||w|| = 0): nothing to compare
    with np.errstate(invalid="ignore"):
        defined = np.isfinite(lgc.value[a13 + 1] - lgc.value[a13])
    undefined = int(np.sum(~defined))
    a13 = a13[defined]
    if a13.size == 0:
        return untestable(
            "Lemma A.13",
            "Lemma A.13",
            "a one-step pair after s* with (rho_t/v_t)^2 in range and gamma^c defined at both ends",
        )
    rho0, rho1, v, mu2 = r.norm[a13], r.norm[a13 + 1], r.v[a13], r.mu_norm_sq[a13]
    rhs = th.lemma_a13_lower_bound(rho0, rho1, v, mu2)
    lhs = lgc.value[a13 + 1] - lgc.value[a13]
    err_mu2 = (
        e.err_g2[a13]
        + 2 * np.abs(v) * e.err_v[a13] / rho0**2
        + (v / rho0) ** 2 * 2 * e.norm_rel
        + r.u * r.grad_norm_sq[a13]
    )
    err_log_ratio = 2 * e.norm_rel + e.delta[a13] / rho0
    err_rhs = (rho0 / v) ** 2 * (err_mu2 * np.abs(np.log(rho1 / rho0)) + mu2 * err_log_ratio)
    err_rhs += np.abs(rhs) * 2 * e.err_v[a13] / np.abs(v)
    allow = lgc.eval_err[a13] + lgc.eval_err[a13 + 1] + lgc.drift[a13] + err_rhs
    return inequality(
        "Lemma A.13",
        "Lemma A.13",
        r.steps[a13],
        [Side(lhs, rhs, allow, upper=False)],
        f"log gamma^c_(t+1) - log gamma^c_t >= (rho_t/v_t)^2 ||mu_t||^2 "
        f"log(rho_(t+1)/rho_t); {a13.size} one-step pairs after s*"
        f" ({underflow} with v_t underflowed and {undefined} with gamma^c undefined skipped); "
        f"{_s_note(ev, si)}",
        relative=False,
    )


@dataclass(frozen=True)
class _Telescoped:
    """Lemmas A.14, A.15 at the recorded ``t > s`` (``s = s*``): they telescope per-step
    inequalities, so the iterate errors accumulate as ``P_t = sum ||Delta_k||`` (risk factor
    ``e^{rho P_t}``) and ``Gamma_t`` = the sum of the gamma^c drifts
    (``gamma^c_t >= gamma^c_s e^{-Gamma_t}``)."""

    later: np.ndarray
    s: int
    t: np.ndarray
    P: Array
    Gam: Array
    log_L_s: float
    gamma_c_s: float
    note: str


def _telescoped(ev: Evidence, lgc: LogGammaC, si: int) -> _Telescoped:
    r = ev.r
    later = np.arange(si + 1, r.steps.size)
    return _Telescoped(
        later=later,
        s=int(r.steps[si]),
        t=r.steps[later],
        P=np.cumsum(ev.e.delta[si:]),
        Gam=np.cumsum(lgc.drift[si:]),
        log_L_s=float(r.log_risk[si]),
        gamma_c_s=float(lgc.gamma_c[si]),
        note=f"{later.size} recorded steps after s*{r.subsample_note()}; {_s_note(ev, si)}",
    )


def lemma_a14(ev: Evidence, lgc: LogGammaC, si: int) -> tuple[Claim, Claim]:
    """Lemma A.14 with ``s = s*``: ``1/(1/L_s + 3 lr rho^2 (t - s)) <= L_t`` (lower claim) and
    ``L_t <= 2/((t - s) lr gamma^c(w_s)^2)`` (upper claim) at every recorded ``t > s*``."""
    r, c, e = ev.r, ev.c, ev.e
    tel = _telescoped(ev, lgc, si)
    lower, upper = th.lemma_a14_bounds(c, tel.t, tel.s, tel.log_L_s, tel.gamma_c_s)
    L_t = r.risk[tel.later]
    rel_low = e.eps_L[tel.later] + e.eps_L[si] + c.rho * tel.P
    rel_up = e.eps_L[tel.later] + 2 * lgc.eval_err[si] + c.rho * tel.P + 2 * tel.Gam
    return (
        inequality(
            "Lemma A.14 lower",
            "Lemma A.14",
            tel.t,
            [Side(L_t, lower, rel_low * lower, upper=False)],
            f"L_t >= 1/(1/L_s + 3 lr rho^2 (t - s)); {tel.note}",
        ),
        inequality(
            "Lemma A.14 upper",
            "Lemma A.14",
            tel.t,
            [Side(L_t, upper, rel_up * upper)],
            f"L_t <= 2/((t - s) lr gamma^c(w_s)^2); {tel.note}",
        ),
    )


def lemma_a15(ev: Evidence, lgc: LogGammaC, si: int) -> tuple[Claim, Claim]:
    """Lemma A.15 with ``s = s*`` and ``B_0`` of :func:`~gdlab.stepsize.theory.lemma_a12_b0`:
    the lower and upper bounds on ``rho_t = ||w_t||`` at every recorded ``t > s*``."""
    r, c, e = ev.r, ev.c, ev.e
    tel = _telescoped(ev, lgc, si)
    b0 = th.lemma_a12_b0(c, float(r.norm[si]))
    lower, upper = th.lemma_a15_bounds(c, tel.t, tel.s, tel.log_L_s, tel.gamma_c_s, b0)
    rho_t = r.norm[tel.later]
    P, Gam, g_s = tel.P, tel.Gam, tel.gamma_c_s
    allow_low = (c.rho * P + 2 * Gam + 2 * lgc.eval_err[si] + e.eps_log_L[tel.later]) / (2 * b0)
    # g_s (under)flowing to 0: upper = inf (vacuous), where no allowance is needed
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        allow_up = (c.rho * P + e.eps_L[si]) / g_s + np.abs(upper) * (Gam + lgc.eval_err[si])
    return (
        inequality(
            "Lemma A.15 lower",
            "Lemma A.15",
            tel.t,
            [Side(rho_t, lower, allow_low + rho_t * e.norm_rel, upper=False)],
            f"rho_t >= log[(t-s) lr gamma^c_s^2/(2n)]/(2 B_0), B_0 = {b0:.4g} "
            f"(Lemma A.12 bound rho + (f0 + log 2n)/rho_s); {tel.note}",
        ),
        inequality(
            "Lemma A.15 upper",
            "Lemma A.15",
            tel.t,
            [Side(rho_t, upper, allow_up + rho_t * e.norm_rel)],
            f"rho_t <= log[(1/L_s + 3 lr rho^2 (t-s))/(2ne^kappa)]/gamma^c_s; {tel.note}",
        ),
    )


def certify_stable_phase(traj_run: Trajectory, c: ProblemConstants) -> ClaimTable:
    """Claims on Theorem 2.2 and Lemmas A.3, A.7-A.10, A.13-A.15 for one run (spec §7).

    Facts: ``"r*"``, ``"s*"`` (first recorded steps satisfying eqs. (4), (5); None if never)
    and both thresholds. Rows (claim names): ``"risk non-increasing after r*"`` (``measured``
    is ``max_{t >= r*} (L_{t+1} - L_t)``), ``"Lemma A.3"`` (two-sided, where
    ``L_t <= 1/(lr rho^2)``), ``"Lemma A.7"``, ``"Lemma A.9"``, ``"Lemma A.10"`` (wherever
    their hypotheses on ``L_t`` hold), then for ``t >= s*`` the claims of :data:`AFTER_S_STAR`
    (``measured`` of the monotone ones: the most negative increment; A.14 and A.15 with
    ``s = s*``), all untestable when eq. (5) is not reached before the last step. Theorem 2.2
    holds for the radius-R constants in ``c``, so no rescaling is needed. Claims whose
    hypothesis never holds in the record are ``untestable`` claims saying what they need. Every
    comparison includes the rounding allowance of :mod:`gdlab.stepsize.certify.rounding`.
    """
    ev = evidence(traj_run, c, assumption_notes(c, radius=False) + f"; R = {c.R:.4g}")
    thr4, thr5 = th.condition4_threshold(c), th.condition5_threshold(c)
    ri, si = first_index(ev.r.log_risk, thr4), first_index(ev.r.log_risk, thr5)
    facts = {
        "r*": ev.r.step_at(ri),
        "s*": ev.r.step_at(si),
        "eq. (4) threshold": thr4,
        "eq. (5) threshold": thr5,
    }
    lgc = measure_log_gamma_c(ev)
    claims = [
        risk_non_increasing_after_r_star(ev, ri),
        lemma_a3(ev),
        lemma_a7(ev),
        lemma_a9(ev),
        lemma_a10(ev, lgc),
    ]
    if si is None or si >= ev.r.steps.size - 1:
        claims += [
            untestable(name, source, "eq. (5) reached before the last step")
            for name, source in AFTER_S_STAR
        ]
    else:
        claims += [
            norm_non_decreasing_after_s_star(ev, si),
            gamma_c_non_decreasing_after_s_star(ev, lgc, si),
            lemma_a8(ev),
            lemma_a13(ev, lgc, si),
            *lemma_a14(ev, lgc, si),
            *lemma_a15(ev, lgc, si),
        ]
    return ClaimTable(claims, facts)
