"""Data for Part II: a linear-Gaussian teacher with fresh samples, and finite data sets.

:class:`GaussianTask` is ``y = V x + eps`` with ``x ~ N(0, Sigma_x)`` and ``eps ~ N(0, Sigma_eps)``
independent (spec §3.2). Every SGD step draws a fresh minibatch (online SGD, spec §6), so the
expectations in the theorems are population expectations and the ``1/S`` factor of (D1) is exact.
``V`` and the covariances may differ between the K runs trained together (a leading ``K``
dimension) or be shared by all runs.

:class:`FiniteTask` is a fixed data set ``(X, Y)``: minibatches are drawn with replacement, and
full-batch GD uses all of it (used for the digits data of Figure 5 and for GD on nonlinear nets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gdlab.data import digits_images
from gdlab.runtime import get_device, get_dtype
from gdlab.symmetry.checks import check_finite, check_int, check_real

__all__ = ["FiniteTask", "GaussianTask", "digits_task", "full_batch_of", "normalized", "sqrtm_psd"]


def sqrtm_psd(mat: torch.Tensor, power: float = 0.5) -> torch.Tensor:
    """``mat ** power`` for symmetric positive semi-definite matrices (batched), via ``eigh``."""
    evals, evecs = torch.linalg.eigh(mat)
    evals = evals.clamp_min(0.0)
    scaled = torch.where(evals > 0, evals.pow(power), torch.zeros_like(evals))
    return (evecs * scaled.unsqueeze(-2)) @ evecs.transpose(-1, -2)


def normalized(cov: torch.Tensor) -> torch.Tensor:
    """``bar Sigma = Sigma / Tr Sigma`` (Eq. 14), batched over leading dimensions."""
    return cov / torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)[..., None, None]


def _as_batched(
    name: str,
    mat: torch.Tensor,
    rows: int | None,
    cols: int | None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """``mat`` as a (K, rows, cols) tensor in the run dtype, on ``device`` (default: its own)."""
    if not isinstance(mat, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mat).__name__}")
    if mat.dim() == 2:
        mat = mat.unsqueeze(0)
    if mat.dim() != 3:
        raise ValueError(f"{name} must have shape (r, c) or (K, r, c), got {tuple(mat.shape)}")
    if (rows is not None and mat.shape[1] != rows) or (cols is not None and mat.shape[2] != cols):
        raise ValueError(
            f"{name} must have shape ({rows}, {cols}) or (K, {rows}, {cols}), "
            f"got {tuple(mat.shape)}"
        )
    if min(mat.shape) < 1:
        raise ValueError(f"{name} must have no empty dimension, got shape {tuple(mat.shape)}")
    return check_finite(name, mat.to(dtype=get_dtype(), device=device or mat.device))


def _check_cov(name: str, cov: torch.Tensor) -> None:
    if not torch.allclose(cov, cov.transpose(-1, -2)):
        raise ValueError(f"{name} must be symmetric")
    # Relative slack of 1e-12 on the smallest eigenvalue: float64 rounding of eigh.
    evals = torch.linalg.eigvalsh(cov)
    if (evals < -1e-12 * evals.abs().amax(-1, keepdim=True)).any():
        raise ValueError(
            f"{name} must be positive semi-definite, smallest eigenvalue {evals.min()}"
        )


class GaussianTask:
    """``y = V x + eps``, ``x ~ N(0, cov_x)``, ``eps ~ N(0, cov_eps)``, fresh samples per step.

    Attributes
    ----------
    V : (K or 1, dy, dx) teacher.
    cov_x : (K or 1, dx, dx) input covariance Sigma_x.
    cov_eps : (K or 1, dy, dy) label-noise covariance Sigma_eps.

    The task lives on the device of ``V`` (the covariances follow it); :meth:`to` moves it.
    """

    def __init__(self, V: torch.Tensor, cov_x: torch.Tensor, cov_eps: torch.Tensor) -> None:
        V = _as_batched("V", V, None, None)
        dy, dx = V.shape[1:]
        cov_x = _as_batched("cov_x", cov_x, dx, dx, V.device)
        cov_eps = _as_batched("cov_eps", cov_eps, dy, dy, V.device)
        _check_cov("cov_x", cov_x)
        _check_cov("cov_eps", cov_eps)
        sizes = {t.shape[0] for t in (V, cov_x, cov_eps)} - {1}
        if len(sizes) > 1:
            raise ValueError(f"V, cov_x, cov_eps have different run counts K: {sorted(sizes)}")
        self.V, self.cov_x, self.cov_eps = V, cov_x, cov_eps
        # Symmetric square roots also work for singular covariances (Cholesky would not).
        self._root_x, self._root_eps = sqrtm_psd(cov_x), sqrtm_psd(cov_eps)

    @classmethod
    def isotropic(cls, V: torch.Tensor, var_x: float = 1.0, var_eps: float = 1.0) -> GaussianTask:
        """Task with ``Sigma_x = var_x I`` and ``Sigma_eps = var_eps I``."""
        check_real("var_x", var_x, nonneg=True)
        check_real("var_eps", var_eps, nonneg=True)
        V = _as_batched("V", V, None, None)
        dy, dx = V.shape[1:]
        eye = torch.eye
        return cls(
            V,
            var_x * eye(dx, dtype=V.dtype, device=V.device),
            var_eps * eye(dy, dtype=V.dtype, device=V.device),
        )

    @classmethod
    def diagonal(
        cls, V: torch.Tensor, var_x: Sequence[float], var_eps: Sequence[float]
    ) -> GaussianTask:
        """Task with ``Sigma_x = diag(var_x)`` and ``Sigma_eps = diag(var_eps)``."""
        V = _as_batched("V", V, None, None)
        cov_x, cov_eps = (
            torch.diag(torch.tensor(list(v), dtype=V.dtype, device=V.device))
            for v in (var_x, var_eps)
        )
        return cls(V, cov_x, cov_eps)

    @property
    def dx(self) -> int:
        return int(self.V.shape[2])

    @property
    def dy(self) -> int:
        return int(self.V.shape[1])

    @property
    def num_runs(self) -> int:
        """The leading dimension K of the task (1: shared by every run)."""
        return max(int(t.shape[0]) for t in self.tensors())

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """The tensors that define the task: ``(V, cov_x, cov_eps)``."""
        return self.V, self.cov_x, self.cov_eps

    def sample(
        self, num_runs: int, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh minibatch per run: ``x`` of shape (K, S, dx) and ``y`` of shape (K, S, dy)."""
        check_int("batch_size", batch_size, minimum=1)
        z = torch.randn(
            num_runs,
            batch_size,
            self.dx + self.dy,
            generator=generator,
            dtype=self.V.dtype,
            device=self.V.device,
        )
        x = z[..., : self.dx] @ self._root_x
        y = x @ self.V.transpose(-1, -2) + z[..., self.dx :] @ self._root_eps
        return x, y

    def to(self, device: torch.device | str) -> GaussianTask:
        """The same task with its tensors (and their square roots) on ``device``."""
        out = object.__new__(GaussianTask)
        out.V, out.cov_x, out.cov_eps = (t.to(device) for t in self.tensors())
        out._root_x, out._root_eps = self._root_x.to(device), self._root_eps.to(device)
        return out

    def fixed_sample(self, num_runs: int, size: int, generator: torch.Generator) -> FiniteTask:
        """A finite data set of ``size`` draws per run (for full-batch GD on nonlinear nets)."""
        check_int("size", size, minimum=1)
        return FiniteTask(*self.sample(num_runs, size, generator))


