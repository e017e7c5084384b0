"""Tests of the result cache (gdlab.experiments.cache), of study results cached in it
(gdlab.experiments.study) and of the shared cached GD unit (gdlab.studies.common)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gdlab
from gdlab.claims import ClaimTable
from gdlab.experiments import cache as cache_mod
from gdlab.experiments.cache import ResultCache, cache_key, default_cache_dir, source_checkout
from gdlab.experiments.study import Result, RunContext, Study, pack, run_study, unpack
from gdlab.stepsize.mlp import MLPTrajectory
from gdlab.studies import get_study, study_names
from gdlab.studies.common import two_layer_runs


@pytest.fixture
def cache(tmp_path) -> ResultCache:
    return ResultCache(tmp_path / "cache")


def _arrays() -> dict[str, np.ndarray]:
    return {"risk": np.linspace(1.0, 0.0, 7).reshape(1, 7), "steps": np.arange(7)}


def test_key_depends_on_name_config_version_not_key_order() -> None:
    key = cache_key("fig", {"a": 1, "b": [1.0, 2.0]})
    assert key == cache_key("fig", {"b": [1.0, 2.0], "a": 1})
    assert key != cache_key("fig2", {"a": 1, "b": [1.0, 2.0]})
    assert key != cache_key("fig", {"a": 2, "b": [1.0, 2.0]})
    assert key != cache_key("fig", {"a": 1, "b": [1.0, 2.0]}, version=gdlab.__version__ + "x")
    with pytest.raises(TypeError, match="JSON"):
        cache_key("fig", {"a": object()})


def test_default_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GDLAB_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)  # the default does not follow the working directory
    root = source_checkout()
    assert root is not None and ResultCache().folder == root / ".gdlab-cache"
    monkeypatch.setenv("GDLAB_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"


def test_roundtrip_and_no_temporary_files(cache) -> None:
    arrays = _arrays()
    cache.save("k", arrays, {"note": "x", "values": [1, 2]})
    loaded, meta = cache.load("k")
    assert meta == {"note": "x", "values": [1, 2]}
    assert set(loaded) == set(arrays)
    for name, a in arrays.items():
        assert loaded[name].dtype == a.dtype and np.array_equal(loaded[name], a)
    assert [p.name for p in cache.folder.iterdir()] == ["k.npz"]
    assert cache.keys() == ["k"] and cache.metadata("k") == meta
    assert cache.load("missing") is None and cache.metadata("missing") is None


def test_failed_write_keeps_previous_entry(cache, monkeypatch) -> None:
    cache.save("k", _arrays(), {"version": 1})

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod.np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        cache.save("k", {"risk": np.zeros(3)}, {"version": 2})
    monkeypatch.undo()
    assert cache.load("k")[1] == {"version": 1}
    assert [p.name for p in cache.folder.iterdir()] == ["k.npz"]  # temporary file removed


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_corrupt_entry_is_detected_and_recomputed(cache, damage) -> None:
    calls = []

    def compute():
        calls.append(1)
        return _arrays(), {"n": len(calls)}

    cache.get_or_compute("unit", {"a": 1}, compute)
    path = cache.path(cache_key("unit", {"a": 1}))
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "garbage":
        raw = bytearray(b"not a zip file")
    else:  # one bit of the stored risk array (zip stores members uncompressed)
        pos = raw.find(np.float64(1.0).tobytes())
        assert pos > 0
        raw[pos + 3] ^= 0x10
    path.write_bytes(bytes(raw))
    assert cache.load(path.stem) is None
    assert not path.exists()
    _, meta = cache.get_or_compute("unit", {"a": 1}, compute)
    assert meta["n"] == 2 and len(calls) == 2


def test_get_or_compute_hits_and_records_name_config(cache) -> None:
    calls = []

    def compute():
        calls.append(1)
        return _arrays(), {"kind": "unit"}

    _, meta = cache.get_or_compute("unit", {"lr": [1.0]}, compute)
    _, again = cache.get_or_compute("unit", {"lr": [1.0]}, compute)
    assert len(calls) == 1
    assert meta == again == {"kind": "unit", "name": "unit", "config": {"lr": [1.0]}}


def test_finished_runs_survive_a_failing_sweep(cache) -> None:
    def run(lr: float):
        if lr > 1:
            raise RuntimeError("diverged")
        return {"risk": np.array([lr])}, {}

    with pytest.raises(RuntimeError):
        for lr in (0.5, 1.0, 2.0):
            cache.get_or_compute("run", {"lr": lr}, lambda lr=lr: run(lr))
    assert cache.load(cache_key("run", {"lr": 0.5})) is not None
    assert cache.load(cache_key("run", {"lr": 1.0})) is not None
    assert cache.load(cache_key("run", {"lr": 2.0})) is None


def test_save_rejects_reserved_and_object_arrays(cache) -> None:
    with pytest.raises(ValueError, match="reserved"):
        cache.save("k", {"__meta__": np.zeros(1)}, {})
    with pytest.raises(TypeError, match="object"):
        cache.save("k", {"a": np.array([{}, 1], dtype=object)}, {})


# ----------------------------------------------------------------------------- study results


def test_pack_unpack_roundtrip() -> None:
    traj = MLPTrajectory(
        lr=torch.tensor([0.1]),
        steps=torch.arange(3),
        risk=torch.rand(1, 3, dtype=torch.float64),
        log_risk=torch.rand(1, 3, dtype=torch.float64),
        grad_norm_sq=torch.rand(1, 3, dtype=torch.float64),
        param_norm=torch.rand(1, 3, dtype=torch.float64),
        min_margin=torch.rand(1, 3, dtype=torch.float64),
        normalized_margin=torch.rand(1, 3, dtype=torch.float64),
        test_steps=torch.arange(2),
        test_accuracy=torch.rand(1, 2, dtype=torch.float64),
        weights=[
            torch.rand(1, 2, 3, dtype=torch.float64),
            torch.rand(1, 1, 2, dtype=torch.float64),
        ],
        meta={"dataset": "toy"},
    )
    back = unpack(MLPTrajectory, *pack(traj))
    assert back.meta == traj.meta
    assert torch.equal(back.risk, traj.risk) and torch.equal(back.steps, traj.steps)
    assert len(back.weights) == 2 and all(
        torch.equal(a, b) for a, b in zip(back.weights, traj.weights, strict=True)
    )


@pytest.fixture
def toy_study() -> tuple[Study, list[int]]:
    """A study whose run caches one unit and logs its config; returns (study, log)."""
    calls: list[int] = []

    def run(config, ctx):
        calls.append(config["x"])
        arrays, _ = ctx.cached("toy-unit", config, lambda: ({"y": np.arange(config["x"])}, {}))
        claims = ClaimTable()
        claims.add("y has x entries", "test", arrays["y"].size, config["x"], relation="==")
        return Result("toy", "", config, arrays, {"n": int(arrays["y"].size)}, claims=claims)

    study = Study("toy", "A toy", "book/toy.md", {"x": 3}, {"x": 5}, run, lambda r: {})
    return study, calls


def test_run_study_caches_the_result(cache, toy_study) -> None:
    study, calls = toy_study
    first = run_study(study, "quick", "cpu", cache)
    second = run_study(study, "quick", "cpu", cache)
    assert calls == [3]
    assert first.meta["from_cache"] is False and second.meta["from_cache"] is True
    assert second.scale == "quick" and second.values == {"n": 3}
    assert second.claims.to_dict() == first.claims.to_dict() and second.claims.ok
    assert np.array_equal(second.arrays["y"], np.arange(3))
    run_study(study, "paper", "cpu", cache)
    run_study(study, "quick", "cpu", cache, refresh=True)
    assert calls == [3, 5, 3]
    # one result entry per scale and one unit per config
    assert len(cache.keys()) == 4


def test_unknown_study_lists_known() -> None:
    with pytest.raises(ValueError, match="known studies: " + ", ".join(study_names())):
        get_study("fig5")


def _ulps(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest distance between ``a`` and ``b`` in units in the last place of the larger."""
    x, y = a.numpy(), b.numpy()
    return float(np.max(np.abs(x - y) / np.spacing(np.maximum(np.abs(x), np.abs(y)))))


