"""Activations of eq. (2) with their Assumption 2 constants (spec §2, Examples 2.1 and 3.1).

Every activation here has the form ``phi(z) = c z + k psi(z)``: a linear part of slope ``c``
(``Activation.slope``) plus ``k`` (``Activation.scale``) times a *shape* ``psi``
(``Activation.base``; ``None`` for the identity). The plain activations have ``c = 0, k = 1``;
the leaky family of Example 3.1 has ``0.5 <= c < 1`` and ``k = (1 - c)/4`` (GELU, softplus,
SiLU, Huberized ReLU) or ``k = 1 - c`` (tanh, sigmoid). The GD engine uses the split to keep the
linear part out of the (runs x neurons x samples) passes.

Constants (Assumption 2; ``sup``/``inf`` over all of R, asymptotes included):

- ``alpha = inf |phi'|`` (2A; 0 when phi' reaches or approaches 0),
- ``sup_dphi = sup |phi'|``,
- ``beta_tilde = sup |phi''|`` (the Lipschitz constant of phi', 2B),
- ``kappa = sup |phi(z) - z phi'(z)|`` (2C).

For ``phi = c z + k psi`` with ``k >= 0``: ``phi' = c + k psi'``, ``phi'' = k psi''`` and
``phi - z phi' = k (psi - z psi')``, so the constants follow from those of ``psi``. Those of
``psi`` are exact closed forms, except for SiLU, whose stationary point ``z0 tanh(z0/2) = 2``
is found by root finding on the closed-form derivative (scipy ``brentq``, to float64 rounding).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import torch
from scipy.optimize import brentq
from torch import Tensor

__all__ = [
    "ACTIVATION_NAMES",
    "Activation",
    "BaseShape",
    "PrintedConstants",
    "get_activation",
    "numerical_constants",
    "silu_stationary_point",
    "softplus",
]

# torch's softplus returns z itself above `threshold` (default 20), which is off by e^{-z}/z
# relative (1e-10 at z = 20); above 40 the neglected term is below float64 rounding (4e-18/40).
_SOFTPLUS_THRESHOLD = 40.0


def softplus(z: Tensor) -> Tensor:
    """``log(1 + e^z)``, accurate to float64 rounding for every z (no overflow, no cancellation)."""
    return torch.nn.functional.softplus(z, threshold=_SOFTPLUS_THRESHOLD)


@dataclass(frozen=True)
class PrintedConstants:
    """The paper's stated constants for an activation (``None`` where it states none).

    ``kappa``, ``beta_tilde``, ``sup_dphi`` are upper bounds and ``alpha`` a lower bound as
    printed (Example 2.1's ``rho``, ``beta`` are converted to ``sup |phi'|``, ``beta~`` by
    removing the width factors ``1/sqrt(m)``, ``1/m``); ``source`` says where they are printed.
    """

    kappa: float | None
    beta_tilde: float | None
    sup_dphi: float | None
    alpha: float | None
    source: str


@dataclass(frozen=True)
class BaseShape:
    """A shape ``psi`` with closed-form ``psi, psi', psi''`` and its exact constants.

    ``inf_dpsi``/``sup_dpsi`` are the signed infimum and supremum of ``psi'``, ``sup_ddpsi`` is
    ``sup |psi''|`` and ``kappa`` is ``sup |psi(z) - z psi'(z)|``. The three functions return new
    tensors (the GD engine modifies them in place).
    """

    name: str
    phi: Callable[[Tensor], Tensor] = field(repr=False, compare=False)
    dphi: Callable[[Tensor], Tensor] = field(repr=False, compare=False)
    ddphi: Callable[[Tensor], Tensor] = field(repr=False, compare=False)
    inf_dpsi: float
    sup_dpsi: float
    sup_ddpsi: float
    kappa: float


@dataclass(frozen=True)
class Activation:
    """An activation ``phi(z) = slope * z + scale * base(z)`` and its Assumption 2 constants.

    Build with :func:`get_activation`. ``phi``, ``dphi``, ``ddphi`` are elementwise closed
    forms, autograd-compatible and finite for ``|z|`` up to at least ``1e6``.
    """

    name: str
    params: dict[str, float]
    alpha: float
    sup_dphi: float
    beta_tilde: float
    kappa: float
    printed: PrintedConstants | None
    slope: float = 0.0
    scale: float = 1.0
    base: BaseShape | None = None

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items()))))

    def _affine(self, shape: Tensor, linear: Tensor | float) -> Tensor:
        """``scale * shape + slope * linear``, skipping unit and zero coefficients."""
        out = shape if self.scale == 1.0 else shape * self.scale
        return out if self.slope == 0.0 else out + self.slope * linear

    def phi(self, z: Tensor) -> Tensor:
        """``phi(z)``, elementwise."""
        if self.base is None:
            return self.slope * z
        return self._affine(self.base.phi(z), z)

    def dphi(self, z: Tensor) -> Tensor:
        """``phi'(z)``, elementwise."""
        if self.base is None:
            return torch.full_like(z, self.slope)
        return self._affine(self.base.dphi(z), 1.0)

    def ddphi(self, z: Tensor) -> Tensor:
        """``phi''(z)``, elementwise."""
        if self.base is None:
            return torch.zeros_like(z)
        out = self.base.ddphi(z)
        return out if self.scale == 1.0 else out * self.scale

    @property
    def satisfies_assumption2(self) -> bool:
        """Assumption 2A: ``alpha > 0`` and ``sup |phi'| <= 1`` (2B, 2C hold for all here)."""
        return self.alpha > 0.0 and self.sup_dphi <= 1.0


