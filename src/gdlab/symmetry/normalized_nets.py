"""Net-A and Net-B of the paper's Figure 7 (App. A.1, spec §4 and §7.9): two-layer tanh nets
whose layers are normalised by Frobenius norms, so that the loss is scale invariant.

With ``w`` (d, dx) of rows ``w_j``, ``u`` (dy, d) of columns ``u_j``:

    Net-A   f(x) = sum_j (u_j / ||w||_F) tanh(w_j^T x / ||u||_F),
    Net-B   f(x) = sum_j (u_j / ||u||_F) tanh(w_j^T x / ||w||_F)     (numerator u_j, spec §7.9).

Both are invariant to ``(u, w) -> (c u, c w)``: the exponential symmetry with ``A = I``, charge
``||u||_F^2 + ||w||_F^2``, sample gradients orthogonal to ``theta = (w, u)`` (Eq. 3), so (D6)
holds. Net-B is also invariant to each layer's scaling alone (``A = diag(0, I)`` and
``diag(I, 0)``): each of ``||u||_F^2`` and ``||w||_F^2`` obeys (D6) separately. Net-A depends on
the ratio ``rho = ||u||_F / ||w||_F``, ``f = rho sum_j hat u_j tanh(hat w_j^T x / rho)``: its
per-layer norms exchange at O(eta) per step (``u . g_u = -w . g_w``).

Parameters are ``(w, u)`` of shapes (K, d, dx) and (K, dy, d), the order of
:class:`~gdlab.symmetry.linear.DeepLinear`; the per-sample loss is ``||f(x) - y||^2``.
Gradients are closed form (validated against autograd in ``tests/test_symmetry_normalized_nets``).
"""

from __future__ import annotations

import torch

from gdlab.symmetry.checks import check_choice, check_int, check_real
from gdlab.symmetry.linear import Params
from gdlab.symmetry.tasks import FiniteTask, GaussianTask, full_batch_of

__all__ = ["VARIANTS", "NormalizedTanhNet", "init_normalized", "layer_norms_sq"]

VARIANTS = ("A", "B")


