"""The CIFAR-10 batch reader of gdlab.data: the official format loads, nothing else runs or loads.

Every batch here is a few rows written by the test itself; nothing is downloaded.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from gdlab import data
from gdlab.data import CIFAR10_URL, SAFE_PICKLE_GLOBALS, DataFormatError, cifar10_two_class

ROWS = 4
PIXELS = 3072


def _pixels(rows: int = ROWS, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(rows, PIXELS), dtype=np.uint8)


def _short(s: bytes) -> bytes:
    """SHORT_BINSTRING: a Python 2 ``str``, read back as ``bytes`` with encoding='bytes'."""
    return b"U" + bytes([len(s)]) + s


def _python2_batch(pixels: np.ndarray, labels: list[int]) -> bytes:
    """A batch exactly as Python 2's cPickle wrote the official files (protocol 2).

    ``{'batch_label': str, 'labels': [int], 'data': uint8 array, 'filenames': [str]}`` with
    the array as ``_reconstruct(ndarray, (0,), 'b')`` plus the state
    ``(1, shape, dtype('u1', 0, 1) + (3, '|', None, None, None, -1, -1, 0), False, str)``.
    """
    rows, cols = pixels.shape
    out = [b"\x80\x02}(", _short(b"batch_label"), _short(b"training batch 1 of 5")]
    out += [_short(b"labels"), b"](", *(b"K" + bytes([v]) for v in labels), b"e"]
    out += [_short(b"data"), b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"]
    out += [b"K\x00\x85", _short(b"b"), b"\x87R("]  # _reconstruct(ndarray, (0,), 'b'), MARK
    out += [b"K\x01", b"M" + struct.pack("<H", rows), b"M" + struct.pack("<H", cols), b"\x86"]
    out += [b"cnumpy\ndtype\n", _short(b"u1"), b"K\x00K\x01\x87R"]  # dtype('u1', 0, 1)
    out += [b"(K\x03", _short(b"|"), b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"]
    raw = pixels.tobytes()
    out += [b"\x89", b"T" + struct.pack("<i", len(raw)) + raw, b"tb"]  # False, BINSTRING
    out += [_short(b"filenames"), b"](", *(_short(b"img%d.png" % i) for i in range(rows))]
    out += [b"eu."]
    return b"".join(out)


def _batch(pixels: object, labels: object) -> dict:
    n = len(labels) if hasattr(labels, "__len__") else 0
    return {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": labels,
        b"data": pixels,
        b"filenames": [b"img%d.png" % i for i in range(n)],
    }


def _dump(path: Path, obj: object, protocol: int = 2) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _message(err: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    return msg


def test_python2_format_loads_values_and_label_order(tmp_path: Path) -> None:
    pixels, labels = _pixels(), [3, 0, 9, 3]
    path = tmp_path / "data_batch_1"
    path.write_bytes(_python2_batch(pixels, labels))
    # The hand-written file is what numpy itself reads as the official layout (trusted here).
    with path.open("rb") as fh:
        assert np.array_equal(pickle.load(fh, encoding="bytes")[b"data"], pixels)
    got, got_labels = data._load_batch(path)
    assert got.dtype == np.uint8 and np.array_equal(got, pixels)
    assert got_labels.dtype == np.int64 and got_labels.tolist() == labels


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_python3_pickles_of_the_format_load(tmp_path: Path, protocol: int) -> None:
    # Protocol 2 stores bytes through _codecs.encode, 5 stores the array through _frombuffer.
    pixels, labels = _pixels(3, seed=protocol), [1, 2, 0]
    path = _dump(tmp_path / "batch", _batch(pixels, labels), protocol)
    got, got_labels = data._load_batch(path)
    assert np.array_equal(got, pixels) and got_labels.tolist() == labels


def test_fortran_order_and_integer_array_labels_load(tmp_path: Path) -> None:
    pixels = _pixels(2)
    labels = np.array([7, 1], dtype=">i4")  # a big-endian integer array, not a list
    path = _dump(tmp_path / "batch", _batch(np.asfortranarray(pixels), labels))
    got, got_labels = data._load_batch(path)
    assert np.array_equal(got, pixels) and got_labels.tolist() == [7, 1]


class _OpenForWriting:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (open, (str(self.target), "w"))


class _Shell:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.target}",))


def _refused_global(raw: bytes) -> str:
    """The first global of ``raw`` that is not on the allow-list, as ``module.name``."""
    names = (
        str(a).replace(" ", ".") for op, a, _ in pickletools.genops(raw) if op.name == "GLOBAL"
    )
    return next(name for name in names if name not in SAFE_PICKLE_GLOBALS)


def test_malicious_batch_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _dump(tmp_path / "data_batch_1", _batch(_OpenForWriting(marker), [0]))
    # Control: the payload is live, plain pickle.load creates the file.
    with path.open("rb") as fh:
        pickle.load(fh)[b"data"].close()
    assert marker.exists()
    marker.unlink()

    with pytest.raises(DataFormatError) as err:
        data._load_batch(path)
    msg = _message(err, path)
    refused = _refused_global(path.read_bytes())  # io.open
    assert f"refused to load global {refused} " in msg
    assert all(name in msg for name in SAFE_PICKLE_GLOBALS)
    assert not marker.exists()


def test_shell_command_batch_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _dump(tmp_path / "data_batch_1", _batch(_pixels(1), [_Shell(marker)]))
    with pytest.raises(DataFormatError, match=f"refused to load global {os.system.__module__}"):
        data._load_batch(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("raw", "refused"),
    [
        # A code-running function inside the numpy package: refused by exact name.
        (b"cnumpy.testing._private.utils\nrunstring\n(Vx=1\n}tR.", "numpy.testing"),
        # numpy's real scalar constructor, not on the list.
        (b"cnumpy.core.multiarray\nscalar\n(tR.", "numpy.core.multiarray.scalar"),
        # A copyreg extension code (resolved through find_class when registered; none is).
        (b"\x80\x02\x82\x01.", None),
    ],
)
def test_other_globals_are_refused(tmp_path: Path, raw: bytes, refused: str | None) -> None:
    path = tmp_path / "batch"
    path.write_bytes(raw)
    with pytest.raises(DataFormatError) as err:
        data._load_batch(path)
    msg = _message(err, path)
    if refused:
        assert f"refused to load global {refused}" in msg


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n}K\x00\x85U\x01b\x87R.",
            "_reconstruct called with a first argument other than numpy.ndarray",
        ),
        (b"\x80\x02cnumpy\nndarray\nK\x01\x85R.", "numpy.ndarray may only appear as the first"),
        # BUILD (slot state) on an allowed global, trying to change it for later loads.
        (b"\x80\x02cnumpy\ndtype\nN}X\x01\x00\x00\x00xK\x01s\x86b.", "cannot set 'x'"),
        (
            b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x06\x00\x00\x00base64\x86R.",
            "_codecs.encode with arguments ('x', 'base64')",
        ),
        (b"\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00\x40\x85R.", "bytes called with arguments"),
        (b"\x80\x02cnumpy\ndtype\nX\x01\x00\x00\x00O\x85R.", None),  # object dtype: parsed later
        (b"\x80\x02cnumpy\ndtype\n)\x81.", "NEWOBJ class argument must be a type"),
    ],
    ids=["reconstruct", "ndarray", "build", "codec", "bytes", "dtype", "newobj"],
)
def test_allowed_globals_cannot_be_misused(tmp_path: Path, raw: bytes, reason: str | None) -> None:
    path = tmp_path / "batch"
    path.write_bytes(raw)
    if reason is None:  # loads as an inert stub, then is refused as not a dict
        with pytest.raises(DataFormatError, match="holds a _DtypeStub"):
            data._load_batch(path)
        return
    with pytest.raises(DataFormatError) as err:
        data._load_batch(path)
    msg = _message(err, path)
    assert "not a readable CIFAR-10 python batch" in msg and reason in msg
    assert data._SAFE_GLOBALS[("numpy", "dtype")]("u1").code == "u1"


def _valid_bytes() -> bytes:
    return pickle.dumps(_batch(_pixels(2), [0, 1]), protocol=2)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (_valid_bytes()[:-1000], "truncated"),
        (b"", "Ran out of input"),
        (bytes(range(256)) * 4, "not a readable CIFAR-10 python batch"),
        (b"GIF89a garbage", "not a readable CIFAR-10 python batch"),
        (pickle.dumps([1, 2, 3], protocol=2), "holds a list, a CIFAR-10 batch holds a dict"),
    ],
    ids=["truncated", "empty", "garbage", "image", "list"],
)
def test_unreadable_files_name_the_file(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "data_batch_2"
    path.write_bytes(content)
    with pytest.raises(DataFormatError) as err:
        data._load_batch(path)
    assert expected in _message(err, path)


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        ({b"labels": [0]}, "no 'data' entry (keys found: b'labels'"),
        ({b"data": _pixels(1)}, "no 'labels' entry"),
        (_batch(np.full((1, PIXELS), 300.7), [0]), "'data' has dtype float64; allowed: "),
        (_batch(_pixels(1).astype(np.int64), [0]), "'data' has dtype int64"),
        (_batch(np.array([[1, "a"]], dtype=object), [0]), "'data' has dtype object"),
        (_batch(_pixels(1).tolist(), [0]), "'data' is a list; allowed: a numpy uint8 array"),
        (_batch(_pixels(2)[:, :100], [0, 1]), r"'data' has shape (2, 100); allowed: (N, 3072)"),
        (_batch(_pixels(1)[0], [0]), "'data' has shape (3072,)"),
        (_batch(np.zeros((0, PIXELS), np.uint8), []), "'data' has shape (0, 3072)"),
        (_batch(_pixels(2), [0, 99]), "labels[1] is 99 (int); allowed: a list of integers 0..9"),
        (_batch(_pixels(2), [-5, 0]), "labels[0] is -5 (int)"),
        (_batch(_pixels(2), [0, 1.0]), "labels[1] is 1.0 (float)"),
        (_batch(_pixels(2), [True, 0]), "labels[0] is True (bool)"),
        (_batch(_pixels(2), b"\x00\x01"), "'labels' is a bytes"),
        (_batch(_pixels(2), np.array([0.0, 1.0])), "'labels' has dtype float64"),
        (_batch(_pixels(3), [0, 1]), "2 labels for 3 images"),
    ],
)
def test_bad_content_is_refused_not_cast(tmp_path: Path, batch: dict, expected: str) -> None:
    path = _dump(tmp_path / "data_batch_3", batch)
    with pytest.raises(DataFormatError) as err:
        data._load_batch(path)
    assert expected in _message(err, path)


def test_raw_bytes_must_match_shape(tmp_path: Path) -> None:
    raw = pickle.dumps(_batch(_pixels(2), [0, 1]), protocol=2)
    path = tmp_path / "batch"
    # Claim 3 rows over the 2 rows of bytes stored (rows are the BININT2 after MARK, K\x01).
    path.write_bytes(raw.replace(b"K\x01K\x02M\x00\x0c", b"K\x01K\x03M\x00\x0c", 1))
    with pytest.raises(DataFormatError, match=r"holding 6144 bytes \(needs 9216\)"):
        data._load_batch(path)


def _folder(tmp_path: Path, test_batch: dict | None = None) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        _dump(folder / f"data_batch_{i}", _batch(_pixels(3, seed=i), [0, 1, 5]))
    _dump(folder / "test_batch", test_batch or _batch(_pixels(2), [1, 0]))
    return folder


def test_reader_uses_the_safe_loader(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    ds = cifar10_two_class(tmp_path, n_train=10)
    assert ds.n == 10 and ds.X_test.shape == (2, PIXELS)
    assert ds.y_test.tolist() == [-1.0, 1.0]
    (folder / "data_batch_4").write_bytes(b"\x80\x02cposix\nsystem\n(Vtrue\ntR.")
    with pytest.raises(DataFormatError, match=re.escape(f"{folder / 'data_batch_4'}: refused")):
        cifar10_two_class(tmp_path)


def test_empty_test_batch_is_a_clear_error(tmp_path: Path) -> None:
    folder = _folder(tmp_path, _batch(np.zeros((0, PIXELS), np.uint8), []))
    with pytest.raises(DataFormatError) as err:
        cifar10_two_class(tmp_path, n_train=5)
    assert "'data' has shape (0, 3072); allowed: (N, 3072) with N >= 1" in _message(
        err, folder / "test_batch"
    )


def test_class_missing_from_a_split_is_a_clear_error(tmp_path: Path) -> None:
    folder = _folder(tmp_path, _batch(_pixels(2), [1, 1]))
    with pytest.raises(DataFormatError) as err:
        cifar10_two_class(tmp_path, n_train=5)
    assert "no test image of class airplane (label 0)" in _message(err, folder / "test_batch")
    with pytest.raises(
        DataFormatError, match=re.escape("data_batch_1..5: no training image of class cat")
    ):
        cifar10_two_class(tmp_path, classes=("automobile", "cat"))


def test_missing_batch_names_folder_and_download(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError) as err:
        cifar10_two_class(tmp_path)
    msg = _message(err, folder)
    assert "missing: data_batch_3;" in msg and CIFAR10_URL in msg and "GDLAB_DATA" in msg
