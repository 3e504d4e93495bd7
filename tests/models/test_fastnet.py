"""The fast CIFAR-10 net: whitening filters, test-time augmentation, parameter groups."""

from __future__ import annotations

import pytest
import torch

from tamrin.models import build_model
from tamrin.models.fastnet import (
    FastNetConfig,
    flip_translate_logits,
    image_patches,
    whitening_filters,
)


def test_whitening_filters_whiten_the_patches() -> None:
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(3, 3, generator=g)
    x = torch.einsum("ij,bjhw->bihw", mix, torch.randn(64, 3, 8, 8, generator=g))  # correlated
    filters = whitening_filters(x, 2, eps=0.0)
    assert filters.shape == (24, 3, 2, 2)
    out = image_patches(x, 2) @ filters[:12].reshape(12, -1).T  # the positive half
    second_moment = out.T @ out / out.shape[0]
    assert torch.allclose(second_moment, torch.eye(12), atol=1e-3)
    assert torch.equal(filters[12:], -filters[:12])


def test_tta_averages_flips_and_shifts() -> None:
    x = torch.randn(2, 3, 8, 8)
    identity = flip_translate_logits(lambda t: t, x, 1)
    assert torch.allclose(identity, 0.5 * (x + x.flip(-1)))
    calls: list[torch.Size] = []
    flip_translate_logits(lambda t: calls.append(t.shape) or t.sum((1, 2, 3)), x, 2)
    assert len(calls) == 6 and all(c == x.shape for c in calls)


def test_eval_mode_uses_tta_and_training_does_not() -> None:
    net = build_model("fastnet", in_shape=(3, 32, 32), out_dim=10, widths=(8, 16, 16))
    x = torch.randn(4, 3, 32, 32)
    net.eval()
    assert torch.allclose(net(x), flip_translate_logits(net.logits, x, 2), atol=1e-6)
    net.cfg.tta = 0
    assert torch.allclose(net(x), net.logits(x))


def test_param_groups_scale_only_the_batchnorm_shifts() -> None:
    net = build_model("fastnet", in_shape=(3, 32, 32), out_dim=10, widths=(8, 16, 16))
    shifts, rest = net.param_groups()
    assert shifts["lr_scale"] == 64 and shifts["wd_scale"] == 1 / 64
    assert len(shifts["params"]) == 6  # two norms per group
    trainable = {id(p) for p in net.parameters() if p.requires_grad}
    assert {id(p) for p in shifts["params"] + rest["params"]} == trainable
    assert not net.whiten.weight.requires_grad


def test_bad_widths_are_a_config_error() -> None:
    from tamrin.errors import ConfigError

    with pytest.raises(ConfigError, match="widths"):
        build_model("fastnet", in_shape=(3, 32, 32), out_dim=10, widths=(8, 12, 16))
    assert FastNetConfig().widths == (64, 256, 256)
