"""Every threshold and bound of Part I as a function named after its result (spec §3, §6).

The bounds of one GD run depend on a handful of numbers, bundled in :class:`ProblemConstants`
and built from a network and a data set by :func:`problem_constants` (or :func:`run_constants`
from a recorded run). Two flavours exist (spec §5): ``constants="tight"`` uses the exact
activation constants (:mod:`gdlab.stepsize.activations`), ``constants="printed"`` the paper's
stated ones (Examples 2.1 and 3.1), which are valid but looser (except GELU's kappa, §6.2).

Conventions: ``lr`` is the GD stepsize tilde-eta applied to the stacked parameter, ``eta = lr/m``
the per-neuron stepsize of Theorems 3.2, 4.1, 4.3 and Corollary 4.2. Functions of a step index
``t`` accept scalars, NumPy arrays or torch tensors and return NumPy values (a NumPy scalar for a
scalar input). Bounds whose hypothesis fails at an entry return NaN there. Risks enter through
their logarithm wherever the formula takes a log, so risks far below 1e-300 are handled.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from gdlab.stepsize.network import TwoLayerNet, check_data
from gdlab.stepsize.trajectory import Trajectory

__all__ = [
    "COROLLARY42_FACTORS",
    "THEOREM41_FACTORS",
    "Phi",
    "ProblemConstants",
    "as_float_array",
    "condition4_threshold",
    "condition5_threshold",
    "condition5_threshold_two_layer",
    "corollary42_budget",
    "corollary42_risk_bound",
    "corollary42_stepsize",
    "lemma_a3_bounds",
    "lemma_a7_lower_bound",
    "lemma_a8_bounds",
    "lemma_a9_bounds",
    "lemma_a10_constant",
    "lemma_a10_sandwich",
    "lemma_a12_b0",
    "lemma_a13_lower_bound",
    "lemma_a14_bounds",
    "lemma_a15_bounds",
    "lemma_c3_average_G_bound",
    "lemma_c3_step_gain",
    "log_scaled_risk",
    "mean_field_equivalent",
    "problem_constants",
    "require_assumptions",
    "run_constants",
    "theorem32_average_risk_bound",
    "theorem41_stable_bound",
    "theorem41_tau",
    "theoremb3_comparator",
    "unwrap_scalar",
]

#: Factor of the stable-phase rate ``L_t <= factor / (alpha^2 gamma^2 eta (t - s))``:
#: printed 2, safe 8 (spec §6.4).
THEOREM41_FACTORS = {"printed": 2.0, "safe": 8.0}
#: Factor of Corollary 4.2's ``L_T <= factor (1 + 4 kappa) c_2 / (alpha^4 gamma^4 T^2)``:
#: printed 2048, derived from the printed rate 1024, safe (rate factor 8) 4096 (spec §6.6).
COROLLARY42_FACTORS = {"printed": 2048.0, "derived": 1024.0, "safe": 4096.0}

Array = NDArray[np.float64]
_MAX_EXP = math.log(np.finfo(np.float64).max)  # e^x overflows float64 above this


@dataclass(frozen=True)
class ProblemConstants:
    """What the bounds of one GD run need (spec §1-§3).

    Attributes
    ----------
    n, m, d : sample size, width, input dimension.
    lr : the GD stepsize tilde-eta; ``eta = lr / m`` the per-neuron stepsize.
    rho, beta, kappa : Assumption 1 (radius-R form): Lipschitz, smoothness and near-homogeneity
        constants of ``f``, ``rho = b R sup|phi'|/sqrt(m)``, ``beta = b R^2 beta~/m``,
        ``kappa = b kappa_phi``.
    alpha, beta_tilde, sup_dphi : Assumption 2 constants of the activation
        (``inf|phi'|``, ``sup|phi''|``, ``sup|phi'|``).
    R : ``max_i ||x_i||``; Theorems 3.2, 4.1, Corollary 4.2 assume ``R <= 1``.
    b : output scale of the network (1 for eq. 2).
    f0 : ``|b phi(0)|``, which bounds ``|f(0; x)|``.
    gamma, w_star : Assumption 3 (``y_i x_i^T w_* >= gamma``, unit ``w_*``); None when not
        given (non-separable data). ``w_star`` may be None while ``gamma`` is known.
    w0_norm : ``||w_0||`` of the initialisation, None when unknown.
    constants : ``"tight"`` or ``"printed"`` (which activation constants were used).
    activation : the activation's name.
    note : provenance of the constants (e.g. which printed values were missing).
    """

    n: int
    m: int
    d: int
    lr: float
    eta: float
    rho: float
    beta: float
    kappa: float
    alpha: float
    beta_tilde: float
    sup_dphi: float
    R: float
    b: float = 1.0
    f0: float = 0.0
    gamma: float | None = None
    w_star: tuple[float, ...] | None = None
    w0_norm: float | None = None
    constants: Literal["tight", "printed"] = "tight"
    activation: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("n", "m", "d"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an int >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"stepsize lr={self.lr!r} must be finite and > 0")
        if not math.isclose(self.eta, self.lr / self.m, rel_tol=1e-12):
            raise ValueError(f"eta={self.eta!r} must equal lr/m = {self.lr / self.m!r}")
        for name in ("rho", "beta", "kappa", "alpha", "beta_tilde", "sup_dphi", "R", "f0"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}={value!r} must be finite and >= 0")
        if not (math.isfinite(self.b) and self.b > 0):
            raise ValueError(f"output scale b={self.b!r} must be finite and > 0")
        if self.gamma is not None and not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"margin gamma={self.gamma!r} must be finite and > 0 (Assumption 3)")
        if self.w0_norm is not None and not (math.isfinite(self.w0_norm) and self.w0_norm >= 0):
            raise ValueError(f"w0_norm={self.w0_norm!r} must be finite and >= 0")
        if self.constants not in ("tight", "printed"):
            raise ValueError(f"constants={self.constants!r}; allowed: 'tight', 'printed'")

    def with_lr(self, lr: float) -> ProblemConstants:
        """The same problem with GD stepsize ``lr`` (and ``eta = lr / m``)."""
        return dataclasses.replace(self, lr=float(lr), eta=float(lr) / self.m)


def as_float_array(x: ArrayLike | Tensor) -> Array:
    """``x`` as a float64 NumPy array (a tensor is detached and moved to the CPU first)."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def unwrap_scalar(x: Array) -> Array:
    """``x`` with a 0-d array unwrapped to a NumPy scalar (the return convention above)."""
    return x[()] if x.ndim == 0 else x


