"""Embedding networks for metric learning: an image in, a point in R^D out (no classifier head).

`homework` is the course's siamese branch (HW14): three 32-filter 3x3 convs with max pooling, a
dense 128 ReLU layer and a linear embedding. `bn` is the same layout made slightly stronger:
padded convs (32-32-64) each followed by BatchNorm, which trains faster and further at the same
cost order. `normalize=True` projects every embedding onto the unit sphere (L2), so squared
distances lie in [0, 4] and a margin means the same thing throughout training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tamrin.errors import ConfigError
from tamrin.models.registry import build_model, list_models, register_model

EmbeddingArch = Literal["homework", "bn"]


@dataclass
class EmbeddingConfig:
    """Which embedding network and how wide."""

    arch: EmbeddingArch = "bn"  # homework (HW14's 3x conv32 + dense 128) | bn (padded, BatchNorm)
    dim: int = 64  # embedding size D
    hidden: int = 128  # units of the dense layer before the embedding
    width: float = 1.0  # multiplies every conv's channel count (smoke runs shrink it)
    normalize: bool = True  # L2-normalize embeddings (unit sphere)


def _ch(n: int, width: float) -> int:
    return max(1, round(n * width))


def _homework_body(cin: int, width: float) -> nn.Sequential:
    c = _ch(32, width)
    return nn.Sequential(  # 28x28 -> 26 -> 24 -> pool 12 -> 10 -> pool 5
        nn.Conv2d(cin, c, 3),
        nn.ReLU(inplace=True),
        nn.Conv2d(c, c, 3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(c, c, 3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def _bn_body(cin: int, width: float) -> nn.Sequential:
    c1, c2 = _ch(32, width), _ch(64, width)

    def block(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    return nn.Sequential(  # 28x28 -> 28 -> pool 14 -> 14 -> pool 7 -> 7 -> pool 3
        *block(cin, c1),
        nn.MaxPool2d(2),
        *block(c1, c1),
        nn.MaxPool2d(2),
        *block(c1, c2),
        nn.MaxPool2d(2),
    )


class EmbeddingNet(nn.Module):
    """conv body -> flatten -> dense `hidden` ReLU -> dense `dim` [-> L2 normalize]."""

    def __init__(self, cfg: EmbeddingConfig, in_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.normalize = cfg.normalize
        body = _homework_body if cfg.arch == "homework" else _bn_body
        self.body = body(in_shape[0], cfg.width)
        with torch.no_grad():
            was = self.body.training
            self.body.eval()
            flat = self.body(torch.zeros(1, *in_shape)).numel()
            self.body.train(was)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden, cfg.dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, D)
        z = self.head(self.body(x))
        return F.normalize(z, dim=1) if self.normalize else z


SMOKE = {"width": 0.25, "hidden": 32}  # a quarter of the channels, a narrow dense layer


@register_model(
    "embed-homework",
    config=EmbeddingConfig,
    fixed={"arch": "homework"},
    smoke=SMOKE,
    task="embed",
    summary="HW14's siamese branch: 3x conv3x3 32 (2 max-pools) -> dense 128 -> embedding",
)
@register_model(
    "embed-bn",
    config=EmbeddingConfig,
    fixed={"arch": "bn"},
    smoke=SMOKE,
    task="embed",
    summary="padded conv3x3 32-32-64, each BatchNorm + max-pool -> dense 128 -> embedding",
)
def embedding_net(cfg: EmbeddingConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    """`cfg.arch`'s network with `out_dim` (not `cfg.dim`) embedding dimensions."""
    return EmbeddingNet(dataclasses.replace(cfg, dim=out_dim), in_shape)


def build_embedding_net(cfg: EmbeddingConfig, in_shape: tuple[int, int, int]) -> nn.Module:
    """The registered 'embed-<cfg.arch>' network with `cfg.dim` embedding dimensions."""
    archs = [n.removeprefix("embed-") for n in list_models("embed-*", task="embed")]
    if cfg.arch not in archs:
        raise ConfigError(f"unknown embedding arch {cfg.arch!r}; allowed: {', '.join(archs)}")
    return build_model(f"embed-{cfg.arch}", cfg, in_shape=in_shape, out_dim=cfg.dim)
