"""Fixtures for tamrin.data: tiny data sets generated in the real formats, all under tmp_path.

`tiny` builds a "server" folder with MNIST IDX .gz files, CIFAR-10 pickle batches (as the
extracted folder and inside the official tar.gz name) and a DermaMNIST .npz, plus a catalog with
their md5s and file:// URLs, so the store's real download path can run offline. Every test gets
its own TAMRIN_CACHE and HOME, so nothing is written to the user's home or the shared data.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tamrin.data.catalog import (
    CIFAR10_ARCHIVE,
    CIFAR10_BATCHES,
    CIFAR10_CLASSES,
    CIFAR10_FOLDER,
    DERMAMNIST_CLASSES,
    MNIST_CLASSES,
    DatasetSpec,
    FileSpec,
    Layout,
)
from tamrin.data.datasets import clear_loaded


def _real_data() -> str | None:
    """The real data roots: $TAMRIN_DATA, else ../shared/datasets beside the repo, else None."""
    env = os.environ.get("TAMRIN_DATA", "").strip()
    if env:
        return env
    shared = Path(__file__).resolve().parents[3] / "shared" / "datasets"
    return str(shared) if shared.is_dir() else None


REAL_DATA = _real_data()  # read at import, before the autouse fixture clears TAMRIN_DATA


@pytest.fixture(scope="session")
def real_data() -> str | None:
    """The real data roots (os.pathsep-separated), or None when there are none."""
    return REAL_DATA


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Own TAMRIN_CACHE and HOME per test, no TAMRIN_DATA, nothing kept in memory between tests."""
    monkeypatch.setenv("TAMRIN_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("TAMRIN_DATA", raising=False)
    clear_loaded()
    yield
    clear_loaded()


# ------------------------------------------------------------------------------ file writers


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: 0x0000 0x08 ndim, big-endian dims, payload."""
    head = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def write_gz(path: Path, payload: bytes, level: int = 9) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, compresslevel=level, mtime=0))
    return path


def _p2_str(b: bytes) -> bytes:
    """Python 2 str in cPickle protocol 2 (SHORT_BINSTRING / BINSTRING)."""
    return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b


def _p2_int(v: int) -> bytes:
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def _p2_uint8_matrix(a: np.ndarray) -> bytes:
    """A 2-D uint8 ndarray as numpy 1.x under Python 2 pickles it (names numpy.core.multiarray)."""
    return (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + _p2_int(0)
        + b"\x85"
        + _p2_str(b"b")
        + b"\x87R("
        + _p2_int(1)
        + _p2_int(a.shape[0])
        + _p2_int(a.shape[1])
        + b"\x86cnumpy\ndtype\n"
        + _p2_str(b"u1")
        + _p2_int(0)
        + _p2_int(1)
        + b"\x87R("
        + _p2_int(3)
        + _p2_str(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
        + _p2_int(0)
        + b"tb\x89"
        + _p2_str(a.tobytes())
        + b"tb"
    )


def cifar_batch_bytes(data: np.ndarray, labels: list[int], label: bytes = b"batch") -> bytes:
    """A CIFAR-10 batch laid out as the official Python 2 cPickle files are."""
    names = [f"img_{i}.png".encode() for i in range(len(labels))]
    return (
        b"\x80\x02}("
        + _p2_str(b"batch_label")
        + _p2_str(label)
        + _p2_str(b"labels")
        + b"]("
        + b"".join(_p2_int(int(v)) for v in labels)
        + b"e"
        + _p2_str(b"data")
        + _p2_uint8_matrix(data)
        + _p2_str(b"filenames")
        + b"]("
        + b"".join(_p2_str(n) for n in names)
        + b"e"
        + b"u."
    )


def cifar_meta_bytes() -> bytes:
    return (
        b"\x80\x02}("
        + _p2_str(b"num_cases_per_batch")
        + _p2_int(10000)
        + _p2_str(b"label_names")
        + b"]("
        + b"".join(_p2_str(c.encode()) for c in CIFAR10_CLASSES)
        + b"e"
        + _p2_str(b"num_vis")
        + _p2_int(3072)
        + b"u."
    )


def make_tar(path: Path, members: dict[str, bytes]) -> Path:
    """A tar.gz holding `members` (name -> bytes) as regular files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def formats() -> SimpleNamespace:
    """The file writers above, for tests (importing from conftest is ambiguous under pytest)."""
    return SimpleNamespace(
        md5=md5,
        idx_bytes=idx_bytes,
        write_gz=write_gz,
        make_tar=make_tar,
        cifar_batch_bytes=cifar_batch_bytes,
    )


# ----------------------------------------------------------------------------- tiny data sets

Splits = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass
class Tiny:
    """Tiny data sets in their official formats, and a catalog that describes them."""

    server: Path  # server/<name>/<official files>, reachable as file:// URLs
    catalog: dict[str, DatasetSpec]
    arrays: dict[str, Splits]  # what the readers must return: name -> split -> (x, y)

    def install(self, name: str, root: Path, *files: str) -> Path:
        """Copy data set `name` (or only `files` of it) from the server into `root`."""
        src, dst = self.server / name, root / name
        for rel in files or [p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()]:
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dst / rel)
        return dst


def _labels(n: int, k: int) -> np.ndarray:
    return (np.arange(n) % k).astype(np.int64)


