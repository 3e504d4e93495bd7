"""Seeded stratified hold-out: disjoint, complete, sorted, per-class proportional, repeatable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tamrin.data.splits import stratified_holdout
from tamrin.errors import ConfigError, UserError


def _labels() -> np.ndarray:
    return np.repeat(np.arange(4), [40, 30, 20, 10])  # imbalanced on purpose


def test_holdout_is_a_sorted_partition() -> None:
    y = _labels()
    train, val = stratified_holdout(y, 0.2, seed=0)
    assert train.dtype == np.int64 and val.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(len(y)))
    assert len(val) == 20


def test_holdout_keeps_class_proportions() -> None:
    y = _labels()
    _, val = stratified_holdout(y, 0.2, seed=3)
    np.testing.assert_array_equal(np.bincount(y[val], minlength=4), [8, 6, 4, 2])


def test_holdout_is_seeded() -> None:
    y = _labels()
    a = stratified_holdout(y, 0.25, seed=7)
    b = stratified_holdout(torch.from_numpy(y), 0.25, seed=7)  # tensors work too
    c = stratified_holdout(y, 0.25, seed=8)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_outside_open_interval(fraction: float) -> None:
    with pytest.raises(ConfigError, match=r"must be in \(0, 1\); got"):
        stratified_holdout(_labels(), fraction, seed=0)


def test_impossible_stratification_is_a_user_error() -> None:
    with pytest.raises(UserError, match="stratified by class"):
        stratified_holdout(np.array([0, 0, 0, 1]), 0.5, seed=0)
