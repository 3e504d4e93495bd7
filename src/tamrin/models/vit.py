"""The vision transformer (Dosovitskiy et al. 2021) from the course's encoder block.

An image is cut into P×P patches, each linearly embedded (a P-strided convolution); a learned
[CLS] token is prepended, position embeddings added (learned, fixed 2-D sin-cos, or none — the
HW5 claim "without position encoding the network fails" is `pos_embed=none`), and a stack of
pre-norm `tamrin.models.attention.TransformerBlock`s — the block the BERT encoder stacks —
runs over the tokens. `features(x, masked, mask_token)` swaps chosen patches for a [MASK]
embedding first: the input side of masked image modelling (BEiT / SimMIM), whose
`MaskedImageModel` owns that embedding (a classifier has no unused weight).

    vit   the classifier: final LayerNorm -> [CLS] (or mean over patches) -> linear head
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from tamrin.config import require
from tamrin.models.attention import TransformerBlock
from tamrin.models.registry import register_model

PosEmbed = Literal["learned", "sincos", "none"]
Pool = Literal["cls", "mean"]


@dataclass
class ViTConfig:
    """A ViT's shape and regularisation (defaults: a small ViT for 32×32 images, patch 4)."""

    patch: int = 4  # patch side in pixels; the image side must be a multiple of it
    dim: int = 192  # width of every token's state
    depth: int = 6  # transformer blocks
    heads: int = 3  # attention heads (dim / heads wide each)
    mlp_ratio: float = 2.0  # feed-forward width / dim
    dropout: float = 0.0  # after the embeddings and each residual branch
    attention_dropout: float = 0.0  # on the attention weights (0 keeps torch's fused kernel)
    pos_embed: PosEmbed = "learned"  # learned | sincos (fixed 2-D) | none
    pool: Pool = "cls"  # head input: the [CLS] state or the mean over patch states
    eps: float = 1e-6  # LayerNorm epsilon (timm's ViT)

    def validate(self) -> None:
        for name in ("patch", "dim", "depth", "heads"):
            require(getattr(self, name) >= 1, f"{name} must be >= 1; got {getattr(self, name)}")
        require(self.dim % self.heads == 0, f"dim ({self.dim}) must be divisible by heads")
        require(self.mlp_ratio > 0, f"mlp_ratio must be > 0; got {self.mlp_ratio}")
        for name in ("dropout", "attention_dropout"):
            value = getattr(self, name)
            require(0 <= value < 1, f"{name} must be in [0, 1); got {value}")
        require(
            self.pos_embed in ("learned", "sincos", "none"),
            f"pos_embed must be learned, sincos or none; got {self.pos_embed}",
        )
        require(self.pool in ("cls", "mean"), f"pool must be cls or mean; got {self.pool}")


class PatchEmbedding(nn.Module):
    """(B, C, H, W) -> (B, N, dim): non-overlapping P×P patches, each linearly embedded.

    A P-strided P×P convolution is exactly a linear map of each flattened patch; patches come
    out in row-major order (row by row of the grid), the order `patchify` uses.
    """

    def __init__(self, channels: int, image: tuple[int, int], patch: int, dim: int) -> None:
        super().__init__()
        h, w = image
        if h % patch or w % patch:
            raise ValueError(f"image {h}x{w} is not a whole number of {patch}x{patch} patches")
        self.grid = (h // patch, w // patch)
        self.patch = patch
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P·P·C) pixels per patch, row-major (the targets of pixel MIM)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // patch) * (w // patch), patch * patch * c)


def unpatchify(patches: torch.Tensor, patch: int, grid: tuple[int, int]) -> torch.Tensor:
    """The inverse of `patchify`: (B, N, P·P·C) -> (B, C, H, W)."""
    b, _, size = patches.shape
    c = size // (patch * patch)
    x = patches.reshape(b, grid[0], grid[1], patch, patch, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, c, grid[0] * patch, grid[1] * patch)


