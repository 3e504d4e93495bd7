"""The rotation pretext task (RotNet, Gidaris et al. 2018): every image in all four rotations.

`rotate(x, k)` turns a batch of images by k·90° counter-clockwise (k per image);
`RotationBatches` wraps any `Batches` and turns each batch of B images into 4B: the batch at 0°,
90°, 180° and 270° (in that order) with the rotation index in field `rot`. So every image of an
epoch is seen in all four rotations, and every batch is exactly balanced over the four classes —
as in the paper, and unlike HW13, which drew one rotation per image with weights 1:3:3:3.
Other fields are repeated four times; mask fields named in `upright` are kept only on the 0°
copy (the class loss of the multi-task recipe sees each labelled image once, upright).

Like `Batches`, batch b of epoch e is a pure function of (seed, e, b): the wrapper adds no
randomness, so resume stays exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from tamrin.data.batches import Batch, Batches, DrawnBatches

ROTATIONS = 4  # 0°, 90°, 180°, 270°
DEGREES = (0, 90, 180, 270)


def rotate(x: torch.Tensor, k: torch.Tensor | int) -> torch.Tensor:
    """Images (B, C, H, W) turned by k[i]·90° counter-clockwise (`torch.rot90` on H, W).

    Square images only (a 90° turn of a non-square image changes its shape).
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation needs square images; got H×W = {tuple(x.shape[-2:])}")
    if isinstance(k, int):
        return torch.rot90(x, k % ROTATIONS, dims=(2, 3))
    k = k.to(x.device).remainder(ROTATIONS)
    out = x.clone()
    for turns in range(1, ROTATIONS):
        sel = k == turns
        if sel.any():
            out[sel] = torch.rot90(x[sel], turns, dims=(2, 3))
    return out


def all_rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(4B images, 4B rotation labels): the batch at 0°, 90°, 180°, 270°, in that order."""
    turned = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(ROTATIONS)])
    labels = torch.arange(ROTATIONS, device=x.device).repeat_interleave(x.shape[0])
    return turned, labels


class RotationBatches(DrawnBatches):
    """Each batch of `inner` in all four rotations: fields `x` (4B images) and `rot` (4B,).

    A `DrawnBatches` whose draw is deterministic (it ignores the generator), with 4x the batch
    size. `upright` names bool mask fields kept True only on the 0° copies.
    """

    def __init__(
        self, inner: Batches, *, image: str = "x", target: str = "rot", upright: Sequence[str] = ()
    ) -> None:
        missing = [f for f in (image, *upright) if f not in inner.data]
        if missing:
            raise ValueError(f"RotationBatches: the batches have no field(s) {missing}")
        if target in inner.data:
            raise ValueError(f"RotationBatches: field {target!r} exists already")
        self.image, self.target, self.upright = image, target, tuple(upright)
        super().__init__(inner, lambda batch, _gen: self.expand(batch), salt=13)

    @property
    def batch_size(self) -> int:
        return ROTATIONS * self.inner.batch_size

    def expand(self, batch: Mapping[str, torch.Tensor]) -> Batch:
        """One batch of B images -> 4B: all rotations, other fields repeated, masks upright."""
        x, rot = all_rotations(batch[self.image])
        out: Batch = {self.image: x, self.target: rot}
        for key, value in batch.items():
            if key == self.image:
                continue
            repeated = value.repeat(ROTATIONS, *([1] * (value.dim() - 1)))
            if key in self.upright:
                repeated = repeated.bool() & (rot == 0)
            out[key] = repeated
        return out
