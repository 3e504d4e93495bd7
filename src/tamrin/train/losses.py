"""Classification losses by name, so the loss is a config choice a study can vary.

All take logits (B, K) and labels (B,). The MSE variants regress one-hot targets, on softmax
probabilities or on the raw logits; `hinge` is the multi-class margin loss of Weston & Watkins
as in `torch.nn.MultiMarginLoss` (margin 1).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from tamrin.train.objectives import LossFn, cross_entropy

LossKind = Literal["ce", "mse_softmax", "mse_linear", "hinge"]


def _mse_softmax(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    target = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    return F.mse_loss(torch.softmax(logits, dim=1), target, reduction="sum") / logits.shape[0]


def _mse_linear(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    target = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    return F.mse_loss(logits, target, reduction="sum") / logits.shape[0]


def _hinge(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.multi_margin_loss(logits, y, margin=1.0)


def classification_loss(kind: LossKind, label_smoothing: float = 0.0) -> LossFn:
    """The loss `kind` as (logits, labels) -> mean over the batch.

    MSE is summed over classes and averaged over examples (the squared error of the whole
    output vector, as in the course), not averaged over classes too.
    """
    if kind == "ce":
        return cross_entropy(label_smoothing)
    if kind == "mse_softmax":
        return _mse_softmax
    if kind == "mse_linear":
        return _mse_linear
    if kind == "hinge":
        return _hinge
    raise ValueError(f"unknown loss {kind!r}")
