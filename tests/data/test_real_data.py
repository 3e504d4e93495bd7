"""The real data sets (../shared/datasets or $TAMRIN_DATA): official md5s, counts, statistics.

Skipped when the data is absent. Reads only: the decoded cache goes to a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tamrin.data.datasets import load_images
from tamrin.data.store import DataStore

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def real(real_data: str | None, tmp_path_factory: pytest.TempPathFactory) -> DataStore:
    """A store over the real roots that never downloads; its caches live in a temporary folder."""
    if real_data is None:
        pytest.skip("real data sets not found (../shared/datasets; or set TAMRIN_DATA)")
    return DataStore(real_data, download=False, cache_dir=tmp_path_factory.mktemp("real-cache"))


def _have(real: DataStore, name: str) -> None:
    row = next(r for r in real.status() if r["name"] == name)
    if row["state"] != "ok":
        pytest.skip(
            f"{name} is {row['state']} in the real data roots (run ../shared/datasets/setup.sh)"
        )


def _listing(roots: list[Path]) -> list[tuple[str, int]]:
    return sorted(
        (str(p), p.lstat().st_mtime_ns) for r in roots if r.is_dir() for p in r.rglob("*")
    )


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_real_files_have_the_official_md5s(real: DataStore, name: str) -> None:
    _have(real, name)
    rows = real.verify(name)
    assert rows and all(
        r["state"] in ("ok (official md5)", "ok (payload md5; recompressed)") for r in rows
    ), rows


def test_other_real_sets_verify(real: DataStore) -> None:
    states = {r["name"]: r["state"] for r in real.status()}
    for name in ("babi", "imdb", "analogy"):
        if states[name] == "missing":
            continue
        assert states[name] == "ok", real.verify(name)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_mnist_like(real: DataStore, name: str) -> None:
    _have(real, name)
    ds = load_images(name, real)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert ds.val_x is None and len(ds.classes) == 10
    assert torch.bincount(ds.train_y).min() > 5000 and int(ds.train_y.max()) == 9
    if name == "fashion-mnist":
        assert torch.bincount(ds.train_y).tolist() == [6000] * 10
        assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_real_cifar10(real: DataStore) -> None:
    _have(real, "cifar10")
    before = _listing(real.roots)
    ds = load_images("cifar10", real)
    assert ds.train_x.shape == (50000, 3, 32, 32) and ds.test_x.shape == (10000, 3, 32, 32)
    assert torch.bincount(ds.train_y).tolist() == [5000] * 10
    assert torch.bincount(ds.test_y).tolist() == [1000] * 10
    means = ds.train_x.double().mean(dim=(0, 2, 3)).numpy()
    np.testing.assert_allclose(means, [125.3, 123.0, 113.9], atol=0.05)
    assert ds.classes == [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    assert load_images("cifar10", real) is ds
    assert _listing(real.roots) == before  # nothing written into the data roots
