"""Every dataset of the book as a function returning a :class:`Dataset` (spec §1, §4, §5).

Inputs are float64 CPU tensors of shape ``(n, d)``, labels float64 in ``{-1, +1}``. The
figure datasets (XOR, the five points of Figure 4, the two points of Theorem 4.3) are kept
exactly as printed, even where they violate the standing assumption ``||x_i|| <= 1``
(spec §6.5); :meth:`Dataset.rescaled` divides them by their radius ``R = max_i ||x_i||`` for
the theory checks. Image datasets (scikit-learn digits, CIFAR-10) are flattened and divided by
the largest norm among the images used, so ``||x|| <= 1`` on train and test. CIFAR-10 batches
are read by an unpickler that resolves only the numpy names the official files use, to stubs
that run nothing; every malformed batch is a :class:`DataFormatError` naming the file.

:func:`max_margin_direction` returns the Assumption 3 certificate ``(w_*, gamma)`` of a
dataset: the hard-margin linear SVM through the origin.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import pickle
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

from gdlab.runtime import make_generator

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_URL",
    "DATASET_NAMES",
    "SAFE_PICKLE_GLOBALS",
    "DataFormatError",
    "Dataset",
    "cifar10_two_class",
    "cifar_folder",
    "digits",
    "digits_images",
    "five_point",
    "get_dataset",
    "max_margin_direction",
    "separable_gaussian",
    "two_point",
    "xor",
]

DTYPE = torch.float64
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_SUBDIR = "cifar-10-batches-py"
DEFAULT_DATA_ROOT = Path("~/.cache/gdlab")


@dataclass(frozen=True)
class Dataset:
    """A binary classification dataset ``(x_i, y_i)``, ``y_i in {-1, +1}`` (spec §1).

    Attributes
    ----------
    name : short identifier, e.g. ``xor``, ``digits38``, ``cifar10-airplane-automobile``.
    X : (n, d) float64 training inputs.
    y : (n,) float64 training labels in {-1, +1}.
    X_test, y_test : optional held-out split (same conventions), or None.
    note : provenance (seed, class names, scaling, substitutions).
    """

    name: str
    X: Tensor
    y: Tensor
    X_test: Tensor | None = None
    y_test: Tensor | None = None
    note: str = ""

    def __post_init__(self) -> None:
        _check_xy(self.X, self.y, "X", "y")
        if (self.X_test is None) != (self.y_test is None):
            raise ValueError("X_test and y_test must both be given or both be None")
        if self.X_test is not None:
            _check_xy(self.X_test, self.y_test, "X_test", "y_test")
            if self.X_test.shape[1] != self.X.shape[1]:
                raise ValueError(
                    f"X_test has dimension {self.X_test.shape[1]}, X has {self.X.shape[1]}"
                )

    @property
    def n(self) -> int:
        """Number of training points."""
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        """Input dimension."""
        return int(self.X.shape[1])

    @property
    def radius(self) -> float:
        """``R = max_i ||x_i||`` over the training inputs."""
        return float(self.X.norm(dim=1).max())

    @property
    def has_test(self) -> bool:
        """Whether a held-out split is present."""
        return self.X_test is not None

    def rescaled(self) -> Dataset:
        """The same data with every input (train and test) divided by ``R``, so ``max ||x|| = 1``.

        Margins (and ``gamma`` of Assumption 3) are divided by ``R`` as well (spec §5).
        """
        r = self.radius
        return replace(
            self,
            X=self.X / r,
            X_test=None if self.X_test is None else self.X_test / r,
            note=_join(self.note, f"inputs divided by R={r:.6g}"),
        )


def _check_xy(X: Tensor, y: Tensor, xname: str, yname: str) -> None:
    if not isinstance(X, Tensor) or X.dim() != 2 or X.dtype != DTYPE:
        raise TypeError(f"{xname} must be a 2-d float64 tensor, got {_describe(X)}")
    if not isinstance(y, Tensor) or y.shape != (X.shape[0],) or y.dtype != DTYPE:
        raise TypeError(
            f"{yname} must be a float64 tensor of shape ({X.shape[0]},), got {_describe(y)}"
        )
    if X.shape[0] < 1:
        raise ValueError(f"{xname} has 0 rows; allowed: at least one point")
    bad = int((~torch.isfinite(X)).sum())
    if bad:
        raise ValueError(
            f"{xname} has {bad} non-finite entries (NaN or inf); allowed: finite values"
        )
    if not bool(((y == 1) | (y == -1)).all()):
        values = sorted(set(y.tolist()))
        raise ValueError(f"{yname} must take values in {{-1, +1}}, got {_clip(repr(values))}")


def _describe(t: object) -> str:
    if isinstance(t, Tensor):
        return f"tensor of shape {tuple(t.shape)} and dtype {t.dtype}"
    return type(t).__name__


def _is_int(value: object) -> bool:
    """A Python int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    """A real number (Python or numpy) that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _tensor(a: object) -> Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=DTYPE)


def xor() -> Dataset:
    """Figure 2(a-c): ``(-1,-1),(1,1) -> +1`` and ``(1,-1),(-1,1) -> -1``; radius sqrt(2)."""
    X = _tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    y = _tensor([1.0, 1.0, -1.0, -1.0])
    return Dataset("xor", X, y, note="XOR as printed (not linearly separable, ||x|| = sqrt 2)")


def five_point() -> Dataset:
    """Figure 4: five points in R^3 with max-margin direction ``(1, 0, 0)`` and margin 0.05."""
    X = _tensor(
        [
            [0.05, 1.0, 2.0],
            [0.05, -2.0, 1.0],
            [-1.0, 0.0, 2.0],
            [0.05, -2.0, -2.0],
            [0.05, 1.0, -2.0],
        ]
    )
    y = _tensor([1.0, 1.0, -1.0, 1.0, 1.0])
    return Dataset("five_point", X, y, note="Figure 4 as printed (radius 2*sqrt 2 + 0.05^2)")


def two_point(gamma: float = 0.05) -> Dataset:
    """Theorem 4.3: ``x_1 = (g, sqrt(1-g^2))``, ``x_2 = (g, -sqrt(1-g^2)/2)``, ``y = (1, 1)``.

    Requires ``0 < gamma < 0.1``; then ``w_* = (1, 0)`` certifies Assumption 3 with margin gamma.
    """
    if not _is_real(gamma) or not 0.0 < gamma < 0.1:
        raise ValueError(f"gamma must satisfy 0 < gamma < 0.1 (Theorem 4.3), got {gamma!r}")
    s = float(np.sqrt(1.0 - gamma**2))
    X = _tensor([[gamma, s], [gamma, -s / 2.0]])
    y = _tensor([1.0, 1.0])
    return Dataset("two_point", X, y, note=f"Theorem 4.3 data, gamma={gamma}")


def separable_gaussian(
    n: int = 200, d: int = 20, margin: float = 0.1, seed: int = 0, n_test: int = 0
) -> Dataset:
    """Linearly separable data through the origin with a known margin and ``||x|| <= 1``.

    A unit direction ``w_*`` is drawn at random. Point ``i`` has label ``y_i = +-1`` (balanced),
    component ``y_i x_i^T w_* = margin + (1 - margin) u_i`` along ``w_*`` (``u_i`` uniform on
    ``[0, 1)``, the smallest ``u`` set to 0 so the min margin along ``w_*`` is exactly
    ``margin``), and an orthogonal part in a uniformly random direction with norm
    ``sqrt(1 - (x^T w_*)^2) * v_i``, ``v_i`` uniform on ``[0, 1)``. So ``(w_*, margin)`` is an
    Assumption 3 certificate (the true max margin may be larger). Test points (``n_test``)
    follow the same law without the min-margin adjustment.
    """
    for name, value, low in (("n", n, 2), ("d", d, 2), ("n_test", n_test, 0)):
        if not _is_int(value) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if not _is_real(margin) or not 0.0 < margin < 1.0:
        raise ValueError(f"margin must be a number in (0, 1), got {margin!r}")
    gen = make_generator(seed)
    w_star = torch.randn(d, generator=gen, dtype=DTYPE)
    w_star /= w_star.norm()

    def draw(count: int, tight: bool) -> tuple[Tensor, Tensor]:
        y = torch.where(torch.arange(count) % 2 == 0, 1.0, -1.0).to(DTYPE)
        u = torch.rand(count, generator=gen, dtype=DTYPE)
        if tight:
            u[u.argmin()] = 0.0
        along = margin + (1.0 - margin) * u
        g = torch.randn(count, d, generator=gen, dtype=DTYPE)
        g -= (g @ w_star)[:, None] * w_star
        g /= g.norm(dim=1, keepdim=True)
        v = torch.rand(count, generator=gen, dtype=DTYPE)
        X = (y * along)[:, None] * w_star + (torch.sqrt(1.0 - along**2) * v)[:, None] * g
        return X, y

    X, y = draw(n, tight=True)
    X_test, y_test = draw(n_test, tight=False) if n_test else (None, None)
    note = f"synthetic separable Gaussian, n={n}, d={d}, margin={margin} along w_*, seed={seed}"
    return Dataset("separable_gaussian", X, y, X_test, y_test, note)


def _scale_images(train: np.ndarray, test: np.ndarray) -> tuple[Tensor, Tensor, float]:
    """Divide flattened images by the largest norm among train and test (so ``||x|| <= 1``)."""
    train = train.astype(np.float64)
    test = test.astype(np.float64)
    scale = float(max(np.linalg.norm(train, axis=1).max(), np.linalg.norm(test, axis=1).max()))
    return _tensor(train / scale), _tensor(test / scale), scale


def _binary_labels(labels: np.ndarray, positive: int) -> Tensor:
    return _tensor(np.where(labels == positive, 1.0, -1.0))


def digits_images(classes: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1797 images, offline): the flattened pixels (n, 64) as
    float64 (integers 0..16) and the labels (n,), in the bundled order; only the images whose
    label is in ``classes`` when given. The one loader of the digits, for both parts."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.asarray(bunch.data, dtype=np.float64)
    if classes is None:
        return pixels, bunch.target
    keep = np.isin(bunch.target, list(classes))
    return pixels[keep], bunch.target[keep]


def digits(
    classes: tuple[int, int] = (0, 1), test_fraction: float = 0.25, seed: int = 0
) -> Dataset:
    """Two classes of scikit-learn's bundled 8x8 digits (offline), ``classes[0] -> +1``.

    Images are flattened to ``d = 64`` and divided by the largest norm among the selected images
    so ``||x|| <= 1``. The train/test split is a random permutation drawn from ``seed``, with
    ``round(test_fraction * N)`` test images; both splits must be non-empty.
    """
    a, b = _two_classes(classes, tuple(range(10)), "digit")
    if not _is_real(test_fraction) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    gen = make_generator(seed)
    pixels, labels = digits_images((a, b))
    n_test = round(test_fraction * len(labels))
    if not 1 <= n_test < len(labels):
        raise ValueError(
            f"test_fraction={test_fraction!r} puts {n_test} of the {len(labels)} images of "
            f"digits {a}, {b} in the test split; allowed: a fraction leaving both splits non-empty"
        )
    order = torch.randperm(len(labels), generator=gen).numpy()
    train, test = order[n_test:], order[:n_test]
    X, X_test, scale = _scale_images(pixels[train], pixels[test])
    note = (
        f"sklearn digits {a} (+1) vs {b} (-1), {len(train)} train / {len(test)} test, "
        f"split seed={seed}, inputs divided by {scale:.6g}"
    )
    return Dataset(
        f"digits{a}{b}",
        X,
        _binary_labels(labels[train], a),
        X_test,
        _binary_labels(labels[test], a),
        note,
    )


def _two_classes(classes: object, allowed: Sequence, what: str) -> tuple:
    """``classes`` as a pair of distinct members of ``allowed`` (ints or strs, as ``allowed``)."""
    names = ", ".join(map(str, allowed))
    plural = what + ("es" if what.endswith("s") else "s")
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or len(classes) != 2:
        raise ValueError(f"classes must be a pair of distinct {plural}, got {classes!r}")
    picked = []
    for c in classes:
        if isinstance(allowed[0], int):
            typed = isinstance(c, numbers.Integral) and not isinstance(c, (bool, np.bool_))
        else:
            typed = isinstance(c, type(allowed[0]))
        if not typed or c not in allowed:
            raise ValueError(f"unknown {what} {c!r}; allowed: {names}")
        picked.append(int(c) if isinstance(c, numbers.Integral) else c)
    if picked[0] == picked[1]:
        raise ValueError(f"classes must be two distinct {plural}, got {classes!r}")
    return picked[0], picked[1]


def cifar_folder(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the CIFAR-10 python batches.

    ``root`` (or else ``$GDLAB_DATA``, or else the default ``~/.cache/gdlab``) may be either the
    extracted ``cifar-10-batches-py`` folder itself or a folder containing it.
    """
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a folder path or None, got {root!r}")
    base = Path(root if root is not None else os.environ.get("GDLAB_DATA") or DEFAULT_DATA_ROOT)
    base = base.expanduser()
    return base if (base / CIFAR10_TEST_FILE).exists() else base / CIFAR10_SUBDIR