def _unit_w_star(w_star: ArrayLike | Tensor, d: int) -> Array:
    w = as_float_array(w_star).reshape(-1)
    if w.shape != (d,):
        raise ValueError(f"w_star must have shape ({d},) to match the data, got {w.shape}")
    norm = float(np.linalg.norm(w))
    if not (math.isfinite(norm) and norm > 0):
        raise ValueError(f"w_star must be finite and non-zero, got norm {norm!r}")
    return w / norm


def problem_constants(
    net: TwoLayerNet,
    X: Tensor,
    y: Tensor,
    lr: float,
    W0: Tensor | None = None,
    w_star: ArrayLike | Tensor | None = None,
    gamma: float | None = None,
    *,
    constants: Literal["tight", "printed"] = "tight",
) -> ProblemConstants:
    """The :class:`ProblemConstants` of GD with stepsize ``lr`` on ``net`` and data ``(X, y)``.

    Parameters
    ----------
    net : the two-layer network of eq. (2) (output scale ``net.b``).
    X, y : inputs (n, d) and labels in {-1, +1}. ``R = max_i ||x_i||`` enters the radius-R
        Assumption 1 constants (spec §2); the data are not rescaled here.
    lr : the GD stepsize tilde-eta.
    W0 : the initial parameter, shape (m, d) or (1, m, d), for ``||w_0||``; None leaves it
        unknown (the first-phase bounds then raise).
    w_star, gamma : Assumption 3. ``w_star`` is normalised to unit length; when ``gamma`` is
        None it is ``min_i y_i x_i^T w_*`` (which must be > 0), when both are given ``gamma``
        must not exceed that margin.
    constants : ``"tight"`` (exact activation constants) or ``"printed"`` (the paper's; values
        the paper does not state fall back to the tight ones, recorded in ``note``).
    """
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a TwoLayerNet, got {type(net).__name__}")
    check_data(X, y)
    if constants not in ("tight", "printed"):
        raise ValueError(f"constants={constants!r}; allowed: 'tight', 'printed'")
    n, d = int(X.shape[0]), int(X.shape[1])
    R = float(X.detach().to(torch.float64).norm(dim=1).max())
    act = net.activation
    note = ""
    if constants == "printed":
        if act.printed is None:
            raise ValueError(f"activation {act.name!r} has no printed constants")
        p = act.printed
        printed = {k: getattr(p, k) for k in ("alpha", "sup_dphi", "beta_tilde", "kappa")}
        missing = sorted(k for k, v in printed.items() if v is None)
        if missing:
            note = f"printed constants ({p.source}) state no {', '.join(missing)}: tight used"
        act = dataclasses.replace(
            act, **{k: getattr(act, k) if v is None else float(v) for k, v in printed.items()}
        )
        net = TwoLayerNet(act, net.a, net.b)
    rho, beta, kappa = net.assumption1_constants(R)
    f0 = abs(net.b * float(act.phi(torch.zeros(1, dtype=torch.float64))[0]))
    w_unit = None
    if w_star is not None:
        w_unit = _unit_w_star(w_star, d)
        Xn = X.detach().cpu().to(torch.float64).numpy()
        yn = y.detach().cpu().to(torch.float64).numpy()
        margin = float(np.min(yn * (Xn @ w_unit)))
        if gamma is None:
            if not margin > 0:
                raise ValueError(
                    f"w_star does not separate the data: min_i y_i x_i^T w_* = {margin:.3g}"
                )
            gamma = margin
        elif gamma > margin * (1 + 1e-12):  # relative float64 rounding of the margin
            raise ValueError(f"gamma={gamma!r} exceeds the margin {margin!r} of w_star")
    w0_norm = None
    if W0 is not None:
        if not isinstance(W0, Tensor) or W0.numel() != net.m * d:
            raise ValueError(f"W0 must be a tensor with m*d = {net.m * d} entries")
        w0_norm = float(W0.detach().to(torch.float64).norm())
    return ProblemConstants(
        n=n,
        m=net.m,
        d=d,
        lr=float(lr),
        eta=float(lr) / net.m,
        rho=rho,
        beta=beta,
        kappa=kappa,
        alpha=act.alpha,
        beta_tilde=act.beta_tilde,
        sup_dphi=act.sup_dphi,
        R=R,
        b=net.b,
        f0=f0,
        gamma=None if gamma is None else float(gamma),
        w_star=None if w_unit is None else tuple(float(v) for v in w_unit),
        w0_norm=w0_norm,
        constants=constants,
        activation=act.name,
        note=note,
    )


