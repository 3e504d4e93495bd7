"""Masked image modelling (BEiT's masking, SimMIM's pixel targets): masks, batches, objective.

BEiT (Bao et al. 2022) hides ~40 % of the patches in blocks (`blockwise_mask`: rectangles of
random area and aspect ratio until the count is reached) and predicts discrete visual tokens
of a dVAE trained apart. tamrin predicts pixels instead, as SimMIM (Xie et al. 2022) showed
works as well: a linear decoder reads each masked patch's encoding and the loss is the L1
distance to that patch's pixels, normalised per patch (MAE's `norm_pix_loss`), on masked patches
only — no tokenizer to train first. Drawing block masks is a Python loop, so `MaskPool` draws
a few thousand once, seeded, and each batch picks from it by a per-batch generator
(`MaskedPatches`): deterministic, and a resumed run picks the same masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from tamrin.data.batches import Batches, DrawnBatches, generator
from tamrin.models.vit import patchify
from tamrin.train.inference import autocast
from tamrin.train.objectives import Batch, StepOutput


def blockwise_mask(
    grid: tuple[int, int],
    count: int,
    gen: torch.Generator,
    *,
    min_block: int = 4,
    min_aspect: float = 0.3,
    attempts: int = 10,
) -> torch.Tensor:
    """(gh, gw) bool with at most `count` True patches, in blocks (BEiT's MaskingGenerator).

    Each block has an area uniform in [min_block, patches still to mask] and an aspect ratio
    log-uniform in [min_aspect, 1 / min_aspect]; a block that adds nothing new is redrawn
    (up to `attempts` times) and the loop stops early when no block fits.
    """
    gh, gw = grid
    mask = torch.zeros(gh, gw, dtype=torch.bool)
    log_lo, log_hi = math.log(min_aspect), math.log(1 / min_aspect)

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=gen))

    masked = 0
    while masked < count:
        room = count - masked
        added = 0
        for _ in range(attempts):
            area = uniform(min_block, max(room, min_block))
            aspect = math.exp(uniform(log_lo, log_hi))
            h = round(math.sqrt(area * aspect))
            w = round(math.sqrt(area / aspect))
            if 1 <= h < gh and 1 <= w < gw:
                top = int(torch.randint(0, gh - h + 1, (), generator=gen))
                left = int(torch.randint(0, gw - w + 1, (), generator=gen))
                block = mask[top : top + h, left : left + w]
                new = h * w - int(block.sum())
                if 0 < new <= room:
                    block.fill_(True)
                    added = new
            if added:
                break
        if not added:
            break
        masked += added
    return mask


class MaskPool:
    """`size` block masks (size, N) drawn once from `seed`; `pick(b, gen)` takes b at random."""

    def __init__(
        self,
        grid: tuple[int, int],
        ratio: float,
        *,
        min_block: int = 4,
        size: int = 4096,
        seed: int = 0,
    ) -> None:
        if not 0 < ratio < 1:
            raise ValueError(f"mask ratio must be in (0, 1); got {ratio}")
        self.grid, self.ratio = grid, ratio
        self.count = round(ratio * grid[0] * grid[1])
        gen = generator(seed, 0x4D494D)
        self.masks = torch.stack(
            [
                blockwise_mask(grid, self.count, gen, min_block=min_block).flatten()
                for _ in range(size)
            ]
        )

    def pick(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        return self.masks[torch.randint(0, len(self.masks), (batch,), generator=gen)]


class MaskedPatches(DrawnBatches):
    """Batches of `inner` (field `x`) with a patch mask each: field `masked` (B, N) bool."""

    def __init__(self, inner: Batches, pool: MaskPool, *, field: str = "x") -> None:
        self.pool, self.field = pool, field
        super().__init__(inner, self._mask, salt=11)

    def _mask(self, batch: Batch, gen: torch.Generator) -> Batch:
        x = batch[self.field]
        return {**batch, "masked": self.pool.pick(x.shape[0], gen).to(x.device)}


def pixel_targets(x: torch.Tensor, patch: int, eps: float = 1e-6) -> torch.Tensor:
    """(B, N, P·P·C) pixels of each patch, normalised to zero mean and unit variance per patch."""
    patches = patchify(x.float(), patch)
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + eps).sqrt()


def masked_pixel_loss(
    model: nn.Module, x: torch.Tensor, masked: torch.Tensor, patch: int
) -> tuple[torch.Tensor, int]:
    """(mean L1 over the masked patches' normalised pixels, number of masked patches)."""
    predicted = model(x, masked)  # (B, N, P·P·C)
    target = pixel_targets(x, patch)
    per_patch = (predicted.float() - target).abs().mean(dim=-1)  # (B, N)
    hidden = masked.to(per_patch.dtype)
    count = int(masked.sum())
    return (per_patch * hidden).sum() / max(count, 1), count


class MaskedPixels:
    """The SimMIM objective on `MaskedPatches` batches; logs the loss only (no accuracy)."""

    def __init__(self, patch: int) -> None:
        self.patch = patch

    def step(self, model: nn.Module, batch: Batch) -> StepOutput:
        loss, count = masked_pixel_loss(model, batch["x"], batch["masked"], self.patch)
        return StepOutput(loss, {}, count)

    def epoch_end(self) -> dict[str, float]:
        return {}


def mim_validator(
    x: torch.Tensor,
    pool: MaskPool,
    patch: int,
    batch_size: int,
    amp: torch.dtype | None = None,
    seed: int = 0,
) -> Callable[[nn.Module], dict[str, float]]:
    """val_loss on `x` with one fixed set of masks (comparable across epochs)."""
    masks = pool.pick(x.shape[0], generator(seed, 0x56414C)).to(x.device)

    def run(model: nn.Module) -> dict[str, float]:
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad(), autocast(x.device, amp):
            for start in range(0, x.shape[0], batch_size):
                rows = slice(start, start + batch_size)
                loss, n = masked_pixel_loss(model, x[rows], masks[rows], patch)
                total += float(loss) * n
                count += n
        model.train()
        return {"val_loss": total / max(count, 1)}

    return run
