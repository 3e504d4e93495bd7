"""Every registered model, at smoke width (timm's tests/test_models.py): output shape on MNIST and
CIFAR-sized inputs, finite outputs, a gradient for every parameter, train/eval modes and a
state_dict round trip. A newly registered model gets these tests without anyone writing them."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from tamrin.models import build_model, get_model_spec, list_models
from tamrin.models.cnn import LeNet, WideCNN
from tamrin.models.factory import ModelConfig, build_classifier

MODELS = list_models()
SHAPES = {"mnist": (1, 28, 28), "cifar": (3, 32, 32)}  # (C, H, W)
STORY = (6, 5, 4)  # story models: (memories, words per sentence, question words)
TOKENS = (30, 9)  # token models: (vocabulary size, sequence length)
NON_IMAGE = {"story": STORY, "tokens": TOKENS}
OUT_DIM = 7  # neither 10 classes nor a common embedding size, so nothing matches by chance
# (model, in_shape): image models on both image shapes, the others on one shape of their kind
CASES = [
    pytest.param(name, shape, id=f"{name}-{key}")
    for name in MODELS
    for key, shape in (
        SHAPES.items()
        if get_model_spec(name).inputs == "image"
        else [(get_model_spec(name).inputs, NON_IMAGE[get_model_spec(name).inputs])]
    )
]


def _smoke(name: str, shape: tuple[int, int, int], seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(name, get_model_spec(name).smoke_config(), in_shape=shape, out_dim=OUT_DIM)


def _inputs(name: str, shape: tuple[int, int, int], batch: int, seed: int = 0) -> tuple:
    """Random inputs of the kind the model takes: images, (story, question) or token ids."""
    g = torch.Generator().manual_seed(seed)
    kind = get_model_spec(name).inputs
    if kind == "image":
        return (torch.randn(batch, *shape, generator=g),)
    if kind == "tokens":
        vocab, length = shape
        ids = torch.randint(1, vocab, (batch, length), generator=g)
        ids[0, length // 2 :] = 0  # a padded row: [PAD] = 0
        return (ids,)
    memories, words, question_words = shape
    story = torch.randint(0, OUT_DIM, (batch, memories, words), generator=g)
    story[:, 0, 0] = 1  # at least one real sentence per story
    return story, torch.randint(1, OUT_DIM, (batch, question_words), generator=g)


def _out(name: str, shape: tuple[int, ...], batch: int) -> tuple[int, ...]:
    """The output shape: (B, out_dim), or per-pixel logits (B, out_dim, H, W) of a segmenter."""
    if get_model_spec(name).task == "segment":
        return (batch, OUT_DIM, *shape[1:])
    return (batch, OUT_DIM)


def _shape(name: str, key: str) -> tuple[int, int, int]:
    kind = get_model_spec(name).inputs
    return SHAPES[key] if kind == "image" else NON_IMAGE[kind]


def test_every_kind_of_model_is_registered() -> None:
    assert {"lenet", "wide", "mlp", "resnet", "embed-homework", "embed-bn"} <= set(MODELS)


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_forward_shape_and_finite(name: str, shape: tuple[int, int, int]) -> None:
    model = _smoke(name, shape)
    out = model(*_inputs(name, shape, 2))  # (B, C, H, W) or (story, question) -> (B, out_dim)
    assert out.shape == _out(name, shape, 2)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_backward_reaches_every_parameter(name: str, shape: tuple[int, int, int]) -> None:
    model = _smoke(name, shape)
    out = model(*_inputs(name, shape, 2))
    (out * torch.randn_like(out)).sum().backward()  # random weights: no output's gradient cancels
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"no gradient for {n}"
            assert torch.isfinite(p.grad).all(), f"non-finite gradient for {n}"


@pytest.mark.parametrize("name", MODELS)
def test_train_and_eval_modes(name: str) -> None:
    shape = _shape(name, "cifar")
    model = _smoke(name, shape)
    x = _inputs(name, shape, 4)
    model.train()
    assert all(m.training for m in model.modules())
    assert model(*x).shape == _out(name, shape, 4)
    model.eval()
    assert not any(m.training for m in model.modules())
    with torch.no_grad():
        first, again = model(*x), model(*x)
    assert torch.isfinite(first).all()
    assert torch.equal(first, again)  # eval mode is deterministic (no dropout, frozen BN stats)


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_round_trip(name: str) -> None:
    shape = _shape(name, "mnist")
    trained = _smoke(name, shape, seed=0)
    trained.train()
    trained(*_inputs(name, shape, 8))  # move BatchNorm running stats off their init
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    fresh = _smoke(name, shape, seed=1)
    x = _inputs(name, shape, 3, seed=1)
    trained.eval()
    fresh.eval()
    with torch.no_grad():
        assert not torch.equal(trained(*x), fresh(*x))  # another seed: another network
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        assert torch.equal(trained(*x), fresh(*x))


NORMS = ["none", "batch", "layer"]
CLASSIFIERS = [n for n in MODELS if get_model_spec(n).config is ModelConfig]


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("arch", CLASSIFIERS)
def test_every_norm_gives_every_weight_a_nonzero_gradient(
    arch: str, norm: str, shape: tuple[int, int, int]
) -> None:
    torch.manual_seed(0)
    model = build_classifier(ModelConfig(arch=arch, norm=norm, width=0.25), shape, 10)  # type: ignore[arg-type]
    out = model(torch.randn(4, *shape))
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient for {missing}"


def test_homework_architectures_have_the_homework_shapes() -> None:
    lenet = LeNet((3, 32, 32), 10)
    assert lenet.head[0].in_features == 400  # 16 * 5 * 5, as in the PyTorch tutorial
    assert sum(p.numel() for p in lenet.parameters()) == 62006
    wide = WideCNN((3, 32, 32), 10)
    assert wide.head[0].in_features == 1080  # 30 * 6 * 6, as in HW2
    mlp = build_classifier(ModelConfig(arch="mlp"), (3, 32, 32), 10)
    sizes = [m.out_features for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [4096, 2048, 1024, 512, 256, 64, 10]