def mean_field_equivalent(c: ProblemConstants) -> ProblemConstants:
    """The constants of eq. (2) (``b = 1``) equivalent to GD on the net with output scale ``b``
    (App. D; derived).

    With ``u = b w`` and ``phi_b(z) = b phi(z/b)``, ``f(w; x) = (b/m) sum_j a_j
    phi(x^T w^(j)) = (1/m) sum_j a_j phi_b(x^T u^(j))``, and since ``grad_w = b grad_u``, GD
    with stepsize ``lr`` on ``w`` is GD with ``lr b^2`` on ``u``. ``phi_b' (z) = phi'(z/b)``
    keeps ``alpha`` and ``sup|phi'|``; ``phi_b'' = phi''(z/b)/b`` gives ``beta~/b``;
    ``phi_b - z phi_b' = b (phi - v phi')(v)`` at ``v = z/b`` gives ``b kappa_phi`` (which
    ``c.kappa`` already is); ``||u_0|| = b ||w_0||``. So ``rho/b``, ``beta/b^2``, ``eta b^2``,
    and every bound of Theorems 3.2, 4.1 and Corollary 4.2 applies to the scaled net with the
    returned constants (the identity for ``b = 1``).
    """
    b = c.b
    return dataclasses.replace(
        c,
        lr=c.lr * b * b,
        eta=c.eta * b * b,
        rho=c.rho / b,
        beta=c.beta / (b * b),
        beta_tilde=c.beta_tilde / b,
        b=1.0,
        w0_norm=None if c.w0_norm is None else c.w0_norm * b,
    )


