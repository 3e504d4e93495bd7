"""Segmentation metrics from one pixel confusion matrix: per-class IoU, mean IoU, pixel accuracy.

Everything is computed from `confusion(predicted, truth, classes)` (rows = truth, columns =
predicted, scikit-learn's convention), so a test set's matrix can be summed batch by batch and
scored once. A class absent from both truth and prediction has no IoU (NaN) and is left out of
the mean; every class counts otherwise, background included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def _as_array(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def confusion(
    predicted: torch.Tensor | np.ndarray, truth: torch.Tensor | np.ndarray, classes: int
) -> np.ndarray:
    """(classes, classes) int64 pixel counts, [i, j] = pixels of true class i predicted as j.

    `predicted` and `truth` hold class indices in 0..classes-1, of any one shape (flattened).
    """
    if classes < 1:
        raise ValueError(f"classes must be >= 1; got {classes}")
    pred, true = _as_array(predicted), _as_array(truth)
    if pred.shape != true.shape:
        raise ValueError(
            f"predicted and truth must have the same shape; got {pred.shape} and {true.shape}"
        )
    p, t = pred.reshape(-1).astype(np.int64), true.reshape(-1).astype(np.int64)
    for name, v in (("predicted", p), ("truth", t)):
        if v.size and (v.min() < 0 or v.max() >= classes):
            raise ValueError(
                f"{name} class indices must lie in 0..{classes - 1}; got {v.min()}..{v.max()}"
            )
    counts = np.bincount(t * classes + p, minlength=classes * classes)
    return counts.reshape(classes, classes).astype(np.int64)


def iou_per_class(conf: np.ndarray) -> np.ndarray:
    """TP / (TP + FP + FN) per class, float64; NaN where the class is in neither truth nor
    prediction (0 / 0)."""
    c = np.asarray(conf, dtype=np.float64)
    tp = np.diag(c)
    union = c.sum(axis=0) + c.sum(axis=1) - tp  # TP + FP + FN
    out = np.full(tp.shape, np.nan)
    np.divide(tp, union, out=out, where=union > 0)
    return out


def mean_iou(conf: np.ndarray) -> float:
    """Mean of the defined per-class IoUs (NaN when no class is defined, i.e. no pixels)."""
    iou = iou_per_class(conf)
    defined = iou[~np.isnan(iou)]
    return float(defined.mean()) if defined.size else float("nan")


def pixel_accuracy(conf: np.ndarray) -> float:
    """Share of pixels whose predicted class is the true one (NaN when there are no pixels)."""
    c = np.asarray(conf)
    total = c.sum()
    return float(np.trace(c) / total) if total else float("nan")


def _plain(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def segmentation_scores(conf: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """{"miou", "pixel_accuracy", "iou": {class name: IoU}} as plain JSON data (None for NaN)."""
    c = np.asarray(conf)
    if c.shape != (len(class_names), len(class_names)):
        raise ValueError(
            f"conf must be ({len(class_names)}, {len(class_names)}) for {len(class_names)} "
            f"class names; got {c.shape}"
        )
    iou = iou_per_class(c)
    return {
        "miou": _plain(mean_iou(c)),
        "pixel_accuracy": _plain(pixel_accuracy(c)),
        "iou": {name: _plain(v) for name, v in zip(class_names, iou, strict=True)},
    }