@dataclass(frozen=True)
class FiniteTask:
    """A fixed data set ``X`` (K or 1, n, dx), ``Y`` (K or 1, n, dy); batches with replacement."""

    X: torch.Tensor
    Y: torch.Tensor

    def __post_init__(self) -> None:
        X, Y = check_finite("X", self.X), check_finite("Y", self.Y)
        shapes = f"{tuple(X.shape)} and {tuple(Y.shape)}"
        if X.dim() != 3 or Y.dim() != 3 or X.shape[:2] != Y.shape[:2]:
            raise ValueError(
                "X and Y must have shapes (K, n, dx) and (K, n, dy) with the same K and n, got "
                f"{shapes}"
            )
        if min(*X.shape, Y.shape[2]) < 1:
            raise ValueError(
                f"X and Y must have K, n, dx, dy >= 1 (a non-empty task), got {shapes}"
            )
        if X.dtype != Y.dtype or X.device != Y.device:
            raise ValueError(
                f"X ({X.dtype} on {X.device}) and Y ({Y.dtype} on {Y.device}) must share dtype "
                "and device"
            )

    @property
    def size(self) -> int:
        return int(self.X.shape[1])

    @property
    def dx(self) -> int:
        return int(self.X.shape[2])

    @property
    def dy(self) -> int:
        return int(self.Y.shape[2])

    @property
    def num_runs(self) -> int:
        """The leading dimension K of the data (1: shared by every run)."""
        return int(self.X.shape[0])

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """The tensors that define the task: ``(X, Y)``."""
        return self.X, self.Y

    def sample(
        self, num_runs: int, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` rows drawn uniformly with replacement, independently per run."""
        check_int("batch_size", batch_size, minimum=1)
        idx = torch.randint(
            self.size, (num_runs, batch_size), generator=generator, device=self.X.device
        )
        X = self.X.expand(num_runs, -1, -1)
        Y = self.Y.expand(num_runs, -1, -1)
        take = idx.unsqueeze(-1)
        return (
            X.gather(1, take.expand(-1, -1, X.shape[2])),
            Y.gather(1, take.expand(-1, -1, Y.shape[2])),
        )

    def full_batch(self, num_runs: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole data set for each of the K runs."""
        return self.X.expand(num_runs, -1, -1), self.Y.expand(num_runs, -1, -1)


def full_batch_of(
    model: str, task: GaussianTask | FiniteTask, num_runs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole data set of ``task`` for full-batch GD on ``model`` (a nonlinear net, whose
    population gradient over a Gaussian input has no closed form): a :class:`GaussianTask` is
    refused, with the fix in the message."""
    if not isinstance(task, FiniteTask):
        raise TypeError(
            f"full-batch GD on {model} needs a FiniteTask (a fixed data set, e.g. "
            f"task.fixed_sample(...)), got {type(task).__name__}"
        )
    return task.full_batch(num_runs)


def digits_task(num_classes: int = 10) -> FiniteTask:
    """The digits of :func:`gdlab.data.digits_images` (classes ``0 .. num_classes - 1``),
    standardised, with one-hot targets, in the run dtype and on the run device.

    Pixels are centred and scaled to unit variance per feature (constant pixels stay 0); the
    target of an image of class c is the c-th unit vector of R^num_classes (Figure 5 analogue,
    a deep linear regression onto the labels).
    """
    check_int("num_classes", num_classes, minimum=2)
    pixels, labels = digits_images(range(num_classes))
    X = torch.as_tensor(pixels).to(dtype=get_dtype(), device=get_device())
    X = X - X.mean(0)
    std = X.std(0)
    X = X / torch.where(std > 0, std, torch.ones_like(std))
    Y = torch.nn.functional.one_hot(torch.as_tensor(labels, device=X.device), num_classes)
    return FiniteTask(X.unsqueeze(0), Y.to(X.dtype).unsqueeze(0))
