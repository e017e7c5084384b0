"""Tests of the command line (python -m gdlab): end to end in a subprocess as a user would, and
in process with toy studies for hostile settings and arguments (one line, exit 2, no compute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from gdlab import cli, studies
from gdlab.claims import ClaimTable
from gdlab.cli import main
from gdlab.data import get_dataset
from gdlab.experiments import ResultCache, Study, result_key
from gdlab.experiments import cache as cache_mod
from gdlab.experiments.study import Result


def _gdlab(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gdlab", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"GDLAB_CACHE": str(tmp_path / "cache"), "GDLAB_DEVICE": "cpu", "GDLAB_SCALE": "quick"}


def test_list_in_a_real_process(env) -> None:
    proc = _gdlab("list", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(studies.study_names())
    intro = lines[studies.study_names().index("intro")]
    assert intro.split(None, 1)[1] == studies.get_study("intro").title  # nothing cached yet


def test_unknown_study_lists_the_known_ones(capsys) -> None:
    with pytest.raises(SystemExit) as err:
        main(["run", "fig9"])
    assert err.value.code == 2
    stderr = capsys.readouterr().err
    assert "unknown study 'fig9'" in stderr
    assert "known studies: " + ", ".join(studies.study_names()) + " (or all)" in stderr


def test_run_writes_figures_and_claims_then_reuses_cache(env, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    proc = _gdlab("run", "Intro", "--scale", "quick", "--device", "cpu", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "intro [quick, cpu]" in proc.stdout and "claims: " in proc.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["intro-quick-risk.png", "intro-quick-risk.svg", "intro-quick.json"]
    summary = json.loads((out / "intro-quick.json").read_text())
    assert summary["study"] == "intro" and summary["scale"] == "quick" and summary["ok"]
    claims = ClaimTable.from_dict(summary["claims"])
    assert len(claims) == sum(summary["counts"].values()) > 0
    assert summary["values"]["steps"] == studies.get_study("intro").quick["steps"]
    assert (out / "intro-quick-risk.png").read_bytes()[:4] == b"\x89PNG"
    report = _gdlab("report", env=env)
    assert report.returncode == 0, report.stderr
    assert "intro [quick, cpu]" in report.stdout and claims[0].name in report.stdout
    assert report.stdout.rstrip().endswith("across 1 cached results")

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["run", "intro", "--out", str(out)]) == 0
    assert "(cache, device cpu)" in capsys.readouterr().out
    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert next(line for line in listed if line.startswith("intro")).endswith("[cached: quick]")


def test_report_on_empty_cache(env, monkeypatch, capsys) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["report"]) == 0
    assert "no cached results" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "intro", "--scale", "huge"], "unknown scale 'huge'; allowed values: quick, paper"),
        (["run", "intro", "--device", "tpu"], "unknown device 'tpu'; allowed values: auto, cpu"),
        (["run", "intro", "--out", " "], "empty folder ' '; allowed: a folder path"),
        (["run", "ｉｎｔｒｏ"], "unknown study 'ｉｎｔｒｏ'"),
        (["run", "x" * 5000], "chars); known studies"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    err_text = capsys.readouterr().err
    assert message in err_text and len(err_text) < 800


def test_help_shows_allowed_values(capsys) -> None:
    with pytest.raises(SystemExit) as err:
        main(["run", "--help"])
    assert err.value.code == 0
    out = capsys.readouterr().out
    assert "{quick,paper}" in out and "{auto,cpu,cuda}" in out and "any case" in out


# ----------------------------------------------------------------------------- hostile input
# Toy studies stand in for the real ones: these tests check what happens around the compute.

NOTE = "CIFAR-10 not found in /x (set GDLAB_DATA): fallback dataset 'digits' used instead"


@pytest.fixture
def toy(monkeypatch, tmp_path) -> list[str]:
    """Only toy studies are registered: ``toy``, ``toy2`` and ``gone`` (its module missing; a
    test may point it at ``toy_c``); returns the log of their runs."""
    calls: list[str] = []

    def run(config, ctx):
        calls.append(config["tag"])
        if config["tag"] == "oserror":
            raise OSError(28, "No space left on device")
        if config["tag"] == "data":
            get_dataset("no-such-data")
        arrays, _ = ctx.cached("toy-unit", config, lambda: ({"y": np.arange(3.0)}, {}))
        claims = ClaimTable()
        claims.add("y has 3 entries", "t", arrays["y"].size, 3, relation="==")
        return Result("toy", "", config, arrays, claims=claims)

    def no_figures(result: Result) -> dict:
        return {}

    for module, study in [
        ("toy_a", Study("toy", "A toy", "a.md", {"tag": "quick"}, {"tag": "paper", "note": NOTE},
                        run, no_figures)),
        ("toy_b", Study("toy2", "Another", "b.md", {"tag": "q2"}, {"tag": "p2"}, run, no_figures)),
        ("toy_c", Study("gone", "Third", "c.md", {"tag": "q3"}, {"tag": "p3"}, run, no_figures)),
    ]:  # fmt: skip
        module_object = types.SimpleNamespace(STUDY=study)
        monkeypatch.setitem(sys.modules, f"gdlab.studies.{module}", module_object)
    registry = {"toy": "toy_a", "toy2": "toy_b", "gone": "toy_no_such_module"}
    monkeypatch.setattr(studies, "MODULES", registry)
    monkeypatch.setenv("GDLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GDLAB_DEVICE", "cpu")
    monkeypatch.setenv("GDLAB_SCALE", "quick")
    monkeypatch.delenv("GDLAB_DTYPE", raising=False)
    return calls


def _fails(argv: list[str], capsys, *parts: str) -> str:
    """Run the CLI, expect exit status 2 and one line on stderr holding ``parts``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m gdlab: error: "), err
    assert "Traceback" not in err and all(p in err for p in parts), err
    return err


