"""Tests of the command line (python -m gdlab), run as a subprocess as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gdlab.cli import main

RECIPES = ("fig1", "fig2-xor", "fig2-images", "fig3", "fig4")


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


def test_list_and_unknown_recipe(env) -> None:
    proc = _gdlab("list", env=env)
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    assert listed == list(RECIPES)
    proc = _gdlab("run", "fig9", env=env)
    assert proc.returncode == 2
    assert "unknown recipe 'fig9'" in proc.stderr
    assert "known recipes: " + ", ".join(RECIPES) in proc.stderr


def test_run_writes_figures_and_claims_then_reuses_cache(env, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    proc = _gdlab("run", "fig4", "--scale", "quick", "--device", "cpu", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "claims hold" in proc.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["fig4-quick-five-point.png", "fig4-quick-five-point.svg", "fig4-quick.json"]
    summary = json.loads((out / "fig4-quick.json").read_text())
    assert summary["recipe"] == "fig4" and summary["scale"] == "quick"
    assert summary["claims"] and all(
        {"claim", "measured", "holds"} <= set(c) for c in summary["claims"]
    )
    assert (out / "fig4-quick-five-point.png").read_bytes()[:4] == b"\x89PNG"
    report = _gdlab("report", env=env)
    assert report.returncode == 0
    assert "fig4 [quick]" in report.stdout and "network margin turns positive" in report.stdout

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["run", "fig4", "--out", str(out)]) == 0
    assert "(cache, device cpu)" in capsys.readouterr().out
    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "[cached: quick]" in next(line for line in listed if line.startswith("fig4"))


def test_report_on_empty_cache(env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GDLAB_CACHE", env["GDLAB_CACHE"])
    assert main(["report"]) == 0
    assert "no cached results" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "fig4", "--scale", "huge"], "invalid choice: 'huge'"),
        (["run", "fig4", "--device", "tpu"], "invalid choice: 'tpu'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_environment_is_a_usage_error(monkeypatch, capsys) -> None:
    monkeypatch.setenv("GDLAB_SCALE", "huge")
    with pytest.raises(SystemExit) as err:
        main(["run", "fig4"])
    assert err.value.code == 2
    assert "GDLAB_SCALE='huge'" in capsys.readouterr().err
