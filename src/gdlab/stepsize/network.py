"""The two-layer network of eq. (2), with output scale ``b`` (App. D), and the logistic risk.

``f(w; x) = (b/m) sum_j a_j phi(x^T w^(j))`` with fixed ``a_j in {-1, +1}``, trainable
``w = (w^(1), ..., w^(m))``, no biases (spec §1; ``b = 1`` is eq. (2), ``b = sqrt(m)`` the NTK
scaling of App. D). Parameters are batched: ``W`` has shape ``(K, m, d)`` for K networks.

The risk is ``L(w) = (1/n) sum_i l(y_i f(w; x_i))`` with ``l(q) = log(1 + e^{-q})`` (eq. 1) and
its gradient is the closed form of spec §1,
``grad_{w^(j)} L = (b/m) a_j (1/n) sum_i l'(q_i) y_i phi'(x_i^T w^(j)) x_i``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gdlab.runtime import check_device, make_generator
from gdlab.stepsize.activations import Activation, softplus

__all__ = [
    "PRODUCT_FORM_MIN_ENTRIES",
    "Evaluator",
    "TwoLayerNet",
    "check_data",
    "check_input_scale",
    "log_logistic_loss",
    "logistic_loss",
    "logistic_loss_grad",
    "risk_and_grad",
]

# Above this margin log l(q) = -q + log1p(-e^{-q}/2 + ...) equals -q to within e^{-40}/2 ~ 2e-18
# absolute, below float64 rounding of -q; below it log(softplus(-q)) is accurate (l(q) >= 4e-18).
_LOG_LOSS_SWITCH = 40.0


def logistic_loss(q: Tensor) -> Tensor:
    """``l(q) = log(1 + e^{-q})`` (eq. 1), as ``softplus(-q)``: no overflow, no cancellation."""
    return softplus(-q)


def logistic_loss_grad(q: Tensor) -> Tensor:
    """``l'(q) = -sigma(-q) = -1/(1 + e^{q})``."""
    return -torch.sigmoid(-q)


def log_logistic_loss(q: Tensor) -> Tensor:
    """``log l(q)``, finite for every finite q (``l(q)`` itself underflows to 0 for q > 745)."""
    return torch.where(q > _LOG_LOSS_SWITCH, -q, torch.log(logistic_loss(q)))


