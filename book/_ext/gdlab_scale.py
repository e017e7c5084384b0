"""Sphinx extension: one notebook-execution cache per scale, dtype and package source.

The cache lives in ``_build/.jupyter_cache/<scale>-<dtype>-<source>``, where ``<source>`` is
the start of :func:`gdlab.experiments.cache.source_fingerprint` (a hash of every ``.py`` file of
the package). Quick and paper results, float64 and float32 results never mix, and an edit in
``src/gdlab`` re-executes every page instead of serving outputs computed by the old code
(jupyter-cache keys notebooks on their cell sources only). Caches of the same scale and dtype
made by older sources are removed. An invalid ``GDLAB_SCALE`` or ``GDLAB_DTYPE`` fails the build
with gdlab's own one-line error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

from gdlab.experiments.cache import source_fingerprint
from gdlab.runtime import get_dtype, get_scale


def _set_cache_path(app: Sphinx, config: Config) -> None:
    dtype = str(get_dtype()).removeprefix("torch.")
    prefix = f"{get_scale()}-{dtype}-"
    folder = Path(app.srcdir) / "_build" / ".jupyter_cache"
    current = folder / (prefix + source_fingerprint()[:16])
    for stale in folder.glob(prefix + "*"):
        if stale != current:
            shutil.rmtree(stale, ignore_errors=True)
    config.nb_execution_cache_path = str(current)


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("config-inited", _set_cache_path, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
