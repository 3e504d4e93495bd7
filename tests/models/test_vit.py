"""The vision transformer and its segmenter: patches, [CLS] and positions, masking, kernels."""

from __future__ import annotations

import pytest
import torch

from tamrin.errors import ConfigError
from tamrin.models import attention as A
from tamrin.models import build_model
from tamrin.models.vit import (
    MaskedImageModel,
    PatchEmbedding,
    ViT,
    ViTConfig,
    flops_per_image,
    patchify,
    sincos_embedding,
    unpatchify,
)

SMALL = ViTConfig(patch=4, dim=16, depth=2, heads=2)


def _vit(**overrides: object) -> ViT:
    torch.manual_seed(0)
    cfg = ViTConfig(**{**vars(SMALL), **overrides})  # type: ignore[arg-type]
    return ViT(cfg, (3, 16, 16), 5).eval()


def test_patch_embedding_shapes_and_row_major_order() -> None:
    embed = PatchEmbedding(3, (16, 12), 4, 8)
    x = torch.randn(2, 3, 16, 12)
    out = embed(x)
    assert embed.grid == (4, 3) and embed.num_patches == 12
    assert out.shape == (2, 12, 8)
    # the strided conv is a linear map of each flattened patch, in patchify's order
    weight = embed.proj.weight.permute(0, 2, 3, 1).reshape(8, -1)  # (dim, P, P, C) like patchify
    expected = patchify(x, 4) @ weight.T + embed.proj.bias
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_patch_embedding_rejects_a_partial_patch() -> None:
    with pytest.raises(ValueError, match="whole number of 4x4 patches"):
        PatchEmbedding(1, (30, 32), 4, 8)


def test_patchify_round_trips_and_orders_patches_row_by_row() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    patches = patchify(x, 4)
    assert patches.shape == (2, 4, 48)
    torch.testing.assert_close(unpatchify(patches, 4, (2, 2)), x)
    # patch 1 is the top-right 4x4 block; its first pixel is channel 0 at (0, 4)
    assert patches[0, 1, 0] == x[0, 0, 0, 4]
    assert patches[0, 2, 0] == x[0, 0, 4, 0]


def test_cls_token_and_learned_positions_are_added() -> None:
    model = _vit()
    x = torch.randn(1, 3, 16, 16)
    tokens = model.tokens(x)
    assert tokens.shape == (1, 17, 16)
    expected_cls = model.cls_token[0, 0] + model.pos_embed[0, 0]  # type: ignore[index]
    torch.testing.assert_close(tokens[0, 0], expected_cls)
    torch.testing.assert_close(tokens[0, 1:], model.patch_embed(x)[0] + model.pos_embed[0, 1:])  # type: ignore[index]


