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
