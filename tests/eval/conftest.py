"""A fake but complete run folder with known numbers, written exactly as the runner writes one."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

CLASSES = ["cat", "dog", "ship"]

HISTORY = [
    {
        "epoch": 1,
        "train_loss": 1.9,
        "train_acc": 0.31,
        "val_loss": 1.7,
        "val_acc": 0.38,
        "lr": 0.01,
        "seconds": 29.5,
    },
    {
        "epoch": 2,
        "train_loss": 1.4,
        "train_acc": 0.49,
        "val_loss": 1.3,
        "val_acc": 0.52,
        "lr": 0.01,
        "seconds": 29.1,
    },
    {
        "epoch": 3,
        "train_loss": 1.1,
        "train_acc": 0.61,
        "val_loss": 1.05,
        "val_acc": 0.64,
        "lr": 0.005,
        "seconds": 29.3,
    },
    {
        "epoch": 4,
        "train_loss": 0.9,
        "train_acc": 0.69,
        "val_loss": 1.12,
        "val_acc": 0.63,
        "lr": 0.001,
        "seconds": 28.9,
    },
]

TEST = {
    "n": 300,
    "accuracy": 0.6234,
    "balanced_accuracy": 0.6111,
    "macro_precision": 0.6012,
    "macro_recall": 0.6111,
    "macro_f1": 0.6055,
    "weighted_precision": 0.6123,
    "weighted_recall": 0.6234,
    "weighted_f1": 0.6177,
    "roc_auc_macro": 0.8123,
    "log_loss": 1.0456,
    "class_names": CLASSES,
    "per_class": [
        {
            "class": "cat",
            "precision": 0.5512,
            "recall": 0.6001,
            "f1": 0.5746,
            "support": 100,
            "auc": 0.8011,
        },
        {
            "class": "dog",
            "precision": 0.5123,
            "recall": 0.4432,
            "f1": 0.4753,
            "support": 100,
            "auc": 0.7345,
        },
        {
            "class": "ship",
            "precision": 0.7401,
            "recall": 0.7900,
            "f1": 0.7642,
            "support": 100,
            "auc": 0.9013,
        },
    ],
    "confusion": [[60, 30, 10], [35, 44, 21], [8, 13, 79]],
    "confusion_normalized": [[0.6, 0.3, 0.1], [0.35, 0.44, 0.21], [0.08, 0.13, 0.79]],
}


def _config(**over: Any) -> dict[str, Any]:
    cfg = {
        "recipe": "cifar10-lenet",
        "seed": 0,
        "config": {"train": {"epochs": 4, "lr": 0.01, "batch_size": 64}, "model": {"width": 6}},
        "tamrin_version": "0.1.0",
        "torch_version": "2.13.0+cpu",
        "device": "cpu",
        "threads": 2,
        "git_commit": "abc123",
        "started": "2026-11-23T18:00:00",
        "smoke": False,
        "summary": "LeNet-5 on CIFAR-10, the course's first CNN exercise.",
        "homework_figure": {
            "text": "62% test accuracy after 20 epochs",
            "value": 0.62,
            "metric": "test.accuracy",
        },
        "headline": ["test.accuracy", "test.macro_f1"],
    }
    cfg.update(over)
    return cfg


def _metrics(**over: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "status": "completed",
        "status_message": "",
        "wall_time_s": 118.2,
        "train_time_s": 110.0,
        "epochs_run": 4,
        "best": {"metric": "val_acc", "mode": "max", "epoch": 3, "value": 0.64},
        "final": dict(HISTORY[-1]),
        "test": json.loads(json.dumps(TEST)),
        "tables": {
            "lr_sweep": {
                "columns": ["lr", "val_acc"],
                "rows": [[0.01, 0.5432], [0.1, 0.6123]],
                "caption": "Validation accuracy per learning rate.",
            }
        },
        "notes": ["The **best** model used `lr=0.01`.\n\nA second paragraph."],
        "figures": [{"file": "figures/norm_axes.png", "caption": "Norms of the weight axes."}],
        "extra": {"n_params": 61706, "flops": {"forward": 0.6543}},
    }
    m.update(over)
    return m


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_run(
    run_dir: Path,
    *,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    predictions: bool = True,
) -> Path:
    """Write a complete run folder; `config` / `metrics` replace top-level keys of the defaults."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "figures").mkdir(exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(_config(**(config or {})), indent=2))
    (run_dir / "metrics.json").write_text(json.dumps(_metrics(**(metrics or {})), indent=2))
    _write_history(run_dir / "history.csv", HISTORY if history is None else history)
    if predictions:
        rng = np.random.default_rng(0)
        y = np.repeat(np.arange(3), 100).astype(np.int64)
        logits = rng.normal(size=(300, 3)) + 1.5 * np.eye(3)[y]
        proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        np.savez(
            run_dir / "predictions.npz",
            y_true=y,
            proba=proba.astype(np.float32),
            class_names=np.array(CLASSES),
        )
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    fig.savefig(run_dir / "figures" / "norm_axes.png", dpi=50)
    return run_dir


