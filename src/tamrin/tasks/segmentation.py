"""Semantic segmentation: masks predicted in batches, scored from one pixel confusion matrix.

`predict_masks` runs a model that returns per-pixel logits (B, K, H, W) over images in batches
(eval mode, the run's precision) and keeps the argmax only, so a test set's logits are never
held at once; `segmentation_validator` gives the fit val_loss, val_acc (pixel accuracy) and
val_miou, the column segmentation selects on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from tamrin.eval.segmentation import confusion, mean_iou, pixel_accuracy
from tamrin.train.inference import autocast


def predict_masks(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int,
    amp: torch.dtype | None = None,
    y: torch.Tensor | None = None,
) -> tuple[torch.Tensor, float]:
    """(argmax masks (N, H, W) int64 on the CPU, mean cross-entropy against `y` or NaN)."""
    was_training = model.training
    model.eval()
    masks, loss_sum = [], 0.0
    with torch.no_grad(), autocast(x.device, amp):
        for start in range(0, x.shape[0], batch_size):
            logits = model(x[start : start + batch_size]).float()
            if y is not None:
                target = y[start : start + batch_size]
                loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
            masks.append(logits.argmax(1).cpu())
    model.train(was_training)
    pixels = y.numel() if y is not None else 0
    return torch.cat(masks), loss_sum / pixels if pixels else float("nan")


def segmentation_validator(
    x: torch.Tensor, y: torch.Tensor, classes: int, batch_size: int, amp: torch.dtype | None
) -> Callable[[nn.Module], dict[str, float]]:
    """val_loss, val_acc (pixel accuracy) and val_miou of a segmenter on (x, y)."""

    def run(model: nn.Module) -> dict[str, float]:
        predicted, loss = predict_masks(model, x, batch_size, amp, y)
        conf = confusion(predicted, y.cpu(), classes)
        return {"val_loss": loss, "val_acc": pixel_accuracy(conf), "val_miou": mean_iou(conf)}

    return run
