"""Cores for few-label self-supervision: a feature extractor with a class head and a rotation head.

`RotationNet` is a core (images -> features) with a linear class head and, when
`rotation_head` is on, a 4-way rotation head (RotNet, Gidaris et al. 2018). `forward(x)` gives
the class logits (the registered-model protocol); `heads(x)` gives {"class", "rotation"} for the
multi-task objective; `features(x)` what the class head reads (for k-NN probes). A linear probe
freezes `core` and trains `classifier`; fine-tuning unfreezes it.

    hw13-core   HW13's core: conv3(32)-BN-pool3, conv3(64)-BN-pool2, conv3(128)-BN-pool2 (valid
                padding, dropout after each), dense 1024-BN-dropout; 230k weights
    conv-core   a VGG-style core: four blocks of `convs` 3x3 conv-BN-ReLU (width w, 2w, 4w, 8w),
                max-pool between blocks, global average pool; the default (w=32) has 390k weights
                and reaches far higher few-label accuracy after rotation pretraining
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tamrin.config import require
from tamrin.models.cnn import flat_features
from tamrin.models.registry import register_model


@dataclass
class CoreConfig:
    """The core network and its heads."""

    arch: str = "conv"  # conv | hw13 (pinned by the registered name)
    width: int = 32  # conv: channels of the first block, doubled per block; a multiple of 8
    convs: int = 1  # conv: 3x3 convolutions per block
    dense: int = 1024  # hw13: units of the dense layer the features come from
    dropout: float = 0.0  # hw13: dropout after each block (the homework's value is not given)
    rotation_head: bool = False  # add the 4-way rotation head (pretraining, multi-task)

    def validate(self) -> None:
        require(self.arch in ("conv", "hw13"), f"model.arch must be conv or hw13; got {self.arch}")
        # channels-last BN convs with fewer than 8 channels abort torch 2.13's CPU backward
        require(
            self.width >= 8 and self.width % 8 == 0,
            f"model.width must be a multiple of 8; got {self.width}",
        )
        require(self.convs >= 1, f"model.convs must be >= 1; got {self.convs}")
        require(self.dense >= 1, f"model.dense must be >= 1; got {self.dense}")
        require(0 <= self.dropout < 1, f"model.dropout must be in [0, 1); got {self.dropout}")


def _conv_bn(c_in: int, c_out: int, padding: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    ]


class ConvCore(nn.Module):
    """Four VGG blocks (w, 2w, 4w, 8w), max-pool 2 between them; global average pool at the end.

    `multilevel(x)` adds the third block's map average-pooled to 2x2 to the final features: for
    a probe on few labels, rotation-pretrained mid-level features are the better ones (Gidaris
    et al. 2018, table 1; measured here too: 0.506 vs 0.478 val accuracy, 200 labels).
    """

    def __init__(self, cfg: CoreConfig, in_channels: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c = in_channels
        for block in range(4):
            width = cfg.width * 2**block
            layers: list[nn.Module] = []
            for _ in range(cfg.convs):
                layers += _conv_bn(c, width, padding=1)
                c = width
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        self.dim = c  # 8w
        self.multilevel_dim = 4 * (c // 2) + c  # 2x2 of block 3 (4w channels) + block 4

    def _maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(block 3's map, block 4's map)."""
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == 2:
                mid = x
            if i < 3:
                x = F.max_pool2d(x, 2)
        return mid, x

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 8w)
        return self._maps(x)[1].mean(dim=(2, 3))

    def multilevel(self, x: torch.Tensor) -> torch.Tensor:  # -> (B, 24w)
        return self.both(x)[0]

    def both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(multi-level features (B, 24w), final features (B, 8w)) from one pass."""
        mid, last = self._maps(x)
        final = last.mean(dim=(2, 3))
        return torch.cat([F.adaptive_avg_pool2d(mid, 2).flatten(1), final], 1), final


class HW13Core(nn.Module):
    """HW13's Keras core (valid 3x3 convs; pools 3, 2, 2; dense with BN), any input size."""

    def __init__(self, cfg: CoreConfig, in_shape: tuple[int, int, int]) -> None:
        super().__init__()
        drop = cfg.dropout
        self.body = nn.Sequential(
            *_conv_bn(in_shape[0], 32, padding=0), nn.MaxPool2d(3), nn.Dropout(drop),
            *_conv_bn(32, 64, padding=0), nn.MaxPool2d(2), nn.Dropout(drop),
            *_conv_bn(64, 128, padding=0), nn.MaxPool2d(2, ceil_mode=True), nn.Dropout(drop),
            nn.Flatten(),
        )  # fmt: skip
        flat = flat_features(self.body, in_shape)
        self.dense = nn.Sequential(
            nn.Linear(flat, cfg.dense), nn.BatchNorm1d(cfg.dense), nn.ReLU(), nn.Dropout(drop)
        )
        self.dim = self.multilevel_dim = cfg.dense

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, dense)
        return self.dense(self.body(x))

    def multilevel(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)

    def both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self(x)
        return h, h


class RotationNet(nn.Module):
    """core -> features; class head on the multi-level features; optional rotation head.

    The class head reads `core.multilevel(x)` (what the linear probe, the fine-tuning and the
    from-scratch baseline all train), the rotation head the final features `core(x)`.
    """

    def __init__(self, core: ConvCore | HW13Core, num_classes: int, rotation_head: bool) -> None:
        super().__init__()
        self.core = core
        self.classifier = nn.Linear(core.multilevel_dim, num_classes)
        self.rotation = nn.Linear(core.dim, 4) if rotation_head else None

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, D)
        """The features the class head reads (probes, k-NN)."""
        return self.core.multilevel(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # -> class logits (B, K)
        return self.classifier(self.core.multilevel(x))

    def heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"class": (B, K), "rotation": (B, 4)} from one pass through the core."""
        if self.rotation is None:
            raise RuntimeError("this RotationNet has no rotation head (model.rotation_head=false)")
        multilevel, final = self.core.both(x)
        return {"class": self.classifier(multilevel), "rotation": self.rotation(final)}


def build_rotation_net(
    cfg: CoreConfig, in_shape: tuple[int, int, int], out_dim: int
) -> RotationNet:
    cfg.validate()
    core = ConvCore(cfg, in_shape[0]) if cfg.arch == "conv" else HW13Core(cfg, in_shape)
    return RotationNet(core, out_dim, cfg.rotation_head)


@register_model(
    "conv-core",
    config=CoreConfig,
    fixed={"arch": "conv"},
    smoke={"width": 8},
    summary="VGG-style core (4 blocks w-2w-4w-8w) with class and optional rotation heads",
)
def conv_core_model(cfg: CoreConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    return build_rotation_net(cfg, in_shape, out_dim)


@register_model(
    "hw13-core",
    config=CoreConfig,
    fixed={"arch": "hw13"},
    smoke={"dense": 32},
    summary="HW13's rotation core (3 conv blocks 32/64/128 + dense 1024) with class/rotation heads",
)
def hw13_core_model(cfg: CoreConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    return build_rotation_net(cfg, in_shape, out_dim)
