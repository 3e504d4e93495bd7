"""Class weights, focal loss (against a hand computation), and operating points chosen on val."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils.class_weight import compute_class_weight

from tamrin.train import imbalance as I


def test_inverse_frequency_weights_are_sklearns_balanced() -> None:
    counts = [228, 359, 769, 80, 779, 4693, 99]
    y = np.repeat(np.arange(7), counts)
    expected = compute_class_weight("balanced", classes=np.arange(7), y=y)
    np.testing.assert_allclose(I.class_weights(counts, "inverse").numpy(), expected, rtol=1e-6)


def test_effective_number_weights_by_hand() -> None:
    counts, beta = [10, 100, 1000], 0.99
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    expected = [r * 3 / sum(raw) for r in raw]
    got = I.class_weights(counts, "effective", beta)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    assert got.sum().item() == pytest.approx(3.0)
    # β -> 0: every class counts as one sample (equal weights); β -> 1: inverse frequency
    np.testing.assert_allclose(I.class_weights(counts, "effective", 0.0).numpy(), [1, 1, 1])
    near_one = I.class_weights(counts, "effective", 1 - 1e-9).numpy()
    np.testing.assert_allclose(near_one / near_one[0], [1, 0.1, 0.01], rtol=1e-3)


def test_focal_loss_by_hand() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    y = torch.tensor([0, 2])
    gamma = 2.0
    expected = 0.0
    for row, label in zip(logits.tolist(), y.tolist(), strict=True):
        z = [math.exp(v) for v in row]
        p = z[label] / sum(z)
        expected += -((1 - p) ** gamma) * math.log(p)
    expected /= 2
    assert I.focal_loss(logits, y, gamma).item() == pytest.approx(expected, rel=1e-6)
    alpha = torch.tensor([0.25, 1.0, 0.75])
    by_hand_alpha = []
    for row, label in zip(logits.tolist(), y.tolist(), strict=True):
        z = [math.exp(v) for v in row]
        p = z[label] / sum(z)
        by_hand_alpha.append(-alpha[label].item() * (1 - p) ** gamma * math.log(p))
    assert I.focal_loss(logits, y, gamma, alpha).item() == pytest.approx(
        sum(by_hand_alpha) / 2, rel=1e-6
    )


def test_focal_with_gamma_zero_is_cross_entropy_and_has_gradients() -> None:
    logits = torch.randn(32, 7, requires_grad=True)
    y = torch.randint(0, 7, (32,))
    torch.testing.assert_close(I.focal_loss(logits, y, 0.0), F.cross_entropy(logits, y))
    I.focal_loss(logits, y, 2.0).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_weighted_cross_entropy_matches_torch() -> None:
    w = I.class_weights([5, 50], "inverse")
    logits, y = torch.randn(10, 2), torch.randint(0, 2, (10,))
    torch.testing.assert_close(
        I.weighted_cross_entropy(w)(logits, y), F.cross_entropy(logits, y, weight=w)
    )


def _skewed_val(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Logits of a model biased toward the majority class 0."""
    rng = np.random.default_rng(seed)
    counts = [900, 60, 40]
    y = np.repeat(np.arange(3), [300, 30, 20])
    z = rng.normal(0, 1, (y.size, 3))
    z[np.arange(y.size), y] += 1.5  # some signal
    z[:, 0] += 2.0  # and a prior toward class 0
    return z, y, counts


def test_logit_adjustment_is_chosen_on_val_and_improves_val_balanced_accuracy() -> None:
    z, y, counts = _skewed_val()
    point = I.choose_logit_adjustment(z, y, counts)
    assert point.val_argmax == pytest.approx(balanced_accuracy_score(y, z.argmax(1)))
    adjusted = (z - point.tau * I.log_prior(counts)).argmax(1)
    assert point.val_chosen == pytest.approx(balanced_accuracy_score(y, adjusted))
    assert point.tau > 0 and point.val_chosen > point.val_argmax + 0.05
    assert point.val_chosen == pytest.approx(max(point.curve["val"]))
    np.testing.assert_allclose(point.apply(torch.as_tensor(z)).numpy().argmax(1), adjusted)


def test_class_bias_never_does_worse_on_val_than_logit_adjustment() -> None:
    z, y, counts = _skewed_val(1)
    adjust = I.choose_logit_adjustment(z, y, counts)
    bias = I.fit_class_bias(z, y, counts)
    assert bias.val_chosen >= adjust.val_chosen
    got = balanced_accuracy_score(y, (z + np.asarray(bias.bias)).argmax(1))
    assert bias.val_chosen == pytest.approx(got)


def test_choosers_take_no_test_split() -> None:
    for fn in (I.choose_logit_adjustment, I.fit_class_bias, I.argmax_point):
        params = list(inspect.signature(fn).parameters)
        assert params[:2] == ["val_logits", "val_y"]
        assert not any("test" in p for p in params)


def test_ties_prefer_no_adjustment() -> None:
    z = np.array([[2.0, 0.0], [0.0, 2.0]])  # already perfect: every small τ ties
    point = I.choose_logit_adjustment(z, np.array([0, 1]), [10, 10])
    assert point.tau == 0.0 and point.val_chosen == 1.0
