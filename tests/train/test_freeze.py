"""Freezing a core for a linear probe: no gradients, and BatchNorm statistics left alone.

A linear probe measures the pretrained features; if the "frozen" core's BatchNorm kept updating
its running statistics from the probe's batches (which `requires_grad_(False)` alone allows,
because `fit` calls `model.train()`), the features would drift and the probe would measure
something else. So the core's parameters and BN buffers must stay bit-identical through a real
`fit`, while the classifier trains; `unfreeze` must give back ordinary train / eval switching.
"""

from __future__ import annotations

import torch
from torch import nn

from tamrin.data.batches import Batches, ShuffleSampler
from tamrin.models import build_model
from tamrin.train.fit import fit
from tamrin.train.freeze import freeze, is_frozen, unfreeze
from tamrin.train.optim import TrainConfig

CPU = torch.device("cpu")


def _model() -> nn.Module:
    torch.manual_seed(0)
    return build_model("conv-core", in_shape=(3, 32, 32), out_dim=10, width=8)


def _batches(n: int = 16) -> Batches:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, 32, 32, generator=g) * 2 + 0.5  # far from BN's initial statistics
    y = torch.randint(0, 10, (n,), generator=g)
    return Batches({"x": x, "y": y}, ShuffleSampler(n, 8, seed=0))


def _fit(model: nn.Module) -> None:
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.1, restore_best=False, precision="fp32")
    fit(model, _batches(), cfg, device=CPU)  # 2 steps


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _bn_buffers(module: nn.Module) -> list[str]:
    return [k for k in module.state_dict() if k.rsplit(".", 1)[-1].startswith(("running_", "num_"))]


def test_fit_leaves_a_frozen_core_bit_identical() -> None:
    model = _model()
    freeze(model.core)
    core, head = _snapshot(model.core), _snapshot(model.classifier)
    assert len(_bn_buffers(model.core)) == 12  # 4 BN layers x running_mean / _var / batches
    _fit(model)
    after = model.core.state_dict()
    for name, value in core.items():  # parameters and BN running_mean / running_var / counts
        assert torch.equal(after[name], value), name
    assert all(int(after[k]) == 0 for k in after if k.endswith("num_batches_tracked"))
    assert not torch.equal(model.classifier.weight.detach(), head["weight"])
    assert not torch.equal(model.classifier.bias.detach(), head["bias"])
    assert all(p.grad is None for p in model.core.parameters())


def test_requires_grad_alone_lets_batchnorm_drift() -> None:
    # the control: without `freeze`, fit's model.train() updates the core's running statistics
    model = _model()
    model.core.requires_grad_(False)
    core = _snapshot(model.core)
    _fit(model)
    after = model.core.state_dict()
    assert all(torch.equal(after[k], core[k]) for k, _ in model.core.named_parameters())
    drifted = [k for k in _bn_buffers(model.core) if not torch.equal(after[k], core[k])]
    assert drifted == _bn_buffers(model.core)
    assert not is_frozen(model.core)


def test_train_mode_skips_the_frozen_core() -> None:
    model = _model()
    freeze(model.core)
    model.train()
    assert model.training and model.classifier.training
    assert not any(m.training for m in model.core.modules())
    model.core.train()  # even asked directly
    model.core.blocks[0][1].train(True)
    assert not any(m.training for m in model.core.modules())
    _fit(model)  # fit puts the model in train mode itself
    assert model.classifier.training and not any(m.training for m in model.core.modules())
    model.eval()
    assert not model.training and not model.classifier.training


def test_unfreeze_restores_gradients_and_mode_switching() -> None:
    model = _model()
    assert not is_frozen(model.core)
    freeze(model.core)
    assert is_frozen(model.core) and not is_frozen(model)
    assert not any(p.requires_grad for p in model.core.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    unfreeze(model.core)
    assert not is_frozen(model.core)
    assert all(p.requires_grad for p in model.core.parameters())
    model.train()
    assert all(m.training for m in model.core.modules())
    model.eval()
    assert not any(m.training for m in model.core.modules())
    model.train()
    core = _snapshot(model.core)
    _fit(model)  # an unfrozen core trains again: weights and BN statistics move
    after = model.core.state_dict()
    assert all(not torch.equal(after[k], v) for k, v in core.items() if "num_batches" not in k)
    assert all(int(after[k]) == 2 for k in after if k.endswith("num_batches_tracked"))


def test_freeze_again_after_unfreeze() -> None:
    model = _model()
    freeze(unfreeze(freeze(model.core)))
    assert is_frozen(model.core)
    model.train()
    assert not any(m.training for m in model.core.modules())
