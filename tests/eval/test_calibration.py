"""ECE, reliability bins, PR curves and AP, checked against scikit-learn on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    precision_recall_curve,
    recall_score,
)

from tamrin.eval import calibration as cal
from tamrin.eval.metrics import classification_metrics


def _random(seed: int, n: int = 400, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1.5, (n, k))
    logits[np.arange(n), y] += rng.uniform(0, 2, n)
    p = np.exp(logits)
    return y, p / p.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
def test_reliability_bins_are_sklearns_and_ece_by_hand(seed: int) -> None:
    y, p = _random(seed)
    rel = cal.reliability(y, p, n_bins=10)
    conf, correct = p.max(1), (p.argmax(1) == y).astype(int)
    acc, mean_conf = calibration_curve(correct, conf, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(rel["bin_accuracy"], acc)
    np.testing.assert_allclose(rel["bin_confidence"], mean_conf)
    ece = 0.0
    for b in range(10):  # the definition, written out: bins [b/10, (b+1)/10)
        lo, hi = b / 10, (b + 1) / 10
        inside = (conf >= lo) & ((conf < hi) if b < 9 else (conf <= hi))
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    assert rel["ece"] == pytest.approx(ece)
    assert sum(rel["bin_count"]) == len(y)
    assert rel["mce"] >= rel["ece"]


def test_perfectly_confident_and_right_has_zero_ece() -> None:
    y = np.array([0, 1, 2, 1])
    p = np.eye(3)[y]
    assert cal.reliability(y, p)["ece"] == pytest.approx(0.0)


@pytest.mark.parametrize("seed", range(3))
def test_pr_curves_and_ap_are_sklearns(seed: int) -> None:
    y, p = _random(seed)
    curves, aps = cal.pr_curves(y, p)
    for c in range(p.shape[1]):
        precision, recall, _ = precision_recall_curve(y == c, p[:, c])
        np.testing.assert_allclose(curves[c][0], recall)
        np.testing.assert_allclose(curves[c][1], precision)
        assert aps[c] == pytest.approx(average_precision_score(y == c, p[:, c]))
    summary = cal.pr_summary(y, p, [f"c{i}" for i in range(5)])
    assert summary["average_precision_macro"] == pytest.approx(np.mean(aps))


def test_absent_class_has_no_ap() -> None:
    y, p = _random(0, k=4)
    y[y == 3] = 0
    _, aps = cal.pr_curves(y, p)
    assert aps[3] is None
    assert cal.pr_summary(y, p, list("abcd"))["average_precision_macro"] == pytest.approx(
        np.mean(aps[:3])
    )


@pytest.mark.parametrize("seed", range(3))
def test_metrics_the_study_compares_are_sklearns(seed: int) -> None:
    y, p = _random(seed)
    m = classification_metrics(y, p, [f"c{i}" for i in range(5)])
    pred = p.argmax(1)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["macro_recall"] == pytest.approx(recall_score(y, pred, average="macro"))


def test_figures_draw() -> None:
    y, p = _random(0)
    names = [f"c{i}" for i in range(5)]
    m = classification_metrics(y, p, names)
    _, aps = cal.pr_curves(y, p)
    for fig in (
        cal.reliability_figure(cal.reliability(y, p)),
        cal.pr_figure(y, p, names, aps),
        cal.confusion_pair_figure(m["confusion"], m["confusion_normalized"], names),
        cal.operating_point_figure([0.0, 0.5, 1.0], [0.5, 0.6, 0.55], 0.5, "balanced_accuracy"),
    ):
        assert isinstance(fig, Figure) and fig.axes