class DataFormatError(ValueError):
    """A data file exists but does not hold what it should; the message names the file."""


_CIFAR_HINT = f"re-extract the python version of CIFAR-10 ({CIFAR10_URL})"
_CIFAR_PIXELS = 3072


def _clip(text: str, limit: int = 80) -> str:
    """``text`` on one line (control characters escaped), cut to about ``limit`` characters."""
    flat = text.encode("unicode_escape").decode("ascii")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class _Global:
    """An allowed global as the unpickler hands it out: calls ``fn``, has no state to modify.

    Without ``__dict__`` and with ``__setattr__`` refused, a pickle ``BUILD`` aimed at it fails
    instead of changing a module function for later loads.
    """

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[..., object]) -> None:
        object.__setattr__(self, "_fn", fn)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot set {name!r} on an unpickling stub")

    def __call__(self, *args: object) -> object:
        return self._fn(*args)


def _ndarray(*args: object) -> None:
    raise ValueError("numpy.ndarray may only appear as the first argument of _reconstruct")


# Stands in for numpy.ndarray: only valid as the first argument of _reconstruct.
_NDARRAY = _Global(_ndarray)


class _DtypeStub:
    """What a pickled ``numpy.dtype(code, align, copy)`` plus its state describes; no numpy call."""

    def __init__(self, code: object, align: object = False, copy: object = True) -> None:
        if isinstance(code, bytes):
            code = code.decode("ascii", "replace")
        if not isinstance(code, str) or re.fullmatch(r"[A-Za-z?][0-9]{0,3}", code) is None:
            raise ValueError(f"numpy.dtype with type code {_clip(repr(code))}")
        self.code = code
        self.byteorder = "="
        self.simple = True

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) < 5:
            raise ValueError(f"numpy.dtype state {_clip(repr(state))}")
        order = state[1].decode("ascii", "replace") if isinstance(state[1], bytes) else state[1]
        if order not in ("<", ">", "|", "="):
            raise ValueError(f"numpy.dtype byte order {_clip(repr(order))}")
        self.byteorder = order
        # Sub-array, field names or fields: a structured dtype, never a plain pixel type.
        self.simple = state[2] is None and state[3] is None and state[4] is None

    def resolve(self) -> np.dtype | None:
        """The numpy dtype (parsed from the short type code only), or None if not a plain one."""
        if not self.simple:
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dt = np.dtype(self.code)
        except (TypeError, ValueError):
            return None
        return dt.newbyteorder(self.byteorder) if self.byteorder in "<>" else dt

    def describe(self) -> str:
        """A name for messages, e.g. ``float64``, ``structured u1``."""
        dt = self.resolve()
        return dt.name if dt is not None else f"{'' if self.simple else 'structured '}{self.code}"


