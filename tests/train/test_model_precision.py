"""`auto` per model: bf16 only where this model's training step measured faster, cached."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from tamrin.train import device as D
from tamrin.train import model_precision as MP
from tamrin.train.objectives import Classify

MACHINE_BF16 = D.Precision("bf16", torch.bfloat16, "auto: machine has bf16", "auto")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TAMRIN_CACHE", str(tmp_path / "cache"))
    D.clear_precision_memo()
    yield
    D.clear_precision_memo()


def _net_and_batch():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2), nn.Flatten(),
        nn.Linear(4 * 6 * 6, 3),
    )  # fmt: skip
    batch = {"x": torch.randn(16, 1, 8, 8), "y": torch.randint(0, 3, (16,))}
    return net, batch


def _fake_probe(speedup: float, calls: list[int]):
    def probe(*args, **kwargs) -> dict[str, float]:
        calls.append(1)
        return {"fp32_ms": speedup, "bf16_ms": 1.0, "speedup": speedup}

    return probe


@pytest.mark.parametrize(("speedup", "name"), [(1.5, "bf16"), (0.9, "fp32"), (1.05, "fp32")])
def test_bf16_only_where_the_model_measured_faster(
    speedup: float, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(MP, "probe_model", _fake_probe(speedup, calls))
    net, batch = _net_and_batch()
    chosen = MP.choose_model_precision(MACHINE_BF16, net, batch, Classify())
    assert chosen.name == name and (chosen.dtype is torch.bfloat16) == (name == "bf16")
    assert f"{speedup:.2f}x" in chosen.reason and "(probe" in chosen.reason
    again = MP.choose_model_precision(MACHINE_BF16, net, batch, Classify())
    assert again.name == name and "cached probe" in again.reason and calls == [1]
    wider = {"x": torch.randn(32, 1, 8, 8), "y": torch.randint(0, 3, (32,))}
    MP.choose_model_precision(MACHINE_BF16, net, wider, Classify())  # another shape: re-measured
    assert calls == [1, 1]


def test_only_auto_bf16_on_cpu_is_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(MP, "probe_model", _fake_probe(2.0, calls))
    net, batch = _net_and_batch()
    for machine in (
        D.Precision("fp32", None, "auto: no bf16 instructions", "auto"),
        D.Precision("bf16", torch.bfloat16, "asked for", "bf16"),
        D.Precision("fp32", None, "asked for", "fp32"),
    ):
        assert MP.choose_model_precision(machine, net, batch, Classify()) is machine
    assert calls == []


def test_the_probe_leaves_model_rng_and_objective_untouched() -> None:
    net, batch = _net_and_batch()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    result = MP.probe_model(net, batch, Classify(), steps=2)
    assert result["fp32_ms"] > 0 and result["bf16_ms"] > 0 and result["speedup"] > 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN stats too
    assert torch.equal(torch.get_rng_state(), rng)  # dropout in the probe drew nothing
