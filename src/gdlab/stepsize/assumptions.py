"""The assumptions of Part I measured, not assumed (spec §1-§2, Assumptions 1-3).

- :func:`activation_constants`: the Assumption 2 constants of an activation three ways: the
  closed forms of :mod:`.activations`, a grid estimate, and the paper's printed values.
- :func:`check_assumption1`: sampled maxima of the three Assumption 1 quantities of the
  two-layer network of eq. (2), gradients by autograd, against the constants of the radius-R
  form of the Section 2 lemma (:meth:`TwoLayerNet.assumption1_constants`).
- :func:`aligned_margin`: the normalized margin (eq. 3) of the network whose neurons all point
  along the data's Assumption 3 direction ``w_*``, the reference margin of Figure 4.

The tolerances these checks are judged by (:data:`GRID_TOL`, :data:`GRID_ROUNDING`,
:data:`SAMPLE_RTOL`) sit next to their reasons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from gdlab.runtime import make_generator
from gdlab.stepsize.activations import PrintedConstants, get_activation, numerical_constants
from gdlab.stepsize.network import TwoLayerNet

__all__ = [
    "CONSTANT_KEYS",
    "GRID_ROUNDING",
    "GRID_SPACING",
    "GRID_TOL",
    "SAMPLE_RTOL",
    "ActivationConstants",
    "Assumption1Check",
    "activation_constants",
    "aligned_margin",
    "check_assumption1",
]

#: The Assumption 2 constants: ``inf|phi'|``, ``sup|phi'|``, ``sup|phi''|``, ``sup|phi - z phi'|``.
CONSTANT_KEYS = ("alpha", "sup_dphi", "beta_tilde", "kappa")
# Printed and tight constants that are the same closed form (e.g. kappa = log 2 for softplus)
# may be evaluated along different float64 paths: compare with this relative slack.
_SAME_FORM_RTOL = 1e-12

#: Largest grid spacing for which :data:`GRID_TOL` is derived (on a grid covering [-50, 50]).
GRID_SPACING = 5e-4
#: Grid estimates against closed forms. A grid of spacing h <= :data:`GRID_SPACING` misses an
#: interior extremum of a smooth g by at most sup|g''| h^2 / 8 (below 3.2e-7 for the curvatures
#: here, all below 10); the extrema that are only approached as |z| -> infinity (alpha = 0 of
#: the plain activations, sup phi' of the leaky softplus, kappa of tanh and sigmoid) are missed
#: by their tails beyond |z| = 50, below e^-40.
GRID_TOL = 1e-6
#: Float64 evaluation error of phi, phi', phi'' and phi - z phi' for |z| <= 50: a few ulps of
#: values O(1) plus |z| u |phi'| for the product, below 1e-13: a grid maximum may exceed the
#: exact supremum by that much (allowed: ten times more).
GRID_ROUNDING = 1e-12
#: Sampled Assumption 1 quantities: sums of m terms and d-dimensional inner products in
#: float64 err by at most (m + d + 4) u relative (1e-14 for m <= 40): allow 1e-12 relative.
SAMPLE_RTOL = 1e-12


@dataclass(frozen=True)
class ActivationConstants:
    """The Assumption 2 constants of one activation, three ways.

    ``tight``: the exact values (closed forms of :mod:`.activations`); ``grid``: the estimates
    of :func:`~gdlab.stepsize.activations.numerical_constants` on a grid; ``printed``: the
    paper's values (None where it prints none; ``alpha`` is a lower bound, the others upper
    bounds).
    """

    name: str
    tight: Mapping[str, float]
    grid: Mapping[str, float]
    printed: Mapping[str, float | None]
    source: str

    def printed_is_bound(self, key: str) -> bool | None:
        """Whether the printed value bounds the tight one (``alpha``: from below; the rest: from
        above), None if the paper prints no value for ``key``."""
        if key not in CONSTANT_KEYS:
            raise ValueError(f"unknown constant {key!r}; allowed: {', '.join(CONSTANT_KEYS)}")
        p, t = self.printed[key], self.tight[key]
        if p is None:
            return None
        slack = _SAME_FORM_RTOL * abs(t)
        return p <= t + slack if key == "alpha" else p >= t - slack

    @property
    def printed_failures(self) -> list[str]:
        """The constants whose printed value is not a valid bound."""
        return [k for k in CONSTANT_KEYS if self.printed_is_bound(k) is False]

    @property
    def satisfies_2a(self) -> bool:
        """Assumption 2(A): ``alpha <= |phi'| <= 1`` with ``alpha > 0`` (tight constants)."""
        return self.tight["alpha"] > 0 and self.tight["sup_dphi"] <= 1


def _printed_dict(p: PrintedConstants | None) -> dict[str, float | None]:
    return {k: None if p is None else getattr(p, k) for k in CONSTANT_KEYS}


def activation_constants(
    names: Sequence[str], *, lo: float = -50.0, hi: float = 50.0, num: int = 200_001
) -> list[ActivationConstants]:
    """Tight, grid and printed Assumption 2 constants of each activation in ``names``.

    The grid estimate takes ``num`` equispaced points of ``[lo, hi]`` (default spacing
    :data:`GRID_SPACING`).
    """
    out = []
    for name in names:
        act = get_activation(name)
        grid = numerical_constants(act, lo, hi, num)
        out.append(
            ActivationConstants(
                name=name,
                tight={k: float(getattr(act, k)) for k in CONSTANT_KEYS},
                grid={k: grid[k] for k in CONSTANT_KEYS},
                printed=_printed_dict(act.printed),
                source="" if act.printed is None else act.printed.source,
            )
        )
    return out


