"""The model registry: lookup with suggestions, defaults and overrides, the configs the names
imply, duplicates refused at import, and the old builders building the registered models."""

from __future__ import annotations

import typing

import pytest
import torch
from torch import nn

from tamrin.errors import ConfigError
from tamrin.models import build_model, get_model_spec, list_models, register_model
from tamrin.models.embedding import EmbeddingArch, EmbeddingConfig, build_embedding_net
from tamrin.models.factory import Arch, ModelConfig, build_classifier
from tamrin.models.resnet import ResNetConfig, SmallResNet, build_resnet


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'lenet5'; did you mean 'lenet'\?"):
        get_model_spec("lenet5")
    with pytest.raises(ConfigError, match=r"allowed: .*resnet"):
        build_model("transformer-xl", in_shape=(1, 28, 28), out_dim=10)


def test_list_models_filters_by_pattern_and_task() -> None:
    assert list_models("embed-*") == ["embed-bn", "embed-homework"]
    assert list_models(task="embed") == ["embed-bn", "embed-homework"]
    assert set(list_models(task="classify")) >= {"lenet", "wide", "mlp", "resnet"}
    assert list_models("lenet", task="embed") == []
    assert list_models() == sorted(list_models())


def test_every_config_arch_value_is_a_registered_model() -> None:
    """The `arch` Literals stay valid config, and each names its own registered model."""
    for arch in typing.get_args(Arch):
        spec = get_model_spec(arch)
        assert spec.config is ModelConfig and spec.default_config().arch == arch
    for arch in typing.get_args(EmbeddingArch):
        spec = get_model_spec(f"embed-{arch}")
        assert spec.config is EmbeddingConfig and spec.task == "embed"
        assert spec.default_config().arch == arch


def test_cfg_none_means_the_config_defaults() -> None:
    torch.manual_seed(0)
    a = build_model("wide", in_shape=(3, 32, 32), out_dim=10)
    torch.manual_seed(0)
    b = build_classifier(ModelConfig(arch="wide"), (3, 32, 32), 10)
    assert _same_weights(a, b)


def test_overrides_apply_to_a_copy_and_are_checked() -> None:
    cfg = ResNetConfig()
    model = build_model("resnet", cfg, in_shape=(3, 28, 28), out_dim=5, depth=18, width=8)
    assert isinstance(model, SmallResNet) and len(model.blocks) == 8  # 2-2-2-2 basic blocks
    assert (cfg.depth, cfg.width) == (8, 32)  # the caller's config is untouched
    with pytest.raises(ConfigError, match=r"model\.depth must be one of"):
        build_model("resnet", in_shape=(3, 28, 28), out_dim=5, depth=50)
    with pytest.raises(ConfigError, match="unknown config key 'widht'; did you mean 'width'"):
        build_model("lenet", in_shape=(3, 28, 28), out_dim=5, widht=0.5)
    with pytest.raises(ConfigError, match=r"model\.width must be > 0"):
        build_model("lenet", ModelConfig(width=0), in_shape=(3, 28, 28), out_dim=5)


def test_config_must_fit_the_model() -> None:
    with pytest.raises(ConfigError, match="model 'resnet' takes a ResNetConfig; got ModelConfig"):
        build_model("resnet", ModelConfig(), in_shape=(3, 28, 28), out_dim=5)
    with pytest.raises(ConfigError, match="model 'wide' needs arch='wide'; got 'lenet'"):
        build_model("wide", ModelConfig(arch="lenet"), in_shape=(3, 28, 28), out_dim=5)
    with pytest.raises(ConfigError, match="out_dim must be >= 1; got 0"):
        build_model("lenet", in_shape=(3, 28, 28), out_dim=0)


def test_embedding_out_dim_is_the_embedding_size() -> None:
    net = build_model("embed-bn", EmbeddingConfig(dim=64), in_shape=(1, 28, 28), out_dim=12)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 12)
    torch.manual_seed(0)
    a = build_embedding_net(EmbeddingConfig(arch="homework", dim=12), (1, 28, 28))
    torch.manual_seed(0)
    b = build_model("embed-homework", in_shape=(1, 28, 28), out_dim=12)
    assert _same_weights(a, b)


def test_old_builders_build_the_registered_models() -> None:
    torch.manual_seed(0)
    a = build_resnet(ResNetConfig(depth=14, width=8), (3, 32, 32), 10)
    torch.manual_seed(0)
    b = build_model("resnet", in_shape=(3, 32, 32), out_dim=10, depth=14, width=8)
    assert _same_weights(a, b)
    for arch in typing.get_args(Arch):
        cfg = ModelConfig(arch=arch, width=0.25, init="xavier_uniform")
        torch.manual_seed(0)
        a = build_classifier(cfg, (1, 28, 28), 10)
        torch.manual_seed(0)
        b = build_model(arch, cfg, in_shape=(1, 28, 28), out_dim=10)
        assert _same_weights(a, b)


def _tiny(cfg: ResNetConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    return nn.Linear(in_shape[0], out_dim)


def test_bad_registrations_fail_at_import() -> None:
    before = list_models()
    with pytest.raises(ValueError, match="model 'lenet' is registered twice"):
        register_model("lenet", config=ResNetConfig, summary="again")(_tiny)
    assert get_model_spec("lenet").config is ModelConfig  # not overwritten
    with pytest.raises(ValueError, match="kebab-case"):
        register_model("Tiny_Net", config=ResNetConfig, summary="bad name")
    with pytest.raises(TypeError, match="must be a dataclass"):
        register_model("tiny-net", config=dict, summary="not a dataclass")
    with pytest.raises(ConfigError, match="unknown config key 'arch'"):
        register_model("tiny-net", config=ResNetConfig, summary="x", fixed={"arch": "x"})(_tiny)
    with pytest.raises(ConfigError, match=r"model\.width must be a multiple of 8"):
        register_model("tiny-net", config=ResNetConfig, summary="x", smoke={"width": 4})(_tiny)
    assert list_models() == before


@pytest.mark.parametrize("name", list_models())
def test_smoke_config_shrinks_the_model(name: str) -> None:
    spec = get_model_spec(name)
    assert spec.summary and spec.module.startswith("tamrin.models.")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # 32 x 32: a whole number of patches for every patch size (a segmenter: patch 8)
    full = build_model(name, in_shape=(1, 32, 32), out_dim=10)
    small = build_model(name, spec.smoke_config(), in_shape=(1, 32, 32), out_dim=10)
    assert count(small) < count(full) / 2
