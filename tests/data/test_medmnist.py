"""The MedMNIST .npz reader: real layout round trip, and one clear error per kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tamrin.data.medmnist import DERMAMNIST_COUNTS, KEYS, generate, read_npz, write_generated
from tamrin.data.store import md5_file
from tamrin.errors import DataCorruptError, DataNotFoundError

SMALL = {
    "train": (3, 3, 4, 2, 4, 12, 2),
    "val": (1, 1, 2, 1, 2, 5, 1),
    "test": (2, 2, 2, 1, 2, 6, 1),
}


@pytest.fixture
def npz(tmp_path: Path) -> Path:
    return write_generated(tmp_path / "dermamnist.npz", counts=SMALL, seed=1)


def _rewrite(path: Path, **changes: np.ndarray | None) -> Path:
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    out = path.with_name("changed.npz")
    np.savez(out, **arrays)
    return out


def test_generated_file_has_the_real_layout_and_counts(npz: Path) -> None:
    with np.load(npz) as f:
        assert sorted(f.files) == sorted(KEYS)
        assert f["train_images"].shape == (sum(SMALL["train"]), 28, 28, 3)
        assert f["train_images"].dtype == np.uint8
        assert f["train_labels"].shape == (sum(SMALL["train"]), 1)
    splits = read_npz(npz, md5=md5_file(npz))
    for split, counts in SMALL.items():
        x, y = splits[split]
        assert x.shape == (sum(counts), 3, 28, 28) and x.dtype == np.uint8
        assert y.dtype == np.int64 and np.bincount(y, minlength=7).tolist() == list(counts)


def test_default_generation_matches_dermamnist_split_sizes() -> None:
    arrays = generate(seed=0)
    assert {s: len(arrays[f"{s}_labels"]) for s in DERMAMNIST_COUNTS} == {
        "train": 7007,
        "val": 1003,
        "test": 2005,
    }


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"no such file; download https://zenodo.org"):
        read_npz(tmp_path / "nope.npz")


def test_wrong_md5(npz: Path) -> None:
    with pytest.raises(
        DataCorruptError, match=r"md5 [0-9a-f]{32} does not match the expected 0{32}"
    ):
        read_npz(npz, md5="0" * 32)


def test_missing_key(npz: Path) -> None:
    bad = _rewrite(npz, val_labels=None)
    with pytest.raises(DataCorruptError, match=r"no 'val_labels' array .* MedMNIST v2 layout"):
        read_npz(bad)


def test_wrong_image_shape(npz: Path) -> None:
    with np.load(npz) as f:
        grey = f["test_images"][..., 0]  # (N, 28, 28): one channel where three are expected
    bad = _rewrite(npz, test_images=grey)
    with pytest.raises(DataCorruptError, match=r"images must be uint8 \(N, 28, 28, 3\)"):
        read_npz(bad)


def test_labels_out_of_range(npz: Path) -> None:
    with np.load(npz) as f:
        y = f["train_labels"].copy()
    y[0] = 9
    with pytest.raises(DataCorruptError, match=r"train labels range over 0\.\.9; expected 0\.\.6"):
        read_npz(_rewrite(npz, train_labels=y))


def test_truncated_file(npz: Path) -> None:
    cut = npz.with_name("cut.npz")
    cut.write_bytes(npz.read_bytes()[:200])
    with pytest.raises(DataCorruptError, match=r"cannot read the \.npz"):
        read_npz(cut)
