"""Batched inference helpers shared by validation and the final test evaluation."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tamrin.train import distributed


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast when `dtype` is set, else a no-op context."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def prefers_channels_last(model: nn.Module) -> bool:
    """True when the model has 2-D convolutions (the only layers NHWC speeds up)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """`x` in NHWC layout when asked and 4-D, else unchanged."""
    if channels_last and x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def batch_layout(batch: Mapping[str, torch.Tensor], nhwc: bool) -> dict[str, torch.Tensor]:
    """Every 4-D float field of a batch in NHWC when asked (images); other fields unchanged."""
    if not nhwc:
        return dict(batch)
    return {k: memory_format(v, v.is_floating_point()) for k, v in batch.items()}


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    x: torch.Tensor | Sequence[torch.Tensor],
    batch_size: int = 1024,
    amp: torch.dtype | None = None,
    *,
    method: str | None = None,
) -> torch.Tensor:
    """Model outputs for every row of `x`, in eval mode, as float32 (N, K).

    `x` may be several tensors with the same N, passed to the model together (a story and
    its question); `method` names another method of the model to batch instead of `forward`
    (a memory network's `attention`). In a distributed run each rank scores its share of the
    rows and every rank gets all N, each row scored once: exact metrics at any world size.
    """
    inputs = (x,) if isinstance(x, torch.Tensor) else tuple(x)
    n, world = inputs[0].shape[0], distributed.active()
    if world.distributed and n >= world.size:  # each rank scores its rows; all get every row
        start, stop = distributed.shard_bounds(n, world)
        mine = _predict_rows(model, [t[start:stop] for t in inputs], batch_size, amp, method)
        return distributed.gather_rows(mine, n)
    return _predict_rows(model, inputs, batch_size, amp, method)


def _predict_rows(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    batch_size: int,
    amp: torch.dtype | None,
    method: str | None,
) -> torch.Tensor:
    """`predict_logits` on this process's rows alone."""
    forward = getattr(model, method) if method else model
    was_training = model.training
    model.eval()
    nhwc = prefers_channels_last(model) and next(model.parameters()).is_contiguous(
        memory_format=torch.channels_last
    )
    parts = []
    for start in range(0, inputs[0].shape[0], batch_size):
        xb = [memory_format(t[start : start + batch_size], nhwc) for t in inputs]
        with autocast(xb[0].device, amp):
            parts.append(forward(*xb).float())
    model.train(was_training)
    return torch.cat(parts)


def classification_loss_acc(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Mean cross-entropy and accuracy of logits (N, K) against labels (N,)."""
    return {
        "loss": F.cross_entropy(logits, y).item(),
        "acc": (logits.argmax(1) == y).float().mean().item(),
    }