def _norm(m: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of each run's matrix, shaped (K, 1, 1) to broadcast."""
    return m.flatten(1).norm(dim=1)[:, None, None]


def _tangent(G: torch.Tensor, m: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """Gradient through ``hat m = m / ||m||``: ``(G - <G, hat m> hat m) / ||m||``."""
    unit = m / norm
    return (G - (G * unit).sum((1, 2), keepdim=True) * unit) / norm


def layer_norms_sq(params: Params) -> tuple[torch.Tensor, torch.Tensor]:
    """``(||w||_F^2, ||u||_F^2)`` of each run: two (K,) tensors."""
    w, u = params
    return (w**2).sum((1, 2)), (u**2).sum((1, 2))


class NormalizedTanhNet:
    """Net-A (``variant='A'``) or Net-B (``'B'``) with the squared loss; closed-form gradients."""

    def __init__(self, variant: str) -> None:
        self.variant = check_choice("variant", variant, VARIANTS)
        self.name = f"net-{variant.lower()}"

    def _check(self, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        shapes = [tuple(p.shape) for p in params]
        if len(params) != 2 or any(p.dim() != 3 for p in params):
            raise ValueError(
                f"{self.name} takes params = (w, u) of shapes (K, d, dx), (K, dy, d), got {shapes}"
            )
        w, u = params
        if u.shape[0] != w.shape[0] or u.shape[2] != w.shape[1]:
            raise ValueError(
                f"{self.name}: u must have shape (K, dy, d) for w of shape (K, d, dx), got {shapes}"
            )
        return w, u

    def dims(self, params: Params) -> tuple[int, int]:
        """``(dx, dy)`` (the shapes are checked)."""
        w, u = self._check(params)
        return int(w.shape[2]), int(u.shape[1])

    def _forward(self, params: Params, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pre-activations ``a``, ``h = tanh(a)`` and ``f`` of a batch ``x`` (K, S, dx); the
        effective layers ``(in_w, out_u)`` and norms ``(nu, nw)`` of the variant."""
        w, u = self._check(params)
        nw, nu = _norm(w), _norm(u)
        # Net-A: f = (u / ||w||) tanh(w x / ||u||); Net-B: f = (u / ||u||) tanh(w x / ||w||)
        in_w, out_u = (w / nu, u / nw) if self.variant == "A" else (w / nw, u / nu)
        a = x @ in_w.transpose(-1, -2)
        h = torch.tanh(a)
        return {"a": a, "h": h, "f": h @ out_u.transpose(-1, -2), "in_w": in_w, "out_u": out_u,
                "nw": nw, "nu": nu}  # fmt: skip

    def loss(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Minibatch mean ``(1/S) sum_s ||f(x_s) - y_s||^2``: (K,)."""
        r = self._forward(params, x)["f"] - y
        return (r**2).sum(-1).mean(-1)

    def grad(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params:
        """``(g_w, g_u)`` of the minibatch mean loss.

        With ``r = f - y``, ``c = 2/S``, the gradients with respect to the effective layers are
        ``G_out = c sum_s r_s h_s^T`` and ``G_in = c sum_s delta_s x_s^T``,
        ``delta = (out_u^T r) * (1 - h^2)``. Net-B maps them through ``hat u``, ``hat w``
        (:func:`_tangent`). Net-A: ``g_u = G_out / ||w|| + (dl/d||u||) u / ||u||`` with
        ``dl/d||u|| = -c sum delta . a / ||u||``, and ``g_w = G_in / ||u|| + (dl/d||w||) w / ||w||``
        with ``dl/d||w|| = -c sum r . f / ||w||``. In both, ``<w, g_w> + <u, g_u> = 0``.
        """
        fw = self._forward(params, x)
        w, u = params
        c = 2.0 / x.shape[1]
        r = fw["f"] - y
        delta = (r @ fw["out_u"]) * (1 - fw["h"] ** 2)
        G_out = c * r.transpose(-1, -2) @ fw["h"]
        G_in = c * delta.transpose(-1, -2) @ x
        nw, nu = fw["nw"], fw["nu"]
        if self.variant == "B":
            return _tangent(G_in, w, nw), _tangent(G_out, u, nu)
        d_nu = -c * (delta * fw["a"]).sum((1, 2))[:, None, None] / nu
        d_nw = -c * (r * fw["f"]).sum((1, 2))[:, None, None] / nw
        return G_in / nu + d_nw * w / nw, G_out / nw + d_nu * u / nu

    def population_grad(self, params: Params, task: GaussianTask | FiniteTask) -> Params:
        """Full-batch gradient on a :class:`FiniteTask` (:func:`full_batch_of`)."""
        return self.grad(params, *full_batch_of(self.name, task, params[0].shape[0]))


def init_normalized(
    dx: int,
    width: int,
    dy: int,
    num_runs: int,
    *,
    norm_w: float,
    norm_u: float,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
) -> Params:
    """Gaussian directions for ``(w, u)`` rescaled to Frobenius norms ``norm_w``, ``norm_u``, on
    the generator's device."""
    sizes = [check_int(n, v, minimum=1) for n, v in (("dx", dx), ("width", width), ("dy", dy))]
    check_int("num_runs", num_runs, minimum=1)
    norms = [check_real(n, v, positive=True) for n, v in (("norm_w", norm_w), ("norm_u", norm_u))]
    shapes = [(num_runs, sizes[1], sizes[0]), (num_runs, sizes[2], sizes[1])]
    out = []
    for shape, norm in zip(shapes, norms, strict=True):
        m = torch.randn(shape, generator=generator, dtype=dtype, device=generator.device)
        out.append(norm * m / _norm(m))
    return tuple(out)
