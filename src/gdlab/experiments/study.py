"""Studies: one per chapter, each a computation with a quick and a paper configuration.

A :class:`Study` names its chapter, its two configurations (plain JSON data), a
``run(config, ctx) -> Result`` function and a ``plot(result) -> {name: Figure}`` function.
:func:`run_study` returns the cached :class:`Result` of a study at a scale, or runs it and caches
it. Inside ``run`` every unit of work (a batch of GD or SGD runs) is cached separately through
:meth:`RunContext.cached`, so a killed run restarts from its finished units and studies share
the runs they have in common.

A :class:`Result` is everything a chapter shows, as plain data: arrays for the figures,
``values`` (the numbers the prose glues), ``tables`` and the ``claims``. It is stored as one
cache entry, so a page loads what the command line computed, and nothing is recomputed.

Units run in this process by default. A :class:`UnitExecutor` (``python -m gdlab run
--workers/--scheduler``: :mod:`gdlab.experiments.executor`, Dask distributed) computes them as
tasks instead: ``cached`` then submits a missing unit and waits for it, and a study that knows
its units ahead declares them with :meth:`RunContext.prefetch`, which submits them all at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
from matplotlib.figure import Figure

from gdlab.claims import ClaimTable
from gdlab.experiments.cache import CacheEntry, ResultCache, cache_key
from gdlab.runtime import get_device, get_dtype, get_scale
from gdlab.tables import Table

__all__ = [
    "Config",
    "Result",
    "RunContext",
    "Study",
    "Unit",
    "UnitExecutor",
    "pack",
    "result_key",
    "run_study",
    "unpack",
]

Config = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Unit:
    """One unit of work: cached under ``(name, config)``; ``compute`` returns ``(arrays, meta)``."""

    name: str
    config: Mapping[str, Any]
    compute: Callable[[], CacheEntry] = field(repr=False)


class UnitExecutor(Protocol):
    """Computes units elsewhere than in this process (see :mod:`gdlab.experiments.executor`)."""

    def run_units(self, units: Sequence[Unit], device: torch.device) -> list[CacheEntry]:
        """The entries of ``units`` in order: loaded from the cache, or computed (all at once)
        and stored in it."""
        ...


@dataclass
class RunContext:
    """What a study's ``run`` gets besides its config: device, cache, progress bars, and the
    executor of its units (None: computed in this process)."""

    device: torch.device
    cache: ResultCache
    progress: bool = False
    executor: UnitExecutor | None = None
    bar: Any = field(default=None, repr=False)  # the study's bar of units (see run_study)

    def cached(
        self,
        name: str,
        config: Mapping[str, Any],
        compute: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]],
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """One unit of work, cached under ``(name, config)``: loaded, else computed here or,
        with an executor, as a task (which stores it in the cache)."""
        if self.executor is not None:
            entry = self.executor.run_units([Unit(name, config, compute)], self.device)[0]
            self._count(name, computed=None)
            return entry
        hit = self.cache.load(cache_key(name, config, device=self.device))
        entry = hit or self.cache.get_or_compute(name, config, compute, device=self.device)
        self._count(name, computed=hit is None)
        return entry

    def prefetch(self, units: Iterable[Unit]) -> None:
        """Declare units that ``run`` will ask for with :meth:`cached`: with an executor the
        missing ones are computed now, all at once, as tasks; without one nothing happens here
        (each is computed at its ``cached`` call, in order)."""
        if self.executor is not None:
            self.executor.run_units(list(units), self.device)

    def _count(self, name: str, computed: bool | None) -> None:
        """Advance the study's bar of units (``computed``: True, False for a cache hit, None
        for a task whose origin this process does not see)."""
        if self.bar is None:
            return
        self.bar.update(1)
        if computed is not None:
            self.bar.counts["computed" if computed else "cached"] += 1
            self.bar.set_postfix(self.bar.counts, refresh=False)

    def steps(self, items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
        """``items`` with a progress bar when the context shows progress (the CLI on a tty)."""
        if not self.progress:
            yield from items
            return
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, total=total, leave=False)

    def __getstate__(self) -> dict[str, Any]:
        """A context travels with a unit's computation to a worker without its executor and
        its bars: there, nested units are computed in place."""
        return {**self.__dict__, "executor": None, "progress": False, "bar": None}


def _plain(value: Any) -> Any:
    """JSON data from NumPy scalars, tuples and nested containers (non-finite floats to None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"result values must be JSON data, got {type(value).__name__}: {value!r}")


