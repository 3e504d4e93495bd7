"""MedMNIST v2 .npz files (DermaMNIST): a checked reader, the official split sizes, and a generator
of files in the real layout for machines without the data.

The official file holds `{train,val,test}_images` uint8 (N, 28, 28, 3) and `{train,val,test}_labels`
uint8 (N, 1). `read_npz` checks the md5 (when one is expected), the keys, the shapes and the label
range, and turns each problem into a one- or two-line `DataNotFoundError` / `DataCorruptError`
naming the file and the fix. `write_generated` writes a file in exactly that layout (the recipe
and its tests run on it here; DermaMNIST itself cannot be downloaded on these machines):

    python -m tamrin.data.medmnist /tmp/derma/dermamnist.npz
    tamrin run dermamnist --set npz=/tmp/derma/dermamnist.npz
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tamrin.data.catalog import CATALOG, DERMAMNIST_CLASSES
from tamrin.data.readers import Split, read_medmnist_npz
from tamrin.data.store import md5_file
from tamrin.errors import DataCorruptError, DataNotFoundError

SPLITS = ("train", "val", "test")
KEYS = tuple(f"{s}_{k}" for s in SPLITS for k in ("images", "labels"))

# Images per class in DermaMNIST's official splits (MedMNIST v2, Yang et al. 2023; class order of
# DERMAMNIST_CLASSES). Class 5 (melanocytic nevi) is 67% of every split. Facts of the data set.
DERMAMNIST_COUNTS: Mapping[str, tuple[int, ...]] = {
    "train": (228, 359, 769, 80, 779, 4693, 99),
    "val": (33, 52, 110, 12, 111, 671, 14),
    "test": (66, 103, 220, 23, 223, 1341, 29),
}
DERMAMNIST_FILE = CATALOG["dermamnist"].layouts[0].files[0]  # name, official md5 and URL


def read_npz(
    path: str | Path,
    *,
    md5: str | None = None,
    num_classes: int = len(DERMAMNIST_CLASSES),
    size: int = 28,
    channels: int = 3,
) -> dict[str, Split]:
    """Splits of a MedMNIST .npz as images (N, C, H, W) uint8 and labels (N,) int64.

    `md5`: the md5 the file must have (None: not checked, e.g. for a generated file). Errors:
    no file -> DataNotFoundError; wrong md5, missing key, wrong shape or dtype, labels outside
    0..num_classes-1 -> DataCorruptError.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(
            f"{path}: no such file; download {DERMAMNIST_FILE.url} "
            f"(md5 {DERMAMNIST_FILE.md5}) and give its path, or write a generated one with "
            f"`python -m tamrin.data.medmnist {path}`"
        )
    if md5 is not None:
        got = md5_file(path)
        if got != md5:
            raise DataCorruptError(
                f"{path}: md5 {got} does not match the expected {md5}; the file is damaged or "
                f"not the official release: download it again from {DERMAMNIST_FILE.url}"
            )
    splits = read_medmnist_npz(path, size=size, channels=channels)
    for split, (_, y) in splits.items():
        if len(y) == 0:
            raise DataCorruptError(f"{path}: the {split} split is empty; expected images in it")
        if y.min() < 0 or y.max() >= num_classes:
            raise DataCorruptError(
                f"{path}: {split} labels range over {y.min()}..{y.max()}; expected "
                f"0..{num_classes - 1} ({num_classes} classes)"
            )
    return splits


def generate(
    counts: Mapping[str, Sequence[int]] = DERMAMNIST_COUNTS,
    *,
    seed: int = 0,
    size: int = 28,
    channels: int = 3,
    noise: float = 40.0,
) -> dict[str, np.ndarray]:
    """Arrays in the MedMNIST layout (`KEYS`) with `counts[split][c]` images of class c.

    Each class is a blob of its own colour, size and place on a noisy skin-coloured background,
    so a model can learn it and the classes overlap (how much is set by `noise`, in grey levels).
    Not DermaMNIST: for testing the reader, the recipe and its report where the data is absent.
    """
    rng = np.random.default_rng(seed)
    k = len(next(iter(counts.values())))
    palette = rng.uniform(60, 200, (k, channels))  # (K, C) blob colour per class
    radius = rng.uniform(4, 9, k)  # blob radius per class, pixels
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out: dict[str, np.ndarray] = {}
    for split in SPLITS:
        labels = np.repeat(np.arange(k), counts[split])
        labels = labels[rng.permutation(labels.size)]
        n = labels.size
        centre = size / 2 + rng.normal(0, 3, (n, 2))  # (N, 2)
        r = radius[labels] * rng.uniform(0.7, 1.3, n)  # (N,)
        d2 = (yy[None] - centre[:, 0, None, None]) ** 2 + (xx[None] - centre[:, 1, None, None]) ** 2
        mask = np.exp(-d2 / (2 * r[:, None, None] ** 2))[..., None]  # (N, H, W, 1)
        skin = np.array([200.0, 150.0, 130.0][:channels])
        colour = palette[labels] + rng.normal(0, 25, (n, channels))  # (N, C)
        img = skin * (1 - mask) + colour[:, None, None, :] * mask
        img += rng.normal(0, noise, img.shape)
        out[f"{split}_images"] = np.clip(img, 0, 255).astype(np.uint8)  # (N, H, W, C)
        out[f"{split}_labels"] = labels.reshape(-1, 1).astype(np.uint8)  # (N, 1), as MedMNIST
    return out


def write_generated(path: str | Path, **kwargs: object) -> Path:
    """Write `generate(**kwargs)` as a compressed .npz at `path` (parents created); returns it."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **generate(**kwargs))  # type: ignore[arg-type]
    return path


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tamrin.data.medmnist",
        description="Write a generated .npz in DermaMNIST's layout and sizes (not real data).",
    )
    parser.add_argument("path", help="where to write it, e.g. /tmp/derma/dermamnist.npz")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator")
    args = parser.parse_args(argv)
    out = write_generated(args.path, seed=args.seed)
    print(f"wrote {out} (md5 {md5_file(out)}); tamrin run dermamnist --set npz={out}")


if __name__ == "__main__":
    _main()