def run_constants(
    traj_run: Trajectory,
    net: TwoLayerNet,
    X: Tensor,
    y: Tensor,
    w_star: ArrayLike | Tensor | None = None,
    gamma: float | None = None,
    *,
    constants: Literal["tight", "printed"] = "tight",
) -> ProblemConstants:
    """:func:`problem_constants` of one recorded run: ``lr`` and ``||w_0||`` come from the run.

    ``traj_run`` must hold a single run (``traj.run(k)``) recorded from step 0.
    """
    if traj_run.num_runs != 1:
        raise ValueError(f"expected a single run (use traj.run(k)), got {traj_run.num_runs}")
    if int(traj_run.steps[0]) != 0:
        raise ValueError(f"the run must be recorded from step 0, first step {traj_run.steps[0]}")
    consts = problem_constants(
        net, X, y, float(traj_run.lr[0]), w_star=w_star, gamma=gamma, constants=constants
    )
    return dataclasses.replace(consts, w0_norm=float(traj_run.param_norm[0, 0]))


def require_assumptions(
    c: ProblemConstants, what: str, *, w0: bool = False, alpha: bool = True
) -> None:
    """Raise ValueError when ``c`` lacks what ``what`` assumes: Assumption 3 (``gamma``),
    Assumption 2A (``alpha > 0``, unless ``alpha=False``), ``||w_0||`` (if ``w0``)."""
    if c.gamma is None:
        raise ValueError(f"{what} needs Assumption 3: build the constants with w_star or gamma")
    if alpha and not c.alpha > 0:
        raise ValueError(
            f"{what} needs Assumption 2A (alpha > 0); activation {c.activation!r} has "
            f"alpha={c.alpha!r}"
        )
    if w0 and c.w0_norm is None:
        raise ValueError(f"{what} needs ||w_0||: pass W0 or use run_constants")


def _times(t: ArrayLike | Tensor, name: str = "t", low: float = 0.0) -> Array:
    t = as_float_array(t)
    if not bool(np.all(t > low)):
        raise ValueError(f"{name} must be > {low:g}, got min {float(np.min(t))!r}")
    return t


# ----------------------------------------------------------------------------- Theorem 2.2


def condition4_threshold(c: ProblemConstants) -> float:
    """Eq. (4) (Theorem 2.2): ``L(w_r) <= 1 / (lr (2 rho^2 + beta))`` starts monotone descent."""
    return 1.0 / (c.lr * (2 * c.rho**2 + c.beta))


def condition5_threshold(c: ProblemConstants) -> float:
    """Eq. (5) (Theorem 2.2): ``L(w_s) <= min{1/(2 n e^{kappa+2}), 1/(lr (4 rho^2 + 2 beta))}``."""
    return min(1.0 / (2 * c.n * math.exp(c.kappa + 2)), 1.0 / (c.lr * (4 * c.rho**2 + 2 * c.beta)))


def _check_width_free(c: ProblemConstants, what: str) -> None:
    if c.b != 1.0:
        raise ValueError(f"{what} assumes eq. (2) with b = 1, got b={c.b!r}")


def condition5_threshold_two_layer(c: ProblemConstants) -> float:
    """Width-free eq. (5) (spec §3.1; the form in Theorem 4.1 and Lemma C.4):
    ``min{1/(2 n e^{kappa+2}), 1/(eta R^2 (4 + 2 beta~))}``; requires ``b = 1``."""
    _check_width_free(c, "the width-free eq. (5)")
    return min(
        1.0 / (2 * c.n * math.exp(c.kappa + 2)), 1.0 / (c.eta * c.R**2 * (4 + 2 * c.beta_tilde))
    )


def lemma_a3_bounds(
    c: ProblemConstants, risk: ArrayLike | Tensor, grad_norm_sq: ArrayLike | Tensor
) -> tuple[Array, Array]:
    """Lemma A.3: bounds on ``L_{t+1} - L_t`` when ``L_t <= 1/(lr rho^2)`` (NaN elsewhere).

    ``-lr (1 + beta lr L_t) ||grad L_t||^2 <= L_{t+1} - L_t
    <= -lr (1 - (2 rho^2 + beta) lr L_t) ||grad L_t||^2``.
    """
    L, g2 = as_float_array(risk), as_float_array(grad_norm_sq)
    ok = L <= 1.0 / (c.lr * c.rho**2)
    lower = np.where(ok, -c.lr * (1 + c.beta * c.lr * L) * g2, np.nan)
    upper = np.where(ok, -c.lr * (1 - (2 * c.rho**2 + c.beta) * c.lr * L) * g2, np.nan)
    return unwrap_scalar(lower), unwrap_scalar(upper)


