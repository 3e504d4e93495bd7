"""Batched tensor augmentations: one call per batch, no per-sample Python.

Each takes a batch `(B, C, H, W)` and a `torch.Generator`, so a batch's augmentation is a pure
function of its seed (that is what makes mid-epoch resume exact). `image_augment` turns the
configs into the one per-field transform `tamrin.data.batches.Batches` applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from tamrin.config import require


@dataclass
class AugmentConfig:
    """Training-time augmentations; all off means the raw images."""

    crop_padding: int = 0  # random crop after zero-padding each side by this many pixels (0 = off)
    hflip: bool | None = None  # flip left-right with p=1/2; None = the data set's own default
    rot90: bool = False  # rotate by a random multiple of 90 degrees

    def validate(self) -> None:
        require(
            self.crop_padding >= 0, f"augment.crop_padding must be >= 0; got {self.crop_padding}"
        )

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.hflip or self.rot90


# Whether a left-right mirror image is still an image of the same class. Digits are not
# (a mirrored 2, 3, 7 is no digit; flips cost accuracy on MNIST), photos and clothes are.
MIRROR_INVARIANT = {"cifar10": True, "fashion-mnist": True, "mnist": False}


def for_dataset(cfg: AugmentConfig, data: str) -> AugmentConfig:
    """`cfg` with `hflip=None` resolved for data set `data` (no flips where unknown)."""
    if cfg.hflip is not None:
        return cfg
    return replace(cfg, hflip=MIRROR_INVARIANT.get(data, False))


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by `padding` and take one random HxW window per image, by gather indexing."""
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip a random half of the batch left-right."""
    flip = (torch.rand(x.shape[0], generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def random_rot90(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Rotate each image by k*90 degrees, k uniform in 0..3 (one rot90 call per k)."""
    k = torch.randint(0, 4, (x.shape[0],), generator=gen).to(x.device)
    out = x.clone()
    for turns in (1, 2, 3):
        sel = k == turns
        if sel.any():
            out[sel] = torch.rot90(x[sel], turns, dims=(2, 3))
    return out


def apply(cfg: AugmentConfig, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """All augmentations `cfg` turns on, in a fixed order: crop, flip, rotation."""
    if cfg.crop_padding:
        x = random_crop(x, cfg.crop_padding, gen)
    if cfg.hflip:
        x = random_hflip(x, gen)
    if cfg.rot90:
        x = random_rot90(x, gen)
    return x


@dataclass
class JitterConfig:
    """Colour jitter on normalized image tensors (per image, per batch, seeded)."""

    brightness: float = 0.0  # add U(-b, b) to every pixel (in std units of the normalized image)
    contrast: float = 0.0  # scale each image about its mean by U(1-c, 1+c), in [0, 1)
    saturation: float = 0.0  # scale each channel by U(1-s, 1+s) (colour shift), in [0, 1)

    def validate(self) -> None:
        require(self.brightness >= 0, f"jitter.brightness must be >= 0; got {self.brightness}")
        require(0 <= self.contrast < 1, f"jitter.contrast must be in [0, 1); got {self.contrast}")
        require(
            0 <= self.saturation < 1, f"jitter.saturation must be in [0, 1); got {self.saturation}"
        )

    @property
    def active(self) -> bool:
        return self.brightness > 0 or self.contrast > 0 or self.saturation > 0


def color_jitter(x: torch.Tensor, cfg: JitterConfig, gen: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and per-channel colour jitter of a batch (B, C, H, W), batched."""
    b, c = x.shape[:2]

    def uniform(shape: tuple[int, ...], half: float) -> torch.Tensor:
        return ((torch.rand(shape, generator=gen) * 2 - 1) * half).to(x.device, x.dtype)

    if cfg.contrast:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        x = (x - mean) * (1 + uniform((b, 1, 1, 1), cfg.contrast)) + mean
    if cfg.saturation and c > 1:
        x = x * (1 + uniform((b, c, 1, 1), cfg.saturation))
    if cfg.brightness:
        x = x + uniform((b, 1, 1, 1), cfg.brightness)
    return x


def image_augment(
    cfg: AugmentConfig | None, jitter: JitterConfig | None = None
) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    """One batched transform: geometry (`apply`), then colour jitter, from one generator.

    None when nothing is switched on (so no generator is drawn at all).
    """
    geometry = cfg if cfg is not None and cfg.active else None
    colour = jitter if jitter is not None and jitter.active else None
    if geometry is None and colour is None:
        return None

    def transform(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if geometry is not None:
            x = apply(geometry, x, gen)
        if colour is not None:
            x = color_jitter(x, colour, gen)
        return x

    return transform
