"""Readers for the original file formats: IDX (MNIST-like), CIFAR-10 pickle batches, MedMNIST npz.

Each reader checks what it reads and turns bad input into a DataCorruptError naming the file —
never a raw exception from gzip, pickle, tarfile or zipfile. Images come out as (N, C, H, W) uint8
and labels as (N,) int64, as numpy arrays (datasets.py wraps them in tensors).
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tamrin.data.catalog import CIFAR10_FOLDER
from tamrin.errors import DataCorruptError

Split = tuple[np.ndarray, np.ndarray]  # images (N, C, H, W) uint8, labels (N,) int64

_DECODE_ERRORS = (OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile, tarfile.TarError)


# ----------------------------------------------------------------------------------------- IDX

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (gzipped or raw) as an array with the header's shape and dtype.

    Checks the magic number, the dimensions, and that the payload holds exactly the bytes the header
    promises (a truncated or padded file is an error, not a short array).
    """
    path = Path(path)
    try:
        with path.open("rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else path.open("rb") as f:
            return _read_idx_stream(f, path)
    except DataCorruptError:
        raise
    except _DECODE_ERRORS as exc:
        raise DataCorruptError(
            f"{path}: cannot read IDX data ({_why(exc)}); the file is truncated "
            f"or damaged: delete it and fetch it again"
        ) from None


def _read_idx_stream(f: io.BufferedIOBase, path: Path) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_DTYPES or head[3] == 0:
        raise DataCorruptError(
            f"{path}: not an IDX file (magic bytes {head.hex() or 'none'}; "
            f"expected 0000 <dtype> <ndim>, e.g. 00000803 for images)"
        )
    ndim = head[3]
    dims_raw = f.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataCorruptError(f"{path}: IDX header ends early (truncated file)")
    dims = tuple(int(d) for d in np.frombuffer(dims_raw, ">u4"))
    dtype = np.dtype(_IDX_DTYPES[head[2]])
    out = np.empty(int(np.prod(dims)), dtype.newbyteorder("="))
    want = out.nbytes
    got = f.readinto(out.data.cast("B")) if want else 0  # straight into the array: no copy
    if got != want:
        raise DataCorruptError(
            f"{path}: IDX header says {'x'.join(map(str, dims))} "
            f"({want:,} bytes) but the payload has {got:,} bytes (truncated)"
        )
    if f.read(1):
        raise DataCorruptError(
            f"{path}: IDX payload is longer than its header says "
            f"{'x'.join(map(str, dims))} ({want:,} bytes)"
        )
    if dtype.byteorder == ">" and dtype.itemsize > 1:
        out = out.byteswap()  # the bytes were big-endian; make them native
    return out.reshape(dims)


def read_idx_images(path: str | Path) -> np.ndarray:
    """IDX images (N, H, W) uint8 as (N, 1, H, W) uint8."""
    arr = read_idx(path)
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise DataCorruptError(
            f"{path}: expected IDX uint8 images of shape (N, H, W); got {arr.dtype} {arr.shape}"
        )
    return arr[:, None]


def read_idx_labels(path: str | Path) -> np.ndarray:
    """IDX labels (N,) as int64."""
    arr = read_idx(path)
    if arr.ndim != 1:
        raise DataCorruptError(f"{path}: expected IDX labels of shape (N,); got {arr.shape}")
    return arr.astype(np.int64)


def read_mnist(files: Mapping[str, Path]) -> dict[str, Split]:
    """MNIST / Fashion-MNIST train and test splits from the four official IDX .gz files."""
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx_images(files[f"{prefix}-images-idx3-ubyte.gz"])
        y = read_idx_labels(files[f"{prefix}-labels-idx1-ubyte.gz"])
        _check_pair(x, y, f"{prefix}-images-idx3-ubyte.gz / {prefix}-labels-idx1-ubyte.gz")
        out[split] = (x, y)
    return out


# ------------------------------------------------------------------------------------ CIFAR-10


def _numpy_reconstruct() -> Any:
    """numpy's ndarray rebuild function (numpy.core.multiarray._reconstruct in numpy 1.x)."""
    return np.ndarray.__reduce__(np.zeros(1))[0]


# The official batches (Python 2 cPickle, protocol 2) name only these three globals; numpy 2
# re-pickles name the first one numpy._core.multiarray._reconstruct.
_PICKLE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches and nothing else, so a hostile file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refers to {module}.{name}, which a CIFAR-10 batch never does; refusing to load "
                f"it (the file may be hostile)"
            ) from None


def load_cifar_pickle(data: bytes, source: str) -> dict[bytes, Any]:
    """Unpickle one CIFAR batch (bytes keys, as the official Python 2 pickles give them)."""
    try:
        obj = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        OverflowError,
    ) as exc:
        raise DataCorruptError(f"{source}: not a readable CIFAR-10 batch: {_why(exc)}") from None
    if not isinstance(obj, dict):
        raise DataCorruptError(
            f"{source}: expected a dict in a CIFAR-10 batch; got {type(obj).__name__}"
        )
    return {k.encode() if isinstance(k, str) else k: v for k, v in obj.items()}


