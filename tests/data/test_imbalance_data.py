"""The resampler's counts and disjointness; class-balanced batches: balance, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tamrin.data.augment import AugmentConfig, JitterConfig, color_jitter, image_augment
from tamrin.data.batches import BalancedSampler, Batches, ShuffleSampler
from tamrin.data.imbalance import fit_counts, resample_to_counts
from tamrin.data.medmnist import DERMAMNIST_COUNTS

DIGITS = [3, 5, 8, 7, 4, 1, 9]


def _mnist_like_labels(n_per_class: int = 7000) -> np.ndarray:
    return np.random.default_rng(0).permutation(np.repeat(np.arange(10), n_per_class))


def test_resampler_gives_exactly_the_dermamnist_counts() -> None:
    labels = _mnist_like_labels()
    train_n, val_n = DERMAMNIST_COUNTS["train"], DERMAMNIST_COUNTS["val"]
    tr, tr_y = resample_to_counts(labels, DIGITS, train_n, seed=0)
    va, va_y = resample_to_counts(labels, DIGITS, val_n, seed=1, exclude=tr)
    assert np.bincount(tr_y, minlength=7).tolist() == list(train_n)
    assert np.bincount(va_y, minlength=7).tolist() == list(val_n)
    assert len(tr) == 7007 and len(va) == 1003
    assert len(set(tr)) == len(tr) and not set(tr) & set(va)  # no repeats, val disjoint
    np.testing.assert_array_equal(labels[tr], np.asarray(DIGITS)[tr_y])  # new label i = digit i


def test_resampler_is_seeded() -> None:
    labels = _mnist_like_labels(100)
    a = resample_to_counts(labels, DIGITS, [5] * 7, seed=3)
    b = resample_to_counts(labels, DIGITS, [5] * 7, seed=3)
    c = resample_to_counts(labels, DIGITS, [5] * 7, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_resampler_refuses_too_many() -> None:
    with pytest.raises(ValueError, match="label 1: 11 examples wanted, only 10 available"):
        resample_to_counts(_mnist_like_labels(10), [0, 1], [10, 11], seed=0)


def test_fit_counts_scales_proportionally() -> None:
    counts, scale = fit_counts(
        DERMAMNIST_COUNTS["test"], [1000, 1000, 1000, 1000, 1000, 1135, 1000]
    )
    assert scale == pytest.approx(1135 / 1341)
    assert counts[5] == 1135 and counts[3] == int(23 * scale)
    assert fit_counts([5, 6], [10, 10]) == ([5, 6], 1.0)


def _toy(n_major: int = 90, n_minor: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.cat([torch.zeros(n_major), torch.ones(n_minor)]).long()
    x = torch.arange(len(y), dtype=torch.float32)[:, None, None, None].expand(-1, 1, 4, 4)
    return x.contiguous(), y


def _batches(x, y, batch_size, *, seed=0, balanced=False, augment=None, jitter=None) -> Batches:
    sampler = (
        BalancedSampler(y, batch_size, seed=seed)
        if balanced
        else ShuffleSampler(len(y), batch_size, seed=seed)
    )
    return Batches({"x": x, "y": y}, sampler, augment={"x": image_augment(augment, jitter)})


def _pairs(batches: Batches, epoch: int, start: int = 0):
    return [(b["x"], b["y"]) for b in batches.epoch(epoch, start)]


def test_balanced_batches_draw_classes_equally() -> None:
    x, y = _toy(950, 50)
    it = _batches(x, y, 100, seed=0, balanced=True)
    assert len(it) == 10 and it.num_samples == 1000
    labels = torch.cat([yb for e in range(5) for _, yb in _pairs(it, e)])
    share = labels.float().mean().item()
    assert 0.45 < share < 0.55  # the 5% class makes up about half the draws


def test_shuffled_batches_cover_each_example_once() -> None:
    x, y = _toy()
    it = _batches(x, y, 32, seed=0)
    seen = torch.cat([xb[:, 0, 0, 0] for xb, _ in _pairs(it, 0)])
    assert sorted(seen.long().tolist()) == list(range(100))


@pytest.mark.parametrize("balanced", [False, True])
def test_resume_at_a_batch_is_exact(balanced: bool) -> None:
    x, y = _toy()
    it = _batches(
        x, y, 16, seed=7, balanced=balanced, augment=AugmentConfig(crop_padding=1),
        jitter=JitterConfig(brightness=0.2, contrast=0.2),
    )  # fmt: skip
    full = _pairs(it, 3)
    resumed = _pairs(it, 3, 4)
    assert len(resumed) == len(full) - 4
    for (xa, ya), (xb, yb) in zip(full[4:], resumed, strict=True):
        torch.testing.assert_close(xa, xb)
        torch.testing.assert_close(ya, yb)
    assert not torch.equal(full[0][0], _pairs(it, 4)[0][0])  # epochs differ


def test_color_jitter_shapes_and_seed() -> None:
    x = torch.randn(8, 3, 5, 5)
    cfg = JitterConfig(brightness=0.3, contrast=0.3, saturation=0.3)
    a = color_jitter(x, cfg, torch.Generator().manual_seed(1))
    b = color_jitter(x, cfg, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