def log_scaled_risk(c: ProblemConstants, log_risk: ArrayLike | Tensor) -> Array:
    """``ell = log(2 n e^kappa L) = log L + k_2`` with ``k_2 = log(2n) + kappa``: the scaled
    log-risk of eq. (9) and Lemmas A.7-A.10 (their hypotheses are ``ell <= 0`` or ``<= -2``)."""
    return as_float_array(log_risk) + math.log(2 * c.n) + c.kappa


def lemma_a7_lower_bound(c: ProblemConstants, log_risk: ArrayLike | Tensor) -> Array:
    """Lemma A.7: ``v_t >= -L_t log(2 n e^kappa L_t) >= 0`` when ``L_t <= 1/(2 n e^kappa)``.

    Returns the middle term (NaN where the hypothesis fails), computed from ``log L_t``.
    """
    ell = log_scaled_risk(c, log_risk)
    risk = np.exp(as_float_array(log_risk))
    return unwrap_scalar(np.where(ell <= 0, -risk * ell, np.nan))


def lemma_a8_bounds(
    c: ProblemConstants, log_risk: ArrayLike | Tensor, v: ArrayLike | Tensor
) -> tuple[Array, Array]:
    """Lemma A.8: bounds on ``rho_{t+1}^2 - rho_t^2`` (NaN where the hypothesis fails).

    If ``L_t <= min{1/(2 n e^kappa), 1/(lr (4 rho^2 + 2 beta))}`` then
    ``2 lr v_t <= rho_{t+1}^2 - rho_t^2 <= 2 lr v_t (1 - 1/(2 log(2 n e^kappa L_t)))``.
    """
    log_L, v = as_float_array(log_risk), as_float_array(v)
    ell = log_scaled_risk(c, log_L)
    ok = (ell <= 0) & (log_L <= -math.log(c.lr * (4 * c.rho**2 + 2 * c.beta)))
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = 2 * c.lr * v * (1 - 1 / (2 * ell))
    lower = np.where(ok, 2 * c.lr * v, np.nan)
    return unwrap_scalar(lower), unwrap_scalar(np.where(ok, upper, np.nan))


def lemma_a9_bounds(
    c: ProblemConstants, log_risk: ArrayLike | Tensor, min_margin: ArrayLike | Tensor
) -> tuple[Array, Array]:
    """Lemma A.9: ``q_min <= -log L_t <= log(2n) + q_min`` when ``L_t <= 1/(2n)`` (else NaN).

    Dividing by ``rho_t`` gives ``gamma-bar <= gamma^a <= gamma-bar + log(2n)/rho_t``.
    """
    log_L, q = as_float_array(log_risk), as_float_array(min_margin)
    ok = log_L <= -math.log(2 * c.n)
    upper = np.where(ok, q + math.log(2 * c.n), np.nan)
    return unwrap_scalar(np.where(ok, q, np.nan)), unwrap_scalar(upper)


def lemma_a10_constant(c: ProblemConstants) -> tuple[float, float, float]:
    """Lemma A.10's ``(c, k_1, k_2)``: ``k_1 = 1 + (4 rho^2 + 2 beta) lr``,
    ``k_2 = log(2 n e^kappa)``, ``c = (k_2 + k_1 e^{k_1} + k_2 k_1 e^{k_1}) (k_2 + 1)``.

    (The paper calls ``k_1, k_2`` ``c_1, c_2``; they are not Theorem 4.1's constants.)
    ``c`` is ``inf`` when ``e^{k_1}`` overflows float64.
    """
    k1 = 1 + (4 * c.rho**2 + 2 * c.beta) * c.lr
    k2 = math.log(2 * c.n) + c.kappa
    e_k1 = math.exp(k1) if k1 < _MAX_EXP else math.inf  # c is vacuous (inf) for huge lr
    return (k2 + k1 * e_k1 + k2 * k1 * e_k1) * (k2 + 1), k1, k2


def Phi(c: ProblemConstants, *, log_x: ArrayLike | Tensor) -> Array:
    """App. A.3, eq. (10): ``Phi(x) = log(-log(2 n e^kappa x)) + k_1 / log(2 n e^kappa x)``.

    Takes ``log x`` (so tiny ``x`` are exact); NaN where ``x >= 1/(2 n e^kappa)``.
    ``k_1 = 1 + (4 rho^2 + 2 beta) lr`` (Lemma A.10).
    """
    _, k1, _ = lemma_a10_constant(c)
    ell = log_scaled_risk(c, log_x)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.log(-ell) + k1 / ell
    return unwrap_scalar(np.where(ell < 0, value, np.nan))


