"""Units of work as Dask tasks (gdlab.experiments.executor): the same results as in process, a
shared cache safe under concurrent writers, a killed worker costing only its own unit, and a
default path that never imports Dask.

One local cluster of two worker processes (one thread each) serves the module; tests that need
it are skipped where Dask distributed is not installed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from gdlab import studies
from gdlab.cli import main
from gdlab.experiments.cache import ResultCache, cache_key
from gdlab.experiments.study import Unit, run_study

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def client():
    """A local cluster of two worker processes; this module's functions travel by value (the
    workers cannot import a test module)."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _executor(client, folder: Path):
    from gdlab.experiments.executor import DaskExecutor

    return DaskExecutor(client, ResultCache(folder))


def _without_timing(values: dict) -> dict:
    return {k: v for k, v in values.items() if k != "seconds"}


@pytest.mark.parametrize(
    ("name", "settings"),
    [("intro", None), ("stress-tests", {"cases": 6, "chunk": 2})],
)
def test_a_study_on_the_cluster_equals_the_sequential_run(client, tmp_path, name, settings):
    """Small problems run on one torch thread in both paths: bit-identical results."""
    study = studies.get_study(name)
    here = run_study(study, "quick", CPU, ResultCache(tmp_path / "here"), settings=settings)
    there = run_study(
        study,
        "quick",
        CPU,
        ResultCache(tmp_path / "there"),
        settings=settings,
        executor=_executor(client, tmp_path / "there"),
    )
    assert _without_timing(there.values) == _without_timing(here.values)
    assert there.claims.to_dict() == here.claims.to_dict()
    assert there.arrays.keys() == here.arrays.keys()
    for key, value in here.arrays.items():
        assert np.array_equal(there.arrays[key], value), key
    # the units landed in the cluster's cache folder: the same keys as in process
    assert sorted(ResultCache(tmp_path / "there").keys()) == sorted(
        ResultCache(tmp_path / "here").keys()
    )


def _counted(folder: Path, name: str, size: int) -> Unit:
    """A unit that logs each computation to ``folder/name.count`` and returns ``size`` values."""

    def compute():
        with open(folder / f"{name}.count", "a") as log:
            log.write("x\n")
        return {"v": np.arange(float(size))}, {"size": size}

    return Unit(name, {"size": size}, compute)


def _victim(folder: Path, cache_folder: Path) -> Unit:
    """A unit whose first attempt leaves a partial temporary file in the cache, then kills its
    worker process (as the OOM killer would); the second attempt computes it."""

    def compute():
        marker = folder / "victim.attempted"
        with open(folder / "victim.count", "a") as log:
            log.write("x\n")
        if not marker.exists():
            marker.touch()
            key = cache_key("victim", {"size": 7}, device=CPU)
            (cache_folder / f".{key[:16]}.partial.tmp").write_bytes(b"PK\x03\x04 half")
            os.kill(os.getpid(), signal.SIGKILL)
        return {"v": np.arange(7.0)}, {"size": 7}

    return Unit("victim", {"size": 7}, compute)


def test_a_killed_worker_costs_only_its_own_unit(client, tmp_path):
    cache_folder = tmp_path / "cache"
    executor = _executor(client, cache_folder)
    units = [
        _counted(tmp_path, "a", 3),
        _victim(tmp_path, cache_folder),
        _counted(tmp_path, "b", 5),
    ]
    entries = executor.run_units(units, CPU)
    assert [e[0]["v"].size for e in entries] == [3, 7, 5]
    counts = {n: (tmp_path / f"{n}.count").read_text().count("x") for n in ("a", "victim", "b")}
    assert counts == {"a": 1, "victim": 2, "b": 1}  # only the killed unit ran again
    cache = ResultCache(cache_folder)
    keys = cache.keys()
    assert len(keys) == 3 and all(cache.has(key) for key in keys)  # every entry intact
    leftovers = [p.name for p in cache_folder.iterdir() if p.suffix == ".tmp"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".partial.tmp")  # never an entry
    # asked again, every unit comes from the cache
    assert [e[0]["v"].size for e in executor.run_units(units, CPU)] == [3, 7, 5]
    assert (tmp_path / "victim.count").read_text().count("x") == 2


def _write_many(folder: str, key: str, sizes: list[int]) -> int:
    """A task: save entry ``key`` once per size (a different payload each time)."""
    cache = ResultCache(folder)
    for size in sizes:
        cache.save(key, {"v": np.full(size, float(size))}, {"size": size})
    return len(sizes)


def test_concurrent_writers_of_one_key_never_leave_a_corrupt_entry(client, tmp_path):
    """Two worker processes and a client thread write the same key with payloads of different
    sizes while the client reads it: every read is a whole entry (a checksum-verified payload
    of one writer), never a mixture or a half-written file."""
    folder = tmp_path / "shared"
    cache = ResultCache(folder)
    key = cache_key("contested", {"x": 1}, device=CPU)
    sizes = [10, 100_000, 1, 50_000, 3] * 8
    futures = [
        client.submit(_write_many, str(folder), key, sizes, key=f"write-{i}", pure=False)
        for i in range(2)
    ]
    local = threading.Thread(target=_write_many, args=(str(folder), key, sizes[::-1]))
    local.start()
    reads = 0
    while not all(f.done() for f in futures) or local.is_alive():
        hit = cache.load(key)  # a read failing its checksum would return None and delete it
        assert hit is not None or reads == 0, "the entry vanished after it was first read"
        if hit is not None:
            arrays, meta = hit
            assert arrays["v"].size == meta["size"] and np.all(arrays["v"] == meta["size"])
            reads += 1
    local.join()
    assert [f.result() for f in futures] == [len(sizes)] * 2
    arrays, meta = cache.load(key)
    assert arrays["v"].size == meta["size"] in sizes and reads > 0
    assert not list(folder.glob(".*.tmp"))  # every write renamed its temporary file


def test_the_command_line_on_a_running_scheduler(client, tmp_path, monkeypatch, capsys):
    """``--scheduler`` with a shard of the stress profile, then the whole profile merged from
    the shards' chunks by a plain run: no case is checked twice."""
    monkeypatch.setenv("GDLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GDLAB_DEVICE", "cpu")
    monkeypatch.setenv("GDLAB_SCALE", "quick")
    out = str(tmp_path / "out")
    address = client.scheduler.address
    args = ["run", "stress-tests", "--out", out, "--scheduler", address]
    assert main([*args, "--start", "0", "--stop", "20"]) == 0
    assert main([*args, "--start", "20"]) == 0
    shards = capsys.readouterr().out
    assert "stress-tests-quick-cases-0-20.json" in shards
    assert "stress-tests-quick-cases-20-end.json" in shards
    from gdlab.studies import stress

    checked: list[int] = []
    monkeypatch.setattr(stress, "check_outcome", lambda i, case: checked.append(i))
    assert main(["run", "stress-tests", "--out", out]) == 0
    assert checked == []
    assert "stress-tests-quick.json" in capsys.readouterr().out


def test_the_default_path_never_imports_dask(tmp_path):
    """``import gdlab.cli`` and a sequential run, in a fresh process, leave Dask unimported."""
    code = (
        "import sys\n"
        "import gdlab.cli\n"
        "assert gdlab.cli.main(['run', 'intro', '--out', sys.argv[1]]) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "print('dask modules:', loaded)\n"
    )
    env = {
        **os.environ,
        "GDLAB_CACHE": str(tmp_path / "cache"),
        "GDLAB_DEVICE": "cpu",
        "GDLAB_SCALE": "quick",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "dask modules: []" in proc.stdout
