"""One batch protocol: named tensors sliced from memory, in an order an index sampler decides.

A `Batch` is a mapping of field name to tensor (`{"x": (B, C, H, W), "y": (B,)}` for images;
token ids and attention masks, (story, question) pairs or a `labelled` mask for later exercises).
`Batches` holds the fields of a whole split in memory (on the training device) and yields, per
epoch, `{field: data[field][idx]}` for the index tensors its sampler produces, then applies the
batched augmentations declared per field.

Every sampler's batch `b` of epoch `e` is a pure function of (seed, e, b), and so is the
augmentation (a generator seeded by (seed, e, b, 1)); the iterator's whole state is "epoch e,
batch b", so a resumed run sees exactly the same batches. The index sequences equal those of the
pre-v2 iterators (`BatchIterator`, `ImbalancedBatches`, `PKSampler`; pinned in
tests/data/test_batches.py).

Samplers: `ShuffleSampler` (seeded permutation per epoch, or in order), `BalancedSampler` (each
class equally likely, with replacement), `PKSampler` (P classes × K images), `CycleSampler` (a
fixed number of batches from a small pool, for few-label training), `MixSampler` (labelled +
unlabelled examples in every batch, for few-label self-supervision) and `ShardedSampler` (the
rank's part of another sampler's indices). `ShardedBatches` cuts the rank's part out of each
finished (augmented) batch: what distributed training uses (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import torch

Batch = dict[str, torch.Tensor]  # named tensors of one mini-batch, first dimension B
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # batched, seeded transform


def generator(*parts: int) -> torch.Generator:
    """A CPU generator seeded from several integers (mixed so nearby tuples differ)."""
    seed = 0
    for p in parts:
        seed = (seed * 1_000_003 + int(p) + 0x9E3779B9) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


class Sampler(Protocol):
    """Index batches of an epoch: `batches(epoch, start)` yields int64 CPU tensors (B,)."""

    num_samples: int  # size of the data set the indices point into
    seed: int  # the run's seed; batch b of epoch e depends on (seed, e, b) only

    def __len__(self) -> int: ...  # batches per epoch

    @property
    def batch_size(self) -> int: ...

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]: ...


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")


class ShuffleSampler:
    """A seeded permutation per epoch (or the natural order); the last partial batch is kept
    unless `drop_last`."""

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
    ) -> None:
        _check_batch_size(batch_size)
        self.num_samples, self._batch_size = int(num_samples), batch_size
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def __len__(self) -> int:
        n, b = self.num_samples, self._batch_size
        return n // b if self.drop_last else -(-n // b)

    def order(self, epoch: int) -> torch.Tensor:
        """The (N,) visiting order of epoch `epoch`."""
        if self.shuffle:
            return torch.randperm(self.num_samples, generator=generator(self.seed, epoch))
        return torch.arange(self.num_samples)

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        order, b = self.order(epoch), self._batch_size
        for i in range(start, len(self)):
            yield order[i * b : (i + 1) * b]


class BalancedSampler:
    """Class-balanced batches: each example drawn with probability ∝ 1/n_class (replacement).

    An epoch has ceil(N / batch_size) batches, like a shuffled one; batch b draws from a
    generator seeded by (seed, epoch, b, 2) alone, so it does not depend on the batches before.
    """

    def __init__(self, labels: torch.Tensor, batch_size: int, *, seed: int = 0) -> None:
        _check_batch_size(batch_size)
        y = labels.cpu()
        self.num_samples, self._batch_size, self.seed = int(y.shape[0]), batch_size, seed
        counts = torch.bincount(y)
        present = counts > 0
        # per-example weight 1 / n_class over the classes present: each class totals 1
        self.weights = torch.where(present, 1.0 / counts.clamp_min(1).double(), 0.0)[y]

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def __len__(self) -> int:
        return -(-self.num_samples // self._batch_size)

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        for b in range(start, len(self)):
            n = min(self._batch_size, self.num_samples - b * self._batch_size)
            gen = generator(self.seed, epoch, b, 2)
            yield torch.multinomial(self.weights, n, replacement=True, generator=gen)


class PKSampler:
    """P classes × K images per batch, so every batch holds positives (metric learning).

    Classes are drawn without replacement within a batch, images without replacement within a
    class; across batches an image may repeat (Hermans et al. 2017). An epoch is
    `N // (P*K)` batches (about one pass) unless `batches_per_epoch` says otherwise. Indices are
    class-major: batch[i*K:(i+1)*K] share a label.
    """

    def __init__(
        self,
        labels: torch.Tensor,
        p: int,
        k: int,
        *,
        seed: int = 0,
        batches_per_epoch: int | None = None,
    ) -> None:
        y = labels.cpu()
        classes, counts = torch.unique(y, return_counts=True)
        if p > len(classes):
            raise ValueError(f"P={p} classes per batch, but the data has only {len(classes)}")
        eligible = counts >= k
        if int(eligible.sum()) < p:
            raise ValueError(
                f"K={k} images per class: only {int(eligible.sum())} classes have that many "
                f"(need P={p}); lower K or P"
            )
        self.num_samples, self.p, self.k, self.seed = int(y.shape[0]), p, k, seed
        self.classes = classes[eligible]  # (C,) labels that can fill K slots
        order = torch.argsort(y, stable=True)
        members = [order[y[order] == c] for c in self.classes.tolist()]
        width = max(len(m) for m in members)
        # (C, width) table of indices per class, padded with -1; `weights` marks real entries
        self.table = torch.full((len(members), width), -1, dtype=torch.long)
        for i, m in enumerate(members):
            self.table[i, : len(m)] = m
        self.weights = (self.table >= 0).float()
        self._len = batches_per_epoch or max(1, self.num_samples // (p * k))

    @property
    def batch_size(self) -> int:
        return self.p * self.k

    def __len__(self) -> int:
        return self._len

    def indices(self, epoch: int, batch: int) -> torch.Tensor:
        """The (P*K,) sample indices of batch `batch` of epoch `epoch`, class-major."""
        gen = generator(self.seed, epoch, batch)
        chosen = torch.randperm(len(self.classes), generator=gen)[: self.p]  # (P,)
        slots = torch.multinomial(self.weights[chosen], self.k, generator=gen)  # (P, K)
        return self.table[chosen[:, None], slots].reshape(-1)

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        for b in range(start, len(self)):
            yield self.indices(epoch, b)


def permutation_stream(n: int, first: int, last: int, seed: int, epoch: int) -> torch.Tensor:
    """Positions first .. last-1 of an endless stream of seeded permutations of range(n).

    Cycle c of epoch e is `randperm(n)` seeded by (seed, e, c, 3), so any window of the stream
    is a pure function of its position: every example is used once per cycle.
    """
    parts = []
    for cycle in range(first // n, (last - 1) // n + 1):
        perm = torch.randperm(n, generator=generator(seed, epoch, cycle, 3))
        lo, hi = max(first - cycle * n, 0), min(last - cycle * n, n)
        parts.append(perm[lo:hi])
    return torch.cat(parts)


class CycleSampler:
    """A fixed number of batches per epoch from a small pool, cycling seeded permutations.

    Few-label training: 200 images make 2 batches of 128, so "epochs" of a plain shuffle would
    be two steps each (and a validation pass per two steps). Here an epoch is
    `batches_per_epoch` batches walking the endless permutation stream (`permutation_stream`):
    every example appears once per cycle. `batch_size` larger than the pool is capped at the
    pool's size. Batch b of epoch e depends only on (seed, e, b).
    """

    def __init__(
        self, num_samples: int, batch_size: int, batches_per_epoch: int, *, seed: int = 0
    ) -> None:
        _check_batch_size(batch_size)
        if num_samples < 1 or batches_per_epoch < 1:
            raise ValueError(
                f"CycleSampler needs num_samples >= 1 and batches_per_epoch >= 1; got "
                f"{num_samples}, {batches_per_epoch}"
            )
        self.num_samples, self.seed = int(num_samples), seed
        self._batch_size, self._len = min(batch_size, self.num_samples), batches_per_epoch

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def __len__(self) -> int:
        return self._len

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        b = self._batch_size
        for i in range(start, self._len):
            yield permutation_stream(self.num_samples, i * b, (i + 1) * b, self.seed, epoch)


class MixSampler:
    """Every batch holds `labelled` examples from one pool and `unlabelled` from another.

    For few-label self-supervision: 200 labelled images among 50,000 would be seen once in
    250 batches by a plain shuffle; here each batch carries a fixed share of them. An epoch is
    one pass over the unlabelled pool (ceil(N_u / unlabelled) batches); the labelled pool is
    walked in seeded permutations, cycled as often as the epoch needs. Labelled indices come
    first in each batch. Batch b of epoch e depends only on (seed, e, b).
    """

    def __init__(
        self,
        labelled: torch.Tensor,
        unlabelled: torch.Tensor,
        *,
        labelled_per_batch: int,
        unlabelled_per_batch: int,
        seed: int = 0,
    ) -> None:
        if len(labelled) == 0 or len(unlabelled) == 0:
            raise ValueError("MixSampler needs a non-empty labelled and unlabelled pool")
        if labelled_per_batch < 1 or unlabelled_per_batch < 1:
            raise ValueError(
                f"labelled_per_batch and unlabelled_per_batch must be >= 1; got "
                f"{labelled_per_batch}, {unlabelled_per_batch}"
            )
        self.labelled, self.unlabelled = labelled.cpu().long(), unlabelled.cpu().long()
        self.num_samples = int(max(self.labelled.max(), self.unlabelled.max())) + 1
        self.n_l, self.n_u, self.seed = labelled_per_batch, unlabelled_per_batch, seed

    @property
    def batch_size(self) -> int:
        return self.n_l + self.n_u

    def __len__(self) -> int:
        return -(-len(self.unlabelled) // self.n_u)

    def _labelled_slots(self, epoch: int, b: int) -> torch.Tensor:
        """Positions b*n_l .. (b+1)*n_l of the epoch's endless labelled stream."""
        slots = permutation_stream(
            len(self.labelled), b * self.n_l, (b + 1) * self.n_l, self.seed, epoch
        )
        return self.labelled[slots]

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        order = torch.randperm(len(self.unlabelled), generator=generator(self.seed, epoch, 4))
        for b in range(start, len(self)):
            u = self.unlabelled[order[b * self.n_u : (b + 1) * self.n_u]]
            yield torch.cat([self._labelled_slots(epoch, b), u])


