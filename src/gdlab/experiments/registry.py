"""Named recipes (one per paper figure) and the results they produce, cached on disk.

A :class:`Recipe` has a ``quick`` and a ``paper`` configuration (plain JSON data) and a
``run(config, ctx) -> Result`` function; :func:`run_recipe` resolves the configuration (the
dataset actually available, see :func:`resolve_config`), returns the cached :class:`Result` for
``(recipe, scale, resolved config)`` on this device type and dtype, torch version and package
source (:func:`~gdlab.experiments.cache.cache_key`) if there is one, and otherwise checks that
the cache folder is writable and runs the recipe, caching the result. Inside a recipe every
unit of work (one batch of GD runs) is cached separately through :meth:`RunContext.cached`, so
finished runs survive a later failure and are shared between recipes that need the same runs
(Figures 2(d-f) and 3).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from matplotlib.figure import Figure

from gdlab.data import CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, Dataset, cifar_folder, get_dataset
from gdlab.experiments.cache import ResultCache, cache_key
from gdlab.runtime import (
    SCALES,
    RuntimeConfigError,
    get_device,
    get_dtype,
    get_scale,
    show_value,
)

__all__ = [
    "CLAIM_KEYS",
    "Config",
    "Recipe",
    "Result",
    "RunContext",
    "cached_results",
    "claim",
    "get_recipe",
    "load_data",
    "pack",
    "recipe_names",
    "register",
    "resolve_config",
    "result_key",
    "run_recipe",
    "unpack",
]

Config = dict[str, Any]
T = TypeVar("T")

#: The fields of one claim record (the same as ``gdlab.stepsize.certify.Verdict``).
CLAIM_KEYS = ("claim", "source", "measured", "bound", "holds", "worst_slack", "step", "note")


def claim(
    name: str,
    source: str,
    measured: float,
    holds: bool,
    *,
    bound: float | None = None,
    note: str = "",
    step: int | None = None,
    worst_slack: float | None = None,
) -> dict[str, Any]:
    """A claim record with the keys :data:`CLAIM_KEYS` (JSON-able; NaN becomes None)."""
    value = float(measured)
    return {
        "claim": name,
        "source": source,
        "measured": value if np.isfinite(value) else None,
        "bound": None if bound is None else float(bound),
        "holds": bool(holds),
        "worst_slack": None if worst_slack is None else float(worst_slack),
        "step": None if step is None else int(step),
        "note": note,
    }


@dataclass
class RunContext:
    """What a recipe's ``run`` gets besides its config: device, cache, progress bars."""

    device: torch.device
    cache: ResultCache
    progress: bool = False

    def cached(
        self,
        name: str,
        config: Mapping[str, Any],
        compute: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]],
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """One unit of work, cached under ``(name, config)`` and this context's device type."""
        return self.cache.get_or_compute(name, config, compute, device=self.device)


@dataclass
class Result:
    """The outcome of a recipe: arrays for the figures, claim records, metadata."""

    recipe: str
    scale: str
    config: Config
    arrays: dict[str, np.ndarray]
    claims: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def all_hold(self) -> bool:
        """Whether every claim holds."""
        return all(c["holds"] for c in self.claims)

    def figures(self) -> dict[str, Figure]:
        """The recipe's figures, by name."""
        return get_recipe(self.recipe).plot(self)

    def summary(self) -> dict[str, Any]:
        """JSON-able summary: recipe, scale, config, claims, metadata."""
        return {
            "recipe": self.recipe,
            "scale": self.scale,
            "config": self.config,
            "all_hold": self.all_hold,
            "claims": self.claims,
            "meta": self.meta,
        }

    def claims_table(self) -> str:
        """The claims as a plain-text table (one line per claim), after the recipe's note (e.g.
        the fallback dataset used when the paper's was missing)."""
        lines = [f"{self.recipe} [{self.scale}]"]
        if self.meta.get("note"):
            lines.append(f"  note: {self.meta['note']}")
        for c in self.claims:
            measured = "n/a" if c["measured"] is None else f"{c['measured']:.4g}"
            bound = "" if c["bound"] is None else f" (bound {c['bound']:.4g})"
            verdict = "holds" if c["holds"] else "FAILS"
            lines.append(f"  {verdict:5}  {c['claim']}: {measured}{bound}  [{c['source']}]")
        return "\n".join(lines)


