"""Batches sliced from in-memory tensors: seeded, resumable, augmented in whole batches.

An epoch's order and each batch's augmentation are pure functions of (seed, epoch, batch), so the
iterator's whole state is "epoch e, batch b" and a resumed run sees exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from tamrin.data import augment as aug


def _generator(*parts: int) -> torch.Generator:
    """A CPU generator seeded from several integers (mixed so nearby tuples differ)."""
    seed = 0
    for p in parts:
        seed = (seed * 1_000_003 + int(p) + 0x9E3779B9) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


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


class BatchIterator:
    """Seeded mini-batches over tensors already in memory (and on the training device).

    `x` is float (N, C, H, W) or (N, D); `y` is int64 (N,). Shuffled by a permutation drawn from
    (seed, epoch); the last partial batch is kept unless `drop_last`.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        augment: aug.AugmentConfig | None = None,
        drop_last: bool = False,
    ) -> None:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x and y differ in length: {x.shape[0]} vs {y.shape[0]}")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.augment = augment if augment is not None and augment.active else None
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = self.x.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    def epoch(
        self, epoch: int, start_batch: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of epoch `epoch`, starting at batch `start_batch` (for resume)."""
        n = self.x.shape[0]
        if self.shuffle:
            order = torch.randperm(n, generator=_generator(self.seed, epoch)).to(self.x.device)
        else:
            order = torch.arange(n, device=self.x.device)
        for b in range(start_batch, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            xb, yb = self.x[idx], self.y[idx]
            if self.augment is not None:
                xb = aug.apply(self.augment, xb, _generator(self.seed, epoch, b, 1))
            yield xb, yb


def sequential_batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Plain in-order slices, for evaluation."""
    for i in range(0, x.shape[0], batch_size):
        yield x[i : i + batch_size]
