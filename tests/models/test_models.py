"""Every image classifier: shapes, finite outputs, every parameter gets a gradient."""

from __future__ import annotations

import pytest
import torch

from tamrin.models.cnn import LeNet, WideCNN
from tamrin.models.factory import ModelConfig, build_classifier

ARCHS = ["lenet", "wide", "mlp"]
NORMS = ["none", "batch", "layer"]
SHAPES = [(3, 32, 32), (1, 28, 28)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("arch", ARCHS)
def test_forward_backward(arch: str, norm: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build_classifier(ModelConfig(arch=arch, norm=norm, width=0.25), shape, 10)  # type: ignore[arg-type]
    x = torch.randn(4, *shape)
    out = model(x)
    assert out.shape == (4, 10)
    assert torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient for {missing}"


def test_seed_architectures_have_the_seed_shapes() -> None:
    lenet = LeNet((3, 32, 32), 10)
    assert lenet.head[0].in_features == 400  # 16 * 5 * 5, as in the PyTorch tutorial
    assert sum(p.numel() for p in lenet.parameters()) == 62006
    wide = WideCNN((3, 32, 32), 10)
    assert wide.head[0].in_features == 1080  # 30 * 6 * 6, as in HW2
    mlp = build_classifier(ModelConfig(arch="mlp"), (3, 32, 32), 10)
    sizes = [m.out_features for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [4096, 2048, 1024, 512, 256, 64, 10]
