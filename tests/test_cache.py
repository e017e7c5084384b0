"""Tests of the result cache (gdlab.experiments.cache) and the recipe registry built on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gdlab
from gdlab.experiments import cache as cache_mod
from gdlab.experiments import registry
from gdlab.experiments.cache import ResultCache, cache_key, default_cache_dir
from gdlab.experiments.registry import (
    Recipe,
    Result,
    claim,
    pack,
    resolve_config,
    run_recipe,
    unpack,
)
from gdlab.stepsize.mlp import MLPTrajectory


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
    monkeypatch.chdir(tmp_path)
    assert ResultCache().folder.resolve() == (tmp_path / ".gdlab-cache").resolve()
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


# ----------------------------------------------------------------------------- registry


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


def test_cifar_config_falls_back_with_note(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GDLAB_DATA", str(tmp_path))
    config = {"data": {"name": "cifar10"}, "steps": 10, "fallback": {"data": {"name": "xor"}}}
    resolved = resolve_config(config)
    assert resolved["data"] == {"name": "xor"}
    assert "CIFAR-10 not found" in resolved["note"] and str(tmp_path) in resolved["note"]
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(b"")
    assert resolve_config(config) == {"data": {"name": "cifar10"}, "steps": 10}


@pytest.fixture
def toy_recipe(monkeypatch):
    calls = []

    def run(config, ctx):
        calls.append(config["x"])
        arrays, _ = ctx.cached("toy-unit", config, lambda: ({"y": np.arange(config["x"])}, {}))
        return Result(
            "toy", "", config, arrays, [claim("y has x entries", "test", arrays["y"].size, True)]
        )

    recipe = Recipe("toy", "a toy recipe", {"x": 3}, {"x": 5}, run, lambda r: {})
    monkeypatch.setitem(registry.RECIPES, "toy", recipe)
    return calls


def test_run_recipe_caches_the_result(cache, toy_recipe) -> None:
    first = run_recipe("toy", "quick", "cpu", cache)
    second = run_recipe("toy", "quick", "cpu", cache)
    assert toy_recipe == [3]
    assert first.meta["from_cache"] is False and second.meta["from_cache"] is True
    assert second.scale == "quick" and second.claims == first.claims
    assert np.array_equal(second.arrays["y"], np.arange(3))
    assert [r.recipe for r in registry.cached_results(cache)] == ["toy"]
    run_recipe("toy", "paper", "cpu", cache)
    run_recipe("toy", "quick", "cpu", cache, refresh=True)
    assert toy_recipe == [3, 5, 3]
    assert sorted(r.scale for r in registry.cached_results(cache)) == ["paper", "quick"]


def test_unknown_recipe_lists_known() -> None:
    with pytest.raises(ValueError, match="known recipes: fig1, fig2-xor, fig2-images, fig3, fig4"):
        registry.get_recipe("fig5")


def test_segmented_two_layer_runs_equal_one_run_and_are_cached(cache) -> None:
    """GD keeps no state besides w, so restarting from w_final at checkpoints is exact.

    Exact, not within ulps: the segments repeat the whole run's kernel calls on same-shaped
    tensors, and gd's records are taken one at a time, so the boundary steps are recorded by
    the same code as every other step (records used to be reduced in batches whose scalar-path
    tail, on AVX-512, put one boundary step's risk 1 ulp away). The accuracies are the same
    forward pass on the same parameters; the reload returns the saved bytes.
    """
    from gdlab.experiments.figures import two_layer_runs
    from gdlab.experiments.registry import RunContext

    ctx = RunContext(torch.device("cpu"), cache)
    data = {"name": "separable_gaussian", "n": 20, "d": 4, "n_test": 10}
    kw = {"init_scale": 0.1, "seed": 0}
    whole, steps0, acc0 = two_layer_runs(ctx, data, "leaky_softplus_ex31", 4, [1.0, 8.0], 12, **kw)
    parts, steps, acc = two_layer_runs(
        ctx, data, "leaky_softplus_ex31", 4, [1.0, 8.0], 12, checkpoints=3, **kw
    )
    assert torch.equal(parts.steps, whole.steps) and torch.equal(parts.risk, whole.risk)
    assert torch.equal(parts.w_final, whole.w_final)
    assert steps.tolist() == [0, 4, 8, 12] and steps0.tolist() == [0, 12]
    assert acc.shape == (2, 4) and np.array_equal(acc[:, [0, -1]], acc0)
    assert len(list(cache.folder.glob("*.npz"))) == 2
    again, _, _ = two_layer_runs(
        ctx, data, "leaky_softplus_ex31", 4, [1.0, 8.0], 12, checkpoints=3, **kw
    )
    assert torch.equal(again.risk, parts.risk) and again.meta == parts.meta


def test_fig1_claims_on_a_constructed_record() -> None:
    """Large stepsize: two rises, monotone from step 3 on; small: monotone; margins as built."""
    from gdlab.experiments.figures import _fig1_claims

    risk = torch.tensor(
        [
            [0.7, 0.9, 0.5, 0.6, 0.3, 0.2, 0.1, 0.05, 0.04],
            [0.7, 0.69, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15],
        ],
        dtype=torch.float64,
    )
    q = torch.tensor(
        [[-1.0, -1, -1, -1, 0.5, 1.0, 1.2, 1.1, 1.3], [-1.0, -1, -1, -1, -1, -1, 0.1, 0.2, 0.3]],
        dtype=torch.float64,
    )
    norm = torch.ones(2, 9, dtype=torch.float64)
    traj = MLPTrajectory(
        lr=torch.tensor([1.0, 0.1], dtype=torch.float64),
        steps=torch.arange(9),
        risk=risk,
        log_risk=risk.log(),
        grad_norm_sq=torch.ones(2, 9, dtype=torch.float64),
        param_norm=norm,
        min_margin=q,
        normalized_margin=q / norm**4,
        test_steps=torch.tensor([0, 8]),
        test_accuracy=torch.tensor([[0.5, 0.9], [0.5, 0.8]], dtype=torch.float64),
        weights=[],
        meta={"n": 10, "d": 3, "width": 2},
    )
    claims = {c["claim"]: c for c in _fig1_claims(traj)}
    osc = claims["lr=1: risk oscillates, then decreases monotonically"]
    assert osc["holds"] and osc["measured"] == 3 and "2 risk increases" in osc["note"]
    assert claims["lr=0.1: risk decreases monotonically throughout"]["holds"]
    dip = claims["lr=1: normalized margin non-decreasing in the stable phase"]
    assert not dip["holds"] and dip["measured"] == pytest.approx((1.2 - 1.1) / 1.2, rel=1e-12)
    assert claims["lr=0.1: normalized margin non-decreasing in the stable phase"]["measured"] == 0
    assert claims["large stepsize has better test accuracy"]["measured"] == pytest.approx(0.1)
