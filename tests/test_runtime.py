"""gdlab.runtime: settings from the environment, clear errors, seeding, the banner."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from gdlab import runtime


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GDLAB_DEVICE", "GDLAB_DTYPE", "GDLAB_SCALE"):
        monkeypatch.delenv(var, raising=False)
    assert runtime.get_dtype() is torch.float64
    assert runtime.get_scale() == "quick"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.get_device().type == expected


@pytest.mark.parametrize(
    ("var", "getter", "allowed"),
    [
        ("GDLAB_DEVICE", runtime.get_device, "auto, cpu, cuda"),
        ("GDLAB_DTYPE", runtime.get_dtype, "float64, float32"),
        ("GDLAB_SCALE", runtime.get_scale, "quick, paper"),
    ],
)
def test_unknown_value_names_value_and_allowed(
    monkeypatch: pytest.MonkeyPatch, var: str, getter, allowed: str
) -> None:
    monkeypatch.setenv(var, "tpu")
    with pytest.raises(runtime.RuntimeConfigError) as info:
        getter()
    assert "tpu" in str(info.value) and var in str(info.value) and allowed in str(info.value)


def test_values_are_case_and_space_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDLAB_SCALE", " Paper ")
    assert runtime.get_scale() == "paper"
    assert runtime.by_scale(1, 2) == 2
    assert runtime.by_scale(1, 2, scale="quick") == 1
    monkeypatch.setenv("GDLAB_DTYPE", "\tFLOAT32\n")
    assert runtime.get_dtype() is torch.float32
    assert runtime.get_scale("PAPER") == "paper" and runtime.get_dtype(" Float64") is torch.float64
    assert runtime.get_device("CPU").type == "cpu"
    assert runtime.device_name(" CUDA ") == "cuda"  # a name check only, no GPU needed


@pytest.mark.parametrize(
    "value",
    ["", "   ", "ｐａｐｅｒ", "paper\nquick", "quick;rm -rf /", "x" * 100_000, "/etc/passwd"],
)
@pytest.mark.parametrize(
    ("var", "getter"),
    [
        ("GDLAB_DEVICE", runtime.get_device),
        ("GDLAB_DTYPE", runtime.get_dtype),
        ("GDLAB_SCALE", runtime.get_scale),
    ],
)
def test_hostile_values_give_one_short_line(
    monkeypatch: pytest.MonkeyPatch, var: str, getter, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(runtime.RuntimeConfigError) as info:
        getter()
    message = str(info.value)
    assert "\n" not in message and len(message) < 250
    assert f"{var}=" in message and "allowed values: " in message


@pytest.mark.parametrize(
    ("getter", "what"),
    [(runtime.get_device, "device"), (runtime.get_dtype, "dtype"), (runtime.get_scale, "scale")],
)
def test_explicit_values_are_named_as_such(getter, what: str) -> None:
    with pytest.raises(runtime.RuntimeConfigError, match=f"^unknown {what} 'huge'; allowed"):
        getter("huge")
    with pytest.raises(runtime.RuntimeConfigError, match=f"^{what} must be a string, got int"):
        getter(3)


def test_show_value_is_one_short_line() -> None:
    assert runtime.show_value("paper") == "'paper'"
    long = runtime.show_value("a\nb" * 1000)
    assert "\n" not in long and len(long) < 100 and "chars)" in long


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDLAB_DEVICE", "cuda")
    with pytest.raises(runtime.RuntimeConfigError, match=r"^GDLAB_DEVICE=cuda was requested"):
        runtime.get_device()
    with pytest.raises(runtime.RuntimeConfigError, match=r"^device 'cuda' was requested"):
        runtime.get_device("Cuda")


def test_seed_everything_is_reproducible() -> None:
    runtime.seed_everything(123)
    a = (torch.randn(3), np.random.rand(3))  # noqa: NPY002  (the legacy global RNG is what is seeded)
    runtime.seed_everything(123)
    b = (torch.randn(3), np.random.rand(3))  # noqa: NPY002  (the legacy global RNG is what is seeded)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(runtime.RuntimeConfigError, match="-1"):
        runtime.seed_everything(-1)


def test_private_generator_ignores_global_state() -> None:
    first = torch.randn(4, generator=runtime.make_generator(7))
    torch.manual_seed(999)
    assert torch.equal(first, torch.randn(4, generator=runtime.make_generator(7)))


def test_banner_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDLAB_DEVICE", "cpu")
    line = runtime.banner()
    assert "\n" not in line
    for part in ("device=cpu", "dtype=float64", "scale=quick", f"torch={torch.__version__}"):
        assert part in line


def test_bad_device_from_a_fresh_process_is_one_clear_line() -> None:
    code = "from gdlab.runtime import print_banner; print_banner()"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"GDLAB_DEVICE": "tpu", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("gdlab.runtime.RuntimeConfigError:") and "'tpu'" in last
