"""Units of work as tasks on Dask distributed (``python -m gdlab run --workers N | --scheduler``).

:class:`DaskExecutor` is the :class:`~gdlab.experiments.study.UnitExecutor` of the command line:
a study runs in the client process as always, and each unit it asks for that is not in the
result cache becomes a task. The design keeps the studies' code as it is: a study's ``run``
uses each unit's result as soon as it has it (later units may depend on earlier results), so
its units cannot be listed without running it. ``cached`` therefore submits one missing unit
and waits for it, and the parallelism comes from

- the studies themselves, which ``run all`` runs concurrently (one client thread each), and
- units declared ahead with :meth:`~gdlab.experiments.study.RunContext.prefetch`, submitted
  all at once (the stress profile declares its chunks of cases that way).

A task is keyed by its unit's cache key, so a unit that two studies ask for at the same time is
computed once. On the worker it computes the unit through :meth:`ResultCache.get_or_compute` in
the same cache folder (a shared file system for a remote cluster; writes are atomic, and two
writers of one key each replace the entry whole), with the client's ``GDLAB_*`` settings and one
torch thread per task; the client stores the returned entry too when its folder did not get it
(workers without the shared folder). A worker that computes another cache key for the unit (other
code, torch version or dtype) refuses it. A worker that dies mid-task costs only its unit:
Dask reruns that task elsewhere, and the dead worker's temporary file is never an entry.

Dask is imported only here, and this module only for ``--workers``/``--scheduler``: the default
path runs without it (``pip install -e '.[cluster]'`` adds it).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from gdlab.experiments.cache import CacheEntry, ResultCache, cache_key
from gdlab.experiments.study import Unit
from gdlab.runtime import RuntimeConfigError

__all__ = ["DaskExecutor", "dask_executor", "settings_of_this_process"]

#: Settings a worker takes from the client (GDLAB_CACHE is replaced by the client's folder).
_FORWARDED = ("GDLAB_DTYPE", "GDLAB_DATA", "GDLAB_DEVICE", "GDLAB_SCALE", "GDLAB_STRICT")


def settings_of_this_process() -> dict[str, str | None]:
    """The ``GDLAB_*`` settings a worker must share with this process (None: unset)."""
    return {name: os.environ.get(name) for name in _FORWARDED}


def compute_unit(
    folder: str,
    key: str,
    unit: Unit,
    device: torch.device,
    settings: Mapping[str, str | None],
    threads: int,
) -> CacheEntry:
    """A task: ``unit``'s entry under ``key`` in the cache ``folder``, computed if missing
    (on the worker, with the client's ``settings`` and ``threads`` torch threads)."""
    for name, value in settings.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    torch.set_num_threads(threads)
    cache = ResultCache(folder)
    if cache_key(unit.name, unit.config, device=device) != key:
        raise RuntimeConfigError(
            f"worker computes another cache key for unit {unit.name!r} than the client "
            "(other gdlab code, torch version or dtype); allowed: workers started from the "
            "client's environment"
        )
    return cache.get_or_compute(unit.name, unit.config, unit.compute, device=device)


class DaskExecutor:
    """Units as Dask tasks through ``client`` (see the module docstring).

    ``threads``: torch threads per task (default 1: one task per core of a local cluster).
    """

    def __init__(self, client: Any, cache: ResultCache, threads: int = 1) -> None:
        self.client, self.cache, self.threads = client, cache, threads
        self.settings = settings_of_this_process()

    def run_units(self, units: Sequence[Unit], device: torch.device) -> list[CacheEntry]:
        """The entries of ``units`` in order: cache hits at once, the missing ones submitted
        together and gathered (and stored here if the workers' folder is not this one)."""
        keys = [cache_key(u.name, u.config, device=device) for u in units]
        entries: list[CacheEntry | None] = [self.cache.load(key) for key in keys]
        missing = [i for i, entry in enumerate(entries) if entry is None]
        if missing:
            self.cache.ensure_writable()
        futures = {
            i: self.client.submit(
                compute_unit,
                str(self.cache.folder),
                keys[i],
                units[i],
                device,
                self.settings,
                self.threads,
                key=f"gdlab-unit-{keys[i]}",
                pure=False,
            )
            for i in missing
        }
        for i, future in futures.items():
            arrays, meta = future.result()
            if not self.cache.has(keys[i]):
                self.cache.save(keys[i], arrays, meta)
            entries[i] = arrays, meta
        return entries  # type: ignore[return-value]


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as err:
        raise RuntimeConfigError(
            "--workers/--scheduler need Dask distributed, which is not installed; allowed: "
            "pip install -e '.[cluster]', or run without them"
        ) from err
    return distributed


@contextlib.contextmanager
def dask_executor(
    cache: ResultCache, workers: int | None = None, scheduler: str | None = None
) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on a local cluster of ``workers`` processes (one thread each) or
    on the scheduler at ``scheduler``; closed (the local cluster shut down) on exit."""
    if (workers is None) == (scheduler is None):
        raise ValueError("give exactly one of workers (a local cluster) and scheduler (an address)")
    distributed = _import_distributed()
    with contextlib.ExitStack() as stack:
        if workers is not None:
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout="20s"))
            except OSError as err:
                raise RuntimeConfigError(
                    f"--scheduler {scheduler!r} cannot be reached ({err}); allowed: the address "
                    "of a running Dask scheduler, e.g. tcp://host:8786"
                ) from err
        yield DaskExecutor(client, cache)
