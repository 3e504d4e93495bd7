"""Normalization layers by name, so 'none' / 'batch' / 'layer' is a config choice."""

from __future__ import annotations

from typing import Literal

from torch import nn

NormKind = Literal["none", "batch", "layer"]


def norm2d(kind: NormKind, channels: int) -> nn.Module:
    """For conv features (B, C, H, W). 'layer' is GroupNorm(1, C): LayerNorm over (C, H, W)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def norm1d(kind: NormKind, features: int) -> nn.Module:
    """For dense features (B, D)."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    return nn.Identity()
