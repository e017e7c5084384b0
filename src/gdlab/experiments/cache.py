"""On-disk cache of experiment results: numpy arrays plus JSON metadata, one ``.npz`` per entry.

An entry is keyed by the SHA-256 of the canonical JSON of ``(name, config, gdlab.__version__)``,
so changing a recipe's configuration or the package version never reuses a stale result. The
folder is ``$GDLAB_CACHE`` or ``.gdlab-cache`` in the current working directory.

Each entry is one ``.npz`` file holding the arrays and a ``__meta__`` entry (UTF-8 JSON) with the
metadata and a SHA-256 checksum of the arrays. Writes are atomic (temporary file in the same
folder, ``fsync``, ``os.replace``), so a crash never leaves a half-written entry under the final
name; an entry that fails to load or whose checksum does not match is treated as missing,
deleted, and recomputed by :meth:`ResultCache.get_or_compute`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import gdlab

__all__ = ["CacheEntry", "ResultCache", "cache_key", "default_cache_dir"]

META_KEY = "__meta__"
CacheEntry = tuple[dict[str, np.ndarray], dict[str, Any]]


def default_cache_dir() -> Path:
    """``$GDLAB_CACHE`` if set, else ``.gdlab-cache`` in the current working directory."""
    return Path(os.environ.get("GDLAB_CACHE", ".gdlab-cache")).expanduser()


def _canonical(obj: Any) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"cache keys and metadata must be finite JSON data: {err}") from err


def cache_key(name: str, config: Mapping[str, Any], version: str = gdlab.__version__) -> str:
    """Hex SHA-256 of the canonical JSON of ``(name, config, version)``."""
    payload = _canonical({"name": name, "config": dict(config), "version": version})
    return hashlib.sha256(payload.encode()).hexdigest()


def _checksum(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(_canonical([key, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class ResultCache:
    """A folder of cached results (see the module docstring for the format)."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        """The file of entry ``key``."""
        return self.folder / f"{key}.npz"

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
        self.folder.mkdir(parents=True, exist_ok=True)
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

    def load(self, key: str) -> CacheEntry | None:
        """The entry ``(arrays, meta)``; None if missing or corrupt (a corrupt file is deleted)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files if k != META_KEY}
                record = json.loads(npz[META_KEY].tobytes().decode())
            if record["checksum"] != _checksum(arrays):
                raise ValueError("checksum mismatch")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            path.unlink(missing_ok=True)
            return None
        return arrays, record["meta"]

    def get_or_compute(
        self, name: str, config: Mapping[str, Any], compute: Callable[[], CacheEntry]
    ) -> CacheEntry:
        """The cached entry for ``(name, config)``, computing and storing it on a miss.

        ``compute`` returns ``(arrays, meta)``; ``name`` and ``config`` are added to the stored
        metadata under ``"name"`` and ``"config"``.
        """
        key = cache_key(name, config)
        hit = self.load(key)
        if hit is not None:
            return hit
        arrays, meta = compute()
        meta = {**meta, "name": name, "config": dict(config)}
        self.save(key, arrays, meta)
        return {k: np.asarray(v) for k, v in arrays.items()}, meta

    def keys(self) -> list[str]:
        """The keys of all entries on disk, sorted."""
        return sorted(p.stem for p in self.folder.glob("*.npz")) if self.folder.is_dir() else []

    def metadata(self, key: str) -> dict[str, Any] | None:
        """The metadata of entry ``key`` without reading its arrays (None if unreadable).

        Cheap but unverified: :meth:`load` checks the arrays against the checksum.
        """
        try:
            with np.load(self.path(key), allow_pickle=False) as npz:
                return json.loads(npz[META_KEY].tobytes().decode())["meta"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
