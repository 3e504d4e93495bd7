"""Attention written out: scaled dot-product, multi-head, and the transformer encoder block.

These are the course's exercise (HW5): each equals its library twin with the same weights —
`MultiHeadAttention` matches `torch.nn.MultiheadAttention` (outputs and per-head weights) and
`TransformerBlock` matches `torch.nn.TransformerEncoderLayer` (post- and pre-norm), tested in
tests/models/test_attention.py. The BERT encoder (`tamrin.models.bert`) and the vision
transformer stack these blocks.

Masks are boolean with True = "may attend" (the convention of `F.scaled_dot_product_attention`;
torch's `key_padding_mask` is the opposite), broadcastable to (batch, heads, queries, keys).
When no weights are asked for, `MultiHeadAttention` calls torch's fused kernel (the same maths,
measured several times faster on CPU than the written-out product in fp32) — except in bf16 on
the CPU for sequences of at most `SHORT_BF16_CPU` tokens and with attention dropout, where the
written-out product measured faster; `need_weights=True` takes the written-out path, whose
weights the attention viewer draws.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def key_mask(ids: torch.Tensor, pad: int) -> torch.Tensor:
    """(B, L) token ids -> (B, 1, 1, L) bool: True where the key is a real token, not padding."""
    return (ids != pad)[:, None, None, :]


def causal_mask(queries: int, keys: int, device: torch.device | None = None) -> torch.Tensor:
    """(Lq, Lk) bool: query i may attend to keys up to its own position (the last Lq of Lk)."""
    return torch.ones(queries, keys, dtype=torch.bool, device=device).tril(keys - queries)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    causal: bool = False,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d + mask) v, written out; returns (output, weights).

    q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv); `mask` bool, True = may attend; `causal`
    hides later keys. The softmax runs in fp32 (as torch's kernels do under autocast). A query
    that may attend to nothing gets zero weights, not NaN. `dropout` drops weights in training.
    """
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    allowed = _allowed(mask, causal, q.shape[-2], k.shape[-2], q.device)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1)
    if allowed is not None:
        weights = weights.nan_to_num(0.0)  # rows with no allowed key
    weights = weights.to(v.dtype)
    kept = F.dropout(weights, dropout, training=training) if dropout > 0 else weights
    return kept @ v, weights


def _allowed(
    mask: torch.Tensor | None, causal: bool, queries: int, keys: int, device: torch.device
) -> torch.Tensor | None:
    """The combined bool mask (padding and causal), or None when everything is allowed."""
    if not causal:
        return mask
    tri = causal_mask(queries, keys, device)
    return tri if mask is None else mask & tri


# Below this many queries, bf16 attention on the CPU is faster written out than in torch's fused
# (flash) kernel: measured training steps on a 2-core AMX Xeon, written-out / fused, ViT (65
# tokens) 1.6-2.5x, BERT at 128 tokens 1.19x, at 256 tokens 0.93x (README, vision transformers).
SHORT_BF16_CPU = 128


def _fused_is_faster(q: torch.Tensor) -> bool:
    """Whether torch's fused kernel beats the written-out product for these queries (measured).

    With dropout the fused kernel falls back to a slower path on the CPU than the written-out
    product (0.54x transformers' step in fp32), and bf16 on the CPU is slower fused for short
    sequences; everywhere else the fused kernel is the faster.
    """
    short_bf16_cpu = q.device.type == "cpu" and q.dtype == torch.bfloat16
    return not (short_bf16_cpu and q.shape[-2] <= SHORT_BF16_CPU)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with one fused q/k/v projection (torch's `in_proj` layout).

    `forward(x)` is self-attention; `forward(x, context)` attends from `x` to `context`
    (cross-attention: the same weights, split). Returns (output, weights or None); weights are
    per head, (B, H, Lq, Lk), when `need_weights`.
    """

    def __init__(self, dim: int, heads: int, *, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def _project(
        self, x: torch.Tensor, context: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v as (B, H, L, dim / H)."""
        batch, length, _ = x.shape
        per_head = self.dim // self.heads
        if context is None:
            qkv = self.qkv(x).view(batch, length, 3, self.heads, per_head)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            return q, k, v
        w_q, w_kv = self.qkv.weight.split([self.dim, 2 * self.dim])
        b_q, b_kv = (
            (None, None) if self.qkv.bias is None else self.qkv.bias.split([self.dim, 2 * self.dim])
        )
        q = F.linear(x, w_q, b_q).view(batch, length, self.heads, per_head).transpose(1, 2)
        kv = F.linear(context, w_kv, b_kv).view(batch, context.shape[1], 2, self.heads, per_head)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        q, k, v = self._project(x, context)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if need_weights or dropout > 0 or not _fused_is_faster(q):
            out, weights = scaled_dot_product_attention(
                q, k, v, mask, causal=causal, dropout=dropout, training=self.training
            )
        else:
            allowed = _allowed(mask, causal, q.shape[-2], k.shape[-2], q.device)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout)
        batch, length = x.shape[:2]
        out = self.out(out.transpose(1, 2).reshape(batch, length, self.dim))
        return out, weights if need_weights else None


class TransformerBlock(nn.Module):
    """Attention then a feed-forward net, each with a residual and LayerNorm.

    Post-norm (`norm_first=False`, BERT): x = LN(x + attn(x)); x = LN(x + ff(x)).
    Pre-norm (`norm_first=True`, ViT / GPT-2): x = x + attn(LN(x)); x = x + ff(LN(x)).
    `dropout` follows each residual branch; `attention_dropout` drops attention weights.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        hidden: int,
        *,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        norm_first: bool = False,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attention = MultiHeadAttention(dim, heads, dropout=attention_dropout)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.ff = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.norm_first:
            attended, weights = self.attention(
                self.norm1(x), mask=mask, causal=causal, need_weights=need_weights
            )
            x = x + self.drop(attended)
            return x + self.drop(self.ff(self.norm2(x))), weights
        attended, weights = self.attention(x, mask=mask, causal=causal, need_weights=need_weights)
        x = self.norm1(x + self.drop(attended))
        return self.norm2(x + self.drop(self.ff(x))), weights