@dataclass
class Result:
    """What a chapter shows, as plain data (see the module docstring).

    ``values`` maps names to JSON data (numbers to glue, short lists); ``tables`` maps names to
    :class:`~gdlab.tables.Table`; ``claims`` is the chapter's :class:`~gdlab.claims.ClaimTable`.
    """

    study: str
    scale: str
    config: Config
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    claims: ClaimTable = field(default_factory=ClaimTable)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = _plain(self.values)

    def check(self, strict: bool | None = None) -> ClaimTable:
        """The claims table, after raising :class:`~gdlab.claims.ClaimFailure` if a claim
        fails and the check is strict (default: :func:`gdlab.runtime.strict_claims`)."""
        return self.claims.check(strict)

    def glue(self, prefix: str = "") -> None:
        """Glue every scalar value (int, float, str) for the page's prose, as ``prefix + name``.

        Floats are glued as plain Python floats, ints as ints (myst-nb formats them in the text).
        A value that was not measured (None, e.g. a step never reached at this scale) is glued
        as NaN, so the prose prints ``nan`` instead of the build failing on a missing name.
        """
        from myst_nb import glue

        for name, value in self.values.items():
            if value is None:
                glue(prefix + name, math.nan, display=False)
            elif isinstance(value, bool):
                glue(prefix + name, str(value).lower(), display=False)
            elif isinstance(value, int | float | str):
                glue(prefix + name, value, display=False)

    def to_entry(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, metadata)`` for the result cache; :meth:`from_entry` inverts it."""
        stored = {
            "kind": "study",
            "study": self.study,
            "scale": self.scale,
            "config": self.config,
            "values": self.values,
            "tables": {k: t.to_dict() for k, t in self.tables.items()},
            "claims": self.claims.to_dict(),
            "meta": _plain(self.meta),
        }
        return self.arrays, stored

    @classmethod
    def from_entry(cls, arrays: Mapping[str, np.ndarray], stored: Mapping[str, Any]) -> Result:
        """Inverse of :meth:`to_entry`."""
        return cls(
            study=stored["study"],
            scale=stored["scale"],
            config=stored["config"],
            arrays=dict(arrays),
            values=stored["values"],
            tables={k: Table.from_dict(t) for k, t in stored["tables"].items()},
            claims=ClaimTable.from_dict(stored["claims"]),
            meta=dict(stored["meta"]),
        )


@dataclass(frozen=True)
class Study:
    """A chapter's computation: two configurations, ``run`` and ``plot`` (module docstring)."""

    name: str
    title: str
    chapter: str
    quick: Config
    paper: Config
    run: Callable[[Config, RunContext], Result] = field(repr=False)
    plot: Callable[[Result], dict[str, Figure]] = field(repr=False)
    resolve: Callable[[Config], Config] = field(default=dict, repr=False)

    def config(self, scale: str | None = None, settings: Mapping[str, Any] | None = None) -> Config:
        """The configuration of ``scale`` (default: ``GDLAB_SCALE``) with ``settings`` replacing
        some of its entries, resolved (e.g. the dataset actually available).

        ``settings`` may only name entries the configuration has (ValueError listing them).
        """
        base = dict(self.paper if get_scale(scale) == "paper" else self.quick)
        unknown = sorted(set(settings or {}) - set(base))
        if unknown:
            raise ValueError(
                f"unknown setting(s) {', '.join(map(repr, unknown))} for study {self.name!r}; "
                f"allowed: {', '.join(sorted(base))}"
            )
        return self.resolve({**base, **(settings or {})})


