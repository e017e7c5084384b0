"""One study per chapter, in the book's order (``_toc.yml``).

Each module ``gdlab.studies.<module>`` defines ``STUDY``, a :class:`~gdlab.experiments.study.Study`
whose name is the chapter's file name. A page calls :func:`load` with that name; the command line
(``python -m gdlab run NAME``) computes and caches the same result.
"""

from __future__ import annotations

import copy
import html
import importlib
import json
from collections.abc import Mapping
from typing import Any

import torch

from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, Study, run_study
from gdlab.runtime import get_scale

__all__ = ["Settings", "get_study", "load", "settings", "study_names"]

#: Study name (the chapter's file name) -> module under ``gdlab.studies``, in book order.
MODULES: dict[str, str] = {
    "intro": "intro",
    "setting": "setting",
    "phase-threshold": "phase_threshold",
    "margin-improvement": "margin",
    "first-phase": "first_phase",
    "acceleration": "acceleration",
    "output-scale": "output_scale",
    "paper-figures": "paper_figures",
    "noether-charge": "noether",
    "noise-equilibrium": "noise_equilibrium",
    "deep-linear": "deep_linear",
    "stress-tests": "stress",
}


def study_names() -> tuple[str, ...]:
    """Every study name, in book order."""
    return tuple(MODULES)


def get_study(name: str) -> Study:
    """The study called ``name``; ValueError listing the known names otherwise."""
    if name not in MODULES:
        raise ValueError(f"unknown study {name!r}; known studies: {', '.join(MODULES)}")
    return importlib.import_module(f"gdlab.studies.{MODULES[name]}").STUDY


class Settings(dict):
    """A chapter's settings (its configuration at the current scale), shown compactly.

    Change entries and pass the dict to :func:`load` to recompute the chapter with them.
    """

    def _rows(self) -> list[tuple[str, str]]:
        return [(k, json.dumps(v, separators=(", ", ": "))) for k, v in self.items()]

    def __repr__(self) -> str:
        return "\n".join(f"{k} = {v}" for k, v in self._rows())

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(v)}</code></td></tr>"
            for k, v in self._rows()
        )
        return f'<table class="gdlab-settings"><tbody>{cells}</tbody></table>'


def settings(name: str, scale: str | None = None) -> Settings:
    """The settings of study ``name`` at ``scale`` (default ``GDLAB_SCALE``): a copy a reader
    may edit, e.g. ``s = settings("intro"); s["steps"] = 500; load("intro", s)``."""
    study = get_study(name)
    return Settings(copy.deepcopy(study.paper if get_scale(scale) == "paper" else study.quick))


def load(
    name: str,
    settings: Mapping[str, Any] | None = None,
    *,
    scale: str | None = None,
    device: str | torch.device | None = None,
    cache: ResultCache | None = None,
) -> Result:
    """The result of study ``name`` for a page, with ``settings`` (default: the scale's own;
    see :func:`settings`): the cached one if there is one, else computed (and cached). Prints
    one line saying which, so a reader knows where the numbers come from.
    """
    study = get_study(name)
    result = run_study(study, scale, device, cache, settings=settings)
    took = f"computed in {result.meta['seconds']:.1f} s"
    how = f"loaded from the result cache ({took})" if result.meta["from_cache"] else took
    changed = sorted(k for k, v in (settings or {}).items() if study.config(scale).get(k) != v)
    own = f"; settings changed: {', '.join(changed)}" if changed else ""
    note = f"; {result.meta['note']}" if result.meta.get("note") else ""
    print(f"{name} [{result.scale}]: {how} on {result.meta.get('device', '?')}{own}{note}")
    return result
