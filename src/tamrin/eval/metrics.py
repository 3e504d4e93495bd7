"""Classification metrics for a run's test split, all computed by scikit-learn.

`classification_metrics` returns plain JSON data (floats, ints, None, lists) so the runner can write
it into `metrics.json` as is and the report can read every number back without recomputing it.
A class absent from `y_true` gets AUC None and is left out of the macro AUC; precision/recall/F1
use `zero_division=0`, so an absent or never-predicted class scores 0 rather than warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)


def _check_inputs(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and return (labels as int64, probabilities as float64 rows summing to 1)."""
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    k = len(class_names)
    if p.ndim != 2 or p.shape[0] != y.shape[0] or p.shape[1] != k:
        raise ValueError(
            f"proba must have shape (n, {k}) with n = len(y_true) = {y.shape[0]}; got {p.shape}"
        )
    if y.size == 0:
        raise ValueError("y_true is empty; there is nothing to evaluate")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"y_true holds labels outside 0..{k - 1}: min {y.min()}, max {y.max()}")
    # Re-normalise rows: float32 softmax outputs miss 1.0 by rounding, which sklearn warns about.
    sums = p.sum(axis=1, keepdims=True)
    if np.all(sums > 0) and np.all(np.isfinite(sums)):
        p = p / sums
    return y, p


def _float(x: Any) -> float:
    return float(x)


def _auc_one_vs_rest(y: np.ndarray, scores: np.ndarray, k: int) -> float | None:
    """ROC AUC of class `k` against the rest, or None when it is undefined (one side empty)."""
    positive = y == k
    if positive.all() or not positive.any():
        return None
    return float(roc_auc_score(positive, scores))


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, P/R/F1 (macro/weighted/per class), confusion, AUC, log loss.

    `y_true` (n,) holds class indices 0..K-1, `proba` (n, K) class probabilities; predictions are
    `proba.argmax(1)`. Every value is a plain Python number (or None), ready for `json.dump`.
    """
    y, p = _check_inputs(y_true, proba, class_names)
    k = len(class_names)
    labels = list(range(k))
    pred = p.argmax(axis=1)

    with warnings.catch_warnings():
        # balanced_accuracy warns when a predicted class never occurs in y_true; that is expected.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        accuracy = accuracy_score(y, pred)
        balanced = balanced_accuracy_score(y, pred)
        prec, rec, f1, support = precision_recall_fscore_support(
            y, pred, labels=labels, zero_division=0
        )
        averaged = {
            avg: precision_recall_fscore_support(
                y, pred, labels=labels, average=avg, zero_division=0
            )
            for avg in ("macro", "weighted")
        }
        counts = confusion_matrix(y, pred, labels=labels)
        normalized = confusion_matrix(y, pred, labels=labels, normalize="true")
        loss = log_loss(y, p, labels=labels)
    aucs = [_auc_one_vs_rest(y, p[:, c], c) for c in labels]
    present = [a for a in aucs if a is not None]

    per_class = [
        {
            "class": str(class_names[c]),
            "precision": _float(prec[c]),
            "recall": _float(rec[c]),
            "f1": _float(f1[c]),
            "support": int(support[c]),
            "auc": aucs[c],
        }
        for c in labels
    ]
    out: dict[str, Any] = {
        "n": int(y.shape[0]),
        "accuracy": _float(accuracy),
        "balanced_accuracy": _float(balanced),
    }
    for avg, (ap, ar, af, _) in averaged.items():
        out[f"{avg}_precision"] = _float(ap)
        out[f"{avg}_recall"] = _float(ar)
        out[f"{avg}_f1"] = _float(af)
    out["roc_auc_macro"] = float(np.mean(present)) if present else None
    out["log_loss"] = _float(loss)
    out["class_names"] = [str(c) for c in class_names]
    out["per_class"] = per_class
    out["confusion"] = counts.astype(int).tolist()
    # Rows of absent classes are 0/0; sklearn leaves them at 0 (documented behaviour), keep that.
    out["confusion_normalized"] = np.nan_to_num(normalized, nan=0.0).astype(float).tolist()
    return out


def mean_std(values: Iterable[float | int | None]) -> dict[str, Any]:
    """Mean and sample std (ddof=1; 0.0 for a single value) over the values that are not None.

    `values` is kept as given (None included) so a per-seed table lines up with its seeds.
    """
    given = [None if v is None else float(v) for v in values]
    used = [v for v in given if v is not None]
    n = len(used)
    if n == 0:
        return {"mean": None, "std": None, "n": 0, "values": given}
    mean = float(np.mean(used))
    std = float(np.std(used, ddof=1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n, "values": given}
