"""On the real data (../shared/datasets or $TAMRIN_DATA): a 1-epoch LeNet on MNIST really learns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tamrin import runner


def _real_root() -> str | None:
    env = os.environ.get("TAMRIN_DATA")
    if env:
        return env
    shared = Path(__file__).resolve().parents[3] / "shared" / "datasets"
    return str(shared) if (shared / "mnist").is_dir() else None


REAL = _real_root()


@pytest.mark.data
@pytest.mark.skipif(REAL is None, reason="real data not found (set TAMRIN_DATA)")
def test_one_epoch_lenet_on_real_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAMRIN_CACHE", str(tmp_path / "cache"))
    result = runner.run(
        "cifar10-lenet",
        {"data": "mnist", "train.epochs": 1},  # no flips: the MNIST default
        data_dir=REAL,
        out=tmp_path,
        quiet=True,
    )
    assert isinstance(result, runner.RunResult)
    assert result.metrics["test"]["n"] == 10_000
    # 1 epoch of LeNet on MNIST (no left-right flips: they turn digits into other shapes)
    assert result.metric("test.accuracy") > 0.95
    assert len(result.history) == 1
