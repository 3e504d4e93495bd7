"""classification_metrics agrees with scikit-learn called directly; absent classes; mean_std."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from tamrin.eval.metrics import classification_metrics, mean_std

NAMES = ["a", "b", "c", "d"]


def _random(seed: int, n: int = 120, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + np.eye(k)[y]  # better than chance, not perfect
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, proba.astype(np.float32)


def _f64(p: np.ndarray) -> np.ndarray:
    """float32 rows as float64 rows that sum to 1 (what sklearn expects without a warning)."""
    q = p.astype(np.float64)
    return q / q.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn(seed: int) -> None:
    y, p = _random(seed)
    pred = p.argmax(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float32 rows must not trip sklearn's sum-to-one warning
        m = classification_metrics(y, p, NAMES)
    assert m["n"] == len(y)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    for avg in ("macro", "weighted"):
        assert m[f"{avg}_precision"] == pytest.approx(precision_score(y, pred, average=avg))
        assert m[f"{avg}_recall"] == pytest.approx(recall_score(y, pred, average=avg))
        assert m[f"{avg}_f1"] == pytest.approx(f1_score(y, pred, average=avg))
    per_f1 = f1_score(y, pred, average=None)
    for c, row in enumerate(m["per_class"]):
        assert row["class"] == NAMES[c]
        assert row["f1"] == pytest.approx(per_f1[c])
        assert row["support"] == int((y == c).sum())
        assert row["auc"] == pytest.approx(roc_auc_score(y == c, p[:, c]))
    assert m["roc_auc_macro"] == pytest.approx(
        roc_auc_score(y, _f64(p), multi_class="ovr", average="macro"), abs=1e-6
    )
    assert m["log_loss"] == pytest.approx(log_loss(y, _f64(p)), rel=1e-5)
    assert m["confusion"] == confusion_matrix(y, pred).tolist()
    np.testing.assert_allclose(
        m["confusion_normalized"], confusion_matrix(y, pred, normalize="true")
    )
    json.dumps(m, allow_nan=False)  # plain, strict JSON


def test_absent_class() -> None:
    y, p = _random(3)
    keep = y != 2
    y, p = y[keep], p[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics(y, p, NAMES)
    absent = m["per_class"][2]
    assert absent["support"] == 0
    assert absent["recall"] == 0.0
    assert absent["auc"] is None
    present = [roc_auc_score(y == c, p[:, c]) for c in (0, 1, 3)]
    assert m["roc_auc_macro"] == pytest.approx(float(np.mean(present)))
    pred = p.argmax(1)
    assert m["macro_f1"] == pytest.approx(
        f1_score(y, pred, labels=[0, 1, 2, 3], average="macro", zero_division=0)
    )
    assert m["confusion_normalized"][2] == [0.0, 0.0, 0.0, 0.0]
    assert m["log_loss"] == pytest.approx(log_loss(y, _f64(p), labels=[0, 1, 2, 3]), rel=1e-5)
    json.dumps(m, allow_nan=False)


def test_bad_shapes_are_errors() -> None:
    y, p = _random(0)
    with pytest.raises(ValueError, match="shape"):
        classification_metrics(y, p[:, :3], NAMES)
    with pytest.raises(ValueError, match="outside"):
        classification_metrics(y + 4, p, NAMES)


def test_mean_std() -> None:
    assert mean_std([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 3, "values": [1.0, 2.0, 3.0]}
    assert mean_std([0.5]) == {"mean": 0.5, "std": 0.0, "n": 1, "values": [0.5]}
    assert mean_std([]) == {"mean": None, "std": None, "n": 0, "values": []}
    with_gap = mean_std([0.6, None, 0.8])
    assert with_gap["n"] == 2
    assert with_gap["mean"] == pytest.approx(0.7)
    assert with_gap["std"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert with_gap["values"] == [0.6, None, 0.8]
