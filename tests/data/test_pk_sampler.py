"""P×K batches: P distinct classes × K distinct images each, stateless per (seed, epoch, batch)."""

from __future__ import annotations

import pytest
import torch

from tamrin.data.augment import AugmentConfig, image_augment
from tamrin.data.batches import Batches, PKSampler


def _batches(x, y, p, k, *, seed=0, augment=None, batches_per_epoch=None) -> Batches:
    sampler = PKSampler(y, p, k, seed=seed, batches_per_epoch=batches_per_epoch)
    return Batches({"x": x, "y": y}, sampler, augment={"x": image_augment(augment)})


def _pairs(batches: Batches, epoch: int, start: int = 0):
    return [(b["x"], b["y"]) for b in batches.epoch(epoch, start)]


def _data(n_per_class: tuple[int, ...] = (30, 25, 40, 12, 50)) -> tuple[torch.Tensor, ...]:
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(n_per_class)])
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    x = torch.arange(len(y), dtype=torch.float32)[:, None, None, None].expand(-1, 1, 4, 4)
    return x.contiguous(), y


def test_each_batch_holds_p_classes_of_k_distinct_images() -> None:
    x, y = _data()
    sampler = _batches(x, y, p=3, k=8, seed=1)
    assert len(sampler) == len(y) // 24 and sampler.num_samples == len(y)
    for xb, yb in _pairs(sampler, 0):
        assert xb.shape == (24, 1, 4, 4)
        idx = xb[:, 0, 0, 0].long()
        assert torch.equal(y[idx], yb)  # images and labels stay paired
        assert len(set(idx.tolist())) == 24  # no image twice in a batch
        classes, counts = torch.unique(yb, return_counts=True)
        assert len(classes) == 3 and (counts == 8).all()


def test_classes_with_fewer_than_k_images_are_never_drawn() -> None:
    x, y = _data((30, 25, 40, 5, 50))
    sampler = _batches(x, y, p=2, k=8, seed=0)
    drawn = torch.cat([yb for _, yb in _pairs(sampler, 0)])
    assert 3 not in drawn.tolist()


def test_batches_are_a_pure_function_of_seed_epoch_batch() -> None:
    x, y = _data()
    a = _batches(x, y, p=2, k=4, seed=3)
    b = _batches(x, y, p=2, k=4, seed=3)
    full = [yb for _, yb in _pairs(a, 2)]
    resumed = [yb for _, yb in _pairs(b, 2, 5)]
    assert all(torch.equal(u, v) for u, v in zip(full[5:], resumed, strict=True))
    s = PKSampler(y, 2, 4, seed=3)
    assert not torch.equal(s.indices(0, 0), s.indices(1, 0))  # epochs differ
    assert not torch.equal(s.indices(0, 0), PKSampler(y, 2, 4, seed=4).indices(0, 0))


def test_over_an_epoch_every_class_is_drawn_about_equally() -> None:
    x, y = _data()
    sampler = _batches(x, y, p=2, k=4, seed=0, batches_per_epoch=500)
    counts = torch.bincount(torch.cat([yb for _, yb in _pairs(sampler, 0)]), minlength=5).double()
    assert (counts / counts.mean() - 1).abs().max() < 0.15


def test_augmentation_is_batched_and_seeded() -> None:
    x, y = _data()
    x = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    aug = AugmentConfig(crop_padding=1)
    first = _pairs(_batches(x, y, 2, 4, augment=aug), 0)[0][0]
    again = _pairs(_batches(x, y, 2, 4, augment=aug), 0)[0][0]
    plain = _pairs(_batches(x, y, 2, 4), 0)[0][0]
    assert torch.equal(first, again) and not torch.equal(first, plain)


@pytest.mark.parametrize(
    ("p", "k", "match"),
    [(6, 4, "only 5"), (5, 26, r"K=26 images per class: only \d classes")],
)
def test_impossible_p_or_k_is_a_clear_error(p: int, k: int, match: str) -> None:
    _, y = _data()
    with pytest.raises(ValueError, match=match):
        PKSampler(y, p=p, k=k)
