"""Imbalanced data: a seeded resampler to given class counts, and batches that can balance classes.

`resample_to_counts` draws, without replacement, `counts[i]` examples of source label
`source_labels[i]` (new label i), so a balanced data set (MNIST) can be given another's class
proportions (DermaMNIST's). `ImbalancedBatches` has the `BatchIterator` interface; with
`balanced=True` each example is drawn with probability proportional to n_c^-1 of its class
(with replacement), so every class is equally likely in every batch. Its order and augmentation
are pure functions of (seed, epoch, batch), so a resumed run sees exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tamrin.config import require
from tamrin.data import augment as aug
from tamrin.data.loader import _generator


def fit_counts(wanted: Sequence[int], available: Sequence[int]) -> tuple[list[int], float]:
    """`wanted`, scaled down as a whole (proportions kept) where a class has too few examples.

    Returns (counts, scale) with scale = min(1, min_c available_c / wanted_c); counts are
    floor(wanted * scale), at least 1 where wanted > 0.
    """
    if len(wanted) != len(available):
        raise ValueError(f"{len(wanted)} counts for {len(available)} classes")
    ratios = [a / w for w, a in zip(wanted, available, strict=True) if w > 0]
    scale = min([1.0, *ratios])
    counts = [max(1, int(w * scale)) if w > 0 else 0 for w in wanted]
    return counts, scale


def resample_to_counts(
    labels: np.ndarray,
    source_labels: Sequence[int],
    counts: Sequence[int],
    seed: int,
    *,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices into `labels` and their new labels: `counts[i]` examples of `source_labels[i]`.

    Drawn without replacement by a generator seeded with `seed`, skipping the indices in
    `exclude` (so a val split can be drawn from what train did not use). The result is shuffled.
    Raises ValueError when a source label has fewer than `counts[i]` examples left.
    """
    labels = np.asarray(labels).reshape(-1)
    if len(source_labels) != len(counts):
        raise ValueError(f"{len(counts)} counts for {len(source_labels)} source labels")
    if len(set(source_labels)) != len(source_labels):
        raise ValueError(f"source labels must be distinct; got {list(source_labels)}")
    rng = np.random.default_rng(seed)
    free = np.ones(labels.shape[0], dtype=bool)
    if exclude is not None:
        free[np.asarray(exclude, dtype=np.int64)] = False
    picked, new = [], []
    for i, (src, n) in enumerate(zip(source_labels, counts, strict=True)):
        pool = np.flatnonzero((labels == src) & free)
        if n > pool.size:
            raise ValueError(f"label {src}: {n} examples wanted, only {pool.size} available")
        picked.append(rng.choice(pool, size=n, replace=False))
        new.append(np.full(n, i, dtype=np.int64))
    idx, y = np.concatenate(picked), np.concatenate(new)
    order = rng.permutation(idx.size)
    return idx[order], y[order]


@dataclass
class JitterConfig:
    """Colour jitter on normalized image tensors (per image, per batch, seeded)."""

    brightness: float = 0.0  # add U(-b, b) to every pixel (in std units of the normalized image)
    contrast: float = 0.0  # scale each image about its mean by U(1-c, 1+c), in [0, 1)
    saturation: float = 0.0  # scale each channel by U(1-s, 1+s) (colour shift), in [0, 1)

    def validate(self) -> None:
        require(self.brightness >= 0, f"jitter.brightness must be >= 0; got {self.brightness}")
        require(0 <= self.contrast < 1, f"jitter.contrast must be in [0, 1); got {self.contrast}")
        require(
            0 <= self.saturation < 1, f"jitter.saturation must be in [0, 1); got {self.saturation}"
        )

    @property
    def active(self) -> bool:
        return self.brightness > 0 or self.contrast > 0 or self.saturation > 0


def color_jitter(x: torch.Tensor, cfg: JitterConfig, gen: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and per-channel colour jitter of a batch (B, C, H, W), batched."""
    b, c = x.shape[:2]

    def uniform(shape: tuple[int, ...], half: float) -> torch.Tensor:
        return ((torch.rand(shape, generator=gen) * 2 - 1) * half).to(x.device, x.dtype)

    if cfg.contrast:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        x = (x - mean) * (1 + uniform((b, 1, 1, 1), cfg.contrast)) + mean
    if cfg.saturation and c > 1:
        x = x * (1 + uniform((b, c, 1, 1), cfg.saturation))
    if cfg.brightness:
        x = x + uniform((b, 1, 1, 1), cfg.brightness)
    return x


class ImbalancedBatches:
    """Seeded mini-batches over in-memory tensors, shuffled or class-balanced; `BatchIterator` API.

    An epoch has ceil(N / batch_size) batches either way. Shuffled: a permutation from
    (seed, epoch). Balanced: each batch draws its examples with replacement, each class with
    probability 1/K, from a generator seeded by (seed, epoch, batch) — so a batch does not depend
    on the batches before it, and resuming at `start_batch` gives the same batches.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        seed: int = 0,
        balanced: bool = False,
        augment: aug.AugmentConfig | None = None,
        jitter: JitterConfig | None = None,
    ) -> None:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x and y differ in length: {x.shape[0]} vs {y.shape[0]}")
        self.x, self.y = x, y
        self.batch_size, self.seed, self.balanced = batch_size, seed, balanced
        self.augment = augment if augment is not None and augment.active else None
        self.jitter = jitter if jitter is not None and jitter.active else None
        counts = torch.bincount(y.cpu())
        present = counts > 0
        # per-example weight 1 / n_class over the classes present: each class totals 1
        self.weights = torch.where(present, 1.0 / counts.clamp_min(1).double(), 0.0)[y.cpu()]

    def __len__(self) -> int:
        return -(-self.x.shape[0] // self.batch_size)

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    def _indices(self, epoch: int, order: torch.Tensor | None, b: int) -> torch.Tensor:
        if order is not None:
            return order[b * self.batch_size : (b + 1) * self.batch_size]
        n = min(self.batch_size, self.num_samples - b * self.batch_size)
        gen = _generator(self.seed, epoch, b, 2)
        return torch.multinomial(self.weights, n, replacement=True, generator=gen)

    def epoch(
        self, epoch: int, start_batch: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of epoch `epoch`, starting at batch `start_batch` (for resume)."""
        order = None
        if not self.balanced:
            order = torch.randperm(self.num_samples, generator=_generator(self.seed, epoch))
        for b in range(start_batch, len(self)):
            idx = self._indices(epoch, order, b).to(self.x.device)
            xb, yb = self.x[idx], self.y[idx]
            gen = _generator(self.seed, epoch, b, 1)
            if self.augment is not None:
                xb = aug.apply(self.augment, xb, gen)
            if self.jitter is not None:
                xb = color_jitter(xb, self.jitter, gen)
            yield xb, yb
