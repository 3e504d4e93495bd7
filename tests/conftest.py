"""Shared fixtures: a tiny data root in the official formats, with a catalog that matches it.

`tiny_data` writes MNIST / Fashion-MNIST (IDX .gz) and CIFAR-10 (python pickle batches in the
extracted folder) with a few hundred random images each, and points the store's catalog at
their md5s, so every recipe can run its smoke test anywhere, without the real data.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from tamrin.data import catalog as cat

N_TRAIN, N_TEST = 300, 100


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _idx(arr: np.ndarray) -> bytes:
    code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _write_idx_set(folder: Path, rng: np.random.Generator) -> cat.Layout:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        x[:, :4, :4] = y[:, None, None] * 25  # a learnable corner, so training can show progress
        for kind, arr, dims in (("images", x, 3), ("labels", y, 1)):
            path = folder / f"{prefix}-{kind}-idx{dims}-ubyte.gz"
            payload = _idx(arr)
            path.write_bytes(gzip.compress(payload))
            files.append(
                cat.FileSpec(
                    path.name,
                    _md5(path),
                    path.as_uri(),
                    payload_md5=hashlib.md5(payload).hexdigest(),
                )
            )
    return cat.Layout(tuple(files))


def _write_cifar(folder: Path, rng: np.random.Generator) -> cat.Layout:
    batches = folder / cat.CIFAR10_FOLDER
    batches.mkdir(parents=True, exist_ok=True)
    files = []
    per_batch = N_TRAIN // 5
    for name in cat.CIFAR10_BATCHES:
        if name == "batches.meta":
            blob = {
                b"label_names": [c.encode() for c in cat.CIFAR10_CLASSES],
                b"num_cases_per_batch": per_batch,
                b"num_vis": 3072,
            }
        else:
            n = N_TEST if name == "test_batch" else per_batch
            labels = [i % 10 for i in range(n)]
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            blob = {
                b"batch_label": name.encode(),
                b"labels": labels,
                b"data": data,
                b"filenames": [f"{i}.png".encode() for i in range(n)],
            }
        path = batches / name
        path.write_bytes(pickle.dumps(blob, protocol=4))
        files.append(cat.FileSpec(f"{cat.CIFAR10_FOLDER}/{name}", _md5(path)))
    return cat.Layout(tuple(files))


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(root, catalog) of tiny mnist / fashion-mnist / cifar10 in the official formats."""
    root = tmp_path_factory.mktemp("tiny-data")
    rng = np.random.default_rng(0)
    catalog = dict(cat.CATALOG)
    catalog["mnist"] = cat.DatasetSpec(
        "mnist", (_write_idx_set(root / "mnist", rng),), classes=cat.MNIST_CLASSES
    )
    catalog["fashion-mnist"] = cat.DatasetSpec(
        "fashion-mnist",
        (_write_idx_set(root / "fashion-mnist", rng),),
        classes=cat.FASHION_MNIST_CLASSES,
    )
    catalog["cifar10"] = cat.DatasetSpec(
        "cifar10", (_write_cifar(root / "cifar10", rng),), classes=cat.CIFAR10_CLASSES
    )
    return root, catalog


@pytest.fixture
def tiny_data(
    tiny_data_root: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    """Use the tiny data root for this test: TAMRIN_DATA, the catalog, a private cache."""
    from tamrin.data import datasets, store

    root, catalog = tiny_data_root
    monkeypatch.setattr(store, "CATALOG", catalog)
    monkeypatch.setenv("TAMRIN_DATA", str(root))
    monkeypatch.setenv("TAMRIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    datasets.clear_loaded()
    yield root
    datasets.clear_loaded()
