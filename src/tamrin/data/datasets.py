"""Image data sets as in-memory tensors: train / test (and the data set's own val split).

`load_images(name, store)` finds the verified files through the store, decodes them with the
readers (or takes the decoded arrays from the store's cache), and keeps the result for the rest of
the process, so a second load of the same files is free. Treat the tensors as read-only: they are
shared between callers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from tamrin.data.readers import Split, read_cifar10, read_medmnist_npz, read_mnist
from tamrin.data.store import DataStore
from tamrin.errors import DataCorruptError, UserError


@dataclass(eq=False)
class ImageDataset:
    """Images (N, C, H, W) uint8 and labels (N,) int64 per split; classes in label order."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_x: torch.Tensor | None  # the data set's own val split (DermaMNIST), else None
    val_y: torch.Tensor | None
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        val = tuple(self.val_x.shape) if self.val_x is not None else None
        return (
            f"ImageDataset({self.name!r}, train={tuple(self.train_x.shape)}, "
            f"val={val}, test={tuple(self.test_x.shape)}, classes={len(self.classes)})"
        )


_READERS: dict[str, Callable[[Mapping[str, Path]], Mapping[str, Split]]] = {
    "mnist": read_mnist,
    "fashion-mnist": read_mnist,
    "cifar10": read_cifar10,
    "dermamnist": lambda files: read_medmnist_npz(files["dermamnist.npz"]),
}
IMAGE_DATASETS = tuple(_READERS)

# (name, ((file, size, mtime_ns), ...)) -> data set; the same files are decoded once per process
_LOADED: dict[tuple[str, tuple[tuple[str, int, int], ...]], ImageDataset] = {}


def load_images(name: str, store: DataStore) -> ImageDataset:
    """The image data set `name` (mnist, fashion-mnist, cifar10, dermamnist) as tensors."""
    spec = store.spec(name)  # unknown names: UserError with a did-you-mean
    if name not in _READERS:
        raise UserError(
            f"'{name}' is not an image data set; image data sets: {', '.join(IMAGE_DATASETS)}"
        )
    files = store.locate_files(name)
    stats = tuple(
        sorted(
            (n, st.st_size, st.st_mtime_ns) for n, st in ((n, p.stat()) for n, p in files.items())
        )
    )
    key = (name, stats)
    if key in _LOADED:
        return _LOADED[key]
    classes = list(spec.classes)

    def build() -> Mapping[str, Split]:
        splits = _READERS[name](files)
        for split, (_, y) in splits.items():
            if len(y) and (y.min() < 0 or y.max() >= len(classes)):
                raise DataCorruptError(
                    f"{name} {split} labels range over {y.min()}..{y.max()}; "
                    f"expected 0..{len(classes) - 1} ({len(classes)} classes)"
                )
        return splits

    splits = store.cached_splits(name, files, build)
    tensors = {s: (torch.from_numpy(x), torch.from_numpy(y)) for s, (x, y) in splits.items()}
    val = tensors.get("val", (None, None))
    ds = ImageDataset(name, *tensors["train"], *tensors["test"], val[0], val[1], classes)
    _LOADED[key] = ds
    return ds


def clear_loaded() -> None:
    """Forget the data sets kept in this process (tests; freeing memory)."""
    _LOADED.clear()
