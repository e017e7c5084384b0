"""Tests of gdlab.data: shapes, labels, norms, determinism, certificates, the CIFAR reader."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from gdlab import data
from gdlab.data import (
    CIFAR10_URL,
    DATASET_NAMES,
    Dataset,
    cifar10_two_class,
    digits,
    digits_images,
    five_point,
    get_dataset,
    max_margin_direction,
    separable_gaussian,
    two_point,
    xor,
)

# Float64 rounding of norms and dot products of O(1) vectors in dimension <= 64.
EPS = 1e-12


def _check(ds: Dataset) -> None:
    assert ds.X.dtype == ds.y.dtype == torch.float64
    assert ds.X.shape == (ds.n, ds.d) and ds.y.shape == (ds.n,)
    assert set(ds.y.tolist()) <= {-1.0, 1.0}
    if ds.has_test:
        assert ds.X_test.shape[1] == ds.d and set(ds.y_test.tolist()) <= {-1.0, 1.0}


@pytest.mark.parametrize("name", ["xor", "five_point", "two_point", "separable_gaussian", "digits"])
def test_shapes_labels_and_determinism(name: str) -> None:
    a, b = get_dataset(name), get_dataset(name)
    _check(a)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)


def test_printed_figure_data() -> None:
    assert xor().radius == pytest.approx(np.sqrt(2), abs=EPS)
    fp = five_point()
    assert (fp.n, fp.d) == (5, 3)
    assert fp.radius == pytest.approx(np.sqrt(0.05**2 + 8), abs=EPS)
    assert fp.rescaled().radius == pytest.approx(1.0, abs=EPS)


def test_rescaled_divides_train_and_test_by_radius() -> None:
    ds = separable_gaussian(n=50, d=5, n_test=20).rescaled()
    raw = separable_gaussian(n=50, d=5, n_test=20)
    assert ds.radius == pytest.approx(1.0, abs=EPS)
    torch.testing.assert_close(ds.X_test * raw.radius, raw.X_test, rtol=EPS, atol=0)


def test_image_datasets_are_in_unit_ball_with_disjoint_deterministic_split() -> None:
    ds = digits((3, 8), seed=1)
    _check(ds)
    assert ds.d == 64
    assert max(ds.radius, float(ds.X_test.norm(dim=1).max())) == pytest.approx(1.0, abs=EPS)
    assert ds.n + ds.X_test.shape[0] == 357  # sklearn digits has 183 threes and 174 eights
    assert not torch.equal(ds.X, digits((3, 8), seed=2).X)
    train_rows = {tuple(r) for r in ds.X.tolist()}
    assert not any(tuple(r) in train_rows for r in ds.X_test.tolist())


def test_separable_gaussian_certificate() -> None:
    ds = separable_gaussian(n=300, d=10, margin=0.2, seed=3)
    assert ds.radius <= 1.0 + EPS
    w, gamma = max_margin_direction(ds.X, ds.y)
    # The construction's w_* has min margin exactly 0.2, so the SVM can only do better.
    assert gamma >= 0.2 - EPS
    assert float((ds.y * (ds.X @ w)).min()) == pytest.approx(gamma, abs=EPS)


def test_five_point_max_margin_is_e1_with_margin_005() -> None:
    fp = five_point()
    w, gamma = max_margin_direction(fp.X, fp.y)
    assert gamma == pytest.approx(0.05, abs=1e-12)  # polished exact solve, float64 rounding
    torch.testing.assert_close(
        w, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), atol=1e-12, rtol=0
    )


def test_max_margin_beats_random_directions() -> None:
    ds = digits((3, 8))
    w, gamma = max_margin_direction(ds.X, ds.y)
    dirs = w + 0.01 * torch.randn(
        200, ds.d, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    dirs /= dirs.norm(dim=1, keepdim=True)
    others = (ds.y[:, None] * (ds.X @ dirs.T)).min(dim=0).values
    assert float(others.max()) <= gamma + EPS


@pytest.mark.parametrize("gamma", [0.01, 0.05, 0.099])
def test_two_point_satisfies_assumption_3(gamma: float) -> None:
    ds = two_point(gamma)
    assert ds.X.norm(dim=1).max() <= 1.0 + EPS
    margins = ds.y * (ds.X @ torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert float(margins.min()) == pytest.approx(gamma, abs=EPS)
    _, best = max_margin_direction(ds.X, ds.y)
    assert best >= gamma - EPS


@pytest.mark.parametrize("gamma", [0.0, 0.1, -0.2, 0.5])
def test_two_point_rejects_gamma(gamma: float) -> None:
    with pytest.raises(ValueError, match=r"0 < gamma < 0\.1"):
        two_point(gamma)


def test_xor_is_not_separable() -> None:
    ds = xor()
    with pytest.raises(ValueError, match="not linearly separable"):
        max_margin_direction(ds.X, ds.y)


def test_get_dataset_unknown_name_lists_known() -> None:
    with pytest.raises(ValueError, match="known datasets: xor, five_point"):
        get_dataset("mnist")
    assert "cifar10" in DATASET_NAMES


def test_dataset_validates_labels() -> None:
    with pytest.raises(ValueError, match="-1, \\+1"):
        Dataset(
            "bad",
            torch.zeros(2, 2, dtype=torch.float64),
            torch.tensor([1.0, 0.0], dtype=torch.float64),
        )


def _write_batch(path, labels: list[int], rng: np.random.Generator) -> None:
    batch = {
        b"batch_label": b"synthetic",
        b"labels": labels,
        b"data": rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8),
        b"filenames": [b"x.png"] * len(labels),
    }
    with open(path, "wb") as fh:
        pickle.dump(batch, fh)


@pytest.fixture
def cifar_root(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        _write_batch(folder / f"data_batch_{i}", [0, 1, 2, 0, 1, 9], rng)  # 2 airplanes, 2 cars
    _write_batch(folder / "test_batch", [1, 0, 3, 1], rng)
    return tmp_path


def test_cifar_reader(cifar_root, monkeypatch) -> None:
    ds = cifar10_two_class(cifar_root, n_train=7, seed=4)
    _check(ds)
    assert ds.d == 3072 and ds.n == 7 and ds.X_test.shape == (3, 3072)
    assert ds.y_test.tolist() == [-1.0, 1.0, -1.0]
    assert max(ds.radius, float(ds.X_test.norm(dim=1).max())) == pytest.approx(1.0, abs=EPS)
    # The same folder through $GDLAB_DATA, and the batches folder given directly.
    monkeypatch.setenv("GDLAB_DATA", str(cifar_root))
    assert torch.equal(cifar10_two_class(n_train=7, seed=4).X, ds.X)
    direct = cifar10_two_class(cifar_root / "cifar-10-batches-py", n_train=7, seed=4)
    assert torch.equal(direct.X, ds.X)
    assert not torch.equal(cifar10_two_class(cifar_root, n_train=7, seed=5).X, ds.X)
    with pytest.raises(ValueError, match=r"n_train must be an int in \[1, 20\]"):
        cifar10_two_class(cifar_root, n_train=21)
    with pytest.raises(ValueError, match="unknown CIFAR-10 class 'plane'"):
        cifar10_two_class(cifar_root, classes=("plane", "truck"))


def test_cifar_pixels_are_read_in_order(cifar_root) -> None:
    folder = cifar_root / "cifar-10-batches-py"
    with open(folder / "test_batch", "rb") as fh:
        raw = pickle.load(fh)[b"data"].astype(np.float64)
    ds = cifar10_two_class(cifar_root, n_train=20)
    expected = raw[[0, 1, 3]]
    scale = expected.max() / ds.X_test.numpy().max()
    # One common scale for every pixel; float64 rounding of the division.
    assert np.allclose(ds.X_test.numpy() * scale, expected, rtol=1e-12, atol=1e-9)


def test_cifar_missing_folder_message(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GDLAB_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        cifar10_two_class(tmp_path / "nowhere")
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in msg
    assert "data_batch_1" in msg and "test_batch" in msg
    assert CIFAR10_URL in msg and "GDLAB_DATA" in msg


def test_cifar_default_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GDLAB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.cifar_folder() == tmp_path / ".cache" / "gdlab" / "cifar-10-batches-py"


@pytest.mark.parametrize(
    ("name", "kwargs", "pattern"),
    [
        ("xor", {"n": 3}, r"unknown argument 'n' for dataset 'xor'; allowed: none"),
        ("digits", {"clases": (3, 8)}, r"unknown argument 'clases' .* allowed: classes, test_f"),
        (["xor"], {}, r"unknown dataset \['xor'\]; known datasets: xor"),
        ("separable_gaussian", {"n": 0}, r"n must be an int >= 2, got 0"),
        ("separable_gaussian", {"n": -5}, r"n must be an int >= 2, got -5"),
        ("separable_gaussian", {"n": 10.0}, r"n must be an int >= 2, got 10\.0"),
        ("separable_gaussian", {"d": True}, r"d must be an int >= 2, got True"),
        ("separable_gaussian", {"n_test": -1}, r"n_test must be an int >= 0, got -1"),
        (
            "separable_gaussian",
            {"margin": "0.1"},
            r"margin must be a number in \(0, 1\), got '0\.1'",
        ),
        ("separable_gaussian", {"margin": float("nan")}, r"margin must be .* got nan"),
        ("separable_gaussian", {"seed": -1}, r"seed .*-1"),
        ("two_point", {"gamma": "0.05"}, r"0 < gamma < 0\.1 .* got '0\.05'"),
        ("two_point", {"gamma": float("nan")}, r"0 < gamma < 0\.1 .* got nan"),
        ("digits", {"classes": (3, 3)}, r"classes must be two distinct digits, got \(3, 3\)"),
        ("digits", {"classes": (3,)}, r"classes must be a pair of distinct digits, got \(3,\)"),
        ("digits", {"classes": 38}, r"classes must be a pair of distinct digits, got 38"),
        ("digits", {"classes": "38"}, r"classes must be a pair .* got '38'"),
        ("digits", {"classes": (3, 10)}, r"unknown digit 10; allowed: 0, 1, 2, .*, 9$"),
        ("digits", {"classes": (3.0, 8)}, r"unknown digit 3\.0; allowed: 0, 1"),
        ("digits", {"classes": (True, 8)}, r"unknown digit True; allowed: 0, 1"),
        ("digits", {"test_fraction": 1.0}, r"test_fraction must be a number in \(0, 1\), got 1\.0"),
        ("digits", {"test_fraction": "x"}, r"test_fraction must be a number in \(0, 1\), got 'x'"),
        ("digits", {"test_fraction": 1e-4}, r"puts 0 of the 360 images of digits 0, 1 in the test"),
        ("digits", {"test_fraction": 0.9999}, r"puts 360 of the 360 images"),
        ("digits", {"seed": -1}, r"seed .*-1"),
    ],
)
def test_constructors_reject_bad_arguments(name: object, kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern) as err:
        get_dataset(name, **kwargs)
    assert "\n" not in str(err.value)


def test_digits_images_is_the_one_loader() -> None:
    pixels, labels = digits_images()
    assert pixels.shape == (1797, 64) and pixels.dtype == np.float64
    assert set(np.unique(pixels)) <= set(range(17)) and set(labels.tolist()) == set(range(10))
    some, some_labels = digits_images((8, 3))
    keep = (labels == 3) | (labels == 8)
    assert np.array_equal(some, pixels[keep]) and np.array_equal(some_labels, labels[keep])
    # the binary data set is made of these images, divided by their largest norm
    ds = digits((3, 8))
    scale = float(np.linalg.norm(some, axis=1).max())
    train = {tuple(r) for r in np.round(ds.X.numpy() * scale, 9)}
    assert train <= {tuple(r) for r in some} and len(train) > 0


def test_digits_accepts_numpy_integer_classes() -> None:
    ds = digits((np.int64(3), np.int64(8)))
    assert ds.name == "digits38" and torch.equal(ds.X, digits((3, 8)).X)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n_train": 0}, r"n_train must be an int >= 1, got 0"),
        ({"n_train": -3}, r"n_train must be an int >= 1, got -3"),
        ({"n_train": True}, r"n_train must be an int >= 1, got True"),
        ({"n_train": "10"}, r"n_train must be an int >= 1, got '10'"),
        ({"seed": -1}, r"seed .*-1"),
        ({"classes": ("airplane", "airplane")}, r"classes must be two distinct CIFAR-10 classes"),
        ({"classes": ("airplane", 1)}, r"unknown CIFAR-10 class 1; allowed: airplane, automobile"),
        ({"root": 3}, r"root must be a folder path or None, got 3"),
    ],
)
def test_cifar_arguments_are_checked_before_reading(tmp_path, kwargs: dict, pattern: str) -> None:
    # The folder does not exist: a ValueError (not FileNotFoundError) shows nothing was read.
    with pytest.raises(ValueError, match=pattern):
        cifar10_two_class(**{"root": tmp_path / "nowhere", **kwargs})


def test_cifar_empty_gdlab_data_means_default(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GDLAB_DATA", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.cifar_folder() == tmp_path / ".cache" / "gdlab" / "cifar-10-batches-py"


@pytest.mark.parametrize(
    ("X", "pattern"),
    [
        (torch.zeros(0, 2, dtype=torch.float64), r"X has 0 rows; allowed: at least one point"),
        (
            torch.tensor([[float("nan"), 0.0]], dtype=torch.float64),
            r"X has 1 non-finite entries \(NaN or inf\); allowed: finite values",
        ),
    ],
)
def test_dataset_rejects_empty_or_non_finite_inputs(X: torch.Tensor, pattern: str) -> None:
    y = torch.ones(X.shape[0], dtype=torch.float64)
    with pytest.raises(ValueError, match=pattern):
        Dataset("bad", X, y)