def check_data(X: Tensor, y: Tensor | None = None) -> None:
    """Validate a data set: X of shape (n, d) with n, d >= 1 and finite entries; y of shape (n,)
    with entries in {-1, +1}. Raises TypeError/ValueError naming the offending value."""
    if not isinstance(X, Tensor):
        raise TypeError(f"X must be a torch.Tensor, got {type(X).__name__}")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have shape (n, d) with n, d >= 1, got {tuple(X.shape)}")
    if not X.is_floating_point():
        raise ValueError(f"X must be a floating tensor, got dtype {X.dtype}")
    bad = ~torch.isfinite(X)
    if bool(bad.any()):
        i, j = (int(k) for k in bad.nonzero()[0])
        raise ValueError(
            f"X must have finite entries, got X[{i}, {j}] = {X[i, j].item()} "
            f"({int(bad.sum())} non-finite entries)"
        )
    if y is None:
        return
    if not isinstance(y, Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {tuple(y.shape)}")
    bad = (y != 1) & (y != -1)
    if bool(bad.any()):
        raise ValueError(f"labels y must be in {{-1, +1}}, got {y[bad][0].item()!r}")


def check_input_scale(X: Tensor, lr_max: float) -> float:
    """``max ||x_i||^2`` of inputs X (n, d) in their dtype, refused when a GD step cannot be
    represented: when it overflows, or when ``lr_max * max ||x_i||^2`` does.

    A GD step changes the pre-activations ``x^T w`` by up to about ``lr ||x||^2`` times the
    network's derivatives, so past that point every run overflows whatever its stepsize: the
    data, not the stepsize, are the problem (the theorems assume ``||x_i|| <= 1``). The
    ValueError names the largest ``|x_ij|``.
    """
    r2 = float(X.square().sum(dim=1).max())
    limit = torch.finfo(X.dtype).max
    if math.isfinite(r2) and lr_max * r2 <= limit:
        return r2
    dtype = str(X.dtype).removeprefix("torch.")
    largest = float(X.abs().max())
    what = (
        "max ||x_i||^2 overflows"
        if not math.isfinite(r2)
        else f"lr * max ||x_i||^2 = {lr_max:.3g} * {r2:.3g} exceeds"
    )
    raise ValueError(
        f"the inputs are too large: max |x_ij| = {largest:.3g} and {what} the {dtype} range "
        f"{limit:.3g}, so a GD step cannot be represented; rescale X (the theorems assume "
        "||x_i|| <= 1)"
    )


@dataclass(frozen=True, eq=False)
class TwoLayerNet:
    """Eq. (2) scaled by ``b``: ``f(w; x) = (b/m) sum_j a_j phi(x^T w^(j))``.

    Attributes
    ----------
    activation : the activation ``phi``.
    a : (m,) fixed output signs in {-1, +1}.
    b : output scale (1: mean field, eq. 2; sqrt(m): NTK, App. D).
    """

    activation: Activation
    a: Tensor
    b: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.activation, Activation):
            raise TypeError(f"activation must be an Activation, got {type(self.activation)}")
        if not isinstance(self.a, Tensor) or self.a.ndim != 1 or self.a.numel() < 1:
            raise ValueError(f"a must be a 1-D tensor with m >= 1 entries, got {self.a!r}")
        if not bool(((self.a == 1) | (self.a == -1)).all()):
            raise ValueError(f"output signs a must be in {{-1, +1}}, got {self.a.tolist()}")
        if not (math.isfinite(self.b) and self.b > 0):
            raise ValueError(f"output scale b={self.b!r} must be finite and > 0")
        object.__setattr__(self, "a", self.a.detach().to("cpu", torch.float64))
        object.__setattr__(self, "b", float(self.b))

    @property
    def m(self) -> int:
        """The width m."""
        return int(self.a.numel())

    @classmethod
    def balanced(cls, activation: Activation, m: int, b: float = 1.0) -> TwoLayerNet:
        """Balanced signs (spec §5): ``a_j = +1`` for the first ``ceil(m/2)`` neurons, else -1."""
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"width m={m!r} must be an int >= 1")
        a = torch.ones(m, dtype=torch.float64)
        a[(m + 1) // 2 :] = -1.0
        return cls(activation, a, b)

    def check_params(self, W: Tensor, d: int | None = None) -> None:
        """Validate parameters: W of shape (K, m, d) (d matching the data when given)."""
        if not isinstance(W, Tensor):
            raise TypeError(f"W must be a torch.Tensor, got {type(W).__name__}")
        if W.ndim != 3 or W.shape[0] < 1 or W.shape[1] != self.m:
            raise ValueError(f"W must have shape (K, m={self.m}, d), got {tuple(W.shape)}")
        if d is not None and W.shape[2] != d:
            raise ValueError(f"W has input dimension {W.shape[2]} but the data have d={d}")

    def _check_pair(self, W: Tensor, X: Tensor) -> None:
        check_data(X)
        self.check_params(W, X.shape[1])
        if W.dtype != X.dtype or W.device != X.device:
            raise ValueError(
                f"W ({W.dtype}, {W.device}) and X ({X.dtype}, {X.device}) "
                "must share dtype and device"
            )

    def forward(self, W: Tensor, X: Tensor) -> Tensor:
        """Predictions ``f`` of shape (K, n) for parameters W (K, m, d) and inputs X (n, d)."""
        self._check_pair(W, X)
        return Evaluator(self, X).predict(W)

    def assumption1_constants(self, R: float = 1.0) -> tuple[float, float, float]:
        """``(rho, beta, kappa)`` of Assumption 1 for inputs with ``||x|| <= R`` (spec §2).

        ``grad_{w^(j)} f = (b/m) a_j phi'(x^T w^(j)) x`` gives ``rho = b R sup|phi'| / sqrt(m)``;
        the Hessian is block diagonal with blocks ``(b/m) a_j phi'' x x^T``, so
        ``beta = b R^2 beta~ / m``; ``f - <grad f, w> = (b/m) sum_j a_j (phi - z phi')(z_j)``
        gives ``kappa = b kappa_phi`` (independent of R).
        """
        if not (math.isfinite(R) and R >= 0):
            raise ValueError(f"input radius R={R!r} must be finite and >= 0")
        act = self.activation
        return (
            self.b * R * act.sup_dphi / math.sqrt(self.m),
            self.b * R**2 * act.beta_tilde / self.m,
            self.b * act.kappa,
        )

    def init(
        self,
        K: int,
        d: int,
        scale: float = 0.1,
        seed: int = 0,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """``K`` i.i.d. ``N(0, scale^2)`` parameters of shape (K, m, d) (spec §5).

        Drawn in float64 on the CPU from ``make_generator(seed)``, then moved, so the values do
        not depend on device or dtype.
        """
        for name, value in (("K", K), ("d", d)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an int >= 1")
        if not (math.isfinite(scale) and scale >= 0):
            raise ValueError(f"init scale={scale!r} must be finite and >= 0")
        device = check_device(device)
        gen = make_generator(seed)
        W = torch.randn(K, self.m, d, generator=gen, dtype=torch.float64) * scale
        return W.to(device=device, dtype=dtype)


#: CPU steps whose pre-activations have at least this many entries (K m n) evaluate the
#: softplus family by the product form of :class:`Evaluator` (its elementwise work is one
#: sigmoid and four cheap passes instead of a softplus and a sigmoid: 1.7x fewer seconds at
#: K m n = 5e5, measured); smaller ones take the two-kernel form, whose cost is kernel launches.
PRODUCT_FORM_MIN_ENTRIES = 1 << 16
# A product of sigma(|z|) in [1/2, 1) over at most this many neurons stays above 2^-64: no
# underflow in float64 or float32 (normal down to 2^-126).
_PRODUCT_BLOCK = 64
# Above this many blocks of equal output sign (outputs signs alternating along the neurons) the
# product form launches too many small reductions; the two-kernel form is used instead.
_MAX_BLOCKS = 16


def _sign_blocks(a: Tensor) -> list[tuple[int, int, float]]:
    """``(start, stop, sign)`` for runs of equal ``a_j``, cut into blocks of at most
    ``_PRODUCT_BLOCK`` neurons."""
    signs = a.tolist()
    blocks: list[tuple[int, int, float]] = []
    start = 0
    for j in range(1, len(signs) + 1):
        if j == len(signs) or signs[j] != signs[start] or j - start == _PRODUCT_BLOCK:
            blocks.append((start, j, float(signs[start])))
            start = j
    return blocks


class Evaluator:
    """Repeated evaluation of eq. (2) and of the risk gradient on fixed data (no validation).

    Uses ``phi = c z + k psi`` (see :mod:`.activations`): the linear part of ``f`` is
    ``(b c/m) (a^T W) X^T`` and that of the gradient ``(b c/m) a_j (r^T X)``, so only ``psi``
    and ``psi'`` touch the (K, m, n) pre-activations ``Z = W X^T``.

    For the leaky softplus family (``psi = softplus``, ``c > 0``) on the CPU with at least
    :data:`PRODUCT_FORM_MIN_ENTRIES` entries in Z, ``f`` is evaluated in the product form: with
    ``s_j = sigma(z_j)`` (the gradient's ``psi'``, one exp per entry) and
    ``u_j = sigma(|z_j|) = max(s_j, 1 - s_j)`` in ``[1/2, 1)``,
    ``softplus(z) = (z + |z|)/2 - log u``, so

    ``f = (b/m) [(c + k/2) a^T W x + (k/2) sum_j a_j |z_j| - k sum_B s_B log prod_(j in B) u_j]``

    over blocks B of at most 64 neurons of sign ``s_B``: one log per block and sample instead of
    one log1p per entry. Each ``u_j`` is within an ulp of ``sigma(|z_j|)`` (``1 - s_j`` is
    exact to rounding for ``s_j <= 1/2``), so a block's log carries an absolute error of at most
    about ``(|B| + 1)`` ulps of 1, the rounding scale of a sum of ``|B|`` terms of size at most
    ``log 2``; with ``c > 0`` the terms of f are at least ``c |z_j|``, so both forms compute f to
    float64 rounding of its terms (for ``c = 0`` a neuron far below 0 contributes ``e^{z}``,
    which only the per-entry softplus resolves). The gradient is the same computation in both.
    The product form works in preallocated buffers and is never used on tensors that require
    gradients.
    """

    def __init__(self, net: TwoLayerNet, X: Tensor, y: Tensor | None = None) -> None:
        act = net.activation
        a = net.a.to(device=X.device, dtype=X.dtype)
        self.X = X
        self.XT = X.T.contiguous()
        self.base = act.base
        self.a_base = a * (net.b * act.scale / net.m) if act.base is not None else None
        self.a_lin = a * (net.b * act.slope / net.m) if act.slope != 0.0 else None
        self.a_base_col = None if self.a_base is None else self.a_base.unsqueeze(-1)
        self.a_lin_col = None if self.a_lin is None else self.a_lin.unsqueeze(-1)
        self.neg_y = None if y is None else -y
        self.neg_y_over_n = None if y is None else -y / X.shape[0]
        blocks = _sign_blocks(net.a)
        self.product_form = (
            act.base is not None
            and act.base.name == "softplus"
            and act.slope > 0.0
            and X.device.type == "cpu"
            and len(blocks) <= _MAX_BLOCKS
        )
        if self.product_form:
            scale = net.b * act.scale / net.m
            self.a_linear = a * (net.b * (act.slope + act.scale / 2) / net.m)
            self.a_abs = a * (scale / 2)
            self.blocks = [(start, stop) for start, stop, _ in blocks]
            sizes = {stop - start for start, stop in self.blocks}
            self.block_size = sizes.pop() if len(sizes) == 1 else None
            coef = [-scale * sign for *_, sign in blocks]
            self.block_coef = torch.tensor(coef, dtype=torch.float64).to(X)
            self.one = torch.ones((), device=X.device, dtype=X.dtype)
            self.buffers: tuple[Tensor, Tensor] | None = None

    def _uses_product_form(self, W: Tensor) -> bool:
        return (
            self.product_form
            and not W.requires_grad
            and W.shape[0] * W.shape[1] * self.X.shape[0] >= PRODUCT_FORM_MIN_ENTRIES
        )

    def _product_form(self, W: Tensor) -> tuple[Tensor, Tensor]:
        """``(f, S)``: predictions (K, n) in the product form and ``S = sigma(Z)`` (K, m, n),
        in a buffer that the next call overwrites."""
        K, n = W.shape[0], self.X.shape[0]
        shape = (K, W.shape[1], n)
        if self.buffers is None or self.buffers[0].shape != shape:
            self.buffers = (W.new_empty(shape), W.new_empty(shape))
        Z, U = self.buffers
        torch.matmul(W, self.XT, out=Z)
        torch.abs(Z, out=U)
        f = torch.matmul(self.a_abs, U)
        f = torch.addmm(f, torch.matmul(self.a_linear, W), self.XT)
        S = torch.sigmoid(Z, out=Z)
        torch.maximum(torch.sub(self.one, S, out=U), S, out=U)
        if self.block_size is not None:  # equal blocks: one reduction
            products = U.view(K, len(self.blocks), self.block_size, n).prod(2)
        else:
            products = torch.stack([U[:, start:stop].prod(1) for start, stop in self.blocks], 1)
        f.add_(torch.matmul(self.block_coef, products.log_()))
        return f, S

    def _predict(self, W: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(f, Z)``: predictions (K, n) and pre-activations ``Z = W X^T`` (K, m, n)."""
        if self.base is None:
            return torch.matmul(torch.matmul(self.a_lin, W), self.XT), None
        Z = torch.matmul(W, self.XT)
        f = torch.matmul(self.a_base, self.base.phi(Z))
        if self.a_lin is not None:
            f = torch.addmm(f, torch.matmul(self.a_lin, W), self.XT)
        return f, Z

    def predict(self, W: Tensor) -> Tensor:
        """Predictions ``f`` of shape (K, n)."""
        if self._uses_product_form(W):
            return self._product_form(W)[0]
        return self._predict(W)[0]

    def neg_margins_and_grad(self, W: Tensor) -> tuple[Tensor, Tensor]:
        """``(-q, grad L)``: negated margins ``-y f`` (K, n) and the gradient (K, m, d) in
        closed form (spec §1): with ``r_i = l'(q_i) y_i / n = -sigma(-q_i) y_i / n``,
        ``grad_j = (b/m) a_j sum_i r_i (c + k psi'(x_i^T w_j)) x_i``."""
        if self._uses_product_form(W):
            f, D = self._product_form(W)
        else:
            f, Z = self._predict(W)
            D = None if Z is None else self.base.dphi(Z)
        neg_q = f.mul_(self.neg_y)
        r = torch.sigmoid(neg_q).mul_(self.neg_y_over_n)
        rX = torch.matmul(r, self.X).unsqueeze(1) if self.a_lin is not None else None
        if D is None:
            return neg_q, rX * self.a_lin_col
        grad = torch.matmul(D.mul_(r.unsqueeze(1)), self.X).mul_(self.a_base_col)
        return neg_q, grad if rX is None else grad.addcmul_(rX, self.a_lin_col)

    def margins_and_grad(self, W: Tensor) -> tuple[Tensor, Tensor]:
        """``(q, grad L)``: margins ``q = y f`` (K, n) and the gradient (K, m, d)."""
        neg_q, grad = self.neg_margins_and_grad(W)
        return neg_q.neg_(), grad


def risk_and_grad(net: TwoLayerNet, W: Tensor, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The risk ``L(W)`` (K,) of eq. (1) and its closed-form gradient (K, m, d)."""
    check_data(X, y)
    net._check_pair(W, X)
    q, grad = Evaluator(net, X, y.to(X)).margins_and_grad(W)
    return logistic_loss(q).mean(-1), grad