@dataclass(frozen=True)
class Recipe:
    """A named experiment with a quick and a paper configuration.

    ``run(config, ctx)`` computes a :class:`Result` from a resolved configuration;
    ``plot(result)`` returns its matplotlib figures by name.
    """

    name: str
    description: str
    quick: Config
    paper: Config
    run: Callable[[Config, RunContext], Result] = field(repr=False)
    plot: Callable[[Result], dict[str, Figure]] = field(repr=False)

    def config(self, scale: str | None = None) -> Config:
        """The configuration of ``scale`` (default: ``GDLAB_SCALE``), resolved."""
        return resolve_config(self.paper if get_scale(scale) == "paper" else self.quick)


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Add a recipe to the registry (names are unique)."""
    if recipe.name in RECIPES:
        raise ValueError(f"recipe {recipe.name!r} is already registered")
    RECIPES[recipe.name] = recipe
    return recipe


def recipe_names() -> tuple[str, ...]:
    """The registered recipe names, in registration order."""
    return tuple(RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ValueError listing the known names otherwise."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def _cifar_available(spec: Mapping[str, Any]) -> bool:
    """Whether the CIFAR-10 batches are found; RuntimeConfigError (one line) for a data folder
    that cannot even be looked at (a name too long, an unknown ``~user``, a NUL byte)."""
    root = spec.get("root")
    try:
        folder = cifar_folder(root)
        return all((folder / f).is_file() for f in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE))
    except (OSError, RuntimeError, ValueError) as err:
        env = os.environ.get("GDLAB_DATA", "")
        setting = (
            f"GDLAB_DATA={show_value(env)}" if root is None else f"data root {show_value(root)}"
        )
        reason = (err.strerror if isinstance(err, OSError) else None) or str(err)
        raise RuntimeConfigError(
            f"{setting} cannot be used ({reason}); allowed: a folder holding cifar-10-batches-py"
        ) from err


def resolve_config(config: Mapping[str, Any]) -> Config:
    """The configuration that will actually run.

    A config whose ``data`` is CIFAR-10 carries a ``fallback`` config; when the CIFAR-10
    batches are not found (:func:`gdlab.data.cifar_folder`), the fallback replaces it, with a
    ``note`` saying so. The ``fallback`` entry is dropped either way.
    """
    config = dict(config)
    fallback = config.pop("fallback", None)
    data = config.get("data", {})
    if fallback is not None and data.get("name") == "cifar10" and not _cifar_available(data):
        note = (
            f"CIFAR-10 not found in {cifar_folder(data.get('root'))} (set GDLAB_DATA): "
            f"fallback dataset {fallback['data']['name']!r} used instead"
        )
        return {**fallback, "note": note}
    return config


def load_data(spec: Mapping[str, Any]) -> Dataset:
    """The dataset of a config's ``data`` entry: ``{"name": ..., **kwargs}`` (lists -> tuples)."""
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k != "name"}
    return get_dataset(spec["name"], **kwargs)


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
    for f in dataclasses.fields(cls):
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