def _tiny_mnist(folder: Path, rng: np.random.Generator) -> tuple[Layout, Splits]:
    arrays, files = {}, []
    for split, prefix, n in (("train", "train", 20), ("test", "t10k", 10)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = _labels(n, 10)
        arrays[split] = (x[:, None], y)
        for kind, arr, dims in (("images", x, 3), ("labels", y.astype(np.uint8), 1)):
            name = f"{prefix}-{kind}-idx{dims}-ubyte.gz"
            payload = idx_bytes(arr)
            path = write_gz(folder / name, payload)
            files.append(
                FileSpec(
                    name, md5(path), path.as_uri(), payload_md5=hashlib.md5(payload).hexdigest()
                )
            )
    return Layout(tuple(files)), arrays


def _tiny_cifar(folder: Path, rng: np.random.Generator) -> tuple[tuple[Layout, ...], Splits]:
    blobs, xs, ys = {}, {"train": [], "test": []}, {"train": [], "test": []}
    for name in CIFAR10_BATCHES:
        if name == "batches.meta":
            blobs[name] = cifar_meta_bytes()
            continue
        split = "test" if name == "test_batch" else "train"
        x = rng.integers(0, 256, (10, 3072), dtype=np.uint8)
        y = _labels(10, 10)
        blobs[name] = cifar_batch_bytes(x, y.tolist(), name.encode())
        xs[split].append(x.reshape(-1, 3, 32, 32))
        ys[split].append(y)
    files = []
    for name, data in blobs.items():
        path = folder / CIFAR10_FOLDER / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append(FileSpec(f"{CIFAR10_FOLDER}/{name}", md5(path)))
    tar = make_tar(folder / CIFAR10_ARCHIVE, {f"{CIFAR10_FOLDER}/{n}": d for n, d in blobs.items()})
    layouts = (Layout(tuple(files)), Layout((FileSpec(CIFAR10_ARCHIVE, md5(tar), tar.as_uri()),)))
    arrays = {s: (np.concatenate(xs[s]), np.concatenate(ys[s])) for s in ("train", "test")}
    return layouts, arrays


def _tiny_derma(folder: Path, rng: np.random.Generator) -> tuple[Layout, Splits]:
    arrays, raw = {}, {}
    for split, n in (("train", 14), ("val", 7), ("test", 7)):
        x = rng.integers(0, 256, (n, 28, 28, 3), dtype=np.uint8)
        y = _labels(n, 7)
        raw[f"{split}_images"], raw[f"{split}_labels"] = x, y.reshape(-1, 1).astype(np.uint8)
        arrays[split] = (x.transpose(0, 3, 1, 2), y)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dermamnist.npz"
    np.savez_compressed(path, **raw)
    return Layout((FileSpec("dermamnist.npz", md5(path), path.as_uri()),)), arrays


@pytest.fixture
def tiny(tmp_path: Path) -> Tiny:
    """Tiny mnist / cifar10 / dermamnist in the official formats, with a matching catalog."""
    rng = np.random.default_rng(0)
    server = tmp_path / "server"
    mnist, mnist_arrays = _tiny_mnist(server / "mnist", rng)
    cifar, cifar_arrays = _tiny_cifar(server / "cifar10", rng)
    derma, derma_arrays = _tiny_derma(server / "dermamnist", rng)
    catalog = {
        "mnist": DatasetSpec("mnist", (mnist,), classes=MNIST_CLASSES),
        "cifar10": DatasetSpec("cifar10", cifar, classes=CIFAR10_CLASSES),
        "dermamnist": DatasetSpec("dermamnist", (derma,), classes=DERMAMNIST_CLASSES),
    }
    arrays = {"mnist": mnist_arrays, "cifar10": cifar_arrays, "dermamnist": derma_arrays}
    return Tiny(server, catalog, arrays)


# ------------------------------------------------------------------------------ hostile files


class _RunsCode:
    """Pickles as a call to os.system: what a hostile 'batch' would carry."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture
def hostile_pickle(tmp_path: Path) -> tuple[bytes, Path]:
    """A pickle that would create `marker` if it were ever loaded with plain pickle."""
    marker = tmp_path / "pwned"
    blob = {b"data": _RunsCode(f"touch {marker}"), b"labels": [0]}
    return pickle.dumps(blob, protocol=4), marker


def _tar_with(path: Path, info: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("fine/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        if info.isfile():
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        else:
            tar.addfile(info)
    return path


@pytest.fixture
def hostile_tars(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """kind -> (tar.gz path, the offending member's name)."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    out = {}

    def add(kind: str, name: str, type_: bytes = tarfile.REGTYPE, link: str = "") -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = type_, link
        out[kind] = (_tar_with(folder / f"{kind}.tar.gz", info), name)

    add("dotdot", "../escaped.txt")
    add("nested-dotdot", "fine/../../escaped.txt")
    add("absolute", str(tmp_path / "absolute-escaped.txt"))
    add("symlink", "fine/link", tarfile.SYMTYPE, "../../outside")
    add("symlink-absolute", "fine/etc", tarfile.SYMTYPE, "/etc")
    add("hardlink", "fine/hard", tarfile.LNKTYPE, "../outside")
    add("device", "fine/dev", tarfile.CHRTYPE)
    return out
