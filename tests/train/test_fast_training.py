"""Pieces the fast CIFAR-10 recipe adds to the fit loop: scaled groups, triangle, Lookahead,
FLOP counting."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tamrin.train.callbacks import Lookahead
from tamrin.train.flops import compute_facts, training_flops
from tamrin.train.objectives import Classify
from tamrin.train.optim import TrainConfig, build_optimizer, build_scheduler, triangle


def test_triangle_schedule_shape() -> None:
    f = triangle(100, 0.2)
    assert f(0) == pytest.approx(0.2) and f(20) == pytest.approx(1.0)
    assert f(100) == pytest.approx(0.07) and f(10) == pytest.approx(0.6)


def test_groups_get_scaled_rates_and_the_schedule_keeps_them() -> None:
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    cfg = TrainConfig(lr=0.5, weight_decay=0.01, scheduler="onecycle", epochs=1)
    opt = build_optimizer(
        [{"params": [a], "lr_scale": 4.0, "wd_scale": 0.25}, {"params": [b]}], cfg
    )
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0025, 0.01]
    sched = build_scheduler(opt, cfg, 10)
    for _ in range(3):
        opt.step()
        sched.step()  # type: ignore[union-attr]
    lr_a, lr_b = (g["lr"] for g in opt.param_groups)
    assert lr_a == pytest.approx(4 * lr_b)


def test_lookahead_pulls_fast_weights_back_and_copies_at_the_end() -> None:
    net = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(net.weight)
    look = Lookahead(total=10, steps_per_epoch=5, every=5, base=0.9)
    look.on_batch_end(net, 0, 0)  # step 1: slow weights start from here
    for b in range(1, 5):
        with torch.no_grad():
            net.weight += 1.0
        look.on_batch_end(net, 0, b)
    d = 0.9**5 * (5 / 10) ** 3
    assert net.weight.item() == pytest.approx((1 - d) * 4.0)  # slow += (1-d)(fast - slow)
    slow = net.weight.item()
    with torch.no_grad():
        net.weight += 3.0
    for b in range(5):
        look.on_batch_end(net, 1, b)
    assert net.weight.item() == pytest.approx(slow)  # the last step copies the slow weights in
    assert look.state_dict()["slow"]["weight"].item() == pytest.approx(slow)


def test_training_flops_match_the_matmul_count_and_leave_the_model_alone() -> None:
    net = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batch = {"x": torch.randn(16, 8), "y": torch.randint(0, 4, (16,))}
    flops, examples = training_flops(net, batch, Classify(), device=torch.device("cpu"))
    assert examples == 16
    assert flops == 2 * 2 * 16 * 8 * 4  # forward and weight gradient (the input needs none)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    facts = compute_facts(
        flops, examples, 100, 2.0, "fp32", {"fp32_tflops": 1.0, "bf16_tflops": 2.0}
    )
    assert facts["achieved_tflops"] == pytest.approx(flops * 100 / 2.0 / 1e12)
    assert facts["fraction_of_peak"] == pytest.approx(facts["achieved_tflops"])


def test_compile_is_opt_in_and_keeps_the_state_dict_keys() -> None:
    from tamrin.data.batches import Batches, ShuffleSampler
    from tamrin.train.fit import fit

    torch.manual_seed(0)
    x = torch.randn(128, 8)
    y = (x[:, 0] > 0).long()
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    batches = Batches({"x": x, "y": y}, ShuffleSampler(128, 32))
    result = fit(net, batches, TrainConfig(epochs=1, compile=True), device=torch.device("cpu"))
    assert result.status == "completed"
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
