"""Embedding networks: shapes, unit norm when asked, no NaN, every parameter gets a gradient."""

from __future__ import annotations

import pytest
import torch

from tamrin.errors import ConfigError
from tamrin.models.embedding import EmbeddingConfig, build_embedding_net


@pytest.mark.parametrize("arch", ["homework", "bn"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("in_shape", [(1, 28, 28), (3, 32, 32)])
def test_shapes_norm_and_gradients(arch: str, normalize: bool, in_shape: tuple) -> None:
    torch.manual_seed(0)
    cfg = EmbeddingConfig(arch=arch, dim=16, normalize=normalize)  # type: ignore[arg-type]
    net = build_embedding_net(cfg, in_shape)
    out = net(torch.randn(6, *in_shape))
    assert out.shape == (6, 16) and torch.isfinite(out).all()
    if normalize:
        assert torch.allclose(out.norm(dim=1), torch.ones(6), atol=1e-5)
    (out[:, 0] - out[:, 1]).pow(2).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"parameters without gradient: {missing}"


def test_seed_arch_is_the_homeworks_network() -> None:
    net = build_embedding_net(EmbeddingConfig(arch="homework", dim=2), (1, 28, 28))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 32]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [lin.out_features for lin in linears] == [128, 2]


def test_width_shrinks_the_network() -> None:
    full = build_embedding_net(EmbeddingConfig(), (1, 28, 28))
    small = build_embedding_net(EmbeddingConfig(width=0.25), (1, 28, 28))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(small) < count(full) / 2


def test_unknown_arch_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown embedding arch 'resnet'; allowed: bn, homework"):
        build_embedding_net(EmbeddingConfig(arch="resnet"), (1, 28, 28))  # type: ignore[arg-type]
