"""Small CNNs of the course: LeNet-5 (HW2) and the wider 3x3 net (HW2), any input size."""

from __future__ import annotations

import torch
from torch import nn

from tamrin.models.layers import ActivationKind, PoolKind, activation, pool
from tamrin.models.norm import NormKind, norm2d


def _scaled(n: int, width: float) -> int:
    return max(1, round(n * width))


def _conv_pool(
    cin: int, cout: int, kernel: int, norm: NormKind, act: nn.Module, pooling: PoolKind
) -> list[nn.Module]:
    """conv (no padding) -> [norm] -> activation -> 2x2 pooling."""
    return [nn.Conv2d(cin, cout, kernel), norm2d(norm, cout), act, pool(pooling, cout)]


def _dense_head(
    features: int,
    hidden: list[int],
    num_classes: int,
    dropout: float,
    act: ActivationKind = "relu",
    negative_slope: float = 0.01,
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(features, h), activation(act, negative_slope)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        features = h
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def flat_features(body: nn.Module, in_shape: tuple[int, int, int]) -> int:
    with torch.no_grad():
        was_training = body.training
        body.eval()
        n = body(torch.zeros(1, *in_shape)).numel()
        body.train(was_training)
    return n


class LeNet(nn.Module):
    """conv 5x5 (6) -> ReLU -> maxpool 2 -> conv 5x5 (16) -> ReLU -> maxpool 2 -> FC 120 -> 84 -> K.

    On 32x32 RGB the flattened features are 16*5*5 = 400, as in the PyTorch tutorial; `norm`
    puts BatchNorm (or GroupNorm(1)) after each conv. `width` scales every layer (smoke runs);
    `act` and `pooling` replace ReLU and max pooling (the controlled studies vary them).
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        *,
        norm: NormKind = "none",
        width: float = 1.0,
        dropout: float = 0.0,
        act: ActivationKind = "relu",
        negative_slope: float = 0.01,
        pooling: PoolKind = "max",
    ) -> None:
        super().__init__()
        c1, c2 = _scaled(6, width), _scaled(16, width)
        self.features = nn.Sequential(
            *_conv_pool(in_shape[0], c1, 5, norm, activation(act, negative_slope), pooling),
            *_conv_pool(c1, c2, 5, norm, activation(act, negative_slope), pooling),  # (B,16,5,5)
            nn.Flatten(),
        )
        hidden = [_scaled(120, width), _scaled(84, width)]
        self.head = _dense_head(
            flat_features(self.features, in_shape),
            hidden,
            num_classes,
            dropout,
            act,
            negative_slope,
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
        act: ActivationKind = "relu",
        negative_slope: float = 0.01,
        pooling: PoolKind = "max",
    ) -> None:
        super().__init__()
        c = _scaled(30, width)
        self.features = nn.Sequential(
            *_conv_pool(in_shape[0], c, 3, norm, activation(act, negative_slope), pooling),
            *_conv_pool(c, c, 3, norm, activation(act, negative_slope), pooling),  # (B,30,6,6)
            nn.Flatten(),
        )
        self.head = _dense_head(
            flat_features(self.features, in_shape),
            [_scaled(h, width) for h in hidden],
            num_classes,
            dropout,
            act,
            negative_slope,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, K)
        return self.head(self.features(x))
