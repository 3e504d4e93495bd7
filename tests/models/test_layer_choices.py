"""Activation, pooling and initialization choices: every one builds and trains; zero and
constant initialization really keep the units of a layer identical (symmetry never breaks)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tamrin.models.factory import ModelConfig, build_classifier
from tamrin.models.layers import MinPool2d
from tamrin.train.diagnostics import row_spread

ACTS = ["relu", "leaky_relu", "prelu", "gelu", "sigmoid", "tanh"]
POOLS = ["max", "min", "avg", "l2", "stride"]
INITS = ["default", "zeros", "constant", "normal", "xavier_uniform", "xavier_normal",
         "kaiming_uniform", "kaiming_normal"]  # fmt: skip


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("arch", ["mlp", "lenet"])
def test_activation_choice(arch: str, act: str) -> None:
    model = build_classifier(ModelConfig(arch=arch, activation=act, width=0.5), (1, 28, 28), 10)  # type: ignore[arg-type]
    kinds = {type(m).__name__.lower() for m in model.modules()}
    assert act.replace("_", "") in kinds
    out = model(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("pooling", POOLS)
def test_pooling_choice(pooling: str) -> None:
    model = build_classifier(ModelConfig(arch="lenet", pooling=pooling), (1, 28, 28), 10)  # type: ignore[arg-type]
    out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    params = sum(p.numel() for p in model.parameters())
    base = sum(
        p.numel() for p in build_classifier(ModelConfig(arch="lenet"), (1, 28, 28), 10).parameters()
    )
    assert (params > base) == (pooling == "stride")  # only the strided conv learns weights


def test_min_pool_is_the_window_minimum() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert MinPool2d(2)(x).flatten().tolist() == [0.0, 2.0, 8.0, 10.0]


@pytest.mark.parametrize("init", INITS)
def test_init_choice(init: str) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(arch="mlp", hidden=[64, 64], activation="tanh", init=init, init_std=0.5)  # type: ignore[arg-type]
    model = build_classifier(cfg, (1, 8, 8), 10)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert all(float(m.bias.detach().abs().sum()) == 0 for m in linears) or init == "default"
    w = linears[1].weight.detach()
    if init == "zeros":
        assert float(w.abs().sum()) == 0
    elif init == "constant":
        assert torch.all(w == 0.1)
    elif init == "normal":
        assert float(w.std()) == pytest.approx(0.5, rel=0.1)
    elif init == "xavier_normal":  # gain 5/3 for tanh
        assert float(w.std()) == pytest.approx(5 / 3 * (2 / 128) ** 0.5, rel=0.1)
    elif init == "kaiming_normal":
        assert float(w.std()) == pytest.approx(5 / 3 / 64**0.5, rel=0.1)


@pytest.mark.parametrize("init", ["zeros", "constant"])
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_symmetric_init_keeps_hidden_units_identical(init: str, act: str) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(
        arch="mlp", hidden=[32, 32, 32], activation=act, init=init, init_constant=0.05
    )  # type: ignore[arg-type]
    model = build_classifier(cfg, (1, 8, 8), 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(256, 1, 8, 8), torch.randint(0, 10, (256,))
    first = model(x).detach()
    for _ in range(30):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert not torch.equal(model(x).detach(), first) or init == "zeros"  # it trained (or could not)
    assert row_spread(model) == [0.0, 0.0, 0.0]  # every hidden layer's units still identical


def test_random_init_breaks_symmetry() -> None:
    model = build_classifier(
        ModelConfig(arch="mlp", hidden=[32, 32], init="xavier_uniform"), (1, 8, 8), 10
    )
    assert all(s > 0 for s in row_spread(model))
