"""The one fit call recipes make: precision, checkpoints, progress and logging wired once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from tamrin.data.batches import Batches
from tamrin.registry import RunContext
from tamrin.train.callbacks import Callback
from tamrin.train.fit import FitResult, Validator, fit
from tamrin.train.objectives import Objective
from tamrin.train.optim import TrainConfig


def precision_dtype(train_cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype `train_cfg.precision` resolves to on `device` (None = fp32)."""
    from tamrin.train.device import resolve_precision

    return resolve_precision(train_cfg.precision, device).dtype


def train(
    model: nn.Module,
    batches: Batches,
    train_cfg: TrainConfig,
    ctx: RunContext,
    *,
    objective: Objective | None = None,
    validate: Validator | None = None,
    callbacks: Sequence[Callback] = (),
    name: str = "",
    log_history: bool = True,
    after_epoch: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Fit `model` on `batches`, checkpoints under checkpoints/<name>/, and log the result.

    `name` tells several fits of one run apart (norm-lab trains three models); only the unnamed
    fit writes history.csv. `after_epoch(row)` runs after each epoch is logged (probes of the
    model's state, for example).
    """

    def on_epoch(row: dict[str, float]) -> None:
        if log_history:
            ctx.log_epoch(row)
        if after_epoch is not None:
            after_epoch(row)

    result = fit(
        model,
        batches,
        train_cfg,
        device=ctx.device,
        objective=objective,
        amp=precision_dtype(train_cfg, ctx.device),
        validate=validate,
        callbacks=callbacks,
        checkpoint_dir=ctx.checkpoint_dir / name if name else ctx.checkpoint_dir,
        on_epoch=on_epoch,
        progress=ctx.progress(),
    )
    ctx.log_fit(result, name=name)
    return result


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def log_model(ctx: RunContext, model: nn.Module, **facts: Any) -> None:
    """The `model` section of metrics.json: parameter count and the facts the recipe names."""
    ctx.log_metrics("model", {"parameters": parameter_count(model), **facts})
