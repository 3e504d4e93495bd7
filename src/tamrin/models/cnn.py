"""Small CNNs of the course: LeNet-5 (HW2) and the wider 3x3 net (HW2), any input size."""

from __future__ import annotations

import torch
from torch import nn

from tamrin.models.norm import NormKind, norm2d


def _scaled(n: int, width: float) -> int:
    return max(1, round(n * width))


def _conv_pool(cin: int, cout: int, kernel: int, norm: NormKind) -> list[nn.Module]:
    """conv (no padding) -> [norm] -> ReLU -> 2x2 max pool."""
    return [
        nn.Conv2d(cin, cout, kernel),
        norm2d(norm, cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    ]


def _dense_head(
    features: int, hidden: list[int], num_classes: int, dropout: float
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(features, h), nn.ReLU(inplace=True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        features = h
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def _flat_features(body: nn.Module, in_shape: tuple[int, int, int]) -> int:
    with torch.no_grad():
        was_training = body.training
        body.eval()
        n = body(torch.zeros(1, *in_shape)).numel()
        body.train(was_training)
    return n


class LeNet(nn.Module):
    """conv 5x5 (6) -> ReLU -> maxpool 2 -> conv 5x5 (16) -> ReLU -> maxpool 2 -> FC 120 -> 84 -> K.

    On 32x32 RGB the flattened features are 16*5*5 = 400, as in the PyTorch tutorial; `norm`
    puts BatchNorm (or GroupNorm(1)) after each conv. `width` scales every layer (smoke runs).
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        *,
        norm: NormKind = "none",
        width: float = 1.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        c1, c2 = _scaled(6, width), _scaled(16, width)
        self.features = nn.Sequential(
            *_conv_pool(in_shape[0], c1, 5, norm),  # (B, 6, 14, 14) on 32x32
            *_conv_pool(c1, c2, 5, norm),  # (B, 16, 5, 5)
            nn.Flatten(),
        )
        hidden = [_scaled(120, width), _scaled(84, width)]
        self.head = _dense_head(
            _flat_features(self.features, in_shape), hidden, num_classes, dropout
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, K)
        return self.head(self.features(x))


class WideCNN(nn.Module):
    """conv 3x3 (30) -> pool -> conv 3x3 (30) -> pool -> FC 1080 -> 256 -> K (HW2's wider net).

    On 32x32 RGB: 32 -> 30 -> 15 -> 13 -> 6, so 30*6*6 = 1080 features.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        *,
        norm: NormKind = "none",
        width: float = 1.0,
        dropout: float = 0.0,
        hidden: tuple[int, ...] = (256,),
    ) -> None:
        super().__init__()
        c = _scaled(30, width)
        self.features = nn.Sequential(
            *_conv_pool(in_shape[0], c, 3, norm),  # (B, 30, 15, 15)
            *_conv_pool(c, c, 3, norm),  # (B, 30, 6, 6)
            nn.Flatten(),
        )
        self.head = _dense_head(
            _flat_features(self.features, in_shape),
            [_scaled(h, width) for h in hidden],
            num_classes,
            dropout,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, K)
        return self.head(self.features(x))
