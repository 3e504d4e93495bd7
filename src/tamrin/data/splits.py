"""Seeded, stratified train / val hold-outs (for data sets without their own val split)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.model_selection import train_test_split

from tamrin.errors import ConfigError


def stratified_holdout(
    labels: ArrayLike, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices), each sorted: `fraction` of every class held out for val.

    The same labels, fraction and seed give the same split on every machine.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"hold-out fraction must be in (0, 1); got {fraction}")
    y = np.asarray(labels).reshape(-1)
    index = np.arange(len(y))
    try:
        train, val = train_test_split(index, test_size=fraction, random_state=seed, stratify=y)
    except ValueError as exc:  # e.g. a class with a single example, or too few for every class
        raise ConfigError(
            f"cannot hold out {fraction} of {len(y)} labels stratified by class: {exc}"
        ) from None
    return np.sort(train).astype(np.int64), np.sort(val).astype(np.int64)


def labelled_subset(labels: ArrayLike, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labelled, unlabelled) indices, each sorted: `n` labels kept, stratified by class.

    Few-label learning keeps n labels and treats the rest of train as unlabelled. The classes
    get n / K labels each (the remainder spread by the stratified split), so n must be at least
    the number of classes; n = all labels keeps every one (nothing unlabelled).
    """
    y = np.asarray(labels).reshape(-1)
    classes = len(np.unique(y))
    if n < classes:
        raise ConfigError(f"labels must be >= the {classes} classes (one per class); got {n}")
    index = np.arange(len(y))
    if n >= len(y):
        return index.astype(np.int64), np.zeros(0, dtype=np.int64)
    keep, rest = train_test_split(index, train_size=n, random_state=seed, stratify=y)
    return np.sort(keep).astype(np.int64), np.sort(rest).astype(np.int64)
