"""Turn a recorded GD run into a verdict per claim of Part I (spec §3, §7).

:func:`certify_stable_phase` checks Theorem 2.2 and its lemmas (App. A),
:func:`certify_first_phase` Theorem 3.2, Lemmas B.1, B.2, C.3 and Theorem 4.1. Both take one
run (``traj.run(k)``) and its :class:`~gdlab.stepsize.theory.ProblemConstants` and return a
:class:`VerdictTable`.

Float64 rounding allowance
--------------------------
The theorems are about exact GD; the record comes from floating-point GD. Every check compares
``measured <= bound + allowance`` with an allowance derived to first order in the unit roundoff
``u`` (``2^-53`` in float64, ``2^-24`` for a float32 record) from how the engine computes each
series (:mod:`gdlab.stepsize.gd`), never guessed:

1. *Margins.* ``q_i = y_i (b/m) sum_j a_j phi(x_i^T w_j)``: the dot products ``x_i^T w_j`` err by
   ``d u R ||w_j||``, each ``phi`` by at most 8 ulps of ``|phi(0)| + sup|phi'| |z|``, the sum over
   j by ``m u`` of the sum of moduli. With ``sum_j ||w_j|| <= sqrt(m) ||w||`` this gives
   ``|dq_i| <= E_q = (d + m + 9) u (f0 + rho ||w_t||)`` (``rho`` of Assumption 1A,
   ``f0 = |b phi(0)|``).
2. *Risk.* ``|d log l(q)/dq| = sigma(-q)/l(q) <= 1``, so ``l(q_i)`` is relatively accurate to
   ``E_q`` plus 4 ulps of the softplus; the mean of n non-negative terms adds ``n u`` relative.
   Hence ``L_t``, ``G_t`` and ``F_t`` carry a relative error ``eps_L = E_q + (n + 5) u``, and
   ``log L_t`` an absolute error ``eps_L + u |log L_t|``.
3. *Gradient.* ``grad_j L = (b/m) a_j (1/n) sum_i l'(q_i) y_i phi'(x_i^T w_j) x_i``, with
   ``|l''| <= |l'|``, ``|phi''| <= beta~``: ``||g_hat - grad L|| <= G_t e_g`` with
   ``e_g = rho (E_q + (n + d + 6) u) + beta d u ||w_t||``.
4. *Iterate.* ``w_{t+1} = fl(w_t - lr g_hat)`` differs from the exact GD step
   ``w_t - lr grad L(w_t)`` by ``||Delta_t|| <= u (||w_{t+1}|| + lr ||g_hat||) + lr G_t e_g``
   (rounding of the product and of the difference, plus the gradient error).
   Along a perturbation, ``|L(w + Delta) - L(w)| <= ||grad L|| ||Delta|| <= rho G ||Delta||
   <= rho L ||Delta||`` (Lemma C.1 form ``G <= L``; ``||grad L|| <= rho G``).

5. *Underflow.* Far into the stable phase the gradient can fall below the smallest normal
   float64 (``2.2e-308``); a term below it loses up to that much absolutely, which enters the
   allowance of ``v`` (and only matters once ``L`` is itself below ``~1e-300``).

So, for example, the monotonicity of the risk after ``r*`` is checked as
``L_{t+1} - L_t <= eps_L(t) L_t + eps_L(t+1) L_{t+1} + rho L_t ||Delta_t||``: the exact step
does not increase L (Lemma A.3), the perturbation ``Delta_t`` raises it by at most
``rho L_t ||Delta_t||``, and the two recorded values are off by their evaluation errors.
Every other claim composes the same four ingredients with the first-order sensitivity of its
two sides; norms ``||w||`` (computed as the root of a sum of ``md`` squares) carry a relative
error ``(md/2 + 2) u`` and dot products of length N an absolute one ``N u`` times the norms.

When the record is subsampled (``record_every > 1``), a step-to-step claim is checked between
consecutive *recorded* steps, with the perturbations of the unrecorded steps bounded through
``G_k <= L_k <= L_t`` and ``||w_k|| <= ||w_t|| + (k - t) lr rho L_t`` (first order, valid in
the monotone phase where these claims live), and lemmas about a single GD step (A.3, A.8, A.13,
B.1, B.2, the perceptron step of C.3) are checked only on pairs of recorded steps that are one
step apart. Each verdict's note says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gdlab.claims import Claim, ClaimTable
from gdlab.stepsize import theory as th
from gdlab.stepsize.margins import gamma_b, gamma_c
from gdlab.stepsize.theory import Array, ProblemConstants
from gdlab.stepsize.trajectory import Trajectory

__all__ = [
    "certify_first_phase",
    "certify_stable_phase",
    "first_step_condition4",
    "first_step_condition5",
    "risk_first_increase",
    "risk_increase_count",
    "risk_monotone_from",
]


#: Why every certificate carries a tolerance (the float model of the module docstring).
ROUNDING_REASON = "float rounding allowance of the recorded values (gdlab.stepsize.certify)"
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
#: The per-step claims of :func:`certify_first_phase` that need ``<w_t, bar-w_*>``.
PER_STEP_FIRST_PHASE = (
    ("Lemma C.3 perceptron step", "Lemma C.3"),
    ("Lemma B.1", "Lemma B.1"),
    ("Lemma B.2", "Lemma B.2"),
)

# ----------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class _Run:
    """One run's series as float64 NumPy vectors over the S recorded steps."""

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


