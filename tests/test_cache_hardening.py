"""The result cache under hostile settings: folder checks before compute, the anchored default,
stale temporary files, verified entries, and a key that covers dtype, device, torch and source."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gdlab.claims import ClaimTable
from gdlab.experiments import cache as cache_mod
from gdlab.experiments.cache import (
    STALE_TMP_SECONDS,
    CacheFolderError,
    ResultCache,
    cache_key,
    default_cache_dir,
    source_checkout,
    source_fingerprint,
)
from gdlab.experiments.study import Result, RunContext, Study, run_study
from gdlab.runtime import RuntimeConfigError


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDLAB_DEVICE", "cpu")
    monkeypatch.delenv("GDLAB_DTYPE", raising=False)


class Counter:
    """A compute function that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> tuple[dict[str, np.ndarray], dict]:
        self.calls += 1
        return {"x": np.arange(3.0)}, {"n": self.calls}


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and len(text) < 400
    return text


# ----------------------------------------------------------------------------- the folder


def test_default_is_anchored_at_the_checkout_not_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("GDLAB_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    root = source_checkout()
    assert root is not None and (root / "pyproject.toml").is_file()
    assert default_cache_dir() == root / ".gdlab-cache"
    assert ResultCache().folder == root / ".gdlab-cache"


def test_installed_package_default_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("GDLAB_CACHE", raising=False)
    monkeypatch.setattr(cache_mod, "source_checkout", lambda: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "gdlab" / "results"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for ignored in ("", "relative/xdg"):  # the XDG spec ignores empty and relative values
        monkeypatch.setenv("XDG_CACHE_HOME", ignored)
        assert default_cache_dir() == tmp_path / "home" / ".cache" / "gdlab" / "results"


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_empty_cache_setting_is_an_error_not_the_working_directory(monkeypatch, value):
    monkeypatch.setenv("GDLAB_CACHE", value)
    with pytest.raises(CacheFolderError) as info:
        ResultCache()
    message = _one_line(info.value)
    assert "GDLAB_CACHE=" in message and "empty" in message and "unset" in message
    assert isinstance(info.value, RuntimeConfigError)
    with pytest.raises(CacheFolderError, match="empty"):
        ResultCache("")


def test_relative_cache_setting_is_resolved_once(monkeypatch, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    value = f"rel-cache-{tmp_path.name}"  # a value no other test has read in this process
    monkeypatch.setenv("GDLAB_CACHE", f"  {value} ")
    monkeypatch.chdir(tmp_path / "a")
    first = ResultCache().folder
    assert first == tmp_path / "a" / value and first.is_absolute()
    monkeypatch.chdir(tmp_path / "b")
    assert ResultCache().folder == first


def test_tilde_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GDLAB_CACHE", f"~/cache-{tmp_path.name}")
    assert ResultCache().folder == tmp_path / f"cache-{tmp_path.name}"


def test_regular_file_as_folder_fails_before_compute(tmp_path):
    target = tmp_path / "file"
    target.write_text("not a folder")
    compute = Counter()
    for folder, problem in [(target, "is not a folder"), (target / "sub", "cannot be created")]:
        cache = ResultCache(folder)
        with pytest.raises(CacheFolderError) as info:
            cache.get_or_compute("unit", {"a": 1}, compute)
        message = _one_line(info.value)
        assert problem in message and str(folder) in message and "allowed" in message
    assert compute.calls == 0
    with pytest.raises(CacheFolderError, match="is not a folder"):
        ResultCache(target).keys()


def test_file_named_by_the_setting_says_so(monkeypatch, tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    monkeypatch.setenv("GDLAB_CACHE", str(target))
    with pytest.raises(CacheFolderError, match=r"^GDLAB_CACHE='.*file' is not a folder"):
        ResultCache().ensure_writable()


def test_very_long_name_is_one_short_line(tmp_path):
    cache = ResultCache(tmp_path / ("x" * 5000))
    with pytest.raises(CacheFolderError) as info:
        cache.get_or_compute("unit", {"a": 1}, Counter())
    assert "File name too long" in _one_line(info.value) and "(5" in str(info.value)
    assert cache.load("k") is None and not cache.has("k")


def test_unwritable_folder_fails_before_compute(monkeypatch, tmp_path):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache_mod.tempfile, "mkstemp", denied)
    compute = Counter()
    cache = ResultCache(tmp_path / "ro")
    with pytest.raises(CacheFolderError) as info:
        cache.get_or_compute("unit", {"a": 1}, compute)
    assert "is not writable (Permission denied)" in _one_line(info.value)
    assert compute.calls == 0


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder_fails_before_compute(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        compute = Counter()
        with pytest.raises(CacheFolderError, match="is not writable"):
            ResultCache(folder).get_or_compute("unit", {"a": 1}, compute)
        assert compute.calls == 0
    finally:
        folder.chmod(0o755)


def test_read_only_cache_still_serves_hits(monkeypatch, tmp_path):
    cache = ResultCache(tmp_path / "c")
    cache.get_or_compute("unit", {"a": 1}, Counter())
    monkeypatch.setattr(cache_mod.tempfile, "mkstemp", lambda *a, **k: 1 / 0)
    compute = Counter()
    assert ResultCache(tmp_path / "c").get_or_compute("unit", {"a": 1}, compute)[1]["n"] == 1
    assert compute.calls == 0


def test_run_study_checks_the_folder_before_running(tmp_path, toy):
    study, calls = toy
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(CacheFolderError, match="is not a folder"):
        run_study(study, "quick", "cpu", ResultCache(target))
    assert calls == []


# ----------------------------------------------------------------------------- temporary files


def _temporary(folder: Path, name: str, age: float) -> Path:
    path = folder / name
    path.write_bytes(b"half an entry")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_stale_temporary_files_are_removed_live_ones_kept(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    stale = _temporary(folder, ".0123456789abcdef.x1y2.tmp", STALE_TMP_SECONDS + 60)
    live = _temporary(folder, ".fedcba9876543210.z3w4.tmp", 5)
    other = _temporary(folder, "notes.tmp", STALE_TMP_SECONDS + 60)  # not ours: not hidden
    cache = ResultCache(folder)
    cache.ensure_writable()
    assert not stale.exists() and live.exists() and other.exists()
    stale = _temporary(folder, ".0123456789abcdef.x5y6.tmp", STALE_TMP_SECONDS + 60)
    cache.save("k", {"x": np.zeros(2)}, {})
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted([live.name, other.name, "k.npz"])


# ----------------------------------------------------------------------------- entries


def test_has_verifies_and_deletes_nothing(tmp_path):
    cache = ResultCache(tmp_path / "c")
    cache.save("k", {"x": np.arange(100.0)}, {"a": 1})
    assert cache.has("k") and not cache.has("missing")
    raw = cache.path("k").read_bytes()
    cache.path("k").write_bytes(raw[: len(raw) // 2])
    assert not cache.has("k")
    assert cache.path("k").exists()
    assert cache.load("k") is None and not cache.path("k").exists()


def test_undeletable_corrupt_entry_is_a_miss_not_a_crash(tmp_path):
    cache = ResultCache(tmp_path / "c")
    cache.path("k").mkdir(parents=True)  # a folder under the entry's name cannot be unlinked
    assert cache.load("k") is None and cache.metadata("k") is None and not cache.has("k")


# ----------------------------------------------------------------------------- the key


def test_key_covers_dtype_device_torch_and_source(monkeypatch):
    key = cache_key("unit", {"a": 1})
    assert key == cache_key("unit", {"a": 1}, dtype="float64", device="cpu")
    assert key != cache_key("unit", {"a": 1}, dtype="float32")
    assert key != cache_key("unit", {"a": 1}, device=torch.device("cuda"))
    monkeypatch.setenv("GDLAB_DTYPE", "FLOAT32")
    assert cache_key("unit", {"a": 1}) == cache_key("unit", {"a": 1}, dtype=torch.float32)
    monkeypatch.delenv("GDLAB_DTYPE")
    monkeypatch.setattr(torch, "__version__", "0.0.0")
    assert key != cache_key("unit", {"a": 1})
    monkeypatch.undo()
    monkeypatch.setattr(cache_mod, "source_fingerprint", lambda: "0" * 64)
    assert key != cache_key("unit", {"a": 1})


def test_source_fingerprint_is_computed_once_and_stable():
    first = source_fingerprint()
    assert len(first) == 64 and int(first, 16) >= 0
    assert source_fingerprint() is first
    assert source_fingerprint.__wrapped__() == first


def test_float32_run_does_not_reuse_float64_results(monkeypatch, tmp_path):
    cache = ResultCache(tmp_path / "c")
    compute = Counter()
    cache.get_or_compute("unit", {"a": 1}, compute)
    monkeypatch.setenv("GDLAB_DTYPE", "float32")
    assert cache.get_or_compute("unit", {"a": 1}, compute)[1]["n"] == 2
    monkeypatch.setenv("GDLAB_DTYPE", "float64")
    assert cache.get_or_compute("unit", {"a": 1}, compute)[1]["n"] == 1


def test_run_context_keys_by_its_own_device(tmp_path):
    cache = ResultCache(tmp_path / "c")
    compute = Counter()
    RunContext(torch.device("cpu"), cache).cached("unit", {"a": 1}, compute)
    RunContext(torch.device("cuda"), cache).cached("unit", {"a": 1}, compute)  # no GPU needed
    RunContext(torch.device("cpu"), cache).cached("unit", {"a": 1}, compute)
    assert compute.calls == 2


# ----------------------------------------------------------------------------- results


@pytest.fixture
def toy() -> tuple[Study, list[int]]:
    """A study that logs its runs; its paper config carries a fallback note."""
    calls: list[int] = []

    def run(config, ctx):
        calls.append(config["x"])
        claims = ClaimTable()
        claims.add("c", "t", 1, 1, relation="==")
        return Result("toy", "", config, {"y": np.arange(config["x"])}, claims=claims)

    note = "CIFAR-10 not found in /nowhere (set GDLAB_DATA): fallback dataset 'digits' used instead"
    study = Study(
        "toy", "A toy", "book/toy.md", {"x": 3}, {"x": 5, "note": note}, run, lambda r: {}
    )
    return study, calls


def test_result_keeps_the_fallback_note_through_the_cache(tmp_path, toy):
    study, calls = toy
    cache = ResultCache(tmp_path / "c")
    paper = run_study(study, "paper", "cpu", cache)
    assert "fallback dataset 'digits'" in paper.meta["note"] and paper.meta["dtype"] == "float64"
    again = run_study(study, "paper", "cpu", cache)
    assert again.meta["from_cache"] and again.meta["note"] == paper.meta["note"]
    assert run_study(study, "quick", "cpu", cache).meta["note"] == ""
    assert calls == [5, 3]


def test_results_of_other_code_are_not_reused(monkeypatch, tmp_path, toy):
    study, calls = toy
    cache = ResultCache(tmp_path / "c")
    run_study(study, "quick", "cpu", cache)
    monkeypatch.setattr(cache_mod, "source_fingerprint", lambda: "edited")
    assert run_study(study, "quick", "cpu", cache).meta["from_cache"] is False
    assert calls == [3, 3]