class _ArrayStub:
    """What a pickled numpy array describes: shape, dtype, order and raw bytes; no numpy call.

    :meth:`to_numpy` builds the array with ``np.frombuffer`` after checking every part, so no
    numpy ``__setstate__`` ever sees bytes from the file.
    """

    def __init__(self) -> None:
        self.state: object = None

    def __setstate__(self, state: object) -> None:
        self.state = state

    def to_numpy(self, allowed: Callable[[np.dtype], bool]) -> np.ndarray:
        """The array, if its dtype passes ``allowed``; ValueError (a one-line reason) if not."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 4:  # version-0 layout, no version field
            state = (0, *state)
        if not isinstance(state, tuple) or len(state) != 5:
            raise ValueError(f"is a numpy array with malformed state {_clip(repr(state))}")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DtypeStub):
            raise ValueError(f"is a numpy array whose dtype is a {type(dtype).__name__}")
        dt = dtype.resolve()
        if dt is None or not allowed(dt):
            raise ValueError(f"has dtype {dtype.describe()}")
        if (
            not isinstance(shape, tuple)
            or len(shape) > 32
            or not all(type(s) is int and s >= 0 for s in shape)
        ):
            raise ValueError(f"is a numpy array with shape {_clip(repr(shape))}")
        if not isinstance(raw, (bytes, bytearray)):
            raise ValueError(f"is a numpy array whose data is a {type(raw).__name__}, not bytes")
        need = math.prod(shape) * dt.itemsize
        if len(raw) != need:
            raise ValueError(
                f"is a numpy array of shape {_clip(repr(shape))} and dtype {dt.name} holding "
                f"{len(raw)} bytes (needs {need})"
            )
        flat = np.frombuffer(raw, dtype=dt) if need else np.zeros(0, dtype=dt)
        return flat.reshape(shape, order="F" if fortran else "C")


def _dtype(code: object, align: object = False, copy: object = True) -> _DtypeStub:
    """``numpy.dtype(code, align, copy)``: a dtype stub (a function, so NEWOBJ cannot use it)."""
    return _DtypeStub(code, align, copy)


def _reconstruct(subtype: object, shape: object, placeholder: object) -> _ArrayStub:
    """``numpy.core.multiarray._reconstruct(numpy.ndarray, ...)``: an empty array stub."""
    if subtype is not _NDARRAY:
        raise ValueError("_reconstruct called with a first argument other than numpy.ndarray")
    return _ArrayStub()


def _frombuffer(buf: object, dtype: object, shape: object, order: object) -> _ArrayStub:
    """``numpy.core.numeric._frombuffer`` (pickle protocol 5, in-band): an array stub."""
    stub = _ArrayStub()
    stub.state = (1, shape, dtype, order == "F", buf)
    return stub


def _latin1(text: object, encoding: object = "utf-8") -> bytes:
    """``_codecs.encode(text, 'latin1')``: how Python 3 writes ``bytes`` in protocol 0-2."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ValueError(f"_codecs.encode with arguments {_clip(repr((text, encoding)))}")
    return text.encode("latin-1")