def lemma_a10_sandwich(
    c: ProblemConstants, log_risk: ArrayLike | Tensor, gamma_c: ArrayLike | Tensor
) -> Array:
    """Lemma A.10's upper end: ``gamma-bar <= (1 + c / log(1/L_t)) gamma^c``.

    The full sandwich, for ``L_t <= 1/(2 n e^{kappa+2})``, is
    ``gamma^c <= gamma^b <= gamma-bar <= (1 + c/log(1/L_t)) gamma^c``; this returns the right
    end (NaN where the hypothesis fails), ``c`` from :func:`lemma_a10_constant`.
    """
    const, _, _ = lemma_a10_constant(c)
    log_L = as_float_array(log_risk)
    ok = log_scaled_risk(c, log_L) <= -2
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = (1 + const / -log_L) * as_float_array(gamma_c)
    # c = inf (e^{k_1} overflows): the bound is vacuous even where gamma^c underflows to 0
    return unwrap_scalar(np.where(ok, np.inf if math.isinf(const) else upper, np.nan))


def lemma_a12_b0(c: ProblemConstants, param_norm_s: float) -> float:
    """A valid ``B_0`` of Lemma A.12 (derived): ``rho + (f0 + log(2n)) / rho_s``.

    In the (5)-regime ``gamma^a_t <= gamma-bar_t + log(2n)/rho_t`` (Lemma A.9) and
    ``q_min <= |f(0)| + rho rho_t`` (Assumption 1A), with ``rho_t >= rho_s`` (Theorem 2.2).
    """
    if not param_norm_s > 0:
        raise ValueError(f"param_norm_s={param_norm_s!r} must be > 0")
    return c.rho + (c.f0 + math.log(2 * c.n)) / param_norm_s


def lemma_a13_lower_bound(
    param_norm: ArrayLike | Tensor,
    param_norm_next: ArrayLike | Tensor,
    v: ArrayLike | Tensor,
    mu_norm_sq: ArrayLike | Tensor,
) -> Array:
    """Lemma A.13: ``log gamma^c_{t+1} - log gamma^c_t >= (rho_t^2/v_t^2) ||mu_t||^2
    log(rho_{t+1}/rho_t)`` in the (5)-regime; returns the right-hand side."""
    rho, rho1 = as_float_array(param_norm), as_float_array(param_norm_next)
    v, mu2 = as_float_array(v), as_float_array(mu_norm_sq)
    # A step whose gradient underflowed (v = mu = 0) moves nothing: the bound is 0, not inf*0.
    with np.errstate(divide="ignore", invalid="ignore"):
        value = rho**2 / v**2 * mu2 * np.log(rho1 / rho)
    return unwrap_scalar(np.where(mu2 == 0, 0.0, value))


def lemma_a14_bounds(
    c: ProblemConstants,
    t: ArrayLike | Tensor,
    s: int,
    log_risk_s: float,
    gamma_c_s: float,
) -> tuple[Array, Array]:
    """Lemma A.14: for ``t >= s`` with ``s`` in the (5)-regime,
    ``1/(1/L_s + 3 lr rho^2 (t-s)) <= L_t <= 2/((t-s) lr gamma^c(w_s)^2)`` (upper = inf at t=s).

    ``L_s`` enters as ``log L_s`` (the engine's exact record), so ``1/L_s`` stays meaningful
    when ``L_s`` itself underflows float64 (the lower bound is then 0).
    """
    dt = as_float_array(t) - s
    if not bool(np.all(dt >= 0)):
        raise ValueError(f"t must be >= s={s}, got min {float(np.min(dt)) + s!r}")
    with np.errstate(over="ignore"):  # 1/L_s beyond float64: lower bound 0, still valid
        lower = 1.0 / (np.exp(-log_risk_s) + 3 * c.lr * c.rho**2 * dt)
    # t = s, or gamma^c_s (under)flowing to 0: the upper bound is inf (vacuous), not an error
    with np.errstate(divide="ignore", over="ignore"):
        upper = 2.0 / (dt * c.lr * gamma_c_s**2)
    return unwrap_scalar(lower), unwrap_scalar(upper)