#: A segment's first record (the last of the previous segment) may be taken by a different code
#: path of the engine than the same step inside one run: a reordered mean of n = 20 losses
#: differs by at most about n/2 ulps; the parameters themselves take identical GD steps.
SEGMENT_ULPS = 10


def test_segmented_two_layer_runs_equal_one_run_and_are_cached(cache) -> None:
    """GD keeps no state besides w, so restarting from w_final at checkpoints continues the same
    run: the same steps, the same final parameters, the same risks up to the record's rounding."""
    ctx = RunContext(torch.device("cpu"), cache)
    data = {"name": "separable_gaussian", "n": 20, "d": 4, "n_test": 10}
    kw = {"init_scale": 0.1, "seed": 0}
    whole, steps0, acc0 = two_layer_runs(ctx, data, "leaky_softplus_ex31", 4, [1.0, 8.0], 12, **kw)
    parts, steps, acc = two_layer_runs(
        ctx, data, "leaky_softplus_ex31", 4, [1.0, 8.0], 12, checkpoints=3, **kw
    )
    assert torch.equal(parts.steps, whole.steps) and torch.equal(parts.w_final, whole.w_final)
    assert _ulps(parts.risk, whole.risk) <= SEGMENT_ULPS
    assert steps.tolist() == [0, 4, 8, 12] and steps0.tolist() == [0, 12]
    assert acc.shape == (2, 4) and np.array_equal(acc[:, [0, -1]], acc0)
    assert len(list(cache.folder.glob("*.npz"))) == 2
    again, _, _ = two_layer_runs(
        ctx, data, "leaky_softplus_ex31", 4, [1.0, 8.0], 12, checkpoints=3, **kw
    )
    assert torch.equal(again.risk, parts.risk) and again.meta == parts.meta
