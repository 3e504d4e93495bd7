"""Segmentation metrics: a hand-computed case, scikit-learn's confusion matrix, absent classes."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix

from tamrin.eval.segmentation import (
    confusion,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
    segmentation_scores,
)

# Pixel pairs (truth, predicted): (0,0) (0,1) (1,1) (1,1) (2,2) (2,0)
TRUTH = np.array([[0, 0, 1], [1, 2, 2]])
PRED = np.array([[0, 1, 1], [1, 2, 0]])
CONF = [[1, 1, 0], [0, 2, 0], [1, 0, 1]]  # rows = truth, columns = predicted
# class 0: TP 1, FP 1 (a 2 called 0), FN 1 (a 0 called 1) -> 1/3
# class 1: TP 2, FP 1 (the 0 called 1), FN 0 -> 2/3
# class 2: TP 1, FP 0, FN 1 (the 2 called 0) -> 1/2
IOU = [Fraction(1, 3), Fraction(2, 3), Fraction(1, 2)]


def test_hand_computed_three_classes() -> None:
    conf = confusion(PRED, TRUTH, 3)
    assert conf.dtype == np.int64 and conf.tolist() == CONF
    np.testing.assert_allclose(iou_per_class(conf), [float(f) for f in IOU], rtol=1e-12)
    assert mean_iou(conf) == pytest.approx(float(sum(IOU) / 3))  # 1/2
    assert pixel_accuracy(conf) == pytest.approx(4 / 6)
    scores = segmentation_scores(conf, ["background", "digit", "shirt"])
    assert scores["miou"] == pytest.approx(0.5)
    assert scores["pixel_accuracy"] == pytest.approx(2 / 3)
    assert scores["iou"] == pytest.approx({"background": 1 / 3, "digit": 2 / 3, "shirt": 1 / 2})


def test_torch_tensors_give_the_same_matrix() -> None:
    conf = confusion(torch.from_numpy(PRED), torch.from_numpy(TRUTH), 3)
    assert conf.tolist() == CONF


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confusion_equals_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    truth = rng.integers(0, k, (4, 16, 16))
    pred = np.where(rng.random(truth.shape) < 0.6, truth, rng.integers(0, k, truth.shape))
    expected = confusion_matrix(truth.ravel(), pred.ravel(), labels=range(k))
    np.testing.assert_array_equal(confusion(pred, truth, k), expected)
    assert pixel_accuracy(confusion(pred, truth, k)) == pytest.approx(np.mean(pred == truth))


def test_a_class_absent_from_truth_and_prediction_has_no_iou() -> None:
    conf = confusion(PRED, TRUTH, 4)  # class 3 occurs nowhere
    iou = iou_per_class(conf)
    assert np.isnan(iou[3]) and not np.isnan(iou[:3]).any()
    assert mean_iou(conf) == pytest.approx(0.5)  # the mean of the three defined IoUs
    scores = segmentation_scores(conf, ["a", "b", "c", "d"])
    assert scores["iou"]["d"] is None and scores["miou"] == pytest.approx(0.5)


def test_a_class_never_predicted_scores_zero_not_nan() -> None:
    conf = confusion(np.zeros(4, dtype=int), np.array([0, 0, 1, 1]), 2)
    np.testing.assert_allclose(iou_per_class(conf), [0.5, 0.0])
    assert mean_iou(conf) == pytest.approx(0.25) and pixel_accuracy(conf) == pytest.approx(0.5)


def test_no_pixels_gives_nan_without_warnings() -> None:
    conf = confusion(np.array([], dtype=int), np.array([], dtype=int), 3)
    assert conf.tolist() == [[0] * 3] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(mean_iou(conf)) and np.isnan(pixel_accuracy(conf))
    assert segmentation_scores(conf, ["a", "b", "c"])["miou"] is None


@pytest.mark.parametrize(
    ("pred", "truth", "classes", "message"),
    [
        (np.zeros(3), np.zeros(4), 2, "same shape; got"),
        (np.array([0, 2]), np.array([0, 1]), 2, r"predicted class indices must lie in 0..1"),
        (np.array([0, 1]), np.array([-1, 1]), 2, r"truth class indices must lie in 0..1"),
        (np.array([0]), np.array([0]), 0, "classes must be >= 1"),
    ],
)
def test_bad_inputs_raise(pred, truth, classes: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        confusion(pred, truth, classes)


def test_scores_check_the_class_names() -> None:
    with pytest.raises(ValueError, match=r"conf must be \(2, 2\) for 2 class names"):
        segmentation_scores(np.array(CONF), ["a", "b"])
