"""Sphinx extension: one notebook-execution cache folder per scale (``GDLAB_SCALE``).

Quick and paper results never mix: the cache lives in ``_build/.jupyter_cache/<scale>``.
An invalid ``GDLAB_SCALE`` fails the build with gdlab's own error message.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

from gdlab.runtime import get_scale


def _set_cache_path(app: Sphinx, config: Config) -> None:
    root = Path(app.srcdir)
    config.nb_execution_cache_path = str(root / "_build" / ".jupyter_cache" / get_scale())


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("config-inited", _set_cache_path, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
