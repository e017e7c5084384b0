"""On-disk cache of experiment results: numpy arrays plus JSON metadata, one ``.npz`` per entry.

**Key.** An entry is keyed by the SHA-256 of the canonical JSON of its name and configuration,
the package version, the dtype (``GDLAB_DTYPE``), the device type (the run's device, else
``GDLAB_DEVICE``), the torch version and a fingerprint of the package source
(:func:`source_fingerprint`), so a changed recipe, setting or line of code never reuses a stale
result.

**Folder** (:func:`default_cache_dir`): ``$GDLAB_CACHE`` if set; a relative value is made
absolute against the working directory the first time it is read in a process (after ``~``
expansion, surrounding whitespace ignored), so a later ``chdir`` does not move the cache; use
an absolute path to share one cache between the CLI and notebooks. An empty ``GDLAB_CACHE`` is
an error, never the working directory. Unset, the cache is ``.gdlab-cache`` at the repository
root when the package runs from a source checkout (the folder above ``src/`` holding
``pyproject.toml`` and ``_toc.yml``), else ``$XDG_CACHE_HOME/gdlab/results`` (default
``~/.cache/gdlab/results``). Before anything is computed for a missing entry the folder is
created and checked writable (:meth:`ResultCache.ensure_writable`); a folder that cannot be
used raises :class:`CacheFolderError`, one line naming the folder and the problem.

**Format.** Each entry is one ``.npz`` file holding the arrays and a ``__meta__`` entry (UTF-8
JSON) with the metadata and a SHA-256 checksum of the arrays. Writes are atomic (temporary file
``.<key>.*.tmp`` in the same folder, ``fsync``, ``os.replace``), so a crash never leaves a
half-written entry under the final name; temporary files of killed writes older than
:data:`STALE_TMP_SECONDS` are removed when the cache is opened for writing and on every save.
An entry that fails to load or whose checksum does not match is treated as missing, deleted,
and recomputed by :meth:`ResultCache.get_or_compute`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gdlab
from gdlab.runtime import RuntimeConfigError, get_device, get_dtype, show_value

__all__ = [
    "CACHE_ENV",
    "STALE_TMP_SECONDS",
    "CacheEntry",
    "CacheFolderError",
    "ResultCache",
    "cache_key",
    "default_cache_dir",
    "source_checkout",
    "source_fingerprint",
]

META_KEY = "__meta__"
CACHE_ENV = "GDLAB_CACHE"
#: Temporary files of interrupted writes older than this (seconds) are removed; a live write
#: takes seconds, so a concurrent writer's temporary file is never touched.
STALE_TMP_SECONDS = 15 * 60
CacheEntry = tuple[dict[str, np.ndarray], dict[str, Any]]
_LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


#: Folder paths in error messages are shown whole up to this many characters (a user needs the
#: path to fix it; only absurd lengths are cut, to keep the message one readable line).
PATH_LIMIT = 300


class CacheFolderError(RuntimeConfigError):
    """The result cache folder (``GDLAB_CACHE`` or the default) cannot be used."""


def _reason(err: BaseException) -> str:
    """The reason of an ``OSError`` without its (possibly very long) file name."""
    return (err.strerror if isinstance(err, OSError) else None) or str(err)


def source_checkout() -> Path | None:
    """The repository root when ``gdlab`` runs from a source checkout (``src/gdlab`` below a
    folder holding ``pyproject.toml`` and ``_toc.yml``), else None (an installed package)."""
    root = Path(gdlab.__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "_toc.yml").is_file() else None


def _user_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():  # the XDG spec ignores empty and relative values
        return Path(xdg) / "gdlab" / "results"
    home = Path(os.path.expanduser("~"))
    if not home.is_absolute():
        raise CacheFolderError(
            f"no home folder for the default result cache (HOME unset); "
            f"set {CACHE_ENV} to a writable folder"
        )
    return home / ".cache" / "gdlab" / "results"


def _anchored_default() -> Path:
    root = source_checkout()
    return root / ".gdlab-cache" if root is not None else _user_cache_dir()


@functools.cache
def _absolute(raw: str) -> Path:
    """``raw`` (a ``GDLAB_CACHE`` value) as an absolute path, against the working directory of
    the first call with this value in this process (cached)."""
    value = raw.strip()
    if not value:
        raise CacheFolderError(
            f"{CACHE_ENV}={show_value(raw)} is empty; allowed: a folder path, "
            f"or leave {CACHE_ENV} unset for the default {str(_anchored_default())!r}"
        )
    try:
        path = Path(value).expanduser()
    except RuntimeError as err:  # "~user" with an unknown user
        raise CacheFolderError(
            f"{CACHE_ENV}={show_value(raw)} cannot be expanded ({err}); allowed: a folder path"
        ) from err
    return Path(os.path.abspath(path))


def default_cache_dir() -> Path:
    """The result cache folder: ``$GDLAB_CACHE`` made absolute, else the anchored default (see
    the module docstring); :class:`CacheFolderError` for an empty ``GDLAB_CACHE``."""
    raw = os.environ.get(CACHE_ENV)
    return _anchored_default() if raw is None else _absolute(raw)


def _canonical(obj: Any) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"cache keys and metadata must be finite JSON data: {err}") from err


@functools.cache
def source_fingerprint() -> str:
    """Hex SHA-256 over every ``.py`` file of the installed ``gdlab`` package (relative path and
    bytes, sorted by relative path); computed once per process."""
    root = Path(gdlab.__file__).resolve().parent
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*.py"))
    h = hashlib.sha256()
    for rel, path in files:
        data = path.read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _dtype_name(dtype: str | torch.dtype | None) -> str:
    value = dtype if isinstance(dtype, torch.dtype) else get_dtype(dtype)
    return str(value).removeprefix("torch.")


def _device_type(device: str | torch.device | None) -> str:
    return device.type if isinstance(device, torch.device) else get_device(device).type


def cache_key(
    name: str,
    config: Mapping[str, Any],
    version: str = gdlab.__version__,
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
) -> str:
    """Hex SHA-256 of the canonical JSON of ``(name, config, version)``, the dtype (default
    ``GDLAB_DTYPE``), the device type (default ``GDLAB_DEVICE``), the torch version and
    :func:`source_fingerprint`."""
    payload = _canonical(
        {
            "name": name,
            "config": dict(config),
            "version": version,
            "dtype": _dtype_name(dtype),
            "device": _device_type(device),
            "torch": torch.__version__,
            "source": source_fingerprint(),
        }
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _checksum(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(_canonical([key, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class ResultCache:
    """A folder of cached results (see the module docstring for the folder and the format).

    ``folder`` (default :func:`default_cache_dir`) is made absolute once, here.
    """

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        if folder is None:
            self.folder = default_cache_dir()
            from_env = CACHE_ENV in os.environ
            self.label = (
                f"{CACHE_ENV}={show_value(self.folder, PATH_LIMIT)}"
                if from_env
                else f"default result cache {show_value(self.folder, PATH_LIMIT)}"
            )
        else:
            if not str(folder).strip():
                raise CacheFolderError(
                    f"cache folder {show_value(folder)} is empty; allowed: a folder path"
                )
            try:
                self.folder = Path(os.path.abspath(Path(folder).expanduser()))
            except RuntimeError as err:  # "~user" with an unknown user
                raise CacheFolderError(
                    f"cache folder {show_value(folder)} cannot be expanded ({err}); "
                    "allowed: a folder path"
                ) from err
            self.label = f"cache folder {show_value(self.folder, PATH_LIMIT)}"
        self._hint = f" (set {CACHE_ENV})" if folder is None else ""
        self._writable = False

    def path(self, key: str) -> Path:
        """The file of entry ``key``."""
        return self.folder / f"{key}.npz"

    def _problem(self, problem: str) -> CacheFolderError:
        return CacheFolderError(f"{self.label} {problem}; allowed: a writable folder{self._hint}")

    def _check_not_file(self) -> None:
        try:
            is_file = self.folder.exists() and not self.folder.is_dir()
        except (OSError, ValueError) as err:  # a name too long, a NUL byte, no permission
            raise self._problem(f"cannot be used ({_reason(err)})") from err
        if is_file:
            raise self._problem("is not a folder")

    def ensure_writable(self) -> Path:
        """Create the folder if needed, check that a file can be written in it, and remove stale
        temporary files; :class:`CacheFolderError` (one line) if the folder cannot be used.

        Called before anything is computed for a missing entry; checked once per instance.
        """
        if self._writable:
            return self.folder
        self._check_not_file()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except (OSError, ValueError) as err:
            raise self._problem(f"cannot be created ({_reason(err)})") from err
        try:
            fd, probe = tempfile.mkstemp(dir=self.folder, prefix=".write-check.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except (OSError, ValueError) as err:
            raise self._problem(f"is not writable ({_reason(err)})") from err
        self.clean_stale_temporaries()
        self._writable = True
        return self.folder

    def clean_stale_temporaries(self, max_age: float = STALE_TMP_SECONDS) -> list[Path]:
        """Remove the temporary files (``.*.tmp``) of interrupted writes older than ``max_age``
        seconds; returns the removed paths (files that cannot be removed are left)."""
        removed: list[Path] = []
        now = time.time()
        try:
            candidates = list(self.folder.glob(".*.tmp"))
        except OSError:  # an unreadable folder: nothing to clean here
            return removed
        for path in candidates:
            try:
                if path.is_file() and now - path.stat().st_mtime > max_age:
                    path.unlink()
                    removed.append(path)
            except OSError:
                continue
        return removed

    def save(self, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
        """Write an entry atomically and return its path."""
        if META_KEY in arrays:
            raise ValueError(f"array name {META_KEY!r} is reserved for the metadata")
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        if any(a.dtype == object for a in arrays.values()):
            bad = [k for k, a in arrays.items() if a.dtype == object]
            raise TypeError(f"arrays must have a numeric or string dtype, got object for {bad}")
        record = {"meta": dict(meta), "checksum": _checksum(arrays)}
        payload = np.frombuffer(_canonical(record).encode(), dtype=np.uint8)
        self.ensure_writable()
        self.folder.mkdir(parents=True, exist_ok=True)  # in case it was removed since
        self.clean_stale_temporaries()
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{key[:16]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays, **{META_KEY: payload})
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.path(key)

    def _read(self, key: str) -> CacheEntry:
        """The verified entry; raises one of ``_LOAD_ERRORS`` if missing, unreadable or corrupt."""
        with np.load(self.path(key), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k != META_KEY}
            record = json.loads(npz[META_KEY].tobytes().decode())
        if record["checksum"] != _checksum(arrays):
            raise ValueError("checksum mismatch")
        return arrays, record["meta"]

    def load(self, key: str) -> CacheEntry | None:
        """The entry ``(arrays, meta)``; None if missing or corrupt (a corrupt file is deleted)."""
        path = self.path(key)
        try:
            if not path.exists():
                return None
            return self._read(key)
        except _LOAD_ERRORS:
            try:
                path.unlink(missing_ok=True)
            except OSError:  # read-only folder, or a folder under the entry's name
                pass
            return None

    def has(self, key: str) -> bool:
        """Whether entry ``key`` exists and is intact (arrays checked against the checksum);
        nothing is deleted."""
        try:
            self._read(key)
        except _LOAD_ERRORS:
            return False
        return True

    def get_or_compute(
        self,
        name: str,
        config: Mapping[str, Any],
        compute: Callable[[], CacheEntry],
        *,
        device: str | torch.device | None = None,
    ) -> CacheEntry:
        """The cached entry for ``(name, config)`` on ``device`` (see :func:`cache_key`),
        computing and storing it on a miss (after :meth:`ensure_writable`).

        ``compute`` returns ``(arrays, meta)``; ``name`` and ``config`` are added to the stored
        metadata under ``"name"`` and ``"config"``.
        """
        key = cache_key(name, config, device=device)
        hit = self.load(key)
        if hit is not None:
            return hit
        self.ensure_writable()
        arrays, meta = compute()
        meta = {**meta, "name": name, "config": dict(config)}
        self.save(key, arrays, meta)
        return {k: np.asarray(v) for k, v in arrays.items()}, meta

    def keys(self) -> list[str]:
        """The keys of all entries on disk, sorted (:class:`CacheFolderError` if the folder is
        a file)."""
        self._check_not_file()
        if not self.folder.is_dir():
            return []
        try:
            return sorted(p.stem for p in self.folder.glob("*.npz"))
        except OSError as err:
            raise self._problem(f"cannot be listed ({_reason(err)})") from err

    def metadata(self, key: str) -> dict[str, Any] | None:
        """The metadata of entry ``key`` without reading its arrays (None if unreadable).

        Cheap but unverified: :meth:`load` and :meth:`has` check the arrays against the checksum.
        """
        try:
            with np.load(self.path(key), allow_pickle=False) as npz:
                return json.loads(npz[META_KEY].tobytes().decode())["meta"]
        except _LOAD_ERRORS:
            return None
