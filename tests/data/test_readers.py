"""Readers of the original formats: right arrays from good files, clear errors from bad ones."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import pytest

from tamrin.data.catalog import CIFAR10_ARCHIVE, CIFAR10_BATCHES, CIFAR10_FOLDER
from tamrin.data.readers import (
    parse_cifar_batch,
    read_cifar10,
    read_idx,
    read_idx_images,
    read_idx_labels,
    read_medmnist_npz,
    read_mnist,
)
from tamrin.errors import DataCorruptError, UserError

if TYPE_CHECKING:
    from conftest import Tiny


def _mnist_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir()}


def _cifar_folder_files(folder: Path) -> dict[str, Path]:
    return {f"{CIFAR10_FOLDER}/{n}": folder / CIFAR10_FOLDER / n for n in CIFAR10_BATCHES}


# ----------------------------------------------------------------------------------------- IDX


def test_mnist_reader_returns_n1hw_uint8_and_int64(tiny: Tiny) -> None:
    out = read_mnist(_mnist_files(tiny.server / "mnist"))
    for split in ("train", "test"):
        x, y = out[split]
        want_x, want_y = tiny.arrays["mnist"][split]
        assert x.dtype == np.uint8 and x.shape == want_x.shape and x.shape[1:] == (1, 28, 28)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y, want_y)


def test_idx_reads_raw_files_and_other_dtypes(tmp_path: Path, formats: SimpleNamespace) -> None:
    raw = tmp_path / "a.idx"
    raw.write_bytes(formats.idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3)))
    np.testing.assert_array_equal(read_idx(raw), np.arange(6).reshape(2, 3))
    ints = tmp_path / "b.idx.gz"
    header = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 3)  # int32, 1 dim of 3
    formats.write_gz(ints, header + struct.pack(">3i", -1, 2, 70000))
    np.testing.assert_array_equal(read_idx(ints), [-1, 2, 70000])


def _corrupt(exc: pytest.ExceptionInfo[BaseException], *words: str) -> None:
    """The error is a user-facing DataCorruptError whose message holds `words`."""
    assert isinstance(exc.value, DataCorruptError) and isinstance(exc.value, UserError)
    for word in words:
        assert word in str(exc.value), str(exc.value)
    assert exc.value.__cause__ is None or isinstance(exc.value.__cause__, UserError)
    assert exc.value.__suppress_context__ or exc.value.__context__ is None


def test_idx_bad_magic(tmp_path: Path, formats: SimpleNamespace) -> None:
    bad = formats.write_gz(tmp_path / "bad.gz", b"\x12\x34\x08\x03" + b"\0" * 20)
    with pytest.raises(DataCorruptError) as exc:
        read_idx(bad)
    _corrupt(exc, "bad.gz", "not an IDX file", "12340803")


def test_idx_payload_shorter_than_header(tmp_path: Path, formats: SimpleNamespace) -> None:
    data = formats.idx_bytes(np.zeros((5, 28, 28), np.uint8))[:-100]
    path = formats.write_gz(tmp_path / "short-images-idx3-ubyte.gz", data)
    with pytest.raises(DataCorruptError) as exc:
        read_idx_images(path)
    _corrupt(exc, "short-images-idx3-ubyte.gz", "5x28x28", "3,920 bytes", "truncated")


def test_idx_payload_longer_than_header(tmp_path: Path, formats: SimpleNamespace) -> None:
    path = formats.write_gz(tmp_path / "long.gz", formats.idx_bytes(np.zeros(4, np.uint8)) + b"\0")
    with pytest.raises(DataCorruptError) as exc:
        read_idx_labels(path)
    _corrupt(exc, "long.gz", "longer than its header")


def test_idx_truncated_gzip_stream(tiny: Tiny, tmp_path: Path) -> None:
    good = (tiny.server / "mnist" / "train-images-idx3-ubyte.gz").read_bytes()
    cut = tmp_path / "train-images-idx3-ubyte.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataCorruptError) as exc:
        read_idx_images(cut)
    _corrupt(exc, "train-images-idx3-ubyte.gz", "truncated or damaged")


def test_idx_damaged_gzip(tiny: Tiny, tmp_path: Path) -> None:
    data = bytearray((tiny.server / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    data[-6] ^= 0xFF  # inside the CRC / size trailer
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(DataCorruptError) as exc:
        read_idx_labels(bad)
    _corrupt(exc, "t10k-labels-idx1-ubyte.gz", "cannot read IDX data")


def test_idx_wrong_kind(tiny: Tiny) -> None:
    with pytest.raises(DataCorruptError, match=r"expected IDX uint8 images"):
        read_idx_images(tiny.server / "mnist" / "train-labels-idx1-ubyte.gz")


def test_mnist_count_mismatch(tiny: Tiny, tmp_path: Path, formats: SimpleNamespace) -> None:
    files = _mnist_files(tiny.server / "mnist")
    labels = formats.idx_bytes(np.zeros(3, np.uint8))
    files["t10k-labels-idx1-ubyte.gz"] = formats.write_gz(tmp_path / "l.gz", labels)
    with pytest.raises(DataCorruptError, match=r"10 images but 3 labels"):
        read_mnist(files)


# ------------------------------------------------------------------------------------ CIFAR-10


def test_cifar_folder_and_tar_give_the_same_arrays(tiny: Tiny) -> None:
    folder = tiny.server / "cifar10"
    from_dir = read_cifar10(_cifar_folder_files(folder))
    from_tar = read_cifar10({CIFAR10_ARCHIVE: folder / CIFAR10_ARCHIVE})
    for split, n in (("train", 50), ("test", 10)):
        want_x, want_y = tiny.arrays["cifar10"][split]
        for x, y in (from_dir[split], from_tar[split]):
            assert x.shape == (n, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
            np.testing.assert_array_equal(x, want_x)
            np.testing.assert_array_equal(y, want_y)


def test_cifar_python3_repickle_is_read() -> None:
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    blob = pickle.dumps({"data": data, "labels": [3, 4]}, protocol=4)  # numpy._core names
    x, y = parse_cifar_batch(blob, "repickled")
    assert x.shape == (2, 3, 32, 32) and y.tolist() == [3, 4]


def test_hostile_pickle_is_refused_without_running_code(hostile_pickle) -> None:
    blob, marker = hostile_pickle
    with pytest.raises(DataCorruptError) as exc:
        parse_cifar_batch(blob, "data_batch_1")
    _corrupt(exc, "data_batch_1", ".system", "hostile")
    assert not marker.exists()


def test_hostile_pickle_inside_the_tar_is_refused(
    hostile_pickle, tmp_path: Path, formats: SimpleNamespace
) -> None:
    blob, marker = hostile_pickle
    members = {f"{CIFAR10_FOLDER}/{n}": blob for n in CIFAR10_BATCHES}
    tar = formats.make_tar(tmp_path / CIFAR10_ARCHIVE, members)
    with pytest.raises(DataCorruptError, match="hostile"):
        read_cifar10({CIFAR10_ARCHIVE: tar})
    assert not marker.exists()


def _bad_batch(kind: str, formats: SimpleNamespace) -> bytes:
    batch = formats.cifar_batch_bytes
    return {
        "garbage": lambda: b"not a pickle at all",
        "truncated": lambda: batch(np.zeros((2, 3072), np.uint8), [1, 2])[:-40],
        "list": lambda: pickle.dumps([1, 2], protocol=4),
        "no-data": lambda: pickle.dumps({b"labels": [1]}, protocol=4),
        "narrow": lambda: batch(np.zeros((2, 100), np.uint8), [1, 2]),
        "count": lambda: batch(np.zeros((2, 3072), np.uint8), [1]),
        "range": lambda: batch(np.zeros((1, 3072), np.uint8), [10]),
    }[kind]()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("garbage", "not a readable CIFAR-10 batch"),
        ("truncated", "not a readable"),
        ("list", "expected a dict"),
        ("no-data", "lacks 'data' or 'labels'"),
        ("narrow", "must be uint8 (N, 3072)"),
        ("count", "2 images but 1 labels"),
        ("range", "out of range"),
    ],
)
def test_bad_cifar_batches(kind: str, words: str, formats: SimpleNamespace) -> None:
    blob = _bad_batch(kind, formats)
    with pytest.raises(DataCorruptError) as exc:
        parse_cifar_batch(blob, "data_batch_3")
    _corrupt(exc, "data_batch_3", words)


def test_cifar_tar_missing_member_and_truncated(
    tiny: Tiny, tmp_path: Path, formats: SimpleNamespace
) -> None:
    one = {f"{CIFAR10_FOLDER}/data_batch_1": b"x"}
    partial = formats.make_tar(tmp_path / "partial.tar.gz", one)
    with pytest.raises(DataCorruptError, match=r"archive lacks .*data_batch_2"):
        read_cifar10({CIFAR10_ARCHIVE: partial})
    good = (tiny.server / "cifar10" / CIFAR10_ARCHIVE).read_bytes()
    cut = tmp_path / CIFAR10_ARCHIVE
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataCorruptError) as exc:
        read_cifar10({CIFAR10_ARCHIVE: cut})
    _corrupt(exc, CIFAR10_ARCHIVE, "truncated or damaged")


# ------------------------------------------------------------------------------------ MedMNIST


def test_medmnist_npz(tiny: Tiny) -> None:
    out = read_medmnist_npz(tiny.server / "dermamnist" / "dermamnist.npz")
    for split in ("train", "val", "test"):
        x, y = out[split]
        want_x, want_y = tiny.arrays["dermamnist"][split]
        assert x.shape[1:] == (3, 28, 28) and x.dtype == np.uint8 and x.flags.c_contiguous
        assert y.dtype == np.int64 and y.ndim == 1
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y, want_y)


def _npz(path: Path, **overrides: object) -> Path:
    arrays = {
        f"{s}_{k}": (
            np.zeros((2, 28, 28, 3), np.uint8) if k == "images" else np.zeros((2, 1), np.uint8)
        )
        for s in ("train", "val", "test")
        for k in ("images", "labels")
    }
    arrays.update(overrides)  # type: ignore[arg-type]
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"val_labels": None}, "no 'val_labels' array"),
        ({"train_images": np.zeros((2, 32, 32, 3), np.uint8)}, "(N, 28, 28, 3)"),
        ({"test_images": np.zeros((2, 28, 28, 3), np.float32)}, "must be uint8"),
        ({"train_labels": np.zeros((3, 1), np.uint8)}, "2 images but 3 labels"),
        ({"val_labels": np.zeros((2, 1), np.float64)}, "labels must be integers"),
        ({"train_labels": np.array([[{}], [{}]], dtype=object)}, "cannot read the .npz"),
    ],
)
def test_bad_medmnist_npz(tmp_path: Path, overrides: dict, words: str) -> None:
    path = _npz(tmp_path / "dermamnist.npz", **overrides)
    with pytest.raises(DataCorruptError) as exc:
        read_medmnist_npz(path)
    _corrupt(exc, "dermamnist.npz", words)


def test_medmnist_garbage_and_truncated(tiny: Tiny, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(DataCorruptError, match=r"cannot read the \.npz"):
        read_medmnist_npz(garbage)
    good = (tiny.server / "dermamnist" / "dermamnist.npz").read_bytes()
    cut = tmp_path / "dermamnist.npz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataCorruptError) as exc:
        read_medmnist_npz(cut)
    _corrupt(exc, "dermamnist.npz", "truncated or damaged")
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataCorruptError, match=r"not an \.npz archive"):
        read_medmnist_npz(single)