def parse_cifar_batch(data: bytes, source: str) -> Split:
    """One CIFAR-10 batch file's bytes -> images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    batch = load_cifar_pickle(data, source)
    if b"data" not in batch or b"labels" not in batch:
        raise DataCorruptError(
            f"{source}: CIFAR-10 batch lacks 'data' or 'labels' "
            f"(keys: {sorted(k.decode('latin1') for k in batch)})"
        )
    x, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise DataCorruptError(f"{source}: CIFAR-10 'data' must be uint8 (N, 3072); got {got}")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataCorruptError(f"{source}: CIFAR-10 'labels' is not a list of integers") from None
    x = x.reshape(-1, 3, 32, 32)  # rows are planar R, G, B, each 32x32
    _check_pair(x, y, source, num_classes=10)
    return x, y


CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)


def read_cifar10(files: Mapping[str, Path]) -> dict[str, Split]:
    """CIFAR-10 train/test from the official tar.gz (read in place) or the extracted folder.

    `files` maps catalog file names to paths: either 'cifar-10-python.tar.gz', or
    'cifar-10-batches-py/<batch>' for each batch.
    """
    archive = next((p for n, p in files.items() if n.endswith((".tar.gz", ".tgz", ".tar"))), None)
    if archive is not None:
        wanted = {f"{CIFAR10_FOLDER}/{b}" for b in CIFAR10_TRAIN + CIFAR10_TEST}
        blobs = _read_tar_members(archive, wanted)
    else:
        blobs = {}
        for b in CIFAR10_TRAIN + CIFAR10_TEST:
            key = f"{CIFAR10_FOLDER}/{b}"
            if key not in files:
                raise DataCorruptError(f"CIFAR-10 batch {key} is missing")
            blobs[key] = Path(files[key]).read_bytes()
    out = {}
    for split, names in (("train", CIFAR10_TRAIN), ("test", CIFAR10_TEST)):
        parts = [
            parse_cifar_batch(blobs[f"{CIFAR10_FOLDER}/{n}"], f"{CIFAR10_FOLDER}/{n}")
            for n in names
        ]
        out[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return out


def _read_tar_members(archive: Path, wanted: set[str]) -> dict[str, bytes]:
    """The bytes of regular-file members `wanted` of a tar archive, in one streaming pass."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r|*") as tar:  # streaming: one pass, no seeking in the gzip
            for member in tar:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    f = tar.extractfile(member)
                    if f is not None:
                        found[name] = f.read()
    except _DECODE_ERRORS as exc:
        raise DataCorruptError(
            f"{archive}: cannot read the tar archive ({_why(exc)}); it is "
            f"truncated or damaged: delete it and fetch it again"
        ) from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise DataCorruptError(f"{archive}: archive lacks {', '.join(missing)}")
    return found


# ------------------------------------------------------------------------------------ MedMNIST


def read_medmnist_npz(path: str | Path, *, size: int = 28, channels: int = 3) -> dict[str, Split]:
    """A MedMNIST v2 .npz (train/val/test _images, _labels) as (N, C, H, W) uint8 + (N,) int64.

    Loaded with allow_pickle=False, so the file cannot carry code.
    """
    path = Path(path)
    out = {}
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DataCorruptError(f"{path}: a single array, not an .npz archive of arrays")
        with npz:
            keys = set(npz.files)
            for split in ("train", "val", "test"):
                for kind in ("images", "labels"):
                    if f"{split}_{kind}" not in keys:
                        raise DataCorruptError(
                            f"{path}: no '{split}_{kind}' array (has: {', '.join(sorted(keys))}); "
                            f"expected the MedMNIST v2 layout"
                        )
                x, y = npz[f"{split}_images"], npz[f"{split}_labels"]
                out[split] = _medmnist_split(x, y, f"{path}[{split}]", size, channels)
    except DataCorruptError:
        raise
    except (*_DECODE_ERRORS, KeyError) as exc:
        raise DataCorruptError(
            f"{path}: cannot read the .npz ({_why(exc)}); it is truncated or "
            f"damaged: delete it and fetch it again"
        ) from None
    return out


def _medmnist_split(x: np.ndarray, y: np.ndarray, source: str, size: int, channels: int) -> Split:
    if x.ndim == 3 and channels == 1:
        x = x[..., None]
    if x.dtype != np.uint8 or x.shape[1:] != (size, size, channels):
        raise DataCorruptError(
            f"{source}: images must be uint8 (N, {size}, {size}, {channels}); "
            f"got {x.dtype} {x.shape}"
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataCorruptError(f"{source}: labels must be integers (N, 1); got {y.dtype} {y.shape}")
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)
    y = y.astype(np.int64)
    _check_pair(x, y, source)
    return x, y


# -------------------------------------------------------------------------------------- shared


def _check_pair(x: np.ndarray, y: np.ndarray, source: str, num_classes: int | None = None) -> None:
    """Images and labels agree in count; labels are within range."""
    if len(x) != len(y):
        raise DataCorruptError(f"{source}: {len(x)} images but {len(y)} labels")
    if len(y) and (y.min() < 0 or (num_classes is not None and y.max() >= num_classes)):
        raise DataCorruptError(
            f"{source}: labels out of range [0, {num_classes}): min {y.min()}, max {y.max()}"
        )


def _why(exc: BaseException) -> str:
    """A short reason from a low-level exception: its message, or its type when it has none."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