def result_key(
    name: str,
    scale: str | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> str:
    """The cache key of recipe ``name``'s result at ``scale`` on ``device`` with ``dtype``
    (defaults: ``GDLAB_SCALE``, ``GDLAB_DEVICE``, ``GDLAB_DTYPE``): a hash of the recipe name,
    the scale, the resolved configuration and what :func:`.cache.cache_key` adds."""
    scale = get_scale(scale)
    config = get_recipe(name).config(scale)
    return cache_key(
        "recipe", {"recipe": name, "scale": scale, "config": config}, device=device, dtype=dtype
    )


def run_recipe(
    name: str,
    scale: str | None = None,
    device: str | torch.device | None = None,
    cache: ResultCache | None = None,
    *,
    progress: bool = False,
    refresh: bool = False,
) -> Result:
    """Run recipe ``name`` at ``scale`` (default ``GDLAB_SCALE``), reusing the cached result.

    ``refresh=True`` recomputes the top-level result (cached units of work are still reused).
    The result's ``meta`` records the device type, the dtype, the wall time of the computation
    and whether it came from the cache. Before computing, the cache folder is checked writable
    (:meth:`.ResultCache.ensure_writable`), so an unusable folder fails before any work.
    """
    recipe = get_recipe(name)
    scale = get_scale(scale)
    config = recipe.config(scale)
    device = device if isinstance(device, torch.device) else get_device(device)
    cache = cache or ResultCache()
    dtype = str(get_dtype()).removeprefix("torch.")
    key = result_key(name, scale, device=device, dtype=dtype)
    hit = None if refresh else cache.load(key)
    if hit is not None:
        return _result_from_entry(*hit, from_cache=True)
    cache.ensure_writable()
    start = time.perf_counter()
    result = recipe.run(config, RunContext(device, cache, progress))
    result = dataclasses.replace(result, recipe=name, scale=scale)
    result.meta.update(
        device=device.type,
        dtype=dtype,
        seconds=time.perf_counter() - start,
        scale=scale,
        note=config.get("note", ""),
    )
    stored = {
        "kind": "recipe",
        "recipe": name,
        "scale": scale,
        "config": config,
        "claims": result.claims,
        "meta": result.meta,
    }
    cache.save(key, result.arrays, stored)
    return dataclasses.replace(result, meta={**result.meta, "from_cache": False})


def _result_from_entry(
    arrays: dict[str, np.ndarray], stored: dict[str, Any], *, from_cache: bool
) -> Result:
    return Result(
        recipe=stored["recipe"],
        scale=stored["scale"],
        config=stored["config"],
        arrays=arrays,
        claims=stored["claims"],
        meta={**stored["meta"], "from_cache": from_cache},
    )


def _is_current(key: str, stored: Mapping[str, Any]) -> bool:
    """Whether a stored recipe result is the one :func:`run_recipe` would reuse now (same key
    for its recipe, scale, device type and dtype with the current code and settings)."""
    meta = stored.get("meta", {})
    if stored.get("recipe") not in RECIPES or not isinstance(meta, dict):
        return False
    try:  # fields written by an older or foreign version: not current
        device = torch.device(meta["device"])
        dtype = get_dtype(meta.get("dtype", "float64"))
    except (KeyError, TypeError, ValueError, RuntimeError):
        return False
    return key == result_key(stored["recipe"], stored["scale"], device=device, dtype=dtype)


def cached_results(cache: ResultCache | None = None, *, current_only: bool = True) -> list[Result]:
    """Every intact recipe result in the cache (units of work are skipped), sorted by recipe and
    scale; with ``current_only`` (default) only those :func:`run_recipe` would reuse now, not
    results of an older package source, torch version or configuration."""
    cache = cache or ResultCache()
    results = []
    for key in cache.keys():
        meta = cache.metadata(key)
        if meta is None or meta.get("kind") != "recipe" or meta.get("scale") not in SCALES:
            continue
        if current_only and not _is_current(key, meta):
            continue
        hit = cache.load(key)
        if hit is not None:
            results.append(_result_from_entry(*hit, from_cache=True))
    order = {name: i for i, name in enumerate(RECIPES)}
    return sorted(results, key=lambda r: (order.get(r.recipe, len(order)), r.recipe, r.scale))