def lemma_a15_bounds(
    c: ProblemConstants,
    t: ArrayLike | Tensor,
    s: int,
    log_risk_s: float,
    gamma_c_s: float,
    b0: float,
) -> tuple[Array, Array]:
    """Lemma A.15: for ``t > s`` in the (5)-regime,
    ``log[(t-s) lr gamma^c_s^2/(2n)]/(2 B_0) <= rho_t
    <= log[(1/L_s + 3 lr rho^2 (t-s))/(2 n e^kappa)]/gamma^c_s``
    (``gamma^c_s = gamma^c(w_s)``, ``B_0`` of Lemma A.12, e.g. :func:`lemma_a12_b0`);
    ``L_s`` enters as ``log L_s`` as in :func:`lemma_a14_bounds`.
    """
    dt = _times(as_float_array(t) - s, "t - s")
    # log(1/L_s + a) = -log L_s + log1p(a L_s), exact also when L_s underflows
    a = 3 * c.lr * c.rho**2 * dt
    upper = -log_risk_s + np.log1p(a * np.exp(log_risk_s)) - np.log(2 * c.n) - c.kappa
    # gamma^c_s (under)flowing to 0: both bounds are infinite, i.e. vacuous
    with np.errstate(divide="ignore", over="ignore"):
        lower = np.log(dt * c.lr * gamma_c_s**2 / (2 * c.n)) / (2 * b0)
        return unwrap_scalar(lower), unwrap_scalar(upper / gamma_c_s)


# ----------------------------------------------------------------------------- Theorem 3.2


def theorem32_average_risk_bound(c: ProblemConstants, t: ArrayLike | Tensor) -> Array:
    """Theorem 3.2: ``(1/t) sum_{k<t} L(w_k) <=
    (1 + 8 log^2(gamma^2 eta t)/alpha^2 + 8 kappa^2/alpha^2 + eta^2)/(gamma^2 eta t)
    + ||w_0||^2/(m eta t)`` for every ``t > 0`` (needs Assumptions 2A, 2C, 3 and ``R <= 1``).
    """
    require_assumptions(c, "Theorem 3.2", w0=True)
    t = _times(t)
    g2e = c.gamma**2 * c.eta
    num = 1 + 8 * np.log(g2e * t) ** 2 / c.alpha**2 + 8 * c.kappa**2 / c.alpha**2 + c.eta**2
    return unwrap_scalar(num / (g2e * t) + c.w0_norm**2 / (c.m * c.eta * t))


def theoremb3_comparator(c: ProblemConstants, T: ArrayLike | Tensor) -> tuple[Array, Array]:
    """Theorem B.3's comparator ``u = u_1 + u_2``, ``u_i^(j) = a_j s_i w_*``: returns
    ``(s_1, s_2) = ((log(gamma^2 eta T) + kappa)/(alpha gamma), eta/(2 gamma))`` for horizon T.

    Lemma B.1: ``<grad L(w), u_1 - w> <= 1/(gamma^2 eta T) - L(w)`` (valid when ``s_1 >= 0``);
    Lemma B.2: ``2 <grad L(w), u_2> + m eta ||grad L(w)||^2 <= 0``.
    """
    require_assumptions(c, "Theorem B.3")
    T = _times(T, "T")
    s1 = (np.log(c.gamma**2 * c.eta * T) + c.kappa) / (c.alpha * c.gamma)
    return unwrap_scalar(s1), unwrap_scalar(np.full_like(s1, c.eta / (2 * c.gamma)))


# ----------------------------------------------------------------------------- Theorem 4.1


def lemma_c3_step_gain(c: ProblemConstants, G: ArrayLike | Tensor) -> Array:
    """Lemma C.3 (perceptron step): ``<w_{t+1} - w_t, bar-w_*> >= m alpha gamma eta G(w_t)``."""
    require_assumptions(c, "Lemma C.3")
    return unwrap_scalar(c.m * c.alpha * c.gamma * c.eta * as_float_array(G))


def lemma_c3_average_G_bound(c: ProblemConstants, t: ArrayLike | Tensor) -> Array:
    """Lemma C.3: ``(1/t) sum_{k<t} G(w_k) <=
    (2 + 8 |log(gamma^2 eta t)|/alpha + 8 kappa/alpha + 4 eta)/(alpha gamma^2 eta t)
    + 3 ||w_0||/(sqrt(m) alpha gamma eta t)`` (log read as |log| per Lemma C.2's note)."""
    require_assumptions(c, "Lemma C.3", w0=True)
    t = _times(t)
    a, g, e = c.alpha, c.gamma, c.eta
    num = 2 + 8 * np.abs(np.log(g**2 * e * t)) / a + 8 * c.kappa / a + 4 * e
    bound = num / (a * g**2 * e * t) + 3 * c.w0_norm / (math.sqrt(c.m) * a * g * e * t)
    return unwrap_scalar(bound)


