"""Multi-layer perceptron on flattened images (HW5: 3072-4096-2048-1024-512-256-64-10)."""

from __future__ import annotations

import torch
from torch import nn

from tamrin.models.layers import ActivationKind, activation
from tamrin.models.norm import NormKind, norm1d


class MLP(nn.Module):
    """Linear -> [norm] -> activation -> [dropout] per hidden layer, then a linear classifier."""

    def __init__(
        self,
        in_features: int,
        hidden: list[int],
        num_classes: int,
        *,
        norm: NormKind = "none",
        dropout: float = 0.0,
        width: float = 1.0,
        act: ActivationKind = "relu",
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        features = in_features
        for h in hidden:
            h = max(1, round(h * width))
            layers += [nn.Linear(features, h), norm1d(norm, h), activation(act, negative_slope)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            features = h
        layers.append(nn.Linear(features, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) or (B, D) -> (B, K)
        return self.net(x)
