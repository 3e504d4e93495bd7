"""Activations, pooling and weight initialization by name, so each is a config choice a study
can vary while the rest of the network stays the same."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

ActivationKind = Literal["relu", "leaky_relu", "prelu", "gelu", "sigmoid", "tanh"]
PoolKind = Literal["max", "min", "avg", "l2", "stride"]
InitKind = Literal[
    "default",  # PyTorch's own (Kaiming-uniform with a=sqrt(5))
    "zeros",
    "constant",
    "normal",  # N(0, init_std^2)
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
]


def activation(kind: ActivationKind, negative_slope: float = 0.01) -> nn.Module:
    """A fresh activation module; `negative_slope` is LeakyReLU's slope and PReLU's start."""
    if kind == "relu":
        return nn.ReLU()
    if kind == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    if kind == "prelu":
        return nn.PReLU(init=negative_slope if negative_slope > 0 else 0.25)
    if kind == "gelu":
        return nn.GELU()
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown activation {kind!r}")


class MinPool2d(nn.Module):
    """Min pooling: -maxpool(-x) (keeps the weakest response in each window)."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H/k, W/k)
        return -F.max_pool2d(-x, self.kernel)


def pool(kind: PoolKind, channels: int, kernel: int = 2) -> nn.Module:
    """A 2-D down-sampling by `kernel`: a fixed pooling, or a learned stride-`kernel` conv
    (the all-convolutional net's replacement of pooling, Springenberg et al. 2015)."""
    if kind == "max":
        return nn.MaxPool2d(kernel)
    if kind == "min":
        return MinPool2d(kernel)
    if kind == "avg":
        return nn.AvgPool2d(kernel)
    if kind == "l2":
        return nn.LPPool2d(2, kernel)
    if kind == "stride":
        return nn.Conv2d(channels, channels, kernel, stride=kernel)
    raise ValueError(f"unknown pooling {kind!r}")


def _gain(act: ActivationKind, negative_slope: float) -> float:
    """The variance-preserving gain of an activation (torch.nn.init.calculate_gain)."""
    if act in ("relu", "gelu"):
        return nn.init.calculate_gain("relu")
    if act in ("leaky_relu", "prelu"):
        return nn.init.calculate_gain("leaky_relu", negative_slope)
    assert act in ("tanh", "sigmoid"), act
    return nn.init.calculate_gain(act)  # tanh 5/3, sigmoid 1


def initialize(
    model: nn.Module,
    kind: InitKind,
    *,
    act: ActivationKind = "relu",
    negative_slope: float = 0.01,
    std: float = 0.01,
    constant: float = 0.1,
) -> None:
    """Re-initialize every Linear/Conv weight of `model` by `kind`; biases to zero.

    'default' keeps PyTorch's initialization. Xavier and Kaiming use the gain of `act`, so a
    tanh net gets 5/3 and a ReLU net sqrt(2): the variance-preserving choices.
    """
    if kind == "default":
        return
    gain = _gain(act, negative_slope)
    for m in model.modules():
        if not isinstance(m, nn.Linear | nn.Conv2d):
            continue
        w = m.weight
        with torch.no_grad():
            if kind == "zeros":
                nn.init.zeros_(w)
            elif kind == "constant":
                nn.init.constant_(w, constant)
            elif kind == "normal":
                nn.init.normal_(w, 0.0, std)
            elif kind == "xavier_uniform":
                nn.init.xavier_uniform_(w, gain=gain)
            elif kind == "xavier_normal":
                nn.init.xavier_normal_(w, gain=gain)
            elif kind in ("kaiming_uniform", "kaiming_normal"):
                fan_in = nn.init._calculate_correct_fan(w, "fan_in")
                bound_std = gain / math.sqrt(fan_in)
                if kind == "kaiming_normal":
                    nn.init.normal_(w, 0.0, bound_std)
                else:
                    nn.init.uniform_(w, -math.sqrt(3) * bound_std, math.sqrt(3) * bound_std)
            else:
                raise ValueError(f"unknown init {kind!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
