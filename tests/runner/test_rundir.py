"""The one run-folder reader/writer: round trips, atomic writes, one clear error per damage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tamrin import rundir, runner
from tamrin.errors import RunDirError


def _run_folder(path: Path, metrics: dict | None = None) -> Path:
    path.mkdir(parents=True)
    rundir.write_config(path, {"recipe": "cifar10-lenet", "seed": 0, "data": "cifar10"})
    if metrics is not None:
        rundir.write_metrics(path, metrics)
    return path


def test_json_round_trip_is_atomic(tmp_path: Path) -> None:
    rundir.write_json(tmp_path / "x.json", {"a": np.float32(0.5), "p": tmp_path})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 0.5, "p": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary file left


def test_history_round_trip(tmp_path: Path) -> None:
    rows = [{"epoch": 1, "train_loss": 2.5}, {"epoch": 2, "train_loss": 1.25, "val_acc": 0.5}]
    rundir.write_history(tmp_path, rows)
    history = rundir.read_history(tmp_path)
    assert history.columns == ["epoch", "train_loss", "val_acc"]
    assert history.rows == rows  # ints stay ints, an empty cell is left out
    assert rundir.read_history(tmp_path / "none").rows == []
    with pytest.raises(RunDirError, match=r"has no history\.csv"):
        rundir.read_history(tmp_path / "none", missing_ok=False)


@pytest.mark.parametrize("reader", [rundir.read_metrics, rundir.is_finished, rundir.status])
def test_damaged_metrics_is_one_clear_error(tmp_path: Path, reader) -> None:
    run = _run_folder(tmp_path / "run")
    (run / "metrics.json").write_text('{"status": "compl')
    with pytest.raises(RunDirError) as err:
        reader(run)
    message = str(err.value)
    assert "metrics.json is not valid JSON" in message and "restore the file or rerun" in message
    assert len(message.splitlines()) == 1


def test_resume_and_load_refuse_a_damaged_run(tmp_path: Path) -> None:
    """Today's bug: a damaged metrics.json read as 'not finished' and the run started again."""
    run = _run_folder(tmp_path / "run")
    (run / "metrics.json").write_text("[1, 2")
    with pytest.raises(RunDirError, match="not valid JSON"):
        runner.resume(run, quiet=True)
    with pytest.raises(RunDirError, match="not valid JSON"):
        runner.load_result(run)
    (run / "config.json").write_text("{")
    with pytest.raises(RunDirError, match=r"config\.json is not valid JSON"):
        rundir.read_config(run)


def test_missing_files(tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "run")
    assert rundir.read_metrics(run, missing_ok=True) == {}
    assert rundir.status(run) == "unfinished" and not rundir.is_finished(run)
    with pytest.raises(RunDirError, match=r"not a tamrin run folder: .*run has no metrics\.json"):
        rundir.read_metrics(run)
    with pytest.raises(RunDirError, match="does not exist"):
        rundir.read_config(tmp_path / "nowhere")


def test_predictions_round_trip_and_damage(tmp_path: Path) -> None:
    y, p = np.array([0, 1, 1]), np.full((3, 2), 0.5)
    rundir.write_predictions(tmp_path, y, p, ["a", "b"])
    got = rundir.read_predictions(tmp_path)
    assert got is not None and got["y_true"].tolist() == [0, 1, 1]
    assert got["class_names"].tolist() == ["a", "b"]
    (tmp_path / "predictions.npz").write_bytes(b"not a zip")
    with pytest.raises(RunDirError, match=r"predictions\.npz"):
        rundir.read_predictions(tmp_path)


def test_homework_figure_belongs_to_its_data_set() -> None:
    fig = {"text": "62%", "value": 0.62, "metric": "test.accuracy", "data": "cifar10"}
    assert rundir.homework_figure({"homework_figure": fig, "data": "cifar10"}) == fig
    assert rundir.homework_figure({"homework_figure": fig, "data": "mnist"}) is None
    assert (
        rundir.homework_figure({"homework_figure": {**fig, "data": ""}}) is not None
    )  # old folders
    assert rundir.run_title("LeNet-5 on CIFAR-10 (HW2)", "mnist", "cifar10") == (
        "LeNet-5 on MNIST (HW2)"
    )
    assert rundir.run_title("LeNet-5 on CIFAR-10 (HW2)", "cifar10", "cifar10") == (
        "LeNet-5 on CIFAR-10 (HW2)"
    )


def test_list_runs_shows_groups_and_studies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tamrin.cli import main

    out = tmp_path / "runs"
    run = _run_folder(
        out / "cifar10-lenet" / "20250131-140500-s0",
        {"status": "completed", "test": {"accuracy": 0.61}, "wall_time_s": 3.0},
    )
    _run_folder(out / "cifar10-lenet" / "20250131-150000-s1")  # never finished
    group = out / "cifar10-lenet" / "20250131-140500-seeds0-1"
    group.mkdir()
    rundir.write_json(
        group / "summary.json",
        {
            "recipe": "cifar10-lenet",
            "data": "mnist",
            "seeds": [0, 1],
            "runs": [f"../{run.name}", "../20250131-150000-s1"],
            "headline": {"test.accuracy": {"mean": 0.6}},
        },
    )
    study = out / "study-loss" / "20250201-090000"
    study.mkdir(parents=True)
    cells = [{"variant": "A", "seed": 0, "dir": "cells/a-s0"}]
    rundir.write_json(
        study / "study.json",
        {"study": "study-loss", "seeds": [0, 1], "cells": cells, "spec": {"data": ["mnist"]}},
    )
    rows = {(r["kind"], Path(r["run_dir"]).name): r for r in runner.list_runs(out)}
    assert rows["run", run.name]["status"] == "completed"
    assert rows["run", run.name]["date"] == "2025-01-31 14:05"
    assert rows["run", run.name]["data"] == "cifar10"
    assert rows["run", "20250131-150000-s1"]["status"] == "unfinished"
    assert rows["seeds", group.name]["seeds"] == "0-1"
    assert rows["seeds", group.name]["status"] == "1/2 runs"
    assert rows["study", study.name]["status"] == "0/1 cells"

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["runs", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert all(len(line) <= 80 for line in printed.splitlines()), printed
    for text in ("study-loss", "study · 20250201", "seeds0-1", "MNIST", "CIFAR-10", "0/1 cells"):
        assert text in printed
