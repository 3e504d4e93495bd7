"""A ResNet for small images (28x28 MedMNIST / MNIST, 32x32 CIFAR): 3x3 stem, no max-pool.

He et al. 2016, "Deep residual learning for image recognition", with the CIFAR-style stem that
MedMNIST v2 uses for its 28x28 ResNet-18 baseline: a 3x3 convolution at full resolution instead
of the 7x7/2 convolution and max-pool meant for 224x224 images. Basic blocks (two 3x3 convs,
BatchNorm, identity or 1x1/2 projection shortcut); each stage after the first halves H and W and
doubles the channels.

    depth 8:  stages (1, 1, 1),    widths (w, 2w, 4w)          — small and fast on a CPU
    depth 14: stages (2, 2, 2),    widths (w, 2w, 4w)
    depth 18: stages (2, 2, 2, 2), widths (w, 2w, 4w, 8w)      — ResNet-18 with width 64
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tamrin.config import require
from tamrin.models.registry import build_model, register_model

DEPTHS: dict[int, tuple[int, ...]] = {8: (1, 1, 1), 14: (2, 2, 2), 18: (2, 2, 2, 2)}


@dataclass
class ResNetConfig:
    """Depth and width of the small-image ResNet."""

    depth: int = 8  # 8 (1-1-1 blocks), 14 (2-2-2) or 18 (2-2-2-2, ResNet-18)
    width: int = 32  # channels of the first stage, a multiple of 8; doubled per stage (R-18: 64)
    dropout: float = 0.0  # dropout before the final linear layer, in [0, 1)

    def validate(self) -> None:
        require(
            self.depth in DEPTHS,
            f"model.depth must be one of {sorted(DEPTHS)}; got {self.depth}",
        )
        # torch 2.13's CPU backward of channels-last BatchNorm convs aborts the process at 4 or 6
        # channels (free(): invalid next size), measured; multiples of 8 run.
        require(
            self.width >= 8 and self.width % 8 == 0,
            f"model.width must be a multiple of 8 (8, 16, 32, 64); got {self.width}",
        )
        require(0 <= self.dropout < 1, f"model.dropout must be in [0, 1); got {self.dropout}")


class BasicBlock(nn.Module):
    """conv3-BN-ReLU-conv3-BN plus shortcut, then ReLU; stride 2 halves H and W."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, c_in, H, W) -> (B, c_out, H/s, W/s)
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """ResNet for small images: (B, C, H, W) -> logits (B, num_classes)."""

    def __init__(self, cfg: ResNetConfig, in_channels: int, num_classes: int) -> None:
        super().__init__()
        cfg.validate()
        widths = [cfg.width * 2**i for i in range(len(DEPTHS[cfg.depth]))]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        c = widths[0]
        for stage, (n, w) in enumerate(zip(DEPTHS[cfg.depth], widths, strict=True)):
            for i in range(n):
                blocks.append(BasicBlock(c, w, 2 if (stage > 0 and i == 0) else 1))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # zero-init the last BN of each block: blocks start as identity
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))  # (B, C', H', W')
        h = h.mean(dim=(2, 3))  # global average pool -> (B, C')
        return self.fc(self.dropout(h))  # (B, K)


@register_model(
    "resnet",
    config=ResNetConfig,
    smoke={"depth": 8, "width": 8},
    summary="small-image ResNet (3x3 stem, no max-pool); depth 8 | 14 | 18 (ResNet-18)",
)
def resnet(cfg: ResNetConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    return SmallResNet(cfg, in_shape[0], out_dim)


def build_resnet(cfg: ResNetConfig, in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """A `SmallResNet` for images of shape (C, H, W) = `in_shape` (the registered 'resnet')."""
    return build_model("resnet", cfg, in_shape=in_shape, out_dim=num_classes)
