"""The machinery of studies: the on-disk result cache (:mod:`.cache`) and the study layer
(:mod:`.study`: :class:`Study`, :class:`Result`, :class:`RunContext`, :func:`run_study`).

The studies themselves, one per chapter, are in :mod:`gdlab.studies`.
"""

from gdlab.experiments.cache import (
    CacheFolderError,
    ResultCache,
    cache_key,
    default_cache_dir,
    source_fingerprint,
)
from gdlab.experiments.study import Result, RunContext, Study, result_key, run_study

__all__ = [
    "CacheFolderError",
    "Result",
    "ResultCache",
    "RunContext",
    "Study",
    "cache_key",
    "default_cache_dir",
    "result_key",
    "run_study",
    "source_fingerprint",
]
