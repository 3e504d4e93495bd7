"""Batched augmentations and the resumable batch iterator."""

from __future__ import annotations

import torch

from tamrin.data import augment as aug
from tamrin.data.batches import Batches, ShuffleSampler
from tamrin.data.prepare import Normalizer


def _images(n: int = 16) -> torch.Tensor:
    return torch.arange(n * 3 * 8 * 8, dtype=torch.float32).reshape(n, 3, 8, 8)


def test_random_crop_is_a_shifted_window() -> None:
    x = _images()
    out = aug.random_crop(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(x.shape[0]):  # every output is some 8x8 window of the padded image
        windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_hflip_and_rot90_match_torch_per_image() -> None:
    x = _images(64)
    flipped = aug.random_hflip(x, torch.Generator().manual_seed(1))
    n_flipped = sum(torch.equal(flipped[i], x[i].flip(2)) for i in range(64))
    assert all(
        torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(2)) for i in range(64)
    )
    assert 10 < n_flipped < 54  # about half
    rotated = aug.random_rot90(x, torch.Generator().manual_seed(2))
    for i in range(64):
        assert any(torch.equal(rotated[i], torch.rot90(x[i], k, dims=(1, 2))) for k in range(4))


def test_iterator_is_seeded_and_resumable() -> None:
    x, y = _images(50), torch.arange(50)
    cfg = aug.AugmentConfig(crop_padding=1, hflip=True)

    def batches() -> Batches:
        sampler = ShuffleSampler(50, 8, seed=3)
        return Batches({"x": x, "y": y}, sampler, augment={"x": aug.image_augment(cfg)})

    it = batches()
    full = [(b["x"], b["y"]) for b in it.epoch(2)]
    assert len(full) == len(it) == 7
    again = [(b["x"], b["y"]) for b in batches().epoch(2, start_batch=4)]
    for (a, b), (c, d) in zip(full[4:], again, strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)
    assert sorted(torch.cat([b for _, b in full]).tolist()) == list(range(50))
    other_epoch = torch.cat([b["y"] for b in it.epoch(3)])
    assert not torch.equal(other_epoch, torch.cat([b for _, b in full]))


def test_normalizer_uses_train_statistics() -> None:
    x = torch.randint(0, 256, (100, 3, 4, 4), dtype=torch.uint8)
    norm = Normalizer.fit(x)
    out = norm(x, chunk=7)
    assert out.dtype == torch.float32
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)


def test_flip_default_follows_the_data_set() -> None:
    cfg = aug.AugmentConfig(crop_padding=2)
    assert aug.for_dataset(cfg, "cifar10").hflip is True
    assert aug.for_dataset(cfg, "fashion-mnist").hflip is True
    assert aug.for_dataset(cfg, "mnist").hflip is False  # mirrored digits are not digits
    assert aug.for_dataset(cfg, "unknown-set").hflip is False
    assert aug.for_dataset(aug.AugmentConfig(hflip=True), "mnist").hflip is True  # asked for
