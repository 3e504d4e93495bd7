"""A segmentation set composed from real digit / clothing images, since none can be downloaded.

`compose` pastes a few MNIST / Fashion-MNIST tiles onto a blank canvas, back to front. A tile's
foreground (its pixels > `threshold`) overwrites the canvas pixels with its own values and the
mask with 1 + its class; its other pixels are ignored, so earlier objects show through around
later ones and an occluded part of an object is simply absent from the mask. Every canvas is a
pure function of the inputs and the seed. `composed_splits` builds train / val / test sets whose
canvases never share a source image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tamrin.config import require
from tamrin.data.datasets import ImageDataset

VAL_SOURCE_FRACTION = 0.1  # share of the source's train images kept for the val canvases


@dataclass
class ComposedSet:
    """Canvases, their per-pixel classes and how each was made."""

    images: torch.Tensor  # (N, 1, S, S) uint8 canvases
    masks: torch.Tensor  # (N, S, S) int64: 0 = background, 1 + class of the object visible there
    placements: list[list[tuple[int, int, int, int]]]  # per canvas, back to front:
    # (source index, class, top, left); the source index is into the images given to `compose`
    classes: list[str]  # ["background", *source class names]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def compose(
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str],
    count: int,
    *,
    canvas: int = 64,
    objects: tuple[int, int] = (2, 4),
    threshold: int = 64,
    seed: int = 0,
) -> ComposedSet:
    """`count` canvases of `canvas` x `canvas` pixels, each with `objects[0]..objects[1]` tiles.

    `images` (M, H, W) or (M, 1, H, W) uint8, `labels` (M,) in 0..len(class_names)-1. Per canvas:
    the number of objects is uniform in the inclusive range, each object a source image drawn
    uniformly with replacement, placed at a top-left corner uniform over the positions where the
    whole tile fits. Pasting is batched over canvases, one step per object slot.
    """
    require(count >= 1, f"count must be >= 1; got {count}")
    lo, hi = objects
    require(
        1 <= lo <= hi,
        f"objects must be (min, max) with 1 <= min <= max; got {tuple(objects)}",
    )
    require(
        0 <= threshold < 255,
        f"threshold must be in 0..254 (foreground = pixels > threshold); got {threshold}",
    )
    images, labels = images.cpu(), labels.cpu()  # composed on the CPU, like the generator
    if images.ndim == 4:
        require(
            images.shape[1] == 1,
            f"images must have one channel, (M, 1, H, W); got shape {tuple(images.shape)}",
        )
        images = images[:, 0]
    require(
        images.ndim == 3,
        f"images must be (M, H, W) or (M, 1, H, W); got shape {tuple(images.shape)}",
    )
    require(images.dtype == torch.uint8, f"images must be uint8; got {images.dtype}")
    m, th, tw = (int(d) for d in images.shape)
    require(m >= 1, "images is empty; compose needs at least one source image")
    require(
        labels.ndim == 1 and labels.shape[0] == m,
        f"labels must be (M,) with M = len(images) = {m}; got shape {tuple(labels.shape)}",
    )
    k = len(class_names)
    require(
        int(labels.min()) >= 0 and int(labels.max()) < k,
        f"labels must lie in 0..{k - 1} ({k} class names); "
        f"got {int(labels.min())}..{int(labels.max())}",
    )
    require(
        canvas >= max(th, tw),
        f"canvas must be >= the tile size {th}x{tw}; got {canvas}",
    )

    gen = torch.Generator().manual_seed(seed)
    n_objects = torch.randint(lo, hi + 1, (count,), generator=gen)  # (N,)
    source = torch.randint(0, m, (count, hi), generator=gen)  # (N, hi); slots >= n unused
    top = torch.randint(0, canvas - th + 1, (count, hi), generator=gen)
    left = torch.randint(0, canvas - tw + 1, (count, hi), generator=gen)

    out = torch.zeros(count, canvas, canvas, dtype=torch.uint8)  # (N, S, S)
    # The mask is built in uint8 (indexing it is 2-4x faster than int64; 20k canvases in ~2 s on
    # 2 cores) and widened to int64 once at the end.
    small = torch.uint8 if k < 255 else torch.int64
    mask = torch.zeros(count, canvas, canvas, dtype=small)
    labels = labels.to(torch.int64)
    values = (labels + 1).to(small)  # (M,) the mask value of each source image
    rows_in_tile = torch.arange(th)
    cols_in_tile = torch.arange(tw)
    for slot in range(hi):  # back to front: a later slot overwrites an earlier one
        sel = torch.nonzero(n_objects > slot).squeeze(1)  # (B,) canvases with this slot
        src = source[sel, slot]
        tile = images[src]  # (B, th, tw)
        fg = tile > threshold
        b = sel[:, None, None]  # (B, 1, 1)
        r = (top[sel, slot, None] + rows_in_tile)[:, :, None]  # (B, th, 1)
        c = (left[sel, slot, None] + cols_in_tile)[:, None, :]  # (B, 1, tw)
        # Within a canvas the (r, c) are distinct, so gather-then-put is an exact paste.
        out[b, r, c] = torch.where(fg, tile, out[b, r, c])
        mask[b, r, c] = torch.where(fg, values[src][:, None, None], mask[b, r, c])

    n_list = n_objects.tolist()
    rows = torch.stack([source, labels[source], top, left], dim=2).tolist()  # (N, hi, 4)
    placements = [[(p[0], p[1], p[2], p[3]) for p in rows[i][: n_list[i]]] for i in range(count)]
    return ComposedSet(out[:, None], mask.to(torch.int64), placements, ["background", *class_names])


def _derived_seeds(seed: int, n: int) -> list[int]:
    """`n` independent seeds from one (so seeds s and s + 1 share no stream)."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