def _empty_bytes(*args: object) -> bytes:
    """``bytes()``: how Python 3 writes ``b''`` in protocol 0-2; any argument is refused."""
    if args:
        raise ValueError(f"bytes called with arguments {_clip(repr(args))}")
    return b""


# The only globals a CIFAR-10 python batch needs (module, name) -> what they resolve to.
# None of them runs numpy or any other code on the file's content: the numpy entries are
# stubs that record their arguments, and _ArrayStub.to_numpy checks them before one
# np.frombuffer call. numpy's own _reconstruct + ndarray.__setstate__ (the usual allow-list,
# e.g. torch.load(weights_only=True) with add_safe_globals) would hand dtype and array state
# from the file to numpy's C code, including object arrays and structured dtypes.
_SAFE_GLOBALS: dict[tuple[str, str], _Global] = {
    ("numpy.core.multiarray", "_reconstruct"): _Global(_reconstruct),
    ("numpy._core.multiarray", "_reconstruct"): _Global(_reconstruct),
    ("numpy.core.numeric", "_frombuffer"): _Global(_frombuffer),
    ("numpy._core.numeric", "_frombuffer"): _Global(_frombuffer),
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Global(_dtype),
    ("_codecs", "encode"): _Global(_latin1),
    ("__builtin__", "bytes"): _Global(_empty_bytes),
}
SAFE_PICKLE_GLOBALS = tuple(sorted(f"{m}.{n}" for m, n in _SAFE_GLOBALS))


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`SAFE_PICKLE_GLOBALS` (to inert stubs)."""

    def __init__(self, fh: BinaryIO, path: Path) -> None:
        super().__init__(fh, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> object:
        """The stub for an allowed global; DataFormatError naming the file for any other."""
        try:
            return _SAFE_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise DataFormatError(
                f"{self.path}: refused to load global {_clip(f'{module}.{name}')} (allowed: "
                f"{', '.join(SAFE_PICKLE_GLOBALS)}); not a CIFAR-10 python batch, nothing in it "
                "was run"
            ) from None

    def persistent_load(self, pid: object) -> object:
        """Persistent ids never occur in a CIFAR-10 batch."""
        raise DataFormatError(f"{self.path}: refused persistent id {_clip(repr(pid))}")


def _unpickle_batch(path: Path) -> object:
    """The object pickled in ``path``, through :class:`_BatchUnpickler`; errors name the file."""
    try:
        with path.open("rb") as fh:
            return _BatchUnpickler(fh, path).load()
    except (DataFormatError, OSError):
        raise
    except Exception as err:  # truncated, garbage, or an allowed global called with bad args
        reason = _clip(f"{type(err).__name__}: {err}", 160)
        raise DataFormatError(
            f"{path}: not a readable CIFAR-10 python batch ({reason}); {_CIFAR_HINT}"
        ) from err


def _field(batch: dict, key: str, path: Path) -> object:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    found = ", ".join(_clip(repr(k), 30) for k in list(batch)[:8]) or "none"
    raise DataFormatError(
        f"{path}: no {key!r} entry (keys found: {found}; a CIFAR-10 batch has b'data' and "
        f"b'labels'); {_CIFAR_HINT}"
    )


def _load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(data, labels)`` of one CIFAR-10 python batch: ``(N, 3072)`` uint8, ``N`` int64 in 0..9.

    Raises
    ------
    DataFormatError
        naming the file, if it is unreadable, refers to anything but numpy arrays, or its
        content is not ``N >= 1`` uint8 images of 3072 values with ``N`` labels in ``0..9``.
    """
    batch = _unpickle_batch(path)
    if not isinstance(batch, dict):
        raise DataFormatError(
            f"{path}: holds a {type(batch).__name__}, a CIFAR-10 batch holds a dict; {_CIFAR_HINT}"
        )
    raw = _field(batch, "data", path)
    if not isinstance(raw, _ArrayStub):
        raise DataFormatError(
            f"{path}: 'data' is a {type(raw).__name__}; allowed: a numpy uint8 array (N, 3072)"
        )
    try:
        data = raw.to_numpy(lambda dt: dt == np.uint8)
    except ValueError as err:
        raise DataFormatError(
            f"{path}: 'data' {err}; allowed: a numpy uint8 array (N, 3072), nothing is cast"
        ) from None
    if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] != _CIFAR_PIXELS:
        raise DataFormatError(
            f"{path}: 'data' has shape {data.shape}; allowed: (N, {_CIFAR_PIXELS}) with N >= 1"
        )
    labels = _labels(_field(batch, "labels", path), path)
    if len(labels) != data.shape[0]:
        raise DataFormatError(
            f"{path}: {len(labels)} labels for {data.shape[0]} images; allowed: one label each"
        )
    return data, labels


