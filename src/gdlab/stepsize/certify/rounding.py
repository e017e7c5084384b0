"""The float rounding model of the certificates: the allowance of every recorded series.

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
``L_{t+1} - L_t <= eps_L(t) L_t + eps_L(t+1) L_{t+1} + rho L_t ||Delta_t||``
(:func:`risk_increase_allowance`): the exact step does not increase L (Lemma A.3), the
perturbation ``Delta_t`` raises it by at most ``rho L_t ||Delta_t||``, and the two recorded
values are off by their evaluation errors. Every other claim composes the same ingredients with
the first-order sensitivity of its two sides; norms ``||w||`` (computed as the root of a sum of
``md`` squares) carry a relative error ``(md/2 + 2) u`` and dot products of length N an absolute
one ``N u`` times the norms.

When the record is subsampled (``record_every > 1``), a step-to-step claim is checked between
consecutive *recorded* steps, with the perturbations of the unrecorded steps bounded through
``G_k <= L_k <= L_t`` and ``||w_k|| <= ||w_t|| + (k - t) lr rho L_t`` (first order, valid in
the monotone phase where these claims live), and lemmas about a single GD step (A.3, A.8, A.13,
B.1, B.2, the perceptron step of C.3) are checked only on pairs of recorded steps that are one
step apart. Each claim's note says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdlab.stepsize.certify.record import Record
from gdlab.stepsize.theory import Array, ProblemConstants

__all__ = ["ROUNDING_REASON", "Rounding", "risk_increase_allowance", "rounding"]

#: Why every certificate carries a tolerance (the float model of this module).
ROUNDING_REASON = "float rounding allowance of the recorded values (gdlab.stepsize.certify)"


@dataclass(frozen=True)
class Rounding:
    """The first-order float error model of the module docstring, per recorded step."""

    E_q: Array  # abs error of every margin q_i (item 1)
    eps_L: Array  # rel error of L, G, F (item 2)
    eps_log_L: Array  # abs error of log L
    err_g2: Array  # abs error of ||grad L||^2
    err_v: Array  # abs error of v = <grad L, -w>
    norm_rel: float  # rel error of ||w||
    delta: Array  # (S-1,) sum of ||Delta_k|| over the steps between recorded t_i, t_{i+1}


def rounding(r: Record, c: ProblemConstants) -> Rounding:
    """The allowances of items 1-5 of the module docstring for the record ``r``."""
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
    return Rounding(
        E_q=E_q,
        eps_L=eps_L,
        eps_log_L=eps_L + u * np.abs(r.log_risk),
        err_g2=2 * g_norm * grad_err + grad_err**2 + md * u * r.grad_norm_sq,
        err_v=r.norm * grad_err + md * u * g_norm * r.norm + underflow * (1 + r.norm),
        norm_rel=(md / 2 + 2) * u,
        delta=delta,
    )


def risk_increase_allowance(r: Record, e: Rounding, c: ProblemConstants) -> Array:
    """Rounding allowance of ``L_{t+1} - L_t`` between recorded steps (module docstring):
    ``eps_L(t) L_t + eps_L(t+1) L_{t+1} + rho L_t ||Delta_t||``."""
    return e.eps_L[:-1] * r.risk[:-1] + e.eps_L[1:] * r.risk[1:] + c.rho * r.risk[:-1] * e.delta