def sincos_embedding(grid: tuple[int, int], dim: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position embeddings (N, dim) (MAE's): half the width encodes the row,
    half the column, each with sines and cosines of geometrically spaced frequencies."""
    if dim % 4:
        raise ValueError(f"sincos position embeddings need dim divisible by 4; got {dim}")
    quarter = dim // 4
    freq = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(
        torch.arange(grid[0], dtype=torch.float64),
        torch.arange(grid[1], dtype=torch.float64),
        indexing="ij",
    )
    parts = []
    for pos in (rows.flatten(), cols.flatten()):
        angle = pos[:, None] * freq[None, :]
        parts += [angle.sin(), angle.cos()]
    return torch.cat(parts, dim=1).float()


class ViT(nn.Module):
    """images (B, C, H, W) -> class logits (B, K); `features` and `attention` for the rest."""

    def __init__(self, cfg: ViTConfig, in_shape: Sequence[int], classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        channels, h, w = (int(v) for v in in_shape)
        self.patch_embed = PatchEmbedding(channels, (h, w), cfg.patch, cfg.dim)
        n = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        if cfg.pos_embed == "learned":
            self.pos_embed: nn.Parameter | None = nn.Parameter(torch.zeros(1, n + 1, cfg.dim))
        else:
            self.pos_embed = None
        if cfg.pos_embed == "sincos":  # [CLS] gets no position (zeros), as in MAE
            grid = sincos_embedding(self.patch_embed.grid, cfg.dim)
            fixed = torch.cat([torch.zeros(1, cfg.dim), grid])
            self.register_buffer("fixed_pos", fixed[None], persistent=False)
        else:
            self.fixed_pos = None
        self.drop = nn.Dropout(cfg.dropout)
        hidden = round(cfg.dim * cfg.mlp_ratio)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                cfg.dim,
                cfg.heads,
                hidden,
                dropout=cfg.dropout,
                attention_dropout=cfg.attention_dropout,
                norm_first=True,
                eps=cfg.eps,
            )
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.eps)
        self.head = nn.Linear(cfg.dim, classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """timm's ViT init: truncated-normal(0.02) tokens / position / linear weights, zero biases,
        the patch projection as a linear layer (Xavier-uniform over its flattened kernel)."""
        for token in (self.cls_token, self.pos_embed):
            if token is not None:
                nn.init.trunc_normal_(token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        proj = self.patch_embed.proj
        nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))
        if proj.bias is not None:
            nn.init.zeros_(proj.bias)

    @property
    def grid(self) -> tuple[int, int]:
        return self.patch_embed.grid

    def tokens(
        self,
        x: torch.Tensor,
        masked: torch.Tensor | None = None,
        mask_token: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The encoder's input (B, 1 + N, dim): [CLS] + patch embeddings (replaced by
        `mask_token` (dim,) where `masked` (B, N) is True) + positions."""
        patches = self.patch_embed(x)
        if masked is not None:
            if mask_token is None:
                raise ValueError("masked patches need a mask_token to stand in for them")
            hide = masked.unsqueeze(-1).to(patches.dtype)
            patches = patches * (1 - hide) + mask_token.to(patches.dtype) * hide
        cls = self.cls_token.expand(patches.shape[0], -1, -1).to(patches.dtype)
        tokens = torch.cat([cls, patches], dim=1)
        if self.pos_embed is not None:
            tokens = tokens + self.pos_embed
        elif self.fixed_pos is not None:
            tokens = tokens + self.fixed_pos
        return self.drop(tokens)

    def features(
        self,
        x: torch.Tensor,
        masked: torch.Tensor | None = None,
        mask_token: torch.Tensor | None = None,
        *,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(normalised token states (B, 1 + N, dim), per-block attention weights on request)."""
        h = self.tokens(x, masked, mask_token)
        weights: list[torch.Tensor] = []
        for block in self.blocks:
            h, w = block(h, need_weights=need_weights)
            if w is not None:
                weights.append(w)
        return self.norm(h), weights

    def pool(self, states: torch.Tensor) -> torch.Tensor:
        return states[:, 0] if self.cfg.pool == "cls" else states[:, 1:].mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)[0]))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Attention weights (B, depth, heads, 1 + N, 1 + N) of the written-out path."""
        return torch.stack(self.features(x, need_weights=True)[1], dim=1)


def flops_per_image(cfg: ViTConfig, in_shape: Sequence[int], classes: int = 10) -> int:
    """Multiply-adds ×2 of one forward pass (patch embedding, blocks, head; norms ignored)."""
    c, h, w = (int(v) for v in in_shape)
    n = (h // cfg.patch) * (w // cfg.patch)
    t, d, hidden = n + 1, cfg.dim, round(cfg.dim * cfg.mlp_ratio)
    embed = n * (c * cfg.patch * cfg.patch) * d
    per_block = t * (3 * d * d + d * d + 2 * d * hidden) + 2 * t * t * d
    return 2 * (embed + cfg.depth * per_block + d * classes)


@register_model(
    "vit",
    config=ViTConfig,
    summary="vision transformer: patches + [CLS] + positions, pre-norm encoder, linear head",
    smoke={"dim": 32, "depth": 2, "heads": 2},
)
def _vit(cfg: ViTConfig, in_shape: Sequence[int], out_dim: int) -> ViT:
    if len(in_shape) != 3:
        raise ValueError(f"vit takes images (C, H, W); got in_shape {tuple(in_shape)}")
    return ViT(cfg, in_shape, out_dim)


class MaskedImageModel(nn.Module):
    """A ViT encoder with a linear pixel decoder (SimMIM): predicts every patch's pixels from
    the encoding of an image whose masked patches were replaced by [MASK]."""

    def __init__(self, encoder: ViT) -> None:
        super().__init__()
        self.encoder = encoder
        self.mask_token = nn.Parameter(torch.zeros(encoder.cfg.dim))  # for the hidden patches
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        channels = encoder.patch_embed.proj.in_channels
        self.decoder = nn.Linear(encoder.cfg.dim, encoder.cfg.patch**2 * channels)
        nn.init.trunc_normal_(self.decoder.weight, std=0.02)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images, (B, N) bool -> (B, N, P·P·C) predicted pixels per patch."""
        states, _ = self.encoder.features(x, masked, self.mask_token)
        return self.decoder(states[:, 1:])