class ShardedSampler:
    """Rank `rank` of `world` gets its contiguous part of each batch of `inner`.

    All ranks draw the same global batch (same seed), so `world` processes with per-rank batch
    B/world take the same optimizer steps as one process with batch B; the parts differ by at
    most one example (`tensor_split`), and nothing is padded or duplicated.
    """

    def __init__(self, inner: Sampler, rank: int, world: int) -> None:
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"need 0 <= rank < world; got rank {rank}, world {world}")
        self.inner, self.rank, self.world = inner, rank, world
        self.num_samples, self.seed = inner.num_samples, inner.seed

    @property
    def batch_size(self) -> int:
        return -(-self.inner.batch_size // self.world)

    def __len__(self) -> int:
        return len(self.inner)

    def batches(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        for idx in self.inner.batches(epoch, start):
            yield idx.tensor_split(self.world)[self.rank]


class Batches:
    """Mini-batches of named in-memory tensors, in the order `sampler` gives.

    `data` maps field names to tensors with the same first dimension N (already on the training
    device). `augment` maps a field to a batched, seeded transform applied to that field of
    every batch, in the order given, all drawing from one generator per (seed, epoch, batch);
    `seed` defaults to the sampler's.
    """

    def __init__(
        self,
        data: Mapping[str, torch.Tensor],
        sampler: Sampler,
        *,
        augment: Mapping[str, Augment | None] | None = None,
        seed: int | None = None,
    ) -> None:
        sizes = {k: int(v.shape[0]) for k, v in data.items()}
        if not sizes:
            raise ValueError("Batches needs at least one field")
        if len(set(sizes.values())) != 1:
            raise ValueError(f"fields differ in length: {sizes}")
        n = next(iter(sizes.values()))
        if sampler.num_samples > n:
            raise ValueError(f"sampler indexes {sampler.num_samples} samples; the data has {n}")
        unknown = set(augment or {}) - set(data)
        if unknown:
            raise ValueError(f"augmentations for unknown fields {sorted(unknown)}")
        self.data, self.sampler = dict(data), sampler
        self.seed = sampler.seed if seed is None else seed
        self.augment = {k: fn for k, fn in (augment or {}).items() if fn is not None}

    def __len__(self) -> int:
        return len(self.sampler)

    @property
    def num_samples(self) -> int:
        return int(next(iter(self.data.values())).shape[0])

    @property
    def batch_size(self) -> int:
        return self.sampler.batch_size

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """Batches of epoch `epoch`, from batch `start_batch` on (for resume)."""
        device = next(iter(self.data.values())).device
        for b, idx in enumerate(self.sampler.batches(epoch, start_batch), start=start_batch):
            idx = idx.to(device)
            batch = {k: v[idx] for k, v in self.data.items()}
            if self.augment:
                gen = generator(self.seed, epoch, b, 1)
                for key, fn in self.augment.items():
                    batch[key] = fn(batch[key], gen)
            yield batch


class DrawnBatches:
    """`inner`'s batches with fields added by `draw(batch, gen)`, one generator per batch.

    The generator is seeded by (seed, epoch, batch, `salt`), so a resumed run draws exactly what
    it would have drawn (MLM's token masks, masked image modelling's patch masks). Has the
    interface `fit` uses (`len`, `epoch`, `batch_size`, `num_samples`, `seed`, `data`).
    """

    def __init__(
        self,
        inner: Batches,
        draw: Callable[[Mapping[str, torch.Tensor], torch.Generator], Mapping[str, torch.Tensor]],
        *,
        salt: int,
    ) -> None:
        self.inner, self.draw, self.salt = inner, draw, salt

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def batch_size(self) -> int:
        return self.inner.batch_size

    @property
    def num_samples(self) -> int:
        return self.inner.num_samples

    @property
    def seed(self) -> int:
        return self.inner.seed

    @property
    def data(self) -> dict[str, torch.Tensor]:
        return self.inner.data

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Mapping[str, torch.Tensor]]:
        for b, batch in enumerate(self.inner.epoch(epoch, start_batch), start=start_batch):
            yield self.draw(batch, generator(self.seed, epoch, b, self.salt))


class ShardedBatches:
    """Rank `rank`'s part of every batch of `inner`, cut after augmentation.

    Each rank draws the same global batch, augmented (and masked, drawn …) exactly as one
    process would, and keeps rows rank, rank + world, … of every field: `world` processes
    then compute one process's step on the same global batch, so their trained weights equal
    its weights (to the all-reduce's rounding). Cutting the indices instead (`ShardedSampler`)
    would draw each rank's augmentation for a smaller batch, a different computation. The price
    is that each rank indexes and augments the whole batch: a few per cent of a step. Rows are
    dealt out in turn rather than in blocks so that batches with structure keep it on every
    rank: the labelled rows `MixSampler` puts first, the classes of a `PKSampler` batch.
    """

    def __init__(self, inner: Any, rank: int, world: int) -> None:
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"need 0 <= rank < world; got rank {rank}, world {world}")
        self.inner, self.rank, self.world = inner, rank, world

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def batch_size(self) -> int:
        """The global batch (what the config sets; each rank holds about 1/world of it)."""
        return int(self.inner.batch_size)

    @property
    def num_samples(self) -> int:
        return int(self.inner.num_samples)

    @property
    def seed(self) -> int:
        return int(self.inner.seed)

    @property
    def data(self) -> Mapping[str, torch.Tensor]:
        return self.inner.data

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        for batch in self.inner.epoch(epoch, start_batch):
            yield {k: v[self.rank :: self.world] for k, v in batch.items()}