def _c1_c2(c: ProblemConstants) -> tuple[float, float]:
    """Theorem 4.1's ``c_1 = 4 e^{kappa+2}``, ``c_2 = 8 + 4 beta~``."""
    return 4 * math.exp(c.kappa + 2), 8 + 4 * c.beta_tilde


def theorem41_tau(c: ProblemConstants) -> float:
    """Theorem 4.1's transition time (as resolved in spec §6.3):
    ``tau = 128 (1 + 4 kappa)/(alpha^2 gamma^2) max{c_2 eta, c_1 n, e,
    (c_2 eta + c_1 n)/eta log((c_2 eta + c_1 n)/eta), (c_2 eta + c_1 n)/eta ||w_0||/sqrt(m)}``
    with ``c_1 = 4 e^{kappa+2}``, ``c_2 = 8 + 4 beta~``."""
    require_assumptions(c, "Theorem 4.1", w0=True)
    c1, c2 = _c1_c2(c)
    ratio = (c2 * c.eta + c1 * c.n) / c.eta
    inner = max(
        c2 * c.eta, c1 * c.n, math.e, ratio * math.log(ratio), ratio * c.w0_norm / math.sqrt(c.m)
    )
    return 128 * (1 + 4 * c.kappa) / (c.alpha**2 * c.gamma**2) * inner


def theorem41_stable_bound(
    c: ProblemConstants, t: ArrayLike | Tensor, s: int, factor: float = THEOREM41_FACTORS["safe"]
) -> Array:
    """Theorem 4.1 / Lemma C.4 (corrected, spec §6.4): ``L_t <= factor/(alpha^2 gamma^2 eta
    (t - s))`` for ``t > s``; ``factor`` 2 as printed, 8 as the lemmas prove."""
    require_assumptions(c, "Theorem 4.1")
    if not factor > 0:
        raise ValueError(f"factor={factor!r} must be > 0")
    dt = _times(as_float_array(t) - s, "t - s")
    return unwrap_scalar(factor / (c.alpha**2 * c.gamma**2 * c.eta * dt))


# ----------------------------------------------------------------------------- Corollary 4.2


def corollary42_budget(c: ProblemConstants) -> int:
    """Corollary 4.2's smallest admissible budget: the least integer ``T >=
    256 (1 + 4 kappa)/(alpha^2 gamma^2) max{c_1 n, 4 c_2^2, 2 c_2 ||w_0||/sqrt(m)}``."""
    require_assumptions(c, "Corollary 4.2", w0=True)
    c1, c2 = _c1_c2(c)
    inner = max(c1 * c.n, 4 * c2**2, 2 * c2 * c.w0_norm / math.sqrt(c.m))
    return math.ceil(256 * (1 + 4 * c.kappa) / (c.alpha**2 * c.gamma**2) * inner)


def corollary42_stepsize(c: ProblemConstants, T: ArrayLike | Tensor) -> Array:
    """Corollary 4.2's per-neuron stepsize ``eta = alpha^2 gamma^2 T / (256 (1 + 4 kappa) c_2)``
    (GD stepsize ``lr = m eta``); ``c.lr`` is not used."""
    require_assumptions(c, "Corollary 4.2")
    _, c2 = _c1_c2(c)
    return unwrap_scalar(c.alpha**2 * c.gamma**2 * _times(T, "T") / (256 * (1 + 4 * c.kappa) * c2))


def corollary42_risk_bound(
    c: ProblemConstants, T: ArrayLike | Tensor, factor: float = COROLLARY42_FACTORS["printed"]
) -> Array:
    """Corollary 4.2: ``L(w_T) <= factor (1 + 4 kappa) c_2 / (alpha^4 gamma^4 T^2)`` with
    factor 2048 printed, 1024 derived, 4096 safe (spec §6.6)."""
    require_assumptions(c, "Corollary 4.2")
    if not factor > 0:
        raise ValueError(f"factor={factor!r} must be > 0")
    _, c2 = _c1_c2(c)
    T = _times(T, "T")
    return unwrap_scalar(factor * (1 + 4 * c.kappa) * c2 / (c.alpha**4 * c.gamma**4 * T**2))
