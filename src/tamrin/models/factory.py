"""The image classifiers configured by a ModelConfig (lenet, wide, mlp), registered by name.

`build_classifier(cfg, ...)` builds the registered model `cfg.arch`: the same network as
`build_model(cfg.arch, cfg, ...)`, initialized by `cfg.init`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from tamrin.config import require
from tamrin.models.cnn import LeNet, WideCNN
from tamrin.models.layers import ActivationKind, InitKind, PoolKind, initialize
from tamrin.models.mlp import MLP
from tamrin.models.norm import NormKind
from tamrin.models.registry import build_model, register_model

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
SMOKE = {"width": 0.25}  # every layer a quarter as wide: smoke runs and the model tests


def build_classifier(
    cfg: ModelConfig, in_shape: tuple[int, int, int], num_classes: int
) -> nn.Module:
    """The network `cfg.arch` for inputs (C, H, W) and `num_classes` outputs, initialized."""
    return build_model(cfg.arch, cfg, in_shape=in_shape, out_dim=num_classes)


def _initialized(model: nn.Module, cfg: ModelConfig) -> nn.Module:
    """`model` with its weights re-drawn by `cfg.init` (a no-op for 'default')."""
    initialize(
        model,
        cfg.init,
        act=cfg.activation,
        negative_slope=cfg.negative_slope,
        std=cfg.init_std,
        constant=cfg.init_constant,
    )
    return model


def _common(cfg: ModelConfig) -> dict[str, Any]:
    """The keyword arguments every ModelConfig network takes."""
    return dict(
        norm=cfg.norm,
        width=cfg.width,
        dropout=cfg.dropout,
        act=cfg.activation,
        negative_slope=cfg.negative_slope,
    )


@register_model(
    "lenet",
    config=ModelConfig,
    fixed={"arch": "lenet"},
    smoke=SMOKE,
    summary="LeNet-5 (HW2): conv5x5 6 -> conv5x5 16 -> FC 120 -> 84; 62k parameters on CIFAR-10",
)
def lenet(cfg: ModelConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    return _initialized(LeNet(in_shape, out_dim, pooling=cfg.pooling, **_common(cfg)), cfg)


@register_model(
    "wide",
    config=ModelConfig,
    fixed={"arch": "wide"},
    smoke=SMOKE,
    summary="HW2's wider CNN: conv3x3 30 -> conv3x3 30 -> FC 1080 -> 256 (model.hidden)",
)
def wide(cfg: ModelConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    hidden = tuple(cfg.hidden) if cfg.hidden else (256,)
    net = WideCNN(in_shape, out_dim, pooling=cfg.pooling, hidden=hidden, **_common(cfg))
    return _initialized(net, cfg)


@register_model(
    "mlp",
    config=ModelConfig,
    fixed={"arch": "mlp"},
    smoke=SMOKE,
    summary="HW5's MLP on flattened pixels: 4096-2048-1024-512-256-64 (model.hidden)",
)
def mlp(cfg: ModelConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    c, h, w = in_shape
    return _initialized(MLP(c * h * w, cfg.hidden or MLP_HIDDEN, out_dim, **_common(cfg)), cfg)