def _run(traj_run: Trajectory, c: ProblemConstants) -> _Run:
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

    return _Run(
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


@dataclass(frozen=True)
class _Rounding:
    """The first-order float error model of the module docstring, per recorded step."""

    E_q: Array  # abs error of every margin q_i (item 1)
    eps_L: Array  # rel error of L, G, F (item 2)
    eps_log_L: Array  # abs error of log L
    err_g2: Array  # abs error of ||grad L||^2
    err_v: Array  # abs error of v = <grad L, -w>
    norm_rel: float  # rel error of ||w||
    delta: Array  # (S-1,) sum of ||Delta_k|| over the steps between recorded t_i, t_{i+1}


def _rounding(r: _Run, c: ProblemConstants) -> _Rounding:
    u, md = r.u, c.m * c.d

    def e_q(norm: Array) -> Array:
        return (c.d + c.m + 9) * u * (c.f0 + c.rho * norm)

    def e_g(norm: Array) -> Array:
        return c.rho * (e_q(norm) + (c.n + c.d + 6) * u) + c.beta * c.d * u * norm

    E_q = e_q(r.norm)
    eps_L = E_q + (c.n + 5) * u
    # Gradual underflow (item 5): a gradient entry is a mean of n terms, each of which loses up
    # to the smallest normal float absolutely once it falls below it; through the inner product
    # with w this costs at most (n + 2) tiny sqrt(md) ||w|| in v.
    underflow = (c.n + 2) * float(np.finfo(np.float64).tiny) * math.sqrt(md)
    g_norm = np.sqrt(r.grad_norm_sq)
    grad_err = r.G * e_g(r.norm)  # ||g_hat - grad L|| (item 3)
    # Between recorded steps t_i < t_{i+1}: exact values when one step apart, else the
    # monotone-phase bounds G_k <= L_k <= L_{t_i}, ||grad L_k|| <= rho L_{t_i}.
    gap, one = r.gap, r.gap == 1
    L0 = r.risk[:-1]
    norm_bar = np.where(
        one, r.norm[1:], np.maximum(r.norm[1:], r.norm[:-1] + gap * c.lr * c.rho * L0)
    )
    G_bar = np.where(one, r.G[:-1], L0)
    gn_bar = np.where(one, g_norm[:-1], c.rho * L0)
    delta = gap * (u * (norm_bar + c.lr * gn_bar) + c.lr * G_bar * e_g(norm_bar))
    return _Rounding(
        E_q=E_q,
        eps_L=eps_L,
        eps_log_L=eps_L + u * np.abs(r.log_risk),
        err_g2=2 * g_norm * grad_err + grad_err**2 + md * u * r.grad_norm_sq,
        err_v=r.norm * grad_err + md * u * g_norm * r.norm + underflow * (1 + r.norm),
        norm_rel=(md / 2 + 2) * u,
        delta=delta,
    )


# ----------------------------------------------------------------------------- helpers


def _first_index(log_risk: Array, threshold: float) -> int | None:
    hit = np.flatnonzero(log_risk <= math.log(threshold))
    return int(hit[0]) if hit.size else None


def first_step_condition4(traj_run: Trajectory, c: ProblemConstants) -> int | None:
    """``r*``: the first recorded step with ``L_t <= 1/(lr (2 rho^2 + beta))`` (eq. 4), or None.

    With a subsampled record this is the first *recorded* such step (an upper bound on r*).
    """
    r = _run(traj_run, c)
    i = _first_index(r.log_risk, th.condition4_threshold(c))
    return None if i is None else int(r.steps[i])


def first_step_condition5(
    traj_run: Trajectory, c: ProblemConstants, *, width_free: bool = False
) -> int | None:
    """``s*``: the first recorded step satisfying eq. (5), or None.

    ``width_free=True`` uses the two-layer form of Theorem 4.1 / Lemma C.4,
    ``min{1/(2 n e^{kappa+2}), 1/(eta R^2 (4 + 2 beta~))}``; otherwise the general eq. (5)
    with ``c``'s Assumption 1 constants.
    """
    r = _run(traj_run, c)
    thr = th.condition5_threshold_two_layer(c) if width_free else th.condition5_threshold(c)
    i = _first_index(r.log_risk, thr)
    return None if i is None else int(r.steps[i])


def _risk_increase_allowance(r: _Run, e: _Rounding, c: ProblemConstants) -> Array:
    """Rounding allowance of ``L_{t+1} - L_t`` between recorded steps (module docstring):
    ``eps_L(t) L_t + eps_L(t+1) L_{t+1} + rho L_t ||Delta_t||``."""
    return e.eps_L[:-1] * r.risk[:-1] + e.eps_L[1:] * r.risk[1:] + c.rho * r.risk[:-1] * e.delta


def _risk_increases(traj_run: Trajectory, c: ProblemConstants) -> tuple[_Run, np.ndarray]:
    """The recorded run and the indices i where ``L_{t_(i+1)} - L_(t_i)`` exceeds its allowance."""
    r = _run(traj_run, c)
    allow = _risk_increase_allowance(r, _rounding(r, c), c)
    return r, np.flatnonzero(np.diff(r.risk) > allow)


def risk_monotone_from(traj_run: Trajectory, c: ProblemConstants) -> int:
    """The first recorded step after which the risk never increases, beyond float64 rounding.

    This is the *measured* start of the monotone phase, to compare with ``r*`` (the step that
    Theorem 2.2's eq. (4) certifies). The allowance is the one of the module docstring. Returns
    0 for a run that is monotone from the start; a run whose last recorded pair still increases
    returns its last recorded step.
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


@dataclass(frozen=True)
class _Side:
    """One inequality ``value <= bound`` (``upper``) or ``value >= bound`` with its allowance."""

    value: Array
    bound: Array
    allow: Array
    upper: bool = True


def _inequality(
    claim: str,
    source: str,
    steps: np.ndarray,
    sides: Sequence[_Side],
    note: str,
    *,
    relative: bool = True,
) -> Claim:
    """A claim for inequalities checked at ``steps``: the side and step of the least slack.

    The slack of a step is ``(bound - value + allowance) / scale`` (sides flipped for lower
    bounds), with ``scale = |bound|`` if ``relative``; the claim states the step where it is
    least, so it holds iff the inequality holds, allowance included, at every step.
    """
    best: tuple[float, float, float, float, int, bool] | None = None
    for side in sides:
        # an infinite bound on the permissive side (a vacuous bound) holds trivially
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
                float(side.allow[k]),
                int(steps[k]),
                side.upper,
            )
    assert best is not None
    _, measured, bound, allow, step, upper = best
    return Claim(
        claim,
        source,
        measured,
        bound,
        relation="<=" if upper else ">=",
        tol=allow,
        tol_reason=ROUNDING_REASON,
        step=step,
        note=f"{note}; least {'relative' if relative else 'absolute'} slack at this step",
    )


def _untestable(claim: str, source: str, needs: str) -> Claim:
    """A claim whose hypothesis never held in the record: ``needs`` says what it would need."""
    return Claim(claim, source, None, None, needs=needs)


def _assumption_notes(c: ProblemConstants, *, radius: bool) -> str:
    notes = [f"{c.constants} constants"]
    if radius and c.R > 1 + 1e-12:  # unit-norm inputs have ||x|| = 1 up to a few ulps
        notes.append(f"ASSUMPTION FAILS: max||x_i|| = R = {c.R:.4g} > 1 (rescale the data, §5)")
    if radius and c.sup_dphi > 1:
        notes.append(f"ASSUMPTION 2A FAILS: sup|phi'| = {c.sup_dphi:.4g} > 1")
    if radius and c.b != 1:
        notes.append(f"eq. (2) has b = 1, here b = {c.b:.4g}")
    return "; ".join(notes)


def _subsample_note(r: _Run) -> str:
    return "" if bool(np.all(r.gap == 1)) else "; checked between recorded steps (subsampled)"


def _step_at(r: _Run, idx: int | None) -> int | None:
    return None if idx is None else int(r.steps[idx])


def _monotone(
    claim: str,
    source: str,
    r: _Run,
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
        f"over {pairs.size} recorded pairs{_subsample_note(r)}; {note}",
    )


def _log_gamma_c_sensitivity(c: ProblemConstants, log_risk: Array) -> Array:
    """``|dPhi/dlog L| = |1/ell - k_1/ell^2| <= 1/|ell| + k_1/ell^2``, ``ell = log(2ne^k L)``."""
    _, k1, _ = th.lemma_a10_constant(c)
    ell = th._log_scaled_risk(c, log_risk)
    with np.errstate(divide="ignore"):  # ell = 0 lies outside every hypothesis that uses this
        return 1 / np.abs(ell) + k1 / ell**2


# ----------------------------------------------------------------------------- stable phase


def certify_stable_phase(traj_run: Trajectory, c: ProblemConstants) -> ClaimTable:
    """Verdicts on Theorem 2.2 and Lemmas A.3, A.7-A.10, A.13-A.15 for one run (spec §7).

    Facts: ``"r*"``, ``"s*"`` (first recorded steps satisfying eqs. (4), (5); None if never)
    and both thresholds. Rows (claim names): ``"risk non-increasing after r*"`` (``measured``
    is ``max_{t >= r*} (L_{t+1} - L_t)``), ``"Lemma A.3"`` (two-sided, where
    ``L_t <= 1/(lr rho^2)``), ``"Lemma A.7"``, ``"Lemma A.9"``, ``"Lemma A.10"`` (wherever
    their hypotheses on ``L_t`` hold), then for ``t >= s*``: ``"norm non-decreasing after s*"``,
    ``"gamma^c non-decreasing after s*"`` (``measured``: the most negative increment),
    ``"Lemma A.8"``, ``"Lemma A.13"``, ``"Lemma A.14 lower"``, ``"Lemma A.14 upper"``,
    ``"Lemma A.15 lower"``, ``"Lemma A.15 upper"`` (with ``s = s*``; A.15's ``B_0`` from
    :func:`~gdlab.stepsize.theory.lemma_a12_b0`). Theorem 2.2 holds for the radius-R
    constants in ``c``, so no rescaling is needed. Claims whose hypothesis never holds in the
    record are ``untestable`` claims saying what they need. Every comparison includes the rounding
    allowance derived in the module docstring.
    """
    r = _run(traj_run, c)
    e = _rounding(r, c)
    base = _assumption_notes(c, radius=False) + f"; R = {c.R:.4g}"
    rows: list[Claim] = []
    lr, rho = c.lr, c.rho
    S = r.steps.size
    one = np.flatnonzero(r.gap == 1)  # pair indices i with t_{i+1} = t_i + 1
    one_note = f"{one.size} one-step pairs of {S - 1}"

    thr4 = th.condition4_threshold(c)
    ri = _first_index(r.log_risk, thr4)
    allow_L = _risk_increase_allowance(r, e, c)
    if ri is None or ri >= S - 1:
        rows.append(
            _untestable(
                "risk non-increasing after r*",
                "Theorem 2.2, eq. (4)",
                "eq. (4) reached before the last step",
            )
        )
    else:
        pairs = np.arange(ri, S - 1)
        dL = r.risk[pairs + 1] - r.risk[pairs]
        rows.append(
            _monotone(
                "risk non-increasing after r*",
                "Theorem 2.2, eq. (4)",
                r,
                pairs,
                dL,
                allow_L[pairs],
                increasing=False,
                note=base,
            )
        )

    a3 = one[r.risk[one] <= 1 / (lr * rho**2)]
    if a3.size == 0:
        rows.append(
            _untestable("Lemma A.3", "Lemma A.3", "a one-step pair with L_t <= 1/(lr rho^2)")
        )
    else:
        lower, upper = th.lemma_a3_bounds(c, r.risk[a3], r.grad_norm_sq[a3])
        dL = r.risk[a3 + 1] - r.risk[a3]
        coef = lr * (1 + (2 * rho**2 + c.beta) * lr * r.risk[a3])
        b_err = coef * e.err_g2[a3] + lr**2 * (2 * rho**2 + c.beta) * r.grad_norm_sq[a3] * (
            r.risk[a3] * e.eps_L[a3]
        )
        allow = allow_L[a3] + b_err
        rows.append(
            _inequality(
                "Lemma A.3",
                "Lemma A.3",
                r.steps[a3],
                [_Side(dL, upper, allow), _Side(dL, lower, allow, upper=False)],
                f"L_(t+1) - L_t between the bounds where L_t <= 1/(lr rho^2); {one_note}; {base}",
            )
        )

    thr5 = th.condition5_threshold(c)
    si = _first_index(r.log_risk, thr5)
    facts = {
        "r*": _step_at(r, ri),
        "s*": _step_at(r, si),
        "eq. (4) threshold": thr4,
        "eq. (5) threshold": thr5,
    }

    sens = _log_gamma_c_sensitivity(c, r.log_risk)
    gc = gamma_c(r.log_risk, r.norm, c)
    with np.errstate(divide="ignore"):  # log gamma^c in log space: gamma^c may underflow
        log_gc = th.Phi(c, log_x=r.log_risk) - np.log(r.norm)
    # log gamma^c = Phi(L) - log ||w||: evaluation error of one recorded value, and the drift
    # ||grad log gamma^c|| ||Delta|| <= (|Phi'| rho + 1/||w||) ||Delta|| of the iterate error.
    eval_log_gc = sens * e.eps_log_L + e.norm_rel
    with np.errstate(divide="ignore"):  # ||w_t|| = 0 only before s*, where this is unused
        drift_log_gc = (np.maximum(sens[:-1], sens[1:]) * rho + 1 / r.norm[:-1]) * e.delta

    ell = th._log_scaled_risk(c, r.log_risk)
    a7 = np.flatnonzero(ell <= 0)
    if a7.size == 0:
        rows.append(_untestable("Lemma A.7", "Lemma A.7", "a step with L_t <= 1/(2 n e^kappa)"))
    else:
        bound = th.lemma_a7_lower_bound(c, r.log_risk[a7])
        allow = e.err_v[a7] + r.risk[a7] * np.abs(ell[a7] + 1) * e.eps_log_L[a7]
        rows.append(
            _inequality(
                "Lemma A.7",
                "Lemma A.7",
                r.steps[a7],
                [_Side(r.v[a7], bound, allow, upper=False)],
                f"v_t >= -L_t log(2 n e^kappa L_t) at {a7.size} recorded steps; {base}",
            )
        )

    a9 = np.flatnonzero(r.log_risk <= -math.log(2 * c.n))
    if a9.size == 0:
        rows.append(_untestable("Lemma A.9", "Lemma A.9", "a step with L_t <= 1/(2n)"))
    else:
        lower, upper = th.lemma_a9_bounds(c, r.log_risk[a9], r.min_margin[a9])
        allow = e.E_q[a9] + e.eps_log_L[a9]
        value = -r.log_risk[a9]
        rows.append(
            _inequality(
                "Lemma A.9",
                "Lemma A.9",
                r.steps[a9],
                [_Side(value, upper, allow), _Side(value, lower, allow, upper=False)],
                f"q_min <= -log L_t <= log(2n) + q_min at {a9.size} recorded steps; {base}",
                relative=False,
            )
        )

    a10 = np.flatnonzero(ell <= -2)
    if a10.size == 0:
        rows.append(
            _untestable("Lemma A.10", "Lemma A.10", "a step with L_t <= 1/(2 n e^(kappa+2))")
        )
    else:
        gb = gamma_b(r.log_risk[a10], r.norm[a10], c)
        gbar, gca = r.gamma_bar[a10], gc[a10]
        upper = th.lemma_a10_sandwich(c, r.log_risk[a10], gca)
        err_gb = gb * (e.eps_log_L[a10] / np.abs(ell[a10]) + e.norm_rel)
        err_gbar = e.E_q[a10] / r.norm[a10] + np.abs(gbar) * 2 * e.norm_rel
        err_gc = gca * eval_log_gc[a10]
        err_up = upper * (eval_log_gc[a10] + e.eps_log_L[a10] / np.abs(r.log_risk[a10]))
        rows.append(
            _inequality(
                "Lemma A.10",
                "Lemma A.10",
                r.steps[a10],
                [
                    _Side(gca, gb, err_gc + err_gb),
                    _Side(gb, gbar, err_gb + err_gbar),
                    _Side(gbar, upper, err_gbar + err_up),
                ],
                f"gamma^c <= gamma^b <= gamma-bar <= (1 + c/log(1/L)) gamma^c at {a10.size} "
                f"recorded steps, c = {th.lemma_a10_constant(c)[0]:.4g}; {base}",
            )
        )

    if si is None or si >= S - 1:
        rows += [
            _untestable(name, source, "eq. (5) reached before the last step")
            for name, source in AFTER_S_STAR
        ]
        return ClaimTable(rows, facts)

    pairs = np.arange(si, S - 1)
    s_note = f"s* = {int(r.steps[si])}; {base}"
    d_norm = r.norm[pairs + 1] - r.norm[pairs]
    allow_norm = e.norm_rel * (r.norm[pairs] + r.norm[pairs + 1]) + e.delta[pairs]
    rows.append(
        _monotone(
            "norm non-decreasing after s*",
            "Theorem 2.2 (Lemma A.8)",
            r,
            pairs,
            d_norm,
            allow_norm,
            increasing=True,
            note=s_note,
        )
    )
    allow_log_gc = eval_log_gc[pairs] + eval_log_gc[pairs + 1] + drift_log_gc[pairs]
    d_log_gc = log_gc[pairs + 1] - log_gc[pairs]
    rows.append(
        _monotone(
            "gamma^c non-decreasing after s*",
            "Theorem 2.2 (Lemma A.13)",
            r,
            pairs,
            d_log_gc,
            allow_log_gc,
            increasing=True,
            note=f"increments of log gamma^c (relative changes); {s_note}",
        )
    )

    a8 = one[(ell[one] <= 0) & (r.log_risk[one] <= -math.log(lr * (4 * rho**2 + 2 * c.beta)))]
    if a8.size == 0:
        rows.append(_untestable("Lemma A.8", "Lemma A.8", "a one-step pair in its hypothesis"))
    else:
        lower, upper = th.lemma_a8_bounds(c, r.log_risk[a8], r.v[a8])
        d2 = r.norm[a8 + 1] ** 2 - r.norm[a8] ** 2
        err_d2 = 2 * e.norm_rel * (r.norm[a8] ** 2 + r.norm[a8 + 1] ** 2)
        err_d2 += 2 * r.norm[a8 + 1] * e.delta[a8] + e.delta[a8] ** 2
        err_low = 2 * lr * e.err_v[a8]
        err_up = err_low * (1 + 1 / (2 * np.abs(ell[a8])))
        err_up += lr * np.abs(r.v[a8]) * e.eps_log_L[a8] / ell[a8] ** 2
        rows.append(
            _inequality(
                "Lemma A.8",
                "Lemma A.8",
                r.steps[a8],
                [
                    _Side(d2, upper, err_d2 + err_up),
                    _Side(d2, lower, err_d2 + err_low, upper=False),
                ],
                f"2 lr v_t <= rho_(t+1)^2 - rho_t^2 <= 2 lr v_t (1 - 1/(2 log(2ne^k L_t))); "
                f"{a8.size} one-step pairs of {S - 1}; {base}",
            )
        )

    a13 = one[one >= si]
    # (rho_t/v_t)^2 is not representable where v_t underflowed (the gradient is below
    # float64's range and the iterate no longer moves): such steps carry no information on A.13.
    with np.errstate(divide="ignore", over="ignore"):
        representable = np.isfinite((r.norm[a13] / r.v[a13]) ** 2)
    underflow = int(np.sum(~representable))
    a13 = a13[representable]
    if a13.size == 0:
        rows.append(
            _untestable(
                "Lemma A.13", "Lemma A.13", "a one-step pair after s* with (rho_t/v_t)^2 in range"
            )
        )
    else:
        rho0, rho1, v, mu2 = r.norm[a13], r.norm[a13 + 1], r.v[a13], r.mu_norm_sq[a13]
        rhs = th.lemma_a13_lower_bound(rho0, rho1, v, mu2)
        lhs = log_gc[a13 + 1] - log_gc[a13]
        err_mu2 = (
            e.err_g2[a13]
            + 2 * np.abs(v) * e.err_v[a13] / rho0**2
            + (v / rho0) ** 2 * 2 * e.norm_rel
            + r.u * r.grad_norm_sq[a13]
        )
        err_log_ratio = 2 * e.norm_rel + e.delta[a13] / rho0
        err_rhs = (rho0 / v) ** 2 * (err_mu2 * np.abs(np.log(rho1 / rho0)) + mu2 * err_log_ratio)
        err_rhs += np.abs(rhs) * 2 * e.err_v[a13] / np.abs(v)
        allow = eval_log_gc[a13] + eval_log_gc[a13 + 1] + drift_log_gc[a13] + err_rhs
        rows.append(
            _inequality(
                "Lemma A.13",
                "Lemma A.13",
                r.steps[a13],
                [_Side(lhs, rhs, allow, upper=False)],
                f"log gamma^c_(t+1) - log gamma^c_t >= (rho_t/v_t)^2 ||mu_t||^2 "
                f"log(rho_(t+1)/rho_t); {a13.size} one-step pairs after s*"
                f" ({underflow} with v_t underflowed skipped); {s_note}",
                relative=False,
            )
        )

    # Lemmas A.14, A.15 at t > s*, with s = s*: they telescope per-step inequalities, so the
    # iterate errors accumulate as P_t = sum ||Delta_k|| (risk factor e^{rho P_t}) and
    # Gamma_t = sum of the gamma^c drifts (gamma^c_t >= gamma^c_s e^{-Gamma_t}).
    later = np.arange(si + 1, S)
    s, t = int(r.steps[si]), r.steps[later]
    P = np.cumsum(e.delta[si:])
    Gam = np.cumsum(drift_log_gc[si:])
    log_L_s, g_s = float(r.log_risk[si]), float(gc[si])
    lower, upper = th.lemma_a14_bounds(c, t, s, log_L_s, g_s)
    L_t = r.risk[later]
    rel_low = e.eps_L[later] + e.eps_L[si] + rho * P
    rel_up = e.eps_L[later] + 2 * eval_log_gc[si] + rho * P + 2 * Gam
    a14 = f"{later.size} recorded steps after s*{_subsample_note(r)}; {s_note}"
    rows.append(
        _inequality(
            "Lemma A.14 lower",
            "Lemma A.14",
            t,
            [_Side(L_t, lower, rel_low * lower, upper=False)],
            f"L_t >= 1/(1/L_s + 3 lr rho^2 (t - s)); {a14}",
        )
    )
    rows.append(
        _inequality(
            "Lemma A.14 upper",
            "Lemma A.14",
            t,
            [_Side(L_t, upper, rel_up * upper)],
            f"L_t <= 2/((t - s) lr gamma^c(w_s)^2); {a14}",
        )
    )
    b0 = th.lemma_a12_b0(c, float(r.norm[si]))
    lower, upper = th.lemma_a15_bounds(c, t, s, log_L_s, g_s, b0)
    rho_t = r.norm[later]
    allow_low = (rho * P + 2 * Gam + 2 * eval_log_gc[si] + e.eps_log_L[later]) / (2 * b0)
    with np.errstate(divide="ignore", invalid="ignore"):  # g_s = 0: upper = inf, vacuous
        allow_up = (rho * P + e.eps_L[si]) / g_s + np.abs(upper) * (Gam + eval_log_gc[si])
    rows.append(
        _inequality(
            "Lemma A.15 lower",
            "Lemma A.15",
            t,
            [_Side(rho_t, lower, allow_low + rho_t * e.norm_rel, upper=False)],
            f"rho_t >= log[(t-s) lr gamma^c_s^2/(2n)]/(2 B_0), B_0 = {b0:.4g} "
            f"(Lemma A.12 bound rho + (f0 + log 2n)/rho_s); {a14}",
        )
    )
    rows.append(
        _inequality(
            "Lemma A.15 upper",
            "Lemma A.15",
            t,
            [_Side(rho_t, upper, allow_up + rho_t * e.norm_rel)],
            f"rho_t <= log[(1/L_s + 3 lr rho^2 (t-s))/(2ne^kappa)]/gamma^c_s; {a14}",
        )
    )
    return ClaimTable(rows, facts)


# ----------------------------------------------------------------------------- first phase


def certify_first_phase(traj_run: Trajectory, c: ProblemConstants) -> ClaimTable:
    """Verdicts on Theorem 3.2, Lemmas B.1, B.2, C.3 and Theorem 4.1 for one run (spec §7).

    Needs Assumption 3 (``c.gamma``), ``alpha > 0``, ``c.w0_norm`` equal to the run's
    ``||w_0||`` (build ``c`` with :func:`~gdlab.stepsize.theory.run_constants`) and a record
    of every step (``record_every=1``; the running averages need all of them). The theorems
    assume ``||x_i|| <= 1``: run on rescaled data (spec §5); otherwise every note says the
    assumption fails. Comparisons include the rounding allowance of the module docstring.

    Facts: ``"s* (width-free eq. 5)"``, its threshold, ``"tau"`` and ``"rate peak"``
    (``max_{t > s*} L_t (t - s*) alpha^2 gamma^2 eta``, None before s*).
    Rows: ``"Theorem 3.2"`` (running-average risk at every t), ``"Lemma C.3 average G"``,
    and, when the run recorded ``w_star_inner`` (``train(..., w_star=c.w_star)``), the
    per-step ``"Lemma C.3 perceptron step"``, ``"Lemma B.1"`` (with ``T`` the last step, only
    if ``gamma^2 eta T >= e^-kappa``) and ``"Lemma B.2"``; then ``"s* <= tau (Theorem 4.1)"``
    with ``s*`` the first step satisfying the width-free eq. (5) of Theorem 4.1, and
    ``"Theorem 4.1 rate"``: ``max_{t > s*} L_t (t - s*) alpha^2 gamma^2 eta <= 8`` (spec §6.4),
    with the printed factor 2 reported in the note.
    """
    th._require(c, "certify_first_phase", w0=True)
    r = _run(traj_run, c)
    if not np.array_equal(r.steps, np.arange(r.steps.size)):
        raise ValueError(
            "certify_first_phase needs every step recorded (train(..., record_every=1)); "
            f"got recorded steps {r.steps[:3].tolist()}..., {r.steps.size} of {r.steps[-1] + 1}"
        )
    e = _rounding(r, c)
    if abs(r.norm[0] - c.w0_norm) > 4 * e.norm_rel * r.norm[0]:  # two rounded norms
        raise ValueError(
            f"c.w0_norm={c.w0_norm!r} differs from the run's ||w_0|| = {r.norm[0]!r}; "
            "build the constants with run_constants"
        )
    base = _assumption_notes(c, radius=True)
    rows: list[Claim] = []
    m, eta, lr, alpha, gamma = c.m, c.eta, c.lr, c.alpha, c.gamma
    T = int(r.steps[-1])
    t = np.arange(1, T + 1, dtype=np.float64)
    sqrt_m = math.sqrt(m)

    # Theorem 3.2 telescopes ||w_k - u||^2 with the comparator u of Theorem B.3 for horizon t;
    # the iterate errors add sum_k [(rho_{k+1} + ||u||) ||Delta_k|| + ||Delta_k||^2/2]/(m eta t).
    s1, s2 = th.theoremb3_comparator(c, t)
    u_norm = sqrt_m * (np.abs(s1) + s2)
    cum_delta = np.cumsum(e.delta)
    pert = np.cumsum(r.norm[1:] * e.delta + e.delta**2 / 2) + u_norm * cum_delta
    run_eps = np.maximum.accumulate(e.eps_L[:-1]) + t * r.u  # summation of t terms
    avg_L = np.cumsum(r.risk[:-1]) / t
    bound = th.theorem32_average_risk_bound(c, t)
    rows.append(
        _inequality(
            "Theorem 3.2",
            "Theorem 3.2",
            r.steps[1:],
            [_Side(avg_L, bound, avg_L * run_eps + pert / (m * eta * t))],
            f"(1/t) sum_(k<t) L_k <= bound for t = 1..{T}; max ratio "
            f"{float(np.max(avg_L / bound)):.3g}; {base}",
        )
    )

    avg_G = np.cumsum(r.G[:-1]) / t
    bound = th.lemma_c3_average_G_bound(c, t)
    allow = avg_G * run_eps + (cum_delta + np.sqrt(2 * pert)) / (sqrt_m * alpha * gamma * eta * t)
    rows.append(
        _inequality(
            "Lemma C.3 average G",
            "Lemma C.3",
            r.steps[1:],
            [_Side(avg_G, bound, allow)],
            f"(1/t) sum_(k<t) G_k <= bound for t = 1..{T}; {base}",
        )
    )

    if r.w_star_inner is None:
        rows += [
            _untestable(name, source, "a record of <w_t, bar-w_*> (train(..., w_star=...))")
            for name, source in PER_STEP_FIRST_PHASE
        ]
    else:
        # D_t = <-grad L_t, bar-w_*> from the recorded <w_t, bar-w_*> (||bar-w_*|| = sqrt m).
        inner = r.w_star_inner
        D = (inner[1:] - inner[:-1]) / lr
        err_D = (
            2 * m * c.d * r.u * sqrt_m * np.maximum(r.norm[:-1], r.norm[1:]) + sqrt_m * e.delta
        ) / lr
        G0 = r.G[:-1]
        gain = th.lemma_c3_step_gain(c, G0)
        rows.append(
            _inequality(
                "Lemma C.3 perceptron step",
                "Lemma C.3",
                r.steps[:-1],
                [_Side(lr * D, gain, lr * err_D + gain * e.eps_L[:-1], upper=False)],
                f"<w_(t+1) - w_t, bar-w_*> >= m alpha gamma eta G_t at {T} steps; {base}",
            )
        )
        c1, c2 = th.theoremb3_comparator(c, T)
        err_g2 = e.err_g2[:-1]
        if c1 < 0:
            rows.append(
                _untestable(
                    "Lemma B.1",
                    "Lemma B.1",
                    f"gamma^2 eta T >= e^-kappa for its comparator (T = {T})",
                )
            )
        else:
            lhs = -c1 * D + r.v[:-1]
            rhs = 1 / (gamma**2 * eta * T) - r.risk[:-1]
            allow = c1 * err_D + e.err_v[:-1] + r.risk[:-1] * e.eps_L[:-1]
            rows.append(
                _inequality(
                    "Lemma B.1",
                    "Lemma B.1",
                    r.steps[:-1],
                    [_Side(lhs, rhs, allow)],
                    f"<grad L_t, u_1 - w_t> <= 1/(gamma^2 eta T) - L_t, T = {T}; {base}",
                )
            )
        lhs = -2 * c2 * D + m * eta * r.grad_norm_sq[:-1]
        scale = 2 * c2 * np.abs(D) + m * eta * r.grad_norm_sq[:-1]
        scale = np.where(scale > 0, scale, 1.0)
        allow = 2 * c2 * err_D + m * eta * err_g2
        rows.append(
            _inequality(
                "Lemma B.2",
                "Lemma B.2",
                r.steps[:-1],
                [_Side(lhs / scale, np.zeros_like(lhs), allow / scale)],
                f"2 <grad L_t, u_2> + m eta ||grad L_t||^2 <= 0 at {T} steps, divided by "
                f"the sum of the moduli of its terms; {base}",
                relative=False,
            )
        )

    thr = th.condition5_threshold_two_layer(c)
    si = _first_index(r.log_risk, thr)
    tau = th.theorem41_tau(c)
    facts: dict[str, float | int | None] = {
        "s* (width-free eq. 5)": _step_at(r, si),
        "width-free eq. (5) threshold": thr,
        "tau": tau,
        "rate peak": None,
    }
    if si is None and T < tau:
        rows.append(
            _untestable(
                "s* <= tau (Theorem 4.1)",
                "Theorem 4.1",
                f"the width-free eq. (5) reached, or T >= tau = {tau:.4g} (T = {T})",
            )
        )
    else:
        s = T + 1 if si is None else int(r.steps[si])
        reached = "" if si is not None else f", not reached by T = {T} >= tau"
        rows.append(
            Claim(
                "s* <= tau (Theorem 4.1)",
                "Theorem 4.1",
                float(s),
                tau,
                step=_step_at(r, si),
                note=f"s* = first step with L_t <= {thr:.4g} (width-free eq. (5)){reached}; {base}",
            )
        )

    if si is None or si >= T:
        rows.append(
            _untestable(
                "Theorem 4.1 rate",
                "Theorem 4.1 / Lemma C.4 (spec §6.4)",
                "the width-free eq. (5) reached before the last step",
            )
        )
        return ClaimTable(rows, facts)
    s = int(r.steps[si])
    later = np.arange(si + 1, T + 1)
    scaled = r.risk[later] * (later - s) * alpha**2 * gamma**2 * eta
    safe = th.THEOREM41_FACTORS["safe"]
    printed = th.THEOREM41_FACTORS["printed"]
    rel = e.eps_L[later] + c.rho * np.cumsum(e.delta[si:])
    peak = float(np.max(scaled))
    facts["rate peak"] = peak
    rows.append(
        _inequality(
            "Theorem 4.1 rate",
            "Theorem 4.1 / Lemma C.4 (spec §6.4)",
            r.steps[later],
            [_Side(scaled, np.full_like(scaled, safe), safe * rel)],
            f"max_(t > s*) L_t (t - s*) alpha^2 gamma^2 eta = {peak:.3g} vs safe factor "
            f"{safe:g}; printed factor {printed:g} "
            f"{'holds' if peak <= printed else 'FAILS'}; s* = {s}; {base}",
        )
    )
    return ClaimTable(rows, facts)
