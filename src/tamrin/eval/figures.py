"""The report's standard figures: training curves, confusion matrix, one-vs-rest ROC curves.

Each function returns a `matplotlib.figure.Figure` built without pyplot (no global state, no GUI
backend: saving a bare `Figure` renders with Agg); the caller saves it. Plot data is computed by
small pure functions (`curve_series`, `best_title`, `roc_curves`) so it can be tested apart from
drawing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import roc_curve

# Columns drawn on each panel of the curves figure, in order; other columns that contain the panel
# word ("loss" / "acc") are drawn too, dashed (e.g. `train_loss_ce`).
_PANELS = {"loss": ("train_loss", "val_loss"), "accuracy": ("train_acc", "val_acc")}
_PANEL_WORD = {"loss": "loss", "accuracy": "acc"}
_MAX_ANNOTATED = 15  # annotate confusion counts only up to this many classes


def _number(x: Any) -> float:
    """A history cell as a float; missing or non-numeric cells become NaN (a gap in the line)."""
    if x is None or isinstance(x, bool):
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def curve_series(history: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """{panel: {column: values}} for the columns present in `history`; empty panels are left out."""
    columns: list[str] = []
    for row in history:
        columns += [c for c in row if c not in columns]
    panels: dict[str, dict[str, list[float]]] = {}
    for panel, main in _PANELS.items():
        word = _PANEL_WORD[panel]
        extra = [c for c in columns if word in c and c not in main and c != "epoch"]
        names = [c for c in main if c in columns] + extra
        series = {c: [_number(row.get(c)) for row in history] for c in names}
        series = {c: v for c, v in series.items() if not all(math.isnan(x) for x in v)}
        if series:
            panels[panel] = series
    return panels


def best_title(best: Mapping[str, Any] | None) -> str:
    """'min val loss 0.83 at epoch 7' from metrics.json's `best`, or '' when there is none."""
    if not best or best.get("epoch") is None or best.get("metric") is None:
        return ""
    metric = str(best["metric"]).replace("_", " ")
    mode = str(best.get("mode") or "")
    value = best.get("value")
    shown = f"{float(value):.4g}" if isinstance(value, int | float) else "n/a"
    return f"{mode} {metric} {shown} at epoch {best['epoch']}".strip()


def curves_figure(history: Sequence[Mapping[str, Any]], best: Mapping[str, Any] | None) -> Figure:
    """Loss and accuracy (train and val) against epoch, the best epoch marked by a vertical line."""
    panels = curve_series(history)
    epochs = [_number(row.get("epoch", i + 1)) for i, row in enumerate(history)]
    n = max(len(panels), 1)
    fig = Figure(figsize=(5.0 * n, 3.8), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    if not panels:
        axes[0].text(
            0.5,
            0.5,
            "no loss or accuracy columns in history.csv",
            ha="center",
            va="center",
            transform=axes[0].transAxes,
        )
        axes[0].set_axis_off()
    best_epoch = best.get("epoch") if best else None
    for ax, (panel, series) in zip(axes, panels.items(), strict=False):
        for name, values in series.items():
            style = "-" if name in _PANELS[panel] else "--"
            ax.plot(epochs, values, style, marker="o", markersize=3, label=name)
        if best_epoch is not None:
            ax.axvline(
                float(best_epoch),
                color="0.4",
                linestyle=":",
                linewidth=1.2,
                label=f"best epoch ({best_epoch})",
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    title = best_title(best)
    if title:
        fig.suptitle(title)
    return fig


def confusion_figure(
    confusion_normalized: Sequence[Sequence[float]],
    confusion_counts: Sequence[Sequence[int]],
    class_names: Sequence[str],
) -> Figure:
    """Heat map of the row-normalised confusion matrix; counts (and row %) written in each cell."""
    norm = np.asarray(confusion_normalized, dtype=float)
    counts = np.asarray(confusion_counts)
    k = len(class_names)
    side = min(max(4.0, 0.55 * k + 2.0), 14.0)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ticks = np.arange(k)
    ax.set_xticks(ticks, labels=list(class_names), rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= _MAX_ANNOTATED:
        size = "small" if k <= 8 else "x-small"
        for i in range(k):
            for j in range(k):
                color = "white" if norm[i, j] > 0.5 else "black"
                ax.text(
                    j,
                    i,
                    f"{int(counts[i, j])}\n{norm[i, j]:.0%}",
                    ha="center",
                    va="center",
                    color=color,
                    fontsize=size,
                )
    ax.set_title("confusion matrix (rows: true class, normalised)")
    return fig


def roc_curves(y_true: np.ndarray, proba: np.ndarray) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """One-vs-rest (fpr, tpr) per class by scikit-learn; None where a class is absent or alone."""
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(proba, dtype=np.float64)
    curves: list[tuple[np.ndarray, np.ndarray] | None] = []
    for c in range(p.shape[1]):
        positive = y == c
        if positive.all() or not positive.any():
            curves.append(None)
            continue
        fpr, tpr, _ = roc_curve(positive, p[:, c])
        curves.append((fpr, tpr))
    return curves


def roc_figure(
    y_true: np.ndarray,
    proba: np.ndarray,
    class_names: Sequence[str],
    aucs: Sequence[float | None],
) -> Figure:
    """One-vs-rest ROC curve per class with its AUC (from metrics.json) in the legend."""
    curves = roc_curves(y_true, proba)
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.subplots()
    cmap = "tab10" if len(class_names) <= 10 else "tab20"
    colors = [matplotlib.colormaps[cmap](i % 20) for i in range(len(class_names))]
    for c, name in enumerate(class_names):
        curve = curves[c] if c < len(curves) else None
        if curve is None:
            continue
        auc = aucs[c] if c < len(aucs) else None
        label = f"{name} (AUC {auc:.3f})" if auc is not None else f"{name} (AUC n/a)"
        ax.plot(curve[0], curve[1], color=colors[c], linewidth=1.4, label=label)
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, one class vs the rest")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small" if len(class_names) <= 10 else "x-small", loc="lower right")
    return fig
