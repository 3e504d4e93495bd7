"""What the CLI prints fits an 80-column terminal: `tamrin runs`, `tamrin data status`, a run's
epoch lines and summary; `-q` silences a run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tamrin import rundir
from tamrin.cli import build_parser, main

WIDTH = 80


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _too_long(text: str) -> list[str]:
    return [ln for ln in _lines(text) if len(ln) > WIDTH]


def _fake_runs(out: Path) -> None:
    """Run, seed-group and study folders with the longest values the index shows."""

    def run(name: str, stamp: str, data: str, status: str, acc: float | None, seed: int) -> None:
        d = out / name / stamp
        d.mkdir(parents=True)
        rundir.write_json(
            d / rundir.CONFIG,
            {"recipe": name, "data": data, "seed": seed, "smoke": True, "started": "2026-01-01"},
        )
        metrics = {"status": status, "test": {"accuracy": acc}, "wall_time_s": 12.5}
        rundir.write_json(d / "metrics.json", metrics)

    run("cifar10-lenet", "20260101-100000-s0", "cifar10", "completed", 0.6123, 0)
    run("mnist-imbalanced", "20260101-100000-s12", "fashion-mnist", "stopped_nonfinite", 0.1, 12)
    run("triplet-mnist", "20260101-100000-s1", "dermamnist", "interrupted", None, 1)
    group = out / "cifar10-lenet" / "20260101-100000-seeds0-2"
    group.mkdir(parents=True)
    rundir.write_json(
        group / rundir.SUMMARY,
        {
            "recipe": "cifar10-lenet",
            "data": "mnist",
            "seeds": [0, 1, 2],
            "runs": ["../20260101-100000-s0"],
            "headline": {"test.accuracy": {"mean": 0.6543, "std": 0.01}},
        },
    )
    study = out / "study-loss" / "20260101-100000"
    study.mkdir(parents=True)
    rundir.write_json(
        study / rundir.STUDY,
        {
            "study": "study-loss",
            "seeds": [0, 1, 2, 3, 4],
            "smoke": True,
            "overrides": {},
            "spec": {"data": ["mnist", "fashion-mnist"]},
            "cells": [{"dir": "cells/a-s0"}, {"dir": "cells/b-s0"}],
        },
    )


def test_runs_fits_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    _fake_runs(tmp_path / "runs")
    assert main(["runs", "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert _too_long(out) == []
    for value in ("0.6123", "0.6543", "0.1000", "study-loss", "triplet-mnist", "interrupted"):
        assert value in out  # nothing dropped or cut to fit
    assert "20260101-100000-seeds0-2" in out  # a folder's name stays whole at 80 columns


def test_data_status_fits_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "datasets"
    (deep / "mnist").mkdir(parents=True)
    assert main(["data", "status", "--data-dir", str(deep)]) == 0
    out = capsys.readouterr().out
    assert _too_long(out) == []
    assert re.search(r"mnist +(missing|partial)", out)
    assert "cifar10" in out


@pytest.mark.parametrize("command", [["run", "cifar10-lenet"], ["resume", "RUN"]])
def test_q_is_quiet(command: list[str]) -> None:
    assert build_parser().parse_args([*command, "-q"]).quiet is True
    assert build_parser().parse_args(command).quiet is False


def test_run_prints_one_plain_line_per_epoch(
    tiny_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    argv = ["run", "cifar10-lenet", "--smoke", "--set", "train.epochs=2"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    epochs = [ln for ln in _lines(out) if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in epochs] == ["1/2", "2/2"]
    for ln in epochs:
        for field in ("loss ", "acc ", "val_loss ", "val_acc ", "lr ", "img/s"):
            assert field in ln
    table = [ln for ln in _lines(out) if ln[:1] in "┏┃┡│└"]
    assert table and _too_long("\n".join(table)) == []
    assert main([*argv, "-q", "--out", str(tmp_path / "b")]) == 0
    quiet = capsys.readouterr().out
    assert not any(ln.startswith(("epoch ", "report:")) for ln in _lines(quiet)), quiet
