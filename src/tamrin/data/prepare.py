"""Turn a decoded image data set into train / val / test tensors ready for training.

Val is the data set's own split when it has one, else a seeded stratified hold-out of train.
Normalization statistics come from the training split only. The test split is handed out once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tamrin.data.splits import stratified_holdout


@dataclass
class Normalizer:
    """Per-channel mean/std computed on the training images (uint8 scale)."""

    mean: torch.Tensor  # (C,)
    std: torch.Tensor  # (C,)

    @classmethod
    def fit(cls, images: torch.Tensor) -> Normalizer:
        x = images.double()  # (N, C, H, W)
        return cls(x.mean(dim=(0, 2, 3)).float(), x.std(dim=(0, 2, 3)).float().clamp_min(1e-6))

    def __call__(self, images: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        """uint8 (N, C, H, W) -> float32 normalized, converted in chunks to bound peak memory."""
        out = torch.empty(images.shape, dtype=torch.float32, device=images.device)
        mean = self.mean.to(images.device)[None, :, None, None]
        std = self.std.to(images.device)[None, :, None, None]
        for i in range(0, images.shape[0], chunk):
            out[i : i + chunk] = (images[i : i + chunk].float() - mean) / std
        return out


@dataclass
class ImageSplits:
    """Normalized float tensors (N, C, H, W) on the training device, labels int64 (N,)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    classes: list[str]
    normalizer: Normalizer
    _test: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def in_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    def take_test(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The test images and labels; a second call raises (the test split is used once)."""
        if self._test is None:
            raise RuntimeError("the test split was already used: it is evaluated once per run")
        test, self._test = self._test, None
        return test


def _subset(labels: torch.Tensor, n: int | None, seed: int) -> np.ndarray:
    """Indices of a stratified random subset of size n (all indices when n is None or large)."""
    total = labels.shape[0]
    if n is None or n >= total:
        return np.arange(total)
    keep, _ = stratified_holdout(labels.numpy(), 1 - n / total, seed)
    return keep


def prepare_images(
    ds: Any,
    *,
    val_fraction: float,
    split_seed: int,
    device: torch.device,
    train_subset: int | None = None,
    test_subset: int | None = None,
) -> ImageSplits:
    """Split, subset (smoke runs), normalize with train statistics and move to `device`."""
    train_x, train_y = ds.train_x, ds.train_y  # type: ignore[attr-defined]
    if getattr(ds, "val_x", None) is not None:
        val_x, val_y = ds.val_x, ds.val_y  # type: ignore[attr-defined]
    else:
        tr, va = stratified_holdout(train_y.numpy(), val_fraction, split_seed)
        train_x, train_y, val_x, val_y = train_x[tr], train_y[tr], train_x[va], train_y[va]
    keep = _subset(train_y, train_subset, split_seed)
    train_x, train_y = train_x[keep], train_y[keep]
    if train_subset is not None:
        vkeep = _subset(val_y, max(train_subset // 4, 1), split_seed)
        val_x, val_y = val_x[vkeep], val_y[vkeep]
    tkeep = _subset(ds.test_y, test_subset, split_seed)  # type: ignore[attr-defined]
    test_x, test_y = ds.test_x[tkeep], ds.test_y[tkeep]  # type: ignore[attr-defined]
    norm = Normalizer.fit(train_x)

    def to_dev(x: torch.Tensor) -> torch.Tensor:
        return norm(x.to(device))

    return ImageSplits(
        to_dev(train_x),
        train_y.to(device),
        to_dev(val_x),
        val_y.to(device),
        list(ds.classes),
        norm,  # type: ignore[attr-defined]
        (to_dev(test_x), test_y.to(device)),
    )
