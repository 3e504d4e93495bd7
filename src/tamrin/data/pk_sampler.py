"""P×K batches for metric learning: P classes, K images of each, so every batch holds positives.

Same interface as `BatchIterator` (`__len__`, `num_samples`, `epoch(epoch, start_batch)` yielding
`(x, y)`), and stateless: batch b of epoch e is drawn from a generator seeded by (seed, e, b) alone,
so a resumed run sees exactly the same batches. Classes are drawn without replacement within a
batch, images without replacement within a class; across batches an image may repeat (as in
Hermans et al. 2017), and an "epoch" is `len(x) // (P*K)` batches, i.e. about one pass.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from tamrin.data import augment as aug
from tamrin.data.loader import _generator


class PKSampler:
    """Seeded P×K mini-batches over in-memory tensors `x` (N, ...) and labels `y` (N,)."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        p: int,
        k: int,
        *,
        seed: int = 0,
        augment: aug.AugmentConfig | None = None,
        batches_per_epoch: int | None = None,
    ) -> None:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x and y differ in length: {x.shape[0]} vs {y.shape[0]}")
        classes, counts = torch.unique(y.cpu(), return_counts=True)
        if p > len(classes):
            raise ValueError(f"P={p} classes per batch, but the data has only {len(classes)}")
        eligible = counts >= k
        if int(eligible.sum()) < p:
            raise ValueError(
                f"K={k} images per class: only {int(eligible.sum())} classes have that many "
                f"(need P={p}); lower K or P"
            )
        self.x, self.y, self.p, self.k, self.seed = x, y, p, k, seed
        self.augment = augment if augment is not None and augment.active else None
        self.classes = classes[eligible]  # (C,) labels that can fill K slots
        order = torch.argsort(y.cpu(), stable=True)
        members = [order[y.cpu()[order] == c] for c in self.classes.tolist()]
        width = max(len(m) for m in members)
        # (C, width) table of indices per class, padded with -1; `weights` marks real entries
        self.table = torch.full((len(members), width), -1, dtype=torch.long)
        for i, m in enumerate(members):
            self.table[i, : len(m)] = m
        self.weights = (self.table >= 0).float()
        self._len = batches_per_epoch or max(1, x.shape[0] // (p * k))

    def __len__(self) -> int:
        return self._len

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    @property
    def batch_size(self) -> int:
        return self.p * self.k

    def indices(self, epoch: int, batch: int) -> torch.Tensor:
        """The (P*K,) sample indices of batch `batch` of epoch `epoch`, class-major."""
        gen = _generator(self.seed, epoch, batch)
        chosen = torch.randperm(len(self.classes), generator=gen)[: self.p]  # (P,)
        slots = torch.multinomial(self.weights[chosen], self.k, generator=gen)  # (P, K)
        return self.table[chosen[:, None], slots].reshape(-1)

    def epoch(
        self, epoch: int, start_batch: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of epoch `epoch`, from batch `start_batch` on (for resume)."""
        for b in range(start_batch, len(self)):
            idx = self.indices(epoch, b).to(self.x.device)
            xb, yb = self.x[idx], self.y[idx]
            if self.augment is not None:
                xb = aug.apply(self.augment, xb, _generator(self.seed, epoch, b, 1))
            yield xb, yb