def result_key(
    study: Study,
    scale: str | None = None,
    device: str | torch.device | None = None,
    settings: Mapping[str, Any] | None = None,
) -> str:
    """The cache key of ``study``'s result at ``scale`` (with ``settings``, see
    :meth:`Study.config`) on ``device`` (default ``GDLAB_DEVICE``) in the ``GDLAB_DTYPE`` dtype
    (see ``gdlab.experiments.cache.cache_key``)."""
    scale = get_scale(scale)
    config = study.config(scale, settings)
    return cache_key(
        "study", {"study": study.name, "scale": scale, "config": config}, device=device
    )


def run_study(
    study: Study,
    scale: str | None = None,
    device: str | torch.device | None = None,
    cache: ResultCache | None = None,
    *,
    progress: bool = False,
    refresh: bool = False,
    settings: Mapping[str, Any] | None = None,
    executor: UnitExecutor | None = None,
) -> Result:
    """The result of ``study`` at ``scale`` (default ``GDLAB_SCALE``), from the cache if there.

    ``settings`` replace entries of the scale's configuration (:meth:`Study.config`); the
    result is cached under the configuration that ran. ``refresh=True`` recomputes the result
    (its cached units of work are still reused). ``progress`` shows a bar of the study's units
    (how many were loaded from the cache and how many computed) above the study's own bars.
    ``executor`` computes the units as tasks (default: in this process). The result's ``meta``
    records the device, the wall time and whether it came from the cache.
    """
    scale = get_scale(scale)
    config = study.config(scale, settings)
    device = device if isinstance(device, torch.device) else get_device(device)
    cache = cache or ResultCache()
    key = result_key(study, scale, device, settings)
    hit = None if refresh else cache.load(key)
    if hit is not None:
        result = Result.from_entry(*hit)
        result.meta["from_cache"] = True
        return result
    cache.ensure_writable()
    start = time.perf_counter()
    ctx = RunContext(device, cache, progress, executor)
    with _units_bar(ctx, f"{study.name} [{scale}]"):
        result = study.run(config, ctx)
    result = dataclasses.replace(result, study=study.name, scale=scale, config=config)
    result.meta.update(
        device=device.type,
        dtype=str(get_dtype()).removeprefix("torch."),
        seconds=time.perf_counter() - start,
        note=config.get("note", ""),
    )
    cache.save(key, *result.to_entry())
    result.meta["from_cache"] = False
    return result


@contextlib.contextmanager
def _units_bar(ctx: RunContext, desc: str) -> Iterator[None]:
    """Show ``ctx``'s bar of units while the study runs, when it shows progress."""
    if not ctx.progress:
        yield
        return
    from tqdm import tqdm

    with tqdm(desc=desc, unit=" units") as bar:
        bar.counts = {"cached": 0, "computed": 0}
        ctx.bar = bar
        try:
            yield
        finally:
            ctx.bar = None


def pack(obj: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A dataclass of tensors (e.g. a ``Trajectory``) as ``(arrays, meta)`` for the cache.

    Tensor fields become arrays, lists of tensors ``name.0, name.1, ...``, ``None`` fields are
    omitted, the ``meta`` field is the metadata.
    """
    arrays: dict[str, np.ndarray] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, torch.Tensor):
            arrays[f.name] = value.detach().cpu().numpy()
        elif isinstance(value, list):
            for i, item in enumerate(value):
                arrays[f"{f.name}.{i}"] = item.detach().cpu().numpy()
    return arrays, dict(getattr(obj, "meta", {}))


def unpack(cls: type[T], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> T:
    """Inverse of :func:`pack`."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name == "meta":
            kwargs["meta"] = dict(meta)
        elif f.name in arrays:
            kwargs[f.name] = torch.from_numpy(np.array(arrays[f.name]))
        else:
            items = sorted(
                (int(k.rsplit(".", 1)[1]), v)
                for k, v in arrays.items()
                if k.startswith(f"{f.name}.")
            )
            if items:
                kwargs[f.name] = [torch.from_numpy(np.array(v)) for _, v in items]
    return cls(**kwargs)