@pytest.fixture
def make_run() -> Callable[..., Path]:
    """`make_run(path, config=, metrics=, history=, predictions=)` writes a run folder."""
    return write_run


# ----------------------------------------------------------------------------- a runs folder

STAMP = "20261123-180000"
LONG_METRICS = ["test.balanced_accuracy", "test.weighted_precision", "test.roc_auc_macro"]


def _history_of(seed: int, epochs: int = 4) -> list[dict[str, Any]]:
    """HISTORY's first `epochs` rows, shifted a little per seed (so seeds differ)."""
    return [
        {
            **row,
            "val_acc": row["val_acc"] + 0.01 * seed,
            "train_loss": row["train_loss"] - 0.05 * seed,
        }
        for row in HISTORY[:epochs]
    ]


def write_group(out: Path, seeds: tuple[int, ...] = (0, 1, 2), epochs: int = 4) -> Path:
    """Runs of cifar10-lenet with `seeds` as runs/<recipe>/<stamp>-s<seed> and their seed group
    <stamp>-seeds<a>-<b> beside them (summary.json + report), as the runner lays them out."""
    from tamrin import rundir
    from tamrin.eval.report import summarize_runs, write_group_report, write_report

    folder = out / "cifar10-lenet"
    runs = []
    for seed in seeds:
        test = {**TEST, "accuracy": 0.61 + 0.02 * seed, "macro_f1": 0.5 + seed / 100}
        run = write_run(
            folder / f"{STAMP}-s{seed}",
            config={"seed": seed, "data": "cifar10"},
            metrics={"test": test, "wall_time_s": 100.0 + seed, "train_time_s": 90.0 + seed},
            history=_history_of(seed, epochs),
            predictions=False,
        )
        write_report(run)
        runs.append(run)
    group = folder / f"{STAMP}-seeds{seeds[0]}-{seeds[-1]}"
    group.mkdir()
    rundir.write_json(group / rundir.SUMMARY, summarize_runs(runs, relative_to=group))
    write_group_report(group)
    return group


def write_study(out: Path, epochs: int = 1) -> Path:
    """A study folder (runs/study-toy/<stamp>): variants A (baseline, the same accuracy on every
    seed up to 4e-9) and B, 2 seeds each, `epochs` epochs, long metric names; report written."""
    from tamrin import rundir
    from tamrin.eval.report import write_folder_report, write_report

    study = out / "study-toy" / STAMP
    values = {"A": [0.1, 0.1 + 4.081e-9], "B": [0.12, 0.13]}
    cells = [{"variant": k, "seed": s, "dir": f"cells/{k}-s{s}"} for k in values for s in (0, 1)]
    spec = {
        "name": "study-toy", "summary": "A toy study.", "question": "Does B beat A?",
        "recipe": "cifar10-lenet", "metric": "test.accuracy", "metrics": LONG_METRICS,
        "curves": ["val_acc", "train_loss"], "profiles": [], "baseline": "A", "data": ["cifar10"],
        "variants": [{"name": "A", "group": ""}, {"name": "B", "group": ""}],
    }  # fmt: skip
    study.mkdir(parents=True)
    rundir.write_json(
        study / rundir.STUDY,
        {"study": "study-toy", "spec": spec, "seeds": [0, 1], "cells": cells, "smoke": True},
    )
    for c in cells:
        acc = values[c["variant"]][c["seed"]]
        run = write_run(
            study / c["dir"],
            config={"seed": c["seed"], "data": "cifar10"},
            metrics={"test": {**TEST, "accuracy": acc}},
            history=_history_of(c["seed"], epochs),
            predictions=False,
        )
        write_report(run)
    write_folder_report(study)
    return study


@pytest.fixture
def make_runs_folder() -> Callable[[Path], dict[str, Path]]:
    """`make_runs_folder(out)` fills `out` with a run, a seed group (with its runs) and a study,
    reports written; returns {"run", "group", "study"} folders."""

    def make(out: Path) -> dict[str, Path]:
        from tamrin.eval.report import write_report

        run = write_run(
            out / "cifar10-lenet" / "20261124-090000-s7", config={"seed": 7, "data": "cifar10"}
        )
        write_report(run)
        return {"run": run, "group": write_group(out), "study": write_study(out)}

    return make


@pytest.fixture
def make_group() -> Callable[..., Path]:
    """`make_group(out, seeds=(0, 1, 2), epochs=4)`: see `write_group`."""
    return write_group


@pytest.fixture
def make_study() -> Callable[..., Path]:
    """`make_study(out, epochs=1)`: see `write_study`."""
    return write_study