# ----------------------------------------------------------------------------- shapes


def _std_normal_cdf(z: Tensor) -> Tensor:
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


def _std_normal_pdf(z: Tensor) -> Tensor:
    return torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _gelu_shape() -> BaseShape:
    """GELU ``z Phi_N(z)`` (standard form, §6.2); ``psi'' = (2 - z^2) phi_N``, zero at ``+-sqrt 2``.

    ``psi - z psi' = -z^2 phi_N(z)`` is maximal in modulus at ``z^2 = 2``, so
    ``kappa = 2 e^{-1}/sqrt(2 pi)``; ``sup |psi''| = psi''(0) = 2/sqrt(2 pi)``; the extrema of
    ``psi'`` are ``psi'(+-sqrt 2) = Phi_N(+-sqrt 2) +- e^{-1}/sqrt(pi)``.
    """
    bump = math.exp(-1.0) / math.sqrt(math.pi)
    return BaseShape(
        name="gelu",
        phi=lambda z: z * _std_normal_cdf(z),
        dphi=lambda z: _std_normal_cdf(z) + z * _std_normal_pdf(z),
        ddphi=lambda z: (2.0 - z * z) * _std_normal_pdf(z),
        inf_dpsi=0.5 * math.erfc(1.0) - bump,
        sup_dpsi=0.5 * math.erfc(-1.0) + bump,
        sup_ddpsi=2.0 / math.sqrt(2.0 * math.pi),
        kappa=2.0 * math.exp(-1.0) / math.sqrt(2.0 * math.pi),
    )


def _softplus_shape() -> BaseShape:
    """Softplus: ``psi' = sigma`` in (0, 1), ``sup psi'' = psi''(0) = 1/4``; ``psi - z psi'``
    has derivative ``-z psi''``, so its maximum is at 0: ``kappa = log 2``."""
    return BaseShape(
        name="softplus",
        phi=softplus,
        dphi=torch.sigmoid,
        ddphi=lambda z: torch.sigmoid(z) * torch.sigmoid(-z),
        inf_dpsi=0.0,
        sup_dpsi=1.0,
        sup_ddpsi=0.25,
        kappa=math.log(2.0),
    )