def test_names_are_case_insensitive_as_in_the_environment(toy, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["run", "TOY", "--scale", "PAPER", "--device", " Cpu ", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "toy [paper, cpu]" in text and "note: CIFAR-10 not found" in text
    assert (out / "toy-paper.json").is_file() and toy == ["paper"]


def test_missing_study_module_is_listed_and_refused_before_compute(toy, tmp_path, capsys):
    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == [
        "toy   A toy",
        "toy2  Another",
        "gone  (not available: no module gdlab.studies.toy_no_such_module)",
    ]
    _fails(["run", "gone"], capsys, "study 'gone' is not available")
    _fails(["run", "all", "--out", str(tmp_path / "o")], capsys, "study 'gone' is not available")
    assert toy == []


@pytest.mark.parametrize("command", ["run", "list", "report"])
def test_cache_that_is_a_file_fails_before_compute(command, toy, monkeypatch, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    monkeypatch.setenv("GDLAB_CACHE", str(target))
    argv = ["run", "toy", "--out", str(tmp_path / "o")] if command == "run" else [command]
    _fails(argv, capsys, "GDLAB_CACHE=", str(target), "is not a folder")
    assert toy == []


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_cache_setting_fails(value, toy, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GDLAB_CACHE", value)
    _fails(["run", "toy"], capsys, "GDLAB_CACHE=", "is empty")
    assert toy == []


def test_unwritable_cache_fails_before_compute(toy, monkeypatch, tmp_path, capsys) -> None:
    mkstemp = tempfile.mkstemp

    def denied(*args, dir=None, **kwargs):
        if Path(dir) == tmp_path / "cache":
            raise PermissionError(13, "Permission denied")
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(cache_mod.tempfile, "mkstemp", denied)
    _fails(["run", "toy", "--out", str(tmp_path / "o")], capsys, "is not writable")
    assert toy == []


def test_bad_output_folder_fails_before_compute(toy, monkeypatch, tmp_path, capsys) -> None:
    regular = tmp_path / "regular"
    regular.write_text("")
    _fails(["run", "toy", "--out", str(regular)], capsys, "--out", "is not a folder")
    _fails(["run", "toy", "--out", str(regular / "sub")], capsys, "--out", "is not usable")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    _fails(["run", "toy", "--out", "a\0b"], capsys, "--out 'a\\x00b'", "embedded null byte")
    monkeypatch.setattr(cli.tempfile, "mkstemp", denied)
    _fails(["run", "toy", "--out", str(tmp_path / "ro")], capsys, "Permission denied")
    assert toy == []


@pytest.mark.parametrize("command", ["run", "list", "report"])
@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("GDLAB_SCALE", "huge"),
        ("GDLAB_DTYPE", "float16"),
        ("GDLAB_DEVICE", ""),
        ("GDLAB_DEVICE", "cuda:0"),
    ],
)
def test_bad_settings_fail_before_compute(command, var, value, toy, monkeypatch, capsys) -> None:
    monkeypatch.setenv(var, value)
    _fails(["run", "toy"] if command == "run" else [command], capsys, f"{var}={value!r}", "allowed")
    assert toy == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_fails_before_compute(toy, capsys) -> None:
    _fails(["run", "toy", "--device", "cuda"], capsys, "no CUDA GPU is available")
    assert toy == []


@pytest.mark.parametrize(("tag", "message"), [("oserror", "No space left"), ("data", "no-such")])
def test_errors_during_a_run_are_one_line(tag, message, toy, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(studies.get_study("toy").quick, "tag", tag)
    _fails(["run", "toy", "--out", str(tmp_path / "o")], capsys, message)


def test_list_verifies_entries_and_report_shows_notes(toy, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setitem(studies.MODULES, "gone", "toy_c")  # every study available: run all
    out = str(tmp_path / "out")
    assert main(["run", "all", "--out", out]) == 0
    assert "[3/3] gone: Third" in capsys.readouterr().out
    assert main(["run", "toy", "--scale", "paper", "--out", out]) == 0
    assert toy == ["quick", "q2", "q3", "paper"]
    capsys.readouterr()
    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].endswith("[cached: quick, paper]") and listed[1].endswith("[cached: quick]")
    cache = ResultCache()
    path = cache.path(result_key(studies.get_study("toy"), "quick", torch.device("cpu")))
    path.write_bytes(path.read_bytes()[:-100])  # a truncated entry is not cached
    assert main(["list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("[cached: paper]")
    assert main(["report"]) == 0
    report = capsys.readouterr().out
    assert "toy [paper, cpu]\nnote: CIFAR-10 not found" in report
    # toy at paper scale (its quick entry was truncated), toy2 and gone at quick scale
    assert report.rstrip().endswith("3 claims: 3 holds across 3 cached results")


# ----------------------------------------------------------------------------- make paper


@pytest.fixture
def interrupted(monkeypatch, tmp_path) -> dict[str, int]:
    """A study ``tiny`` of three units whose second unit is interrupted (Ctrl-C, or a killed
    ``make paper``) the first time it runs; returns how often each unit was computed."""
    computed = {"u0": 0, "u1": 0, "u2": 0}

    def run(config, ctx):
        total = 0.0
        for name in computed:

            def compute(name=name):
                computed[name] += 1
                if name == "u1" and computed[name] == 1:
                    raise KeyboardInterrupt
                return {"y": np.arange(3.0)}, {}

            arrays, _ = ctx.cached("tiny-unit", {**config, "unit": name}, compute)
            total += float(arrays["y"].sum())
        claims = ClaimTable()
        claims.add("sum of the units", "t", total, 9.0, relation="==")
        return Result("tiny", "", config, claims=claims)

    study = Study("tiny", "Tiny", "t.md", {"n": 3}, {"n": 3, "paper": True}, run, lambda r: {})
    monkeypatch.setitem(
        sys.modules, "gdlab.studies.tiny_module", types.SimpleNamespace(STUDY=study)
    )
    monkeypatch.setattr(studies, "MODULES", {"tiny": "tiny_module"})
    monkeypatch.setenv("GDLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GDLAB_DEVICE", "cpu")
    monkeypatch.delenv("GDLAB_SCALE", raising=False)
    return computed


def test_a_killed_paper_run_resumes_from_its_units(interrupted, tmp_path, monkeypatch, capsys):
    """What ``make paper`` runs: killed in its second unit, rerun, it computes only what was
    missing; a third run computes nothing, and the pages' ``load`` finds the CLI's result under
    the same key (the paper-scale book recomputes nothing)."""
    argv = ["run", "all", "--scale", "paper", "--out", str(tmp_path / "out")]
    assert main(argv) == 130
    assert "interrupted" in capsys.readouterr().err
    assert interrupted == {"u0": 1, "u1": 1, "u2": 0}
    assert main(argv) == 0
    assert interrupted == {"u0": 1, "u1": 2, "u2": 1}  # u0 came from the cache
    assert main(argv) == 0
    assert "(cache, device cpu)" in capsys.readouterr().out
    assert interrupted == {"u0": 1, "u1": 2, "u2": 1}
    monkeypatch.setenv("GDLAB_SCALE", "paper")  # as the paper-scale book build sets it
    result = studies.load("tiny")
    assert result.meta["from_cache"] and interrupted == {"u0": 1, "u1": 2, "u2": 1}
    assert "loaded from the result cache" in capsys.readouterr().out


def test_cli_and_pages_agree_on_every_result_key(monkeypatch) -> None:
    """Every study's result key as ``run`` computes it (scale and device from the command
    line) equals the one ``load`` computes from the environment, at both scales."""
    monkeypatch.setenv("GDLAB_DEVICE", "cpu")
    for name in studies.study_names():
        study = studies.get_study(name)
        for scale in ("quick", "paper"):
            monkeypatch.setenv("GDLAB_SCALE", scale)
            assert result_key(study, scale, torch.device("cpu")) == result_key(study), name


def test_cluster_options_are_checked_before_compute(toy, tmp_path, monkeypatch, capsys) -> None:
    out = str(tmp_path / "o")
    _fails(["run", "toy", "--start", "10", "--out", out], capsys, "--start/--stop", "stress-tests")
    with pytest.raises(SystemExit):
        main(["run", "toy", "--workers", "0"])
    assert "allowed: an int >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "toy", "--workers", "2", "--scheduler", "tcp://x:1"])
    assert "not allowed with argument" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "distributed", None)  # Dask distributed not installed
    _fails(["run", "toy", "--workers", "2", "--out", out], capsys, "pip install -e '.[cluster]'")
    assert toy == []
