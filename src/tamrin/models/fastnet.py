"""The fast CIFAR-10 network: a frozen patch-whitening stem, three conv groups, test-time flips.

After Keller Jordan's airbench94 (94.01 % in 3.83 s on an A100; github.com/KellerJordan/
cifar10-airbench), itself a descendant of David Page's DAWNBench ResNet and hlb-CIFAR10, written
here from tamrin's own pieces:

    whiten   2×2 conv, 24 channels, weights fixed to the ZCA-like whitening of 2×2 training
             patches (eigenvectors / sqrt(eigenvalue), and their negatives); only its bias trains
    group i  conv3 → max-pool 2 → BN → GELU → conv3 → BN → GELU, widths (64, 256, 256)
    head     max-pool 3 → linear (no bias) → × 1/9

BatchNorm keeps its scale fixed at 1 (only the shift trains, at a 64× learning rate: see
`param_groups`); convolutions start as identities on their first channels (Dirac init). In eval
mode the model averages its logits over mirrored and 1-pixel-translated copies of each image
(`tta`: 0 off, 1 flip, 2 flip + translate), so validation, the test split and `tamrin.load`
predictions all see the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tamrin.config import require
from tamrin.models.registry import register_model


@dataclass
class FastNetConfig:
    """Widths and the few constants airbench94 tuned."""

    widths: tuple[int, int, int] = (64, 256, 256)  # channels of the three conv groups
    whiten_kernel: int = 2  # side of the whitening patches
    bn_momentum: float = 0.6  # weight of the old running statistics (PyTorch momentum 1 - this)
    logit_scale: float = 1 / 9  # logits are multiplied by this (a temperature for the loss)
    bias_lr_scale: float = 64.0  # BatchNorm shifts train at this × the learning rate, wd ÷ it
    tta: int = 2  # eval-mode test-time augmentation: 0 off, 1 flip, 2 flip + 1-pixel translate

    def validate(self) -> None:
        require(
            len(self.widths) == 3 and all(w >= 8 and w % 8 == 0 for w in self.widths),
            f"model.widths must be three multiples of 8; got {self.widths}",
        )
        for name in ("whiten_kernel", "logit_scale", "bias_lr_scale"):
            require(getattr(self, name) > 0, f"model.{name} must be > 0; got {getattr(self, name)}")
        require(
            0 <= self.bn_momentum < 1,
            f"model.bn_momentum must be in [0, 1); got {self.bn_momentum}",
        )
        require(self.tta in (0, 1, 2), f"model.tta must be 0, 1 or 2; got {self.tta}")


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    """3×3 same-padding conv without bias, the first min(c_in, c_out) filters the identity."""
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(c_in, c_out)])
    return conv


def _norm(channels: int, momentum: float) -> nn.BatchNorm2d:
    """BatchNorm with the scale fixed at 1: only the shift is learned."""
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=1 - momentum)
    norm.weight.requires_grad_(False)
    return norm


class ConvGroup(nn.Module):
    """conv3 → max-pool 2 → BN → GELU → conv3 → BN → GELU (halves H and W)."""

    def __init__(self, c_in: int, c_out: int, momentum: float) -> None:
        super().__init__()
        self.conv1, self.norm1 = _conv(c_in, c_out), _norm(c_out, momentum)
        self.conv2, self.norm2 = _conv(c_out, c_out), _norm(c_out, momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


def image_patches(x: torch.Tensor, size: int) -> torch.Tensor:
    """Every size×size patch of a batch (B, C, H, W), flattened: (B·(H-size+1)², C·size²)."""
    c = x.shape[1]
    patches = x.unfold(2, size, 1).unfold(3, size, 1)  # (B, C, H', W', size, size)
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * size * size).float()


def whitening_filters(x: torch.Tensor, size: int, eps: float = 5e-4) -> torch.Tensor:
    """(2·C·size², C, size, size) filters that whiten size×size patches of `x`, and negate them.

    The eigenvectors of the patches' (uncentred) second-moment matrix, each divided by the square
    root of its eigenvalue, largest first; the negated copies let a following GELU pass both signs.
    """
    c = x.shape[1]
    flat = image_patches(x, size)
    moments = flat.T @ flat / flat.shape[0]
    values, vectors = torch.linalg.eigh(moments)  # ascending
    values, vectors = values.flip(0), vectors.flip(1)
    filters = (vectors / torch.sqrt(values + eps)).T.reshape(-1, c, size, size)
    return torch.cat([filters, -filters])


class FastNet(nn.Module):
    """The whitening stem, three conv groups and a scaled linear head (see the module doc)."""

    def __init__(self, cfg: FastNetConfig, in_shape: Sequence[int], out_dim: int) -> None:
        super().__init__()
        c = int(in_shape[0])
        k = cfg.whiten_kernel
        self.cfg = cfg
        self.whiten = nn.Conv2d(c, 2 * c * k * k, k, bias=True)
        self.whiten.weight.requires_grad_(False)  # set from data by `init_whitening`
        nn.init.zeros_(self.whiten.bias)  # type: ignore[arg-type]
        w1, w2, w3 = cfg.widths
        self.groups = nn.Sequential(
            ConvGroup(2 * c * k * k, w1, cfg.bn_momentum),
            ConvGroup(w1, w2, cfg.bn_momentum),
            ConvGroup(w2, w3, cfg.bn_momentum),
        )
        self.head = nn.Linear(w3, out_dim, bias=False)

    @torch.no_grad()
    def init_whitening(self, x: torch.Tensor) -> None:
        """Set the stem's filters from training images `x` (B, C, H, W), normalized as trained."""
        filters = whitening_filters(x, self.cfg.whiten_kernel)
        self.whiten.weight.copy_(filters.to(self.whiten.weight.device))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """One pass, no test-time augmentation."""
        x = self.groups(F.gelu(self.whiten(x)))
        x = F.adaptive_max_pool2d(x, 1).flatten(1)  # the 3×3 max-pool over the last 3×3 map
        return self.head(x) * self.cfg.logit_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.cfg.tta == 0:
            return self.logits(x)
        return flip_translate_logits(self.logits, x, self.cfg.tta)

    def param_groups(self) -> list[dict[str, Any]]:
        """BatchNorm shifts at `bias_lr_scale` × the learning rate (and ÷ the weight decay, so
        their decay per step is that of the other weights); everything else at 1×."""
        shifts = [m.bias for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        ids = {id(p) for p in shifts}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        scale = self.cfg.bias_lr_scale
        return [
            {"params": shifts, "lr_scale": scale, "wd_scale": 1 / scale},
            {"params": rest, "lr_scale": 1.0, "wd_scale": 1.0},
        ]


def flip_translate_logits(fn: Any, x: torch.Tensor, level: int) -> torch.Tensor:
    """Logits averaged over test-time copies of `x`: level 1 mirror; level 2 also the mirrored
    pair shifted one pixel up-left and down-right (reflect-padded), weighted 1/2 : 1/4 : 1/4."""

    def mirrored(images: torch.Tensor) -> torch.Tensor:
        return 0.5 * fn(images) + 0.5 * fn(images.flip(-1))

    out = mirrored(x)
    if level < 2:
        return out
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = [padded[..., :h, :w], padded[..., 2 : h + 2, 2 : w + 2]]
    return 0.5 * out + 0.25 * (mirrored(shifted[0]) + mirrored(shifted[1]))


@register_model(
    "fastnet",
    config=FastNetConfig,
    summary="airbench-style CIFAR net: whitening stem, 3 conv groups, fixed-scale BN, test flips",
    smoke={"widths": (8, 16, 16)},
)
def _fastnet(cfg: FastNetConfig, in_shape: Sequence[int], out_dim: int) -> FastNet:
    if len(in_shape) != 3 or min(in_shape[1:]) < 8:
        raise ValueError(f"fastnet takes images (C, H, W) of side >= 8; got {tuple(in_shape)}")
    return FastNet(cfg, in_shape, out_dim)