@dataclass(frozen=True)
class Assumption1Check:
    """Sampled maxima of the three Assumption 1 quantities against their constants.

    ``max_grad_norm``: ``max ||grad_w f(w; x)||`` (bounded by ``rho``, 1A);
    ``max_smoothness``: ``max ||grad f(w; x) - grad f(v; x)|| / ||w - v||`` (``beta``, 1B);
    ``max_homogeneity_gap``: ``max |f(w; x) - <grad f(w; x), w>|`` (``kappa``, 1C);
    over ``samples`` random ``(w, v, x)`` with ``||x|| = R``.
    """

    activation: str
    m: int
    R: float
    samples: int
    rho: float
    beta: float
    kappa: float
    max_grad_norm: float
    max_smoothness: float
    max_homogeneity_gap: float

    def pairs(self) -> dict[str, tuple[float, float]]:
        """``{constant: (sampled maximum, constant)}`` for ``rho``, ``beta``, ``kappa``."""
        return {
            "rho": (self.max_grad_norm, self.rho),
            "beta": (self.max_smoothness, self.beta),
            "kappa": (self.max_homogeneity_gap, self.kappa),
        }

    def ratios(self) -> dict[str, float]:
        """Each sampled maximum divided by its constant (all ``<= 1`` when Assumption 1 holds;
        a zero constant gives 0 for a zero maximum and ``inf`` otherwise)."""

        def ratio(value: float, bound: float) -> float:
            if bound > 0:
                return value / bound
            return 0.0 if value == 0 else math.inf

        return {k: ratio(v, b) for k, (v, b) in self.pairs().items()}


def _value_and_grad(net: TwoLayerNet, W: torch.Tensor, X: torch.Tensor) -> tuple:
    """``f(W_k; x_k)`` and ``grad_W f(W_k; x_k)`` for paired rows, by autograd of eq. (2)."""
    W = W.detach().requires_grad_(True)
    f = torch.diagonal(net.forward(W, X))
    (grad,) = torch.autograd.grad(f.sum(), W)
    return f.detach(), grad


def check_assumption1(
    net: TwoLayerNet,
    R: float,
    *,
    samples: int = 1024,
    log10_scale: tuple[float, float] = (-2.0, 2.0),
    step: float = 1e-2,
    d: int = 2,
    seed: int = 0,
    chunk: int = 64,
) -> Assumption1Check:
    """Sample the Assumption 1 quantities of ``net`` (eq. 2) and compare with its constants.

    Each sample draws a parameter whose neurons are ``s_j u_j`` (``u_j`` standard Gaussian,
    ``log10 s_j`` uniform on ``log10_scale``, so pre-activations cover small and large
    ``|x^T w_j|``), an input uniform on the sphere of radius ``R``, and a second parameter
    ``v = w + step * ||w|| g / ||g||`` (``g`` Gaussian) for the smoothness ratio; the draws do
    not depend on ``chunk``, the number of samples evaluated together. Gradients
    come from autograd through :meth:`TwoLayerNet.forward`, not from the closed form; ``d`` is
    the input dimension. The constants are :meth:`TwoLayerNet.assumption1_constants` at ``R``.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples={samples!r} must be an int >= 1")
    if not (math.isfinite(R) and R > 0):
        raise ValueError(f"radius R={R!r} must be finite and > 0")
    lo, hi = log10_scale
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"log10_scale={log10_scale!r} must be finite with lo <= hi")
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step={step!r} must be finite and > 0")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"input dimension d={d!r} must be an int >= 1")
    gen = make_generator(seed)
    m, n = net.m, samples
    scales = 10.0 ** (lo + (hi - lo) * torch.rand(n, m, 1, generator=gen, dtype=torch.float64))
    W = torch.randn(n, m, d, generator=gen, dtype=torch.float64) * scales
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True) * R
    g = torch.randn(n, m, d, generator=gen, dtype=torch.float64)
    w_norm = W.flatten(1).norm(dim=1).view(n, 1, 1)
    V = W + step * w_norm * g / g.flatten(1).norm(dim=1).view(n, 1, 1)
    grad_max = smooth_max = gap_max = 0.0
    for sl in (slice(i, i + chunk) for i in range(0, n, chunk)):
        f_w, grad_w = _value_and_grad(net, W[sl], X[sl])
        _, grad_v = _value_and_grad(net, V[sl], X[sl])
        grad_max = max(grad_max, float(grad_w.flatten(1).norm(dim=1).max()))
        ratio = (grad_w - grad_v).flatten(1).norm(dim=1) / (W[sl] - V[sl]).flatten(1).norm(dim=1)
        smooth_max = max(smooth_max, float(ratio.max()))
        gap = (f_w - (grad_w * W[sl]).flatten(1).sum(1)).abs()
        gap_max = max(gap_max, float(gap.max()))
    rho, beta, kappa = net.assumption1_constants(R)
    return Assumption1Check(
        activation=net.activation.name,
        m=m,
        R=float(R),
        samples=samples,
        rho=rho,
        beta=beta,
        kappa=kappa,
        max_grad_norm=grad_max,
        max_smoothness=smooth_max,
        max_homogeneity_gap=gap_max,
    )


def aligned_margin(
    net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, w_star: torch.Tensor, scale: float = 1e8
) -> float:
    """The normalized margin (eq. 3) of ``w = scale (a_1 w_*, ..., a_m w_*)``: every neuron on
    the data's max-margin direction (Assumption 3), with its output sign. For large ``scale``
    this is the network's margin along ``w_*`` (the ``phi(0)`` offset is negligible)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale={scale!r} must be finite and > 0")
    w = torch.as_tensor(w_star, dtype=torch.float64).reshape(-1)
    W = scale * net.a.view(-1, 1) * (w / w.norm()).view(1, -1)
    q = y * net.forward(W.unsqueeze(0), X.to(torch.float64))[0]
    return float(q.min() / W.norm())
