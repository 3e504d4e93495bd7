"""Batch vs layer normalization, by hand and in a trained network (course HW2).

The homework computed both on a 5x5 matrix but swapped the axes: its "batch norm" normalized each
row (one sample's features) — that is layer norm. With rows = samples and columns = features,
batch norm normalizes each *column* over the batch (axis 0); layer norm normalizes each *row*
over its features (axis 1). This recipe computes both by hand, proves they equal
`torch.nn.BatchNorm1d` (training mode, no affine) and `torch.nn.LayerNorm` to 1e-6, shows the
homework's row-wise "batch norm" is exactly layer norm, then trains the same CNN with no norm,
BatchNorm and LayerNorm (GroupNorm with one group) side by side.

    tamrin run norm-lab
    tamrin run norm-lab --set data=mnist --set train.epochs=3

Reference: Ioffe & Szegedy 2015 (batch norm); Ba, Kiros & Hinton 2016 (layer norm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tamrin.config import copy, require
from tamrin.data.augment import AugmentConfig
from tamrin.eval.figures import LinesInfo
from tamrin.eval.matrix_figures import MatricesInfo, matrices_info
from tamrin.models.factory import ModelConfig, build_classifier
from tamrin.registry import RunContext, recipe
from tamrin.tasks.classification import (
    ClassifierConfig,
    load_splits,
    outputs,
    smoke_shrink,
    train_classifier,
)
from tamrin.tasks.training import parameter_count
from tamrin.train.optim import TrainConfig

EPS = 1e-5  # the epsilon of torch's BatchNorm1d / LayerNorm defaults
NORMS = ("none", "batch", "layer")


@dataclass
class NormLabConfig(ClassifierConfig):
    """A 5x5 worked example, then LeNet trained with each normalization."""

    rows: int = 5  # samples in the worked example (batch size)
    cols: int = 5  # features in the worked example
    matrix_seed: int = 0  # seed of the worked example's random integer matrix
    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="lenet"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, lr=0.05))
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(crop_padding=2))

    def validate(self) -> None:
        super().validate()
        require(self.rows >= 2, f"rows must be >= 2 (batch statistics need 2); got {self.rows}")
        require(self.cols >= 2, f"cols must be >= 2; got {self.cols}")


def batch_norm_by_hand(x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Normalize each feature (column) over the batch (axis 0), biased variance as in training."""
    return (x - x.mean(axis=0, keepdims=True)) / np.sqrt(x.var(axis=0, keepdims=True) + eps)


