"""Build a classifier by name from a ModelConfig; the one place recipes get image models from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from tamrin.config import require
from tamrin.models.cnn import LeNet, WideCNN
from tamrin.models.layers import ActivationKind, InitKind, PoolKind, initialize
from tamrin.models.mlp import MLP
from tamrin.models.norm import NormKind

Arch = Literal["lenet", "wide", "mlp"]


@dataclass
class ModelConfig:
    """Which network and how wide."""

    arch: Arch = "lenet"  # lenet | wide | mlp
    norm: NormKind = "none"  # none | batch | layer (GroupNorm(1) in convs, LayerNorm in MLPs)
    width: float = 1.0  # multiplies every layer's width (smoke runs use a fraction)
    dropout: float = 0.0  # dropout after each hidden dense layer, in [0, 1)
    hidden: list[int] = field(default_factory=list)  # dense hidden sizes; [] = the arch's own
    activation: ActivationKind = "relu"  # relu | leaky_relu | prelu | gelu | sigmoid | tanh
    negative_slope: float = 0.01  # LeakyReLU slope (PReLU's starting slope), >= 0
    pooling: PoolKind = "max"  # conv nets: max | min | avg | l2 | stride (a learned 2x2/2 conv)
    init: InitKind = "default"  # default | zeros | constant | normal | xavier_* | kaiming_*
    init_std: float = 0.01  # std of init=normal
    init_constant: float = 0.1  # value of every weight under init=constant

    def validate(self) -> None:
        require(self.width > 0, f"model.width must be > 0; got {self.width}")
        require(0 <= self.dropout < 1, f"model.dropout must be in [0, 1); got {self.dropout}")
        require(
            all(h > 0 for h in self.hidden), f"model.hidden sizes must be > 0; got {self.hidden}"
        )
        require(
            self.negative_slope >= 0,
            f"model.negative_slope must be >= 0; got {self.negative_slope}",
        )
        require(self.init_std > 0, f"model.init_std must be > 0; got {self.init_std}")


MLP_HIDDEN = [4096, 2048, 1024, 512, 256, 64]  # HW5's network


def build_classifier(
    cfg: ModelConfig, in_shape: tuple[int, int, int], num_classes: int
) -> nn.Module:
    """The network `cfg.arch` for inputs (C, H, W) and `num_classes` outputs, initialized."""
    model = _build(cfg, in_shape, num_classes)
    initialize(
        model,
        cfg.init,
        act=cfg.activation,
        negative_slope=cfg.negative_slope,
        std=cfg.init_std,
        constant=cfg.init_constant,
    )
    return model


def _build(cfg: ModelConfig, in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    common = dict(
        norm=cfg.norm,
        width=cfg.width,
        dropout=cfg.dropout,
        act=cfg.activation,
        negative_slope=cfg.negative_slope,
    )
    if cfg.arch == "lenet":
        return LeNet(in_shape, num_classes, pooling=cfg.pooling, **common)  # type: ignore[arg-type]
    if cfg.arch == "wide":
        hidden = tuple(cfg.hidden) if cfg.hidden else (256,)
        return WideCNN(in_shape, num_classes, pooling=cfg.pooling, hidden=hidden, **common)  # type: ignore[arg-type]
    c, h, w = in_shape
    return MLP(c * h * w, cfg.hidden or MLP_HIDDEN, num_classes, **common)  # type: ignore[arg-type]
