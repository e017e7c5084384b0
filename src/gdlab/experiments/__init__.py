"""Named experiments (one recipe per paper figure) with an on-disk result cache.

``run_recipe("fig2-xor", scale="quick")`` returns a :class:`Result` (arrays, claim records,
metadata, ``figures()``), computing it only when no cached result exists for the recipe, its
resolved configuration, the dtype and device type, the torch version and the package source.
See :mod:`.registry` and :mod:`.cache`; the recipes themselves are in :mod:`.figures`.
"""

from gdlab.experiments import figures as _figures  # noqa: F401  (registers the recipes)
from gdlab.experiments.cache import (
    CacheFolderError,
    ResultCache,
    cache_key,
    default_cache_dir,
    source_fingerprint,
)
from gdlab.experiments.registry import (
    Recipe,
    Result,
    RunContext,
    cached_results,
    get_recipe,
    recipe_names,
    run_recipe,
)

__all__ = [
    "CacheFolderError",
    "Recipe",
    "Result",
    "ResultCache",
    "RunContext",
    "cache_key",
    "cached_results",
    "default_cache_dir",
    "get_recipe",
    "recipe_names",
    "run_recipe",
    "source_fingerprint",
]
