"""One study per chapter, in the book's order (``_toc.yml``).

Each module ``gdlab.studies.<module>`` defines ``STUDY``, a :class:`~gdlab.experiments.study.Study`
whose name is the chapter's file name. A page calls :func:`load` with that name; the command line
(``python -m gdlab run NAME``) computes and caches the same result.
"""

from __future__ import annotations

import importlib

import torch

from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import Result, Study, run_study

__all__ = ["get_study", "load", "study_names"]

#: Study name (the chapter's file name) -> module under ``gdlab.studies``, in book order.
MODULES: dict[str, str] = {
    "intro": "intro",
    "setting": "setting",
    "phase-threshold": "phase_threshold",
    "margin-improvement": "margin",
    "first-phase": "first_phase",
    "acceleration": "acceleration",
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


def load(
    name: str,
    scale: str | None = None,
    device: str | torch.device | None = None,
    cache: ResultCache | None = None,
) -> Result:
    """The result of study ``name`` for a page: the cached one if there is one, else computed
    (and cached). Prints one line saying which, so a reader knows where the numbers come from.
    """
    result = run_study(get_study(name), scale, device, cache)
    took = f"computed in {result.meta['seconds']:.1f} s"
    how = f"loaded from the result cache ({took})" if result.meta["from_cache"] else took
    note = f"; {result.meta['note']}" if result.meta.get("note") else ""
    print(f"{name} [{result.scale}]: {how} on {result.meta.get('device', '?')}{note}")
    return result
