"""Masked image modelling: BEiT's block masks, the pool and its batches, SimMIM's pixel loss."""

from __future__ import annotations

import itertools

import pytest
import torch

from tamrin.data.batches import Batches, ShuffleSampler, generator
from tamrin.models.vit import MaskedImageModel, ViT, ViTConfig, patchify
from tamrin.train.mim import (
    MaskedPatches,
    MaskedPixels,
    MaskPool,
    blockwise_mask,
    masked_pixel_loss,
    mim_validator,
    pixel_targets,
)


def _components(mask: torch.Tensor) -> int:
    """4-connected components of True cells (flood fill)."""
    seen, count = set(), 0
    h, w = mask.shape
    for start in zip(*torch.nonzero(mask, as_tuple=True), strict=True):
        cell = (int(start[0]), int(start[1]))
        if cell in seen:
            continue
        count += 1
        todo = [cell]
        while todo:
            r, c = todo.pop()
            if (r, c) in seen or not (0 <= r < h and 0 <= c < w) or not mask[r, c]:
                continue
            seen.add((r, c))
            todo += [(r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)]
    return count


def test_block_masks_hide_at_most_the_count_in_a_few_blocks() -> None:
    gen = generator(0)
    counts, blocks = [], []
    for _ in range(200):
        mask = blockwise_mask((8, 8), 26, gen)
        counts.append(int(mask.sum()))
        blocks.append(_components(mask))
    assert max(counts) <= 26
    assert sum(counts) / len(counts) > 24  # nearly always the full 40 %
    # blocks, not scattered patches: a random 26-of-64 mask has ~10 components
    assert sum(blocks) / len(blocks) < 4


def test_block_masks_are_deterministic_from_the_generator() -> None:
    a = blockwise_mask((8, 8), 26, generator(3))
    assert torch.equal(a, blockwise_mask((8, 8), 26, generator(3)))
    assert not torch.equal(a, blockwise_mask((8, 8), 26, generator(4)))


def test_mask_pool_ratio_and_picks() -> None:
    pool = MaskPool((8, 8), 0.4, size=256, seed=0)
    assert pool.masks.shape == (256, 64) and pool.count == 26
    assert 0.37 < float(pool.masks.float().mean()) <= 26 / 64
    picked = pool.pick(5, generator(1))
    assert picked.shape == (5, 64)
    assert torch.equal(picked, pool.pick(5, generator(1)))
    assert torch.equal(pool.masks, MaskPool((8, 8), 0.4, size=256, seed=0).masks)
    with pytest.raises(ValueError, match="ratio"):
        MaskPool((8, 8), 1.0)


def test_masked_patches_batches_resume_exactly() -> None:
    x = torch.randn(40, 3, 16, 16)
    batches = MaskedPatches(
        Batches({"x": x}, ShuffleSampler(40, 8, seed=2)),
        MaskPool((4, 4), 0.5, size=32, min_block=2),
    )
    full = [b["masked"] for b in batches.epoch(1)]
    resumed = [b["masked"] for b in batches.epoch(1, start_batch=3)]
    assert len(full) == 5 and all(m.shape == (8, 16) for m in full)
    assert all(torch.equal(a, b) for a, b in zip(full[3:], resumed, strict=True))
    assert not all(torch.equal(a, b) for a, b in itertools.pairwise(full))


def test_pixel_targets_are_normalised_per_patch() -> None:
    x = torch.randn(2, 3, 8, 8) * 5 + 3
    t = pixel_targets(x, 4)
    assert t.shape == (2, 4, 48)
    torch.testing.assert_close(t.mean(-1), torch.zeros(2, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(t.var(-1, unbiased=False), torch.ones(2, 4), atol=1e-3, rtol=0)


class _Constant(torch.nn.Module):
    """Predicts given pixels, whatever the input (to check which patches the loss reads)."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = out

    def forward(self, x: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        return self.out


def test_the_loss_counts_only_masked_patches() -> None:
    x = torch.randn(2, 3, 8, 8)
    target = pixel_targets(x, 4)
    masked = torch.tensor([[True, False, False, True], [False, False, True, False]])
    wrong = target.clone()
    wrong[~masked] += 10.0  # errors on visible patches only: no loss
    loss, count = masked_pixel_loss(_Constant(wrong), x, masked, 4)
    assert count == 3 and float(loss) == pytest.approx(0.0, abs=1e-6)
    off = target.clone()
    off[masked] += 2.0  # L1 of 2 on every hidden pixel
    assert float(masked_pixel_loss(_Constant(off), x, masked, 4)[0]) == pytest.approx(2.0)


def test_a_tiny_mim_model_learns_to_fill_in_patches() -> None:
    torch.manual_seed(0)
    vit = ViT(ViTConfig(patch=4, dim=32, depth=2, heads=2), (1, 8, 8), 2)
    model = MaskedImageModel(vit)
    base = torch.randn(1, 1, 8, 8)
    x = base.repeat(64, 1, 1, 1) + 0.05 * torch.randn(64, 1, 8, 8)  # one image, noisy copies
    pool = MaskPool((2, 2), 0.5, size=16, min_block=1)
    batches = MaskedPatches(Batches({"x": x}, ShuffleSampler(64, 16, seed=0)), pool)
    objective = MaskedPixels(4)
    validate = mim_validator(x[:16], pool, 4, 8)
    before = validate(model)["val_loss"]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for epoch in range(15):
        for batch in batches.epoch(epoch):
            opt.zero_grad()
            objective.step(model, batch).loss.backward()
            opt.step()
    after = validate(model)["val_loss"]
    assert after < 0.5 * before
    assert patchify(x, 4).shape[1] == pool.masks.shape[1]