def _reindexed(part: ComposedSet, index: torch.Tensor) -> ComposedSet:
    """`part` with its source indices mapped through `index` (subset position -> full index)."""
    idx = index.tolist()
    part.placements = [[(idx[s], y, t, lft) for s, y, t, lft in row] for row in part.placements]
    return part


def composed_splits(
    source: ImageDataset,
    *,
    train: int,
    val: int,
    test: int,
    canvas: int = 64,
    objects: tuple[int, int] = (2, 4),
    threshold: int = 64,
    seed: int = 0,
) -> dict[str, ComposedSet]:
    """{"train", "val", "test"} composed sets from an image data set (`load_images(name, store)`).

    A seeded permutation splits the source's train images into two disjoint parts: 90 % for the
    train canvases and 10 % for the val canvases; the test canvases use only the source's test
    images. So no source image is shared between train, val and test canvases. In the placements
    the source index of train and val canvases is into `source.train_x`, that of test canvases
    into `source.test_x`. The permutation and each split's composition get their own seed,
    derived from `seed`.
    """
    n = int(source.train_x.shape[0])
    require(n >= 2, f"the source needs >= 2 train images to split for val; got {n}")
    split_seed, train_seed, val_seed, test_seed = _derived_seeds(seed, 4)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    n_val = min(n - 1, max(1, round(VAL_SOURCE_FRACTION * n)))
    val_idx, train_idx = perm[:n_val], perm[n_val:]

    def part(x: torch.Tensor, y: torch.Tensor, count: int, part_seed: int) -> ComposedSet:
        return compose(
            x,
            y,
            source.classes,
            count,
            canvas=canvas,
            objects=objects,
            threshold=threshold,
            seed=part_seed,
        )

    def of_train(idx: torch.Tensor, count: int, part_seed: int) -> ComposedSet:
        return _reindexed(part(source.train_x[idx], source.train_y[idx], count, part_seed), idx)

    return {
        "train": of_train(train_idx, train, train_seed),
        "val": of_train(val_idx, val, val_seed),
        "test": part(source.test_x, source.test_y, test, test_seed),
    }