def _labels(value: object, path: Path) -> np.ndarray:
    """The labels of a batch (a list of ints, or a 1-d integer array) as int64 in 0..9."""
    allowed = "a list of integers 0..9 (one per image)"
    if isinstance(value, _ArrayStub):
        try:
            array = value.to_numpy(lambda dt: dt.kind in "iu")
        except ValueError as err:
            raise DataFormatError(f"{path}: 'labels' {err}; allowed: {allowed}") from None
        if array.ndim != 1:
            raise DataFormatError(f"{path}: 'labels' has shape {array.shape}; allowed: {allowed}")
        items: list = array.tolist()
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise DataFormatError(f"{path}: 'labels' is a {type(value).__name__}; allowed: {allowed}")
    for i, v in enumerate(items):
        if type(v) is not int or not 0 <= v < len(CIFAR10_CLASSES):
            raise DataFormatError(
                f"{path}: labels[{i}] is {_clip(repr(v), 40)} ({type(v).__name__}); "
                f"allowed: {allowed}"
            )
    return np.asarray(items, dtype=np.int64)


def cifar10_two_class(
    root: str | os.PathLike | None = None,
    n_train: int = 6000,
    seed: int = 0,
    classes: tuple[str, str] = ("airplane", "automobile"),
) -> Dataset:
    """Two CIFAR-10 classes (Figure 1 and 2(d-f)), ``classes[0] -> +1``, ``classes[1] -> -1``.

    Reads the standard python-pickle batches ``data_batch_1..5`` and ``test_batch`` from
    :func:`cifar_folder` (``root``, else ``$GDLAB_DATA``, else ``~/.cache/gdlab``). Draws
    ``n_train`` of the training images of the two classes (10,000 in the full dataset) by a
    permutation from ``seed``; the test split is every test image of the two classes (2,000).
    Images are flattened (``d = 3072``) and divided by the largest norm among the images used,
    so ``||x|| <= 1``.

    Raises
    ------
    FileNotFoundError
        if the batch files are missing; the message names the folder, the files and where to
        download them.
    DataFormatError
        if a batch is not a CIFAR-10 python batch (see :func:`_load_batch`: the files are read
        with an unpickler that runs no code), or the batches hold no image of a class.
    ValueError
        for a bad argument, before any file is read.
    """
    a, b = _two_classes(classes, CIFAR10_CLASSES, "CIFAR-10 class")
    ia, ib = CIFAR10_CLASSES.index(a), CIFAR10_CLASSES.index(b)
    if not _is_int(n_train) or n_train < 1:
        raise ValueError(f"n_train must be an int >= 1, got {n_train!r}")
    gen = make_generator(seed)
    folder = cifar_folder(root)
    names = (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 python batches not found in {folder} (missing: {', '.join(missing)}; "
            f"expected files: {', '.join(names)}). Download {CIFAR10_URL}, extract it "
            "(tar xzf cifar-10-python.tar.gz) into a data folder and set GDLAB_DATA to that "
            f"folder (default {DEFAULT_DATA_ROOT}/{CIFAR10_SUBDIR})."
        )
    parts = [_load_batch(folder / name) for name in CIFAR10_TRAIN_FILES]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    test_data, test_labels = _load_batch(folder / CIFAR10_TEST_FILE)

    pool = np.flatnonzero((labels == ia) | (labels == ib))
    test = np.flatnonzero((test_labels == ia) | (test_labels == ib))
    splits = (
        ("training", labels, f"{folder}/data_batch_1..5"),
        ("test", test_labels, folder / CIFAR10_TEST_FILE),
    )
    for split, split_labels, where in splits:
        for i, name in ((ia, a), (ib, b)):
            if not (split_labels == i).any():
                raise DataFormatError(
                    f"{where}: no {split} image of class {name} (label {i}); the official "
                    f"batches hold every class; {_CIFAR_HINT}"
                )
    if n_train > len(pool):
        raise ValueError(
            f"n_train must be an int in [1, {len(pool)}] (training images of {a}, {b}), "
            f"got {n_train!r}"
        )
    pick = pool[torch.randperm(len(pool), generator=gen).numpy()[:n_train]]
    X, X_test, scale = _scale_images(data[pick], test_data[test])
    note = (
        f"CIFAR-10 {a} (+1) vs {b} (-1) from {folder}: {n_train} of {len(pool)} training "
        f"images drawn with seed={seed}, {len(test)} test images, inputs divided by {scale:.6g}"
    )
    return Dataset(
        f"cifar10-{a}-{b}",
        X,
        _binary_labels(labels[pick], ia),
        X_test,
        _binary_labels(test_labels[test], ia),
        note,
    )


def max_margin_direction(X: Tensor, y: Tensor) -> tuple[Tensor, float]:
    """Hard-margin linear SVM through the origin (Assumption 3 certificate).

    Solves ``max_{||w|| = 1} min_i y_i x_i^T w`` through the dual
    ``min_{alpha >= 0} 1/2 ||Z^T alpha||^2 - 1^T alpha`` (``Z`` has rows ``z_i = y_i x_i``,
    ``w = Z^T alpha``, margin ``1 / ||w||``) with L-BFGS-B, then polishes: on the support set
    ``S = {alpha_i > 0}`` the minimum-norm solution of ``Z_S w = 1`` replaces ``w`` when its
    normalised margin is at least as large.

    Returns
    -------
    (w_star, gamma) : the unit direction (float64 tensor, shape ``(d,)``) and
        ``gamma = min_i y_i x_i^T w_star > 0``.

    Raises
    ------
    ValueError
        if the data is not linearly separable through the origin.
    """
    Z = (torch.as_tensor(y, dtype=DTYPE)[:, None] * torch.as_tensor(X, dtype=DTYPE)).numpy()
    if Z.ndim != 2 or Z.shape[0] == 0:
        raise ValueError(f"X must be (n, d) with n >= 1 and y (n,), got Z of shape {Z.shape}")
    # Box alpha <= cap turns the dual into a soft-margin SVM with huge C, bounded on
    # non-separable data; for separable data sum_i alpha_i = 1/gamma^2 <= cap for gamma >= 1e-6.
    cap = 1e12

    def objective(alpha: np.ndarray) -> tuple[float, np.ndarray]:
        w = Z.T @ alpha
        return 0.5 * float(w @ w) - float(alpha.sum()), Z @ w - 1.0

    def margin(w: np.ndarray) -> float:
        norm = float(np.linalg.norm(w))
        return float((Z @ w).min() / norm) if norm > 0 else 0.0

    alpha = minimize(
        objective,
        np.zeros(Z.shape[0]),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, cap)] * Z.shape[0],
        options={"maxiter": 50_000, "maxfun": 100_000, "ftol": 0.0, "gtol": 1e-13},
    ).x
    w = Z.T @ alpha
    support = alpha > 1e-9 * float(alpha.max()) if alpha.max() > 0 else alpha > 0
    if support.any():
        w_pol = np.linalg.lstsq(Z[support], np.ones(int(support.sum())), rcond=None)[0]
        if margin(w_pol) >= margin(w):
            w = w_pol
    gamma = margin(w)
    if not gamma > 0:
        raise ValueError(
            "data is not linearly separable through the origin (best min_i y_i x_i^T w "
            f"over unit w found: {gamma:.3g}); Assumption 3 fails"
        )
    return torch.as_tensor(w / np.linalg.norm(w), dtype=DTYPE), gamma


DATASETS: dict[str, Callable[..., Dataset]] = {
    "xor": xor,
    "five_point": five_point,
    "two_point": two_point,
    "separable_gaussian": separable_gaussian,
    "digits": digits,
    "cifar10": cifar10_two_class,
}
DATASET_NAMES = tuple(DATASETS)


def get_dataset(name: str, **kwargs: object) -> Dataset:
    """The dataset called ``name`` (one of :data:`DATASET_NAMES`), built with ``kwargs``."""
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASET_NAMES)}")
    params = tuple(inspect.signature(DATASETS[name]).parameters)
    for key in kwargs:
        if key not in params:
            raise ValueError(
                f"unknown argument {key!r} for dataset {name!r}; allowed: "
                f"{', '.join(params) or 'none'}"
            )
    return DATASETS[name](**kwargs)
