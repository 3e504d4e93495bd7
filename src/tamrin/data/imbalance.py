"""Imbalanced data: a seeded resampler to given class counts.

`resample_to_counts` draws, without replacement, `counts[i]` examples of source label
`source_labels[i]` (new label i), so a balanced data set (MNIST) can be given another's class
proportions (DermaMNIST's). Class-balanced batches are `tamrin.data.batches.BalancedSampler`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
