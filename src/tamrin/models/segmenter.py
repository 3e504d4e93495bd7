"""A ViT segmenter: the vision transformer's patch states decoded back to a mask per pixel.

A light decoder (SETR's naive head, Zheng et al. 2021, plus a skip): each patch state (not
[CLS]) is linearly expanded into features for its own P×P pixels (a pixel shuffle: the
transpose of the patch embedding), the input image is concatenated to those full-resolution
features, and a 3×3 conv + BatchNorm + ReLU and a 1×1 conv give the class logits (B, K, H, W).
The skip lets thin strokes keep their exact outline while the encoder says what they are;
measured on this CPU, SETR's progressive ×2 conv stages cost several times the encoder.

    vit-segmenter   patch 8, 128 wide, 6 blocks; 24 decoder channels
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from tamrin.config import require
from tamrin.models.registry import register_model
from tamrin.models.vit import ViT, ViTConfig, unpatchify


def segmenter_encoder() -> ViTConfig:
    return ViTConfig(patch=8, dim=128, depth=6, heads=4)


@dataclass
class SegmenterConfig:
    """The encoder (a ViT config) and the decoder's width at full resolution."""

    encoder: ViTConfig = field(default_factory=segmenter_encoder)
    decoder_width: int = 24  # feature channels per pixel after the expansion
    image_skip: bool = True  # concatenate the input image before the 3x3 conv

    def validate(self) -> None:
        self.encoder.validate()
        require(self.decoder_width >= 1, f"decoder_width must be >= 1; got {self.decoder_width}")


class ViTSegmenter(nn.Module):
    """images (B, C, H, W) -> per-pixel class logits (B, K, H, W)."""

    def __init__(self, cfg: SegmenterConfig, in_shape: Sequence[int], classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        channels = int(in_shape[0])
        self.encoder = ViT(cfg.encoder, in_shape, classes)
        self.encoder.head = nn.Identity()  # type: ignore[assignment]  # the decoder replaces it
        last = cfg.decoder_width
        self.expand = nn.Linear(cfg.encoder.dim, cfg.encoder.patch**2 * last)
        skip = channels if cfg.image_skip else 0
        self.fuse = nn.Sequential(
            nn.Conv2d(last + skip, last, 3, padding=1, bias=False),
            nn.BatchNorm2d(last),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(last, classes, 1)

    @property
    def grid(self) -> tuple[int, int]:
        return self.encoder.grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.encoder.features(x)
        h = unpatchify(self.expand(states[:, 1:]), self.cfg.encoder.patch, self.grid)
        if self.cfg.image_skip:
            h = torch.cat([h, x.to(h.dtype)], dim=1)
        return self.classifier(self.fuse(h))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's attention weights (B, depth, heads, 1 + N, 1 + N)."""
        return self.encoder.attention(x)


@register_model(
    "vit-segmenter",
    config=SegmenterConfig,
    summary="ViT encoder + progressive-upsampling decoder with an image skip; per-pixel logits",
    task="segment",
    smoke={
        "encoder.patch": 4,
        "encoder.dim": 32,
        "encoder.depth": 2,
        "encoder.heads": 2,
        "decoder_width": 8,
    },
)
def _vit_segmenter(cfg: SegmenterConfig, in_shape: Sequence[int], out_dim: int) -> ViTSegmenter:
    return ViTSegmenter(cfg, in_shape, out_dim)