def layer_norm_by_hand(x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Normalize each sample (row) over its features (axis 1)."""
    return (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + eps)


def torch_references(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BatchNorm1d (training mode, no affine) and LayerNorm (no affine) applied to x (N, D)."""
    t = torch.tensor(x, dtype=torch.float64)
    bn = nn.BatchNorm1d(x.shape[1], affine=False, dtype=torch.float64).train()
    ln = nn.LayerNorm(x.shape[1], elementwise_affine=False, dtype=torch.float64)
    with torch.no_grad():
        return bn(t).numpy(), ln(t).numpy()


def _matrix_panels(x: np.ndarray, bn: np.ndarray, ln: np.ndarray) -> MatricesInfo:
    """The worked example and both normalizations, arrows along the axis each one averages."""
    return matrices_info(
        [
            (x, "input x (rows = samples)", None),
            (bn, "batch norm: each column → mean 0, var 1", "columns"),
            (ln, "layer norm: each row → mean 0, var 1", "rows"),
        ]
    )


def _worked_example(cfg: NormLabConfig, ctx: RunContext) -> None:
    x = np.random.default_rng(cfg.matrix_seed).integers(0, 10, (cfg.rows, cfg.cols)).astype(float)
    bn, ln = batch_norm_by_hand(x), layer_norm_by_hand(x)
    bn_ref, ln_ref = torch_references(x)
    hw_style = layer_norm_by_hand(x)  # the homework's "batch norm": rows normalized
    checks = {
        "bn_vs_BatchNorm1d_max_abs_diff": float(np.abs(bn - bn_ref).max()),
        "ln_vs_LayerNorm_max_abs_diff": float(np.abs(ln - ln_ref).max()),
        "homework_batchnorm_vs_LayerNorm_max_abs_diff": float(np.abs(hw_style - ln_ref).max()),
        "homework_batchnorm_vs_BatchNorm1d_max_abs_diff": float(np.abs(hw_style - bn_ref).max()),
        "bn_column_means_max_abs": float(np.abs(bn.mean(axis=0)).max()),
        "ln_row_means_max_abs": float(np.abs(ln.mean(axis=1)).max()),
    }
    ctx.log_metrics("worked_example", checks)
    ctx.log_table(
        "input",
        [f"f{j}" for j in range(cfg.cols)],
        x.round(0).tolist(),
        "The worked example: rows are samples (the batch), columns are features.",
    )
    ctx.log_table(
        "batch_norm",
        [f"f{j}" for j in range(cfg.cols)],
        bn.round(4).tolist(),
        "Batch norm by hand: each column has mean 0 and variance 1.",
    )
    ctx.log_table(
        "layer_norm",
        [f"f{j}" for j in range(cfg.cols)],
        ln.round(4).tolist(),
        "Layer norm by hand: each row has mean 0 and variance 1.",
    )
    ctx.log_plot(
        "norm_axes",
        "matrices",
        _matrix_panels(x, bn, ln),
        "Which axis each normalization averages over (arrows).",
    )
    ok = (
        checks["bn_vs_BatchNorm1d_max_abs_diff"] <= 1e-6
        and checks["ln_vs_LayerNorm_max_abs_diff"] <= 1e-6
    )
    ctx.log_note(
        f"By hand vs torch: batch norm differs from `BatchNorm1d` by at most "
        f"{checks['bn_vs_BatchNorm1d_max_abs_diff']:.1e}, layer norm from `LayerNorm` by "
        f"{checks['ln_vs_LayerNorm_max_abs_diff']:.1e} — {'both within' if ok else 'NOT within'} "
        f'1e-6. The homework\'s row-wise "batch norm" differs from `LayerNorm` by '
        f"{checks['homework_batchnorm_vs_LayerNorm_max_abs_diff']:.1e} and from `BatchNorm1d` by "
        f"{checks['homework_batchnorm_vs_BatchNorm1d_max_abs_diff']:.2f}: it *is* layer norm. "
        "Batch norm averages each feature over the samples of a batch (axis 0), so a sample's "
        "output depends on the rest of its batch; layer norm averages each sample over its own "
        "features (axis 1), so it is the same in training and inference and for batch size 1."
    )


def _trained_comparison(cfg: NormLabConfig, ctx: RunContext) -> None:
    splits = load_splits(cfg, ctx)
    curves: dict[str, list[float]] = {}
    rows = []
    models: dict[str, nn.Module] = {}
    results: dict[str, Any] = {}
    for norm in NORMS:
        variant = copy(cfg)
        variant.model.norm = norm  # type: ignore[assignment]
        model = build_classifier(variant.model, splits.in_shape, len(splits.classes))
        result = train_classifier(
            model,
            splits,
            variant.train,
            ctx,
            augment=variant.augment,
            data=variant.data,
            name=f"norm-{norm}",
            log_history=False,
        )
        curves[norm] = [r["val_acc"] for r in result.history]
        results[norm] = result
        models[norm] = model
        rows.append(
            [
                norm,
                parameter_count(model),
                result.best["value"],
                result.best["epoch"],
                result.train_time_s,
            ]
        )
    # The test split is scored once, at the end, for all three models (no selection on it).
    # The run's history, classification report, confusion and ROC are BatchNorm's.
    ctx.log_fit(results["batch"])
    test_x, test_y = splits.take_test()
    test_y = test_y.cpu()
    for row, norm in zip(rows, NORMS, strict=True):
        logits = outputs(models[norm], test_x, cfg.train, ctx)
        row.append(float((logits.argmax(1) == test_y).float().mean()))
        if norm == "batch":
            ctx.log_predictions(test_y, torch.softmax(logits, dim=1), splits.classes)
    ctx.log_table(
        "trained_comparison",
        ["norm", "parameters", "best val acc", "best epoch", "train s", "test acc"],
        rows,
        f"{cfg.model.arch} on {cfg.data}, {cfg.train.epochs} epochs each, "
        f"same data, seed and schedule.",
    )
    ctx.log_metrics(
        "comparison",
        {f"{r[0]}_test_acc": r[-1] for r in rows} | {f"{r[0]}_best_val_acc": r[2] for r in rows},
    )
    epochs = max(len(v) for v in curves.values())
    ctx.log_plot(
        "norm_curves",
        "lines",
        LinesInfo(list(range(1, epochs + 1)), curves, "epoch", "validation accuracy"),
        "Validation accuracy per epoch for each normalization.",
    )
    best = max(rows, key=lambda r: r[2])
    ctx.log_note(
        f"Trained comparison: best validation accuracy with **{best[0]}** norm "
        f"({best[2]:.4f}); test accuracies: " + ", ".join(f"{r[0]} {r[-1]:.4f}" for r in rows) + "."
    )


@recipe(
    "norm-lab",
    course="HW6",
    summary="Batch vs layer normalization: by hand, vs torch, and trained",
    config=NormLabConfig,
    data=("cifar10", "mnist", "fashion-mnist"),
    smoke=smoke_shrink,
    headline=(
        "worked_example.bn_vs_BatchNorm1d_max_abs_diff",
        "worked_example.ln_vs_LayerNorm_max_abs_diff",
        "comparison.none_test_acc",
        "comparison.batch_test_acc",
        "comparison.layer_test_acc",
    ),
)
def norm_lab(cfg: NormLabConfig, ctx: RunContext) -> None:
    """Batch norm vs layer norm on a small matrix, then in LeNet on real images."""
    _worked_example(cfg, ctx)
    _trained_comparison(cfg, ctx)
