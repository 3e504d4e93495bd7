"""The one fit call recipes make: precision, checkpoints, progress and logging wired once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from tamrin.data.batches import Batches
from tamrin.registry import RunContext
from tamrin.train.callbacks import Callback
from tamrin.train.device import Precision, resolve_precision
from tamrin.train.distributed import active, on_main
from tamrin.train.fit import FitResult, Validator, fit
from tamrin.train.flops import compute_facts, matmul_peak, training_flops
from tamrin.train.model_precision import choose_model_precision
from tamrin.train.objectives import Classify, Objective
from tamrin.train.optim import TrainConfig


def run_precision(
    ctx: RunContext,
    train_cfg: TrainConfig,
    model: nn.Module | None = None,
    batches: Batches | None = None,
    objective: Objective | None = None,
) -> Precision:
    """The run's precision: decided once, with the model, and recorded in config.json.

    `auto` starts from the machine's answer (`resolve_precision`); where that is bf16 on a CPU,
    the model's own training step is timed on the run's first batch (cached per model:
    `train.model_precision`). The decision is recorded with scope "run", and every later call
    of the run — other fits (norm-lab's three models), validation, the test pass, a resumed run
    — uses it, so one run never mixes precisions. Without a model (before the first fit) it is
    the machine's answer.
    """
    recorded = ctx.recorded_precision()
    if recorded is not None and recorded.get("scope") == "run":
        name = recorded["name"]
        dtype = torch.bfloat16 if name == "bf16" else None
        return Precision(name, dtype, recorded.get("reason", ""), recorded.get("request", "auto"))
    machine = on_main(lambda: resolve_precision(train_cfg.precision, ctx.device))
    if model is None or batches is None:
        return machine
    first = next(iter(batches.epoch(0)))  # batches are pure: this draws nothing from the run
    chosen = on_main(  # timed on rank 0 alone: every rank of a distributed run agrees
        lambda: choose_model_precision(
            machine,
            model.to(ctx.device),
            first,
            objective or Classify(),
            channels_last=train_cfg.channels_last,
        )
    )
    ctx.record_precision({**chosen.record(), "scope": "run"})
    return chosen


def precision_dtype(train_cfg: TrainConfig, ctx: RunContext) -> torch.dtype | None:
    """The run's autocast dtype (None = fp32): its recorded decision, else the machine's."""
    return run_precision(ctx, train_cfg).dtype


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
    unit: str = "img",
) -> FitResult:
    """Fit `model` on `batches`, checkpoints under checkpoints/<name>/, and log the result.

    `name` tells several fits of one run apart (norm-lab trains three models); only the unnamed
    fit writes history.csv. `after_epoch(row)` runs after each epoch is logged (probes of the
    model's state, for example). `unit` names a sample in the progress line's rate ("q/s").
    """

    def on_epoch(row: dict[str, float]) -> None:
        if log_history:
            ctx.log_epoch(row)
        if after_epoch is not None:
            after_epoch(row)

    precision = run_precision(ctx, train_cfg, model, batches, objective)
    display = ctx.progress()
    if display is not None:
        display.unit = unit
    result = fit(
        model,
        batches,
        train_cfg,
        device=ctx.device,
        objective=objective,
        amp=precision.dtype,
        validate=validate,
        callbacks=[*callbacks, *ctx.callbacks],
        checkpoint_dir=ctx.checkpoint_dir / name if name else ctx.checkpoint_dir,
        on_epoch=on_epoch,
        display=display,
    )
    ctx.log_fit(result, name=name)
    log_compute(ctx, model, batches, train_cfg, result, objective, precision, name=name)
    return result


def log_compute(
    ctx: RunContext,
    model: nn.Module,
    batches: Batches,
    train_cfg: TrainConfig,
    result: FitResult,
    objective: Objective | None,
    precision: Precision,
    *,
    name: str = "",
) -> None:
    """metrics.json `compute` (or `compute_<name>`): FLOPs per training example, achieved
    TFLOP/s and the share of this machine's matmul peak (`tamrin.train.flops`)."""
    if result.epochs_run == 0 or not active().is_main:  # other ranks' metrics are not kept
        return
    first = next(iter(batches.epoch(0)))
    step_flops, examples = training_flops(
        model,
        first,
        objective or Classify(),
        device=ctx.device,
        amp=precision.dtype,
        channels_last=train_cfg.channels_last,
    )
    steps = result.epochs_run * min(len(batches), train_cfg.max_batches or len(batches))
    peak = matmul_peak() if ctx.device.type == "cpu" else None
    facts = compute_facts(step_flops, examples, steps, result.train_time_s, precision.name, peak)
    ctx.log_metrics(f"compute_{name}" if name else "compute", facts)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def log_model(ctx: RunContext, model: nn.Module, **facts: Any) -> None:
    """The `model` section of metrics.json: parameter count and the facts the recipe names."""
    ctx.log_metrics("model", {"parameters": parameter_count(model), **facts})