@cache
def silu_stationary_point() -> float:
    """The root ``z0 > 0`` of ``z tanh(z/2) = 2`` (``z0 ~ 2.3994``), to float64 rounding.

    For SiLU ``psi(z) = z sigma(z)``: ``psi'' = sigma(z) sigma(-z) (2 - z tanh(z/2))`` and
    ``d/dz [z^2 sigma(z) sigma(-z)] = z sigma(z) sigma(-z) (2 - z tanh(z/2))``, so ``+-z0`` are
    where ``psi'`` and ``|psi - z psi'| = z^2 sigma sigma(-.)`` are extremal.
    """
    return float(brentq(lambda z: z * math.tanh(z / 2.0) - 2.0, 1.0, 4.0, xtol=1e-15, rtol=1e-15))


def _sigma(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _silu_shape() -> BaseShape:
    """SiLU ``z sigma(z)``. ``psi'(z) + psi'(-z) = 1``, so ``inf psi' = 1 - sup psi'``; the
    extrema sit at ``+-z0`` (:func:`silu_stationary_point`). ``psi''`` is even with its maximum
    modulus ``1/2`` at 0."""
    z0 = silu_stationary_point()
    sup_dpsi = _sigma(z0) * (1.0 + z0 * _sigma(-z0))
    return BaseShape(
        name="silu",
        phi=lambda z: z * torch.sigmoid(z),
        dphi=lambda z: torch.sigmoid(z) * (1.0 + z * torch.sigmoid(-z)),
        ddphi=lambda z: (
            torch.sigmoid(z)
            * torch.sigmoid(-z)
            * (2.0 + z * (torch.sigmoid(-z) - torch.sigmoid(z)))
        ),
        inf_dpsi=1.0 - sup_dpsi,
        sup_dpsi=sup_dpsi,
        sup_ddpsi=0.5,
        kappa=z0 * z0 * _sigma(z0) * _sigma(-z0),
    )


def _huberized_relu_shape(h: float) -> BaseShape:
    """Huberized ReLU: 0 for z < 0, ``z^2/(2h)`` on [0, h], ``z - h/2`` above.
    ``psi' = clamp(z/h, 0, 1)``, ``psi'' = 1/h`` on (0, h); ``|psi - z psi'| = h/2`` for z >= h."""
    return BaseShape(
        name="huberized_relu",
        phi=lambda z: z.clamp(0.0, h) ** 2 / (2.0 * h) + (z - h).clamp_min(0.0),
        dphi=lambda z: z.clamp(0.0, h) / h,
        ddphi=lambda z: ((z > 0.0) & (z < h)).to(z.dtype) / h,
        inf_dpsi=0.0,
        sup_dpsi=1.0,
        sup_ddpsi=1.0 / h,
        kappa=h / 2.0,
    )


def _tanh_shape() -> BaseShape:
    """tanh: ``psi' = 1 - tanh^2`` in (0, 1]; ``|psi''| = 2 |t| (1 - t^2)`` is maximal at
    ``t^2 = 1/3``: ``4/(3 sqrt 3)``; ``tanh z - z sech^2 z`` increases to its limit 1."""
    return BaseShape(
        name="tanh",
        phi=torch.tanh,
        dphi=lambda z: 1.0 - torch.tanh(z) ** 2,
        ddphi=lambda z: -2.0 * torch.tanh(z) * (1.0 - torch.tanh(z) ** 2),
        inf_dpsi=0.0,
        sup_dpsi=1.0,
        sup_ddpsi=4.0 / (3.0 * math.sqrt(3.0)),
        kappa=1.0,
    )


def _sigmoid_shape() -> BaseShape:
    """sigmoid: ``psi' = sigma(1-sigma)`` in (0, 1/4]; with ``u = 1 - 2 sigma``,
    ``psi'' = u (1 - u^2)/4`` is maximal in modulus at ``u^2 = 1/3``: ``1/(6 sqrt 3)``;
    ``sigma - z sigma'`` increases from 0 to its limit 1."""
    return BaseShape(
        name="sigmoid",
        phi=torch.sigmoid,
        dphi=lambda z: torch.sigmoid(z) * torch.sigmoid(-z),
        ddphi=lambda z: (
            torch.sigmoid(z) * torch.sigmoid(-z) * (torch.sigmoid(-z) - torch.sigmoid(z))
        ),
        inf_dpsi=0.0,
        sup_dpsi=0.25,
        sup_ddpsi=1.0 / (6.0 * math.sqrt(3.0)),
        kappa=1.0,
    )


# ----------------------------------------------------------------------------- printed values

_EX31 = "Example 3.1 (sup |phi'| <= 1 from Assumption 2A, which the example asserts)"
_PRINTED_EX31 = PrintedConstants(kappa=1.0, beta_tilde=1.0, sup_dphi=1.0, alpha=0.25, source=_EX31)
_PRINTED_EX31_TANH_SIGMOID = PrintedConstants(
    kappa=1.0, beta_tilde=1.0, sup_dphi=1.0, alpha=0.5, source=_EX31
)


def _printed_plain(name: str, h: float) -> PrintedConstants:
    ex21 = "Example 2.1 / App. F.1 (rho, beta divided by the width factors)"
    inv_sqrt_2pi = 1.0 / math.sqrt(2.0 * math.pi)
    table = {
        "gelu": PrintedConstants(
            kappa=math.exp(-0.5) * inv_sqrt_2pi,
            beta_tilde=2.0,
            sup_dphi=1.0 + math.exp(-0.5) * inv_sqrt_2pi,
            alpha=None,
            source=ex21,
        ),
        "softplus": PrintedConstants(math.log(2.0), 1.0, 1.0, None, ex21),
        "silu": PrintedConstants(1.0, 4.0, 2.0, None, ex21),
        "huberized_relu": PrintedConstants(h / 2.0, 1.0 / h, 1.0, None, ex21),
        "tanh": PrintedConstants(5.0, None, None, None, "App. F.1"),
        "sigmoid": PrintedConstants(2.0, None, None, None, "App. F.1"),
    }
    return table[name]


# ----------------------------------------------------------------------------- registry

_SHAPES: dict[str, Callable[..., BaseShape]] = {  # huberized_relu takes h
    "gelu": _gelu_shape,
    "softplus": _softplus_shape,
    "silu": _silu_shape,
    "huberized_relu": _huberized_relu_shape,
    "tanh": _tanh_shape,
    "sigmoid": _sigmoid_shape,
}
_QUARTER_LEAKY = ("gelu", "softplus", "silu", "huberized_relu")  # k = (1 - c)/4
_FULL_LEAKY = ("tanh", "sigmoid")  # k = 1 - c
_FIXED = {  # name: (c, k, shape), spec §2 table / §6.1
    "leaky_softplus_ex31": (0.5, 0.125, "softplus"),
    "leaky_softplus_half": (0.5, 0.5, "softplus"),
}

ACTIVATION_NAMES: tuple[str, ...] = (
    "identity",
    *_SHAPES,
    *(f"leaky_{s}" for s in (*_QUARTER_LEAKY, *_FULL_LEAKY)),
    *_FIXED,
)


def _shape(name: str, h: float) -> BaseShape:
    return _huberized_relu_shape(h) if name == "huberized_relu" else _SHAPES[name]()


def _allowed_params(name: str) -> dict[str, float]:
    """Parameter names and defaults of an activation."""
    params: dict[str, float] = {}
    if name.startswith("leaky_") and name not in _FIXED:
        params["c"] = 0.5
    if name.endswith("huberized_relu"):
        params["h"] = 1.0
    return params


def _check_params(name: str, given: dict[str, float]) -> dict[str, float]:
    allowed = _allowed_params(name)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for activation {name!r}; "
            f"allowed: {sorted(allowed) or 'none'}"
        )
    params = dict(allowed)
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"activation parameter {key}={value!r} must be a real number")
        params[key] = float(value)
    if "c" in params and not 0.5 <= params["c"] < 1.0:
        raise ValueError(f"leaky slope c={params['c']!r} outside [0.5, 1) (Example 3.1)")
    if "h" in params and not (math.isfinite(params["h"]) and params["h"] > 0.0):
        raise ValueError(f"Huberized ReLU width h={params['h']!r} must be finite and > 0")
    return params


