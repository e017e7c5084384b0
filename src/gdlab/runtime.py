"""Run-time settings read from the environment: device, dtype, scale, seeds.

``GDLAB_DEVICE`` in ``auto|cpu|cuda`` (default ``auto``: CUDA when present, for the training
loops only above a problem size where it pays, :data:`AUTO_CUDA_MIN_WORK`),
``GDLAB_DTYPE`` in ``float64|float32`` (default ``float64``),
``GDLAB_SCALE`` in ``quick|paper`` (default ``quick``).
Names are case-insensitive and surrounding whitespace is ignored, in the environment and on
the command line alike (the CLI parses its ``--scale`` and ``--device`` through these
functions). An unknown or empty value raises :class:`RuntimeConfigError`, one line naming the
setting, the value and the allowed ones.
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "AUTO_CUDA_MIN_WORK",
    "DEVICES",
    "DTYPES",
    "RECORD_BYTES_CAP",
    "SCALES",
    "RuntimeConfigError",
    "banner",
    "by_scale",
    "check_device",
    "check_record_bytes",
    "device_name",
    "get_device",
    "get_dtype",
    "get_scale",
    "make_generator",
    "print_banner",
    "seed_everything",
    "show_value",
    "strict_claims",
]

DEVICES = ("auto", "cpu", "cuda")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
SCALES = ("quick", "paper")

T = TypeVar("T")


class RuntimeConfigError(ValueError):
    """A run-time setting (environment variable or argument) has an invalid value."""


def show_value(value: object, limit: int = 80) -> str:
    """``repr(value)`` on one line, cut to about ``limit`` characters (for error messages)."""
    text = repr(value) if isinstance(value, str) else repr(str(value))
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]} ({len(text)} chars)"


def _read(var: str, what: str, default: str, allowed: tuple[str, ...], value: str | None) -> str:
    """The normalised choice of setting ``what`` (``value``, else ``$var``, else ``default``)."""
    raw = os.environ.get(var, default) if value is None else value
    source = f"value {var}={show_value(raw)}" if value is None else f"{what} {show_value(raw)}"
    if not isinstance(raw, str):
        raise RuntimeConfigError(
            f"{what} must be a string, got {type(raw).__name__} {show_value(raw)}; "
            f"allowed values: {', '.join(allowed)}"
        )
    choice = raw.strip().lower()
    if choice not in allowed:
        raise RuntimeConfigError(
            f"unknown {source}; allowed values: {', '.join(allowed)} (any case)"
        )
    return choice


def device_name(value: str | None = None) -> str:
    """The device name from ``value`` or ``GDLAB_DEVICE``, checked but not resolved: one of
    :data:`DEVICES` (``auto`` stays ``auto``; :func:`get_device` checks that CUDA exists)."""
    return _read("GDLAB_DEVICE", "device", "auto", DEVICES, value)


#: ``auto`` sends a training loop to CUDA only from this many multiply-adds per step of one of
#: its matrix products (``K m n d`` for the two-layer engine): 2**22, about 4e6.
#:
#: Reasoning. A GD step is about 20 kernels (two matrix products, the elementwise work and the
#: records, counted in tests/test_gpu_efficiency.py). On a GPU without graph capture each costs
#: a launch of 5-10 us whatever its size, so a small step costs 100-200 us there. On one CPU
#: core the same step costs about 40 us of launches plus the arithmetic: two products of ``W``
#: multiply-adds at about 15e9 float64 multiply-adds per second (the floor measured by
#: ``benchmarks/gd_throughput.py``: 65.5e6 in 3.9 ms) and a few ns per entry of Z. The CPU is
#: slower once ``2 W / 15e9`` exceeds about 150 us, i.e. ``W`` above about 1.1e6; 4e6 keeps a
#: margin for the host-device transfers of data and records and for a busy GPU. The book's XOR
#: sweeps (``16 x 20 x 4 x 2``, about 2.6e3) stay on the CPU, the moderate benchmark problem
#: (``8 x 64 x 1000 x 64``, 3.3e7) and the CIFAR-10 sweeps go to the GPU.
AUTO_CUDA_MIN_WORK = 1 << 22


def get_device(value: str | None = None, work: int | None = None) -> torch.device:
    """The compute device from ``value`` or ``GDLAB_DEVICE``. ``auto`` picks CUDA when one is
    available and, if ``work`` (multiply-adds per step, see :data:`AUTO_CUDA_MIN_WORK`) is
    given, only when it reaches :data:`AUTO_CUDA_MIN_WORK`."""
    choice = device_name(value)
    if choice == "auto":
        pays = work is None or work >= AUTO_CUDA_MIN_WORK
        return torch.device("cuda" if pays and torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        source = "GDLAB_DEVICE=cuda" if value is None else "device 'cuda'"
        raise RuntimeConfigError(
            f"{source} was requested but no CUDA GPU is available "
            f"(torch {torch.__version__}, cuda build: {torch.version.cuda}); "
            "allowed here: cpu or auto"
        )
    return torch.device(choice)


def check_device(device: torch.device | str | None, work: int | None = None) -> torch.device:
    """The compute device of a ``device`` argument, validated as ``GDLAB_DEVICE`` is.

    ``None`` reads ``GDLAB_DEVICE``; a string goes through :func:`gdlab.runtime.get_device`
    (``auto``, ``cpu`` or ``cuda``, any case; ``cuda`` only with a CUDA GPU; ``auto`` with the
    step's ``work`` when given); a
    :class:`torch.device` must be a CPU or an existing CUDA device. Raises
    :class:`~gdlab.runtime.RuntimeConfigError` or TypeError, one line naming the value.
    """
    if device is None or isinstance(device, str):
        return get_device(device, work)
    if not isinstance(device, torch.device):
        raise TypeError(
            f"device must be None, a str (auto, cpu, cuda) or a torch.device, got "
            f"{type(device).__name__} {device!r}"
        )
    if device.type not in ("cpu", "cuda"):
        raise RuntimeConfigError(
            f"device={device!r} has type {device.type!r}; allowed: a cpu or cuda torch.device, "
            "or the names auto, cpu, cuda"
        )
    get_device(device.type)  # raises when CUDA is asked for and absent
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and device.index is not None and device.index >= count:
        raise RuntimeConfigError(
            f"device={device!r} does not exist: {count} CUDA GPU(s) present, allowed indices "
            f"0..{count - 1}"
        )
    return device


#: The largest memory, in bytes, that the records of one training call may take (4 GiB, a fixed
#: cap, the same on every machine); a larger request is refused before any step.
RECORD_BYTES_CAP = 4 * 2**30


def check_record_bytes(nbytes: int, what: str, hint: str = "record fewer steps") -> None:
    """Refuse, before any step, records that would take more than :data:`RECORD_BYTES_CAP`.

    ``what`` says how the size was counted and ``hint`` what to change (both in the message).
    """
    if nbytes > RECORD_BYTES_CAP:
        raise ValueError(
            f"the records would take {nbytes / 2**30:.3g} GiB ({what}), more than the cap "
            f"RECORD_BYTES_CAP = {RECORD_BYTES_CAP / 2**30:g} GiB; {hint}"
        )


def get_dtype(value: str | None = None) -> torch.dtype:
    """The floating dtype from ``value`` or ``GDLAB_DTYPE`` (float64 unless asked otherwise)."""
    return DTYPES[_read("GDLAB_DTYPE", "dtype", "float64", tuple(DTYPES), value)]


def get_scale(value: str | None = None) -> str:
    """The experiment scale from ``value`` or ``GDLAB_SCALE``: ``quick`` (CI, CPU) or ``paper``."""
    return _read("GDLAB_SCALE", "scale", "quick", SCALES, value)


def strict_claims() -> bool:
    """Whether a failing claim fails its notebook cell: ``GDLAB_STRICT`` in ``1|0`` (default
    ``1``: tests, CI and book builds are strict; ``make lab`` sets ``0`` so that a reader who
    changes a chapter's settings sees the failing claims in the table and the chapter goes on).
    """
    return _read("GDLAB_STRICT", "strict", "1", ("1", "0"), None) == "1"


def by_scale(quick: T, paper: T, scale: str | None = None) -> T:
    """Pick the ``quick`` or the ``paper`` value according to the current scale."""
    return paper if get_scale(scale) == "paper" else quick


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so reruns are bit-identical on one device."""
    if not isinstance(seed, int) or seed < 0:
        raise RuntimeConfigError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds the legacy global RNG users may call)
    torch.manual_seed(seed)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A private torch generator: draws from it do not depend on global RNG state."""
    if not isinstance(seed, int) or seed < 0:
        raise RuntimeConfigError(f"seed must be a non-negative int, got {seed!r}")
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def banner() -> str:
    """One line describing this run: device, dtype, scale, torch version, threads."""
    device = get_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    dtype = str(get_dtype()).removeprefix("torch.")
    return (
        f"gdlab run | device={device.type} ({name}) | dtype={dtype} | "
        f"scale={get_scale()} | torch={torch.__version__} | threads={torch.get_num_threads()}"
    )


def print_banner() -> None:
    """Print :func:`banner` (called at the top of every notebook)."""
    print(banner())
