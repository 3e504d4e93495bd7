"""The written-out attention equals torch's: scaled dot-product (masks), multi-head attention
against `nn.MultiheadAttention` and the encoder block against `nn.TransformerEncoderLayer`, with
the same weights, to 1e-5 in outputs and per-head attention weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tamrin.models.attention import (
    MultiHeadAttention,
    TransformerBlock,
    causal_mask,
    key_mask,
    scaled_dot_product_attention,
)

DIM, HEADS, LENGTH = 32, 4, 7


def _pair(seed: int = 0) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(DIM, HEADS, batch_first=True).eval()
    nn.init.normal_(theirs.in_proj_bias)  # zeros by default: a layout bug would hide
    ours = MultiHeadAttention(DIM, HEADS).eval()
    with torch.no_grad():
        ours.qkv.weight.copy_(theirs.in_proj_weight)
        ours.qkv.bias.copy_(theirs.in_proj_bias)
        ours.out.weight.copy_(theirs.out_proj.weight)
        ours.out.bias.copy_(theirs.out_proj.bias)
    return ours, theirs


def _padded_ids() -> torch.Tensor:
    ids = torch.randint(1, 50, (3, LENGTH))
    ids[1, 4:] = 0  # two padded sequences of different lengths
    ids[2, 2:] = 0
    return ids


@pytest.mark.parametrize("need_weights", [True, False])
def test_self_attention_matches_torch_with_padding(need_weights: bool) -> None:
    ours, theirs = _pair()
    x = torch.randn(3, LENGTH, DIM)
    ids = _padded_ids()
    out, weights = ours(x, mask=key_mask(ids, 0), need_weights=need_weights)
    ref, ref_weights = theirs(
        x, x, x, key_padding_mask=ids == 0, need_weights=True, average_attn_weights=False
    )
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    if need_weights:
        assert weights is not None and weights.shape == (3, HEADS, LENGTH, LENGTH)
        torch.testing.assert_close(weights, ref_weights, atol=1e-5, rtol=1e-5)
        assert weights[2, :, :, 2:].abs().max() == 0  # padded keys get no weight
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, HEADS, LENGTH))
    else:
        assert weights is None


def test_causal_attention_matches_torch() -> None:
    ours, theirs = _pair(1)
    x = torch.randn(2, LENGTH, DIM)
    out, weights = ours(x, causal=True, need_weights=True)
    fused, _ = ours(x, causal=True)
    upper = ~causal_mask(LENGTH, LENGTH)  # torch's float/bool attn_mask: True = hidden
    ref, ref_weights = theirs(
        x, x, x, attn_mask=upper, need_weights=True, average_attn_weights=False
    )
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, ref_weights, atol=1e-5, rtol=1e-5)
    assert weights is not None and weights.triu(1).abs().max() == 0


def test_cross_attention_matches_torch() -> None:
    ours, theirs = _pair(2)
    query, context = torch.randn(2, 3, DIM), torch.randn(2, LENGTH, DIM)
    out, weights = ours(query, context, need_weights=True)
    ref, ref_weights = theirs(
        query, context, context, need_weights=True, average_attn_weights=False
    )
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, ref_weights, atol=1e-5, rtol=1e-5)


def test_scaled_dot_product_matches_torch_and_handles_empty_rows() -> None:
    torch.manual_seed(3)
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 4)
    mask = torch.rand(2, 5, 6) > 0.3
    mask[:, :, 0] = True
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5))
    mask[0, 1] = False  # a query that may attend to nothing: zeros, not NaN
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and weights[0, 1].abs().max() == 0


def test_causal_mask_shape() -> None:
    tri = causal_mask(2, 4)  # the last two queries of four keys
    assert tri.tolist() == [[True, True, True, False], [True, True, True, True]]


@pytest.mark.parametrize("norm_first", [False, True])
def test_block_matches_transformer_encoder_layer(norm_first: bool) -> None:
    torch.manual_seed(4)
    theirs = nn.TransformerEncoderLayer(
        DIM, HEADS, 64, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first
    ).eval()
    ours = TransformerBlock(DIM, HEADS, 64, dropout=0.0, norm_first=norm_first).eval()
    pairs = {
        "attention.qkv.weight": "self_attn.in_proj_weight",
        "attention.qkv.bias": "self_attn.in_proj_bias",
        "attention.out.weight": "self_attn.out_proj.weight",
        "attention.out.bias": "self_attn.out_proj.bias",
        "ff.0.weight": "linear1.weight",
        "ff.0.bias": "linear1.bias",
        "ff.2.weight": "linear2.weight",
        "ff.2.bias": "linear2.bias",
        "norm1.weight": "norm1.weight",
        "norm1.bias": "norm1.bias",
        "norm2.weight": "norm2.weight",
        "norm2.bias": "norm2.bias",
    }
    source = theirs.state_dict()
    ours.load_state_dict({mine: source[name] for mine, name in pairs.items()})
    x, ids = torch.randn(3, LENGTH, DIM), _padded_ids()
    out, _ = ours(x, key_mask(ids, 0))
    ref = theirs(x, src_key_padding_mask=ids == 0)
    real = ids != 0  # torch's fast path may zero padded positions: compare the real ones
    torch.testing.assert_close(out[real], ref[real], atol=1e-5, rtol=1e-5)


def test_attention_dropout_only_in_training() -> None:
    mha = MultiHeadAttention(DIM, HEADS, dropout=0.5)
    x = torch.randn(2, LENGTH, DIM)
    mha.eval()
    torch.testing.assert_close(mha(x)[0], mha(x)[0])
    mha.train()
    assert not torch.allclose(mha(x, need_weights=True)[0], mha(x, need_weights=True)[0])


def test_bad_head_count() -> None:
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(30, 4)
