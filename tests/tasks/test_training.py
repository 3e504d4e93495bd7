"""The run's precision is decided once per run, recorded in config.json, kept on resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tamrin import runner
from tamrin.train import device as D
from tamrin.train import model_precision as MP


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TAMRIN_CACHE", str(tmp_path / "cache"))
    D.clear_precision_memo()
    yield
    D.clear_precision_memo()


def _machine_has_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a CPU with AMX: the machine-level `auto` answer is bf16."""
    machine = D.Precision("bf16", torch.bfloat16, "auto: machine has bf16 (test)", "auto")
    real = D.resolve_precision

    def resolve(request: str, device: torch.device, **kw) -> D.Precision:
        return machine if request == "auto" else real(request, device, **kw)

    for module in ("tamrin.train.device", "tamrin.tasks.training", "tamrin.runner"):
        monkeypatch.setattr(f"{module}.resolve_precision", resolve, raising=False)


@pytest.mark.parametrize(("speedup", "name"), [(1.6, "bf16"), (0.8, "fp32")])
def test_one_decision_per_run_recorded_and_used_by_every_fit(
    speedup: float, name: str, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _machine_has_bf16(monkeypatch)
    probed: list[str] = []

    def probe(model, batch, objective, **kw) -> dict[str, float]:
        probed.append(type(model).__name__)
        return {"fp32_ms": speedup, "bf16_ms": 1.0, "speedup": speedup}

    monkeypatch.setattr(MP, "probe_model", probe)
    used: list[object] = []
    from tamrin.train import fit as fit_module

    real_fit = fit_module.fit

    def spy_fit(*args, **kwargs):
        used.append(kwargs.get("amp"))
        return real_fit(*args, **kwargs)

    monkeypatch.setattr("tamrin.tasks.training.fit", spy_fit)
    result = runner.run("norm-lab", smoke=True, out=tmp_path, quiet=True)  # three fits in one run
    record = json.loads((result.run_dir / "config.json").read_text())["precision"]
    assert record["scope"] == "run" and record["name"] == name
    assert len(probed) == 1, "the first fit decides; the others reuse the run's decision"
    want = torch.bfloat16 if name == "bf16" else None
    assert used == [want, want, want]
    assert name in (result.run_dir / "report.md").read_text()


def test_a_resumed_run_keeps_its_recorded_precision(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _machine_has_bf16(monkeypatch)
    monkeypatch.setattr(MP, "probe_model", lambda *a, **k: {"speedup": 0.5})
    run_dir = runner.create_run(tmp_path / "r", "cifar10-lenet", smoke=True)
    meta = json.loads((run_dir / "config.json").read_text())
    meta["precision"] = {"request": "auto", "name": "bf16", "reason": "recorded", "scope": "run"}
    (run_dir / "config.json").write_text(json.dumps(meta))
    runner.execute(run_dir, quiet=True)  # as `tamrin resume` does
    record = json.loads((run_dir / "config.json").read_text())["precision"]
    assert record == meta["precision"], "the run's decision is not re-made (or re-probed)"


def test_a_study_gives_every_cell_one_precision(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _machine_has_bf16(monkeypatch)
    result = runner.run("study-loss", smoke=True, seeds=2, out=tmp_path, quiet=True, workers=1)
    study = json.loads((result.study_dir / "study.json").read_text())
    assert study["overrides"]["train.precision"] == "bf16"
    for cell in (result.study_dir / "cells").iterdir():
        record = json.loads((cell / "config.json").read_text())["precision"]
        assert record["request"] == "bf16", cell.name  # explicit: no per-cell model probe