def get_activation(name: str, **params: float) -> Activation:
    """The activation ``name`` with parameters ``params`` (``c`` for leaky ones, ``h`` for Huber).

    Raises ValueError for an unknown name or parameter (listing the allowed ones) and for ``c``
    outside ``[0.5, 1)`` or ``h <= 0``.
    """
    if name not in ACTIVATION_NAMES:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATION_NAMES)}")
    params = _check_params(name, params)
    h = params.get("h", 1.0)
    if name == "identity":
        slope, scale, shape = 1.0, 0.0, None
        printed = PrintedConstants(0.0, 0.0, 1.0, None, "Assumption 1 remark (linear f)")
    elif name in _FIXED:
        slope, scale, shape_name = _FIXED[name]
        shape = _shape(shape_name, h)
        printed = _PRINTED_EX31
    elif name in _SHAPES:
        slope, scale, shape = 0.0, 1.0, _shape(name, h)
        printed = _printed_plain(name, h)
    else:
        shape_name = name.removeprefix("leaky_")
        c = params["c"]
        slope, scale = c, (1.0 - c) / 4.0 if shape_name in _QUARTER_LEAKY else 1.0 - c
        shape = _shape(shape_name, h)
        if shape_name == "huberized_relu":
            printed = PrintedConstants(h / 2.0, 1.0 / (4.0 * h), 1.0, 0.5, _EX31)
        elif shape_name in _FULL_LEAKY:
            printed = _PRINTED_EX31_TANH_SIGMOID
        else:
            printed = _PRINTED_EX31
    if shape is None:
        lo = hi = slope
        beta_tilde = kappa = 0.0
    else:
        lo, hi = slope + scale * shape.inf_dpsi, slope + scale * shape.sup_dpsi
        beta_tilde, kappa = scale * shape.sup_ddpsi, scale * shape.kappa
    alpha = lo if lo >= 0.0 else (-hi if hi <= 0.0 else 0.0)
    return Activation(
        name=name,
        params=params,
        alpha=alpha,
        sup_dphi=max(abs(lo), abs(hi)),
        beta_tilde=beta_tilde,
        kappa=kappa,
        printed=printed,
        slope=slope,
        scale=scale,
        base=shape,
    )


def numerical_constants(
    act: Activation, lo: float = -50.0, hi: float = 50.0, num: int = 1_000_001
) -> dict[str, float]:
    """Grid estimates of the Assumption 2 constants on ``num`` equispaced points of [lo, hi].

    Returns ``alpha`` (min |phi'|), ``sup_dphi`` (max |phi'|), ``beta_tilde`` (max |phi''|),
    ``kappa`` (max |phi - z phi'|) and the signed ``min_dphi``, ``max_dphi``, all in float64.
    """
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"grid bounds must be finite with lo < hi, got lo={lo!r}, hi={hi!r}")
    if num < 2:
        raise ValueError(f"grid size num={num!r} must be >= 2")
    z = torch.linspace(lo, hi, num, dtype=torch.float64)
    d1 = act.dphi(z)
    return {
        "alpha": float(d1.abs().min()),
        "sup_dphi": float(d1.abs().max()),
        "beta_tilde": float(act.ddphi(z).abs().max()),
        "kappa": float((act.phi(z) - z * d1).abs().max()),
        "min_dphi": float(d1.min()),
        "max_dphi": float(d1.max()),
    }