def _shuffle_patches(x: torch.Tensor, patch: int, perm: torch.Tensor) -> torch.Tensor:
    grid = (x.shape[2] // patch, x.shape[3] // patch)
    return unpatchify(patchify(x, patch)[:, perm], patch, grid)


def test_without_positions_the_vit_sees_a_set_of_patches() -> None:
    """pos_embed=none: shuffling the patches leaves the [CLS] output unchanged (what the HW5 claim
    is about); with learned or sin-cos positions the output changes."""
    x = torch.randn(2, 3, 16, 16)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    shuffled = _shuffle_patches(x, 4, perm)

    def cls(model: ViT, images: torch.Tensor) -> torch.Tensor:
        return model.features(images)[0][:, 0]

    def scrambled(kind: str) -> ViT:  # weights far from the 0.02-std init: sharp attention
        model = _vit(pos_embed=kind)
        for p in model.parameters():
            p.normal_(std=0.5)
        return model

    with torch.no_grad():
        bag = scrambled("none")
        torch.testing.assert_close(cls(bag, x), cls(bag, shuffled), rtol=1e-4, atol=1e-5)
        for kind in ("learned", "sincos"):
            model = scrambled(kind)
            assert (cls(model, x) - cls(model, shuffled)).abs().max() > 1e-2, (
                kind
            )  # vs 1e-5 for the bag


def test_sincos_embeddings_are_distinct_and_bounded() -> None:
    table = sincos_embedding((4, 4), 16)
    assert table.shape == (16, 16)
    assert table.abs().max() <= 1.0
    assert torch.cdist(table, table).add(torch.eye(16)).min() > 0  # every position differs
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_embedding((4, 4), 18)


def test_masked_patches_are_replaced_by_the_mask_token() -> None:
    model = MaskedImageModel(_vit())
    x = torch.randn(2, 3, 16, 16)
    masked = torch.zeros(2, 16, dtype=torch.bool)
    masked[0, 3] = True
    tokens = model.encoder.tokens(x, masked, model.mask_token)
    plain = model.encoder.tokens(x)
    pos = model.encoder.pos_embed[0, 4]  # type: ignore[index]  # patch 3 is token 4 after [CLS]
    torch.testing.assert_close(tokens[0, 4], model.mask_token + pos)
    torch.testing.assert_close(tokens[1], plain[1])
    keep = torch.ones(17, dtype=torch.bool)
    keep[4] = False
    torch.testing.assert_close(tokens[0, keep], plain[0, keep])
    assert model(x, masked).shape == (2, 16, 48)  # 4x4x3 pixels per patch
    with pytest.raises(ValueError, match="mask_token"):
        model.encoder.tokens(x, masked)


def test_pooling_cls_or_mean() -> None:
    states = torch.randn(2, 5, 16)
    torch.testing.assert_close(_vit(pool="cls").pool(states), states[:, 0])
    torch.testing.assert_close(_vit(pool="mean").pool(states), states[:, 1:].mean(1))


def test_attention_weights_have_one_row_per_token_and_sum_to_one() -> None:
    weights = _vit().attention(torch.randn(3, 3, 16, 16))
    assert weights.shape == (3, 2, 2, 17, 17)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 2, 17))


def test_flops_count_by_hand() -> None:
    cfg = ViTConfig(patch=4, dim=8, depth=1, heads=2, mlp_ratio=2.0)
    n, t, d, h = 4, 5, 8, 16  # an 8x8 image: 4 patches + [CLS]
    by_hand = n * 48 * d + t * (4 * d * d + 2 * d * h) + 2 * t * t * d + d * 3
    assert flops_per_image(cfg, (3, 8, 8), classes=3) == 2 * by_hand


def test_bad_configs_fail_before_building() -> None:
    with pytest.raises(ConfigError, match="divisible by heads"):
        build_model("vit", in_shape=(3, 32, 32), out_dim=10, dim=30, heads=4)
    with pytest.raises(ConfigError, match="pos_embed"):
        build_model("vit", in_shape=(3, 32, 32), out_dim=10, pos_embed="rotary")


def test_bf16_short_sequences_take_the_written_out_path_with_the_same_result() -> None:
    """The kernel choice (measured: written-out faster for short bf16 sequences on CPU) changes
    speed only: both paths agree."""
    q = torch.randn(2, 2, 65, 16).to(torch.bfloat16)
    assert not A._fused_is_faster(q)
    assert A._fused_is_faster(q.float())
    assert A._fused_is_faster(torch.randn(1, 2, A.SHORT_BF16_CPU + 1, 16).to(torch.bfloat16))
    mha = A.MultiHeadAttention(32, 2).eval()
    x = torch.randn(2, 65, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        written, _ = mha(x)
    with torch.no_grad():
        fused, _ = mha(x)
    torch.testing.assert_close(written.float(), fused, rtol=0.05, atol=0.05)


def test_segmenter_outputs_per_pixel_logits_and_uses_the_image_skip() -> None:
    torch.manual_seed(0)
    model = build_model(
        "vit-segmenter",
        in_shape=(1, 32, 32),
        out_dim=4,
        **{"encoder.patch": 8, "encoder.dim": 16, "encoder.depth": 1, "encoder.heads": 2},
    ).eval()
    x = torch.randn(2, 1, 32, 32)
    out = model(x)
    assert out.shape == (2, 4, 32, 32)
    assert model.attention(x).shape == (2, 1, 2, 17, 17)
    # a change to one pixel changes that pixel's logits through the skip, not just its patch's
    y = x.clone()
    y[0, 0, 5, 5] += 3.0
    with torch.no_grad():
        diff = (model(y) - out).abs().sum(1)[0]
    assert diff[5, 5] > diff[0, 0]
