"""Optimizer and LR schedule from config: SGD, Adam/AdamW, RMSprop; step/cosine/one-cycle/triangle.

A model may split its parameters into groups with their own learning-rate and weight-decay
multipliers by defining `param_groups() -> [{"params": [...], "lr_scale": s, "wd_scale": t}]`
(the fast CIFAR-10 net trains BatchNorm shifts at 64× the rate); `trainable_groups` reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from tamrin.config import require
from tamrin.train.device import check_precision


@dataclass
class TrainConfig:
    """How to train: optimizer, schedule, budget, selection and safety nets."""

    epochs: int = 10  # passes over the training split
    batch_size: int = 128  # images per step
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = "sgd"  # update rule
    lr: float = 0.05  # peak learning rate
    momentum: float = 0.9  # SGD / RMSprop momentum
    nesterov: bool = True  # Nesterov momentum (SGD only)
    weight_decay: float = 5e-4  # L2 penalty (decoupled for adamw)
    scheduler: Literal["none", "step", "cosine", "onecycle", "triangle"] = "onecycle"  # per step
    # (triangle: linear from 0.2·lr up to lr over `warmup`, then linear down to 0.07·lr; airbench)
    step_epochs: int = 10  # step scheduler: epochs between decays
    gamma: float = 0.1  # step scheduler: decay factor
    warmup: float = 0.2  # onecycle: fraction of steps spent warming up, in (0, 1)
    label_smoothing: float = 0.0  # cross-entropy label smoothing, in [0, 1)
    grad_clip: float | None = None  # clip the global gradient norm to this (None = off)
    select: str = "val_acc"  # history column that picks the best epoch (val_loss -> min)
    patience: int | None = None  # early stopping: epochs without improvement (None = off)
    restore_best: bool = True  # evaluate the test split with the best epoch's weights
    max_batches: int | None = None  # cap on batches per epoch (smoke runs); None = all
    eval_batch_size: int = 1024  # batch size for validation / test inference
    channels_last: bool = True  # NHWC layout for conv nets (measured 1.1-1.4x faster on CPU)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast where measured faster
    compile: bool = False  # torch.compile the model (opt-in: the first steps pay for compiling)

    def validate(self) -> None:
        require(self.epochs >= 1, f"train.epochs must be >= 1; got {self.epochs}")
        require(self.batch_size >= 1, f"train.batch_size must be >= 1; got {self.batch_size}")
        require(self.lr > 0, f"train.lr must be > 0; got {self.lr}")
        require(0 <= self.momentum < 1, f"train.momentum must be in [0, 1); got {self.momentum}")
        require(self.weight_decay >= 0, f"train.weight_decay must be >= 0; got {self.weight_decay}")
        require(0 < self.warmup < 1, f"train.warmup must be in (0, 1); got {self.warmup}")
        require(
            0 <= self.label_smoothing < 1,
            f"train.label_smoothing must be in [0, 1); got {self.label_smoothing}",
        )
        require(
            self.grad_clip is None or self.grad_clip > 0,
            f"train.grad_clip must be > 0 or None; got {self.grad_clip}",
        )
        require(
            self.patience is None or self.patience >= 1,
            f"train.patience must be >= 1 or None; got {self.patience}",
        )
        require(
            self.max_batches is None or self.max_batches >= 1,
            f"train.max_batches must be >= 1 or None; got {self.max_batches}",
        )
        require(self.step_epochs >= 1, f"train.step_epochs must be >= 1; got {self.step_epochs}")
        check_precision(self.precision)

    @property
    def select_mode(self) -> Literal["min", "max"]:
        """Losses and errors are minimized; everything else is maximized."""
        return "min" if ("loss" in self.select or "err" in self.select) else "max"


ParamGroups = list[dict[str, Any]]


def trainable_groups(model: nn.Module) -> ParamGroups:
    """The model's parameter groups (its `param_groups()` if it has one), trainable ones only."""
    declared = getattr(model, "param_groups", None)
    groups: ParamGroups = (
        declared() if callable(declared) else [{"params": list(model.parameters())}]
    )
    out = []
    for g in groups:
        params = [p for p in g["params"] if p.requires_grad]
        if params:
            out.append({**g, "params": params})
    return out


def _scaled(groups: ParamGroups | list[nn.Parameter], cfg: TrainConfig) -> ParamGroups:
    """Groups with `lr` and `weight_decay` set from the config times each group's scales."""
    dicts: ParamGroups = (
        [g for g in groups if isinstance(g, dict)]
        if groups and isinstance(groups[0], dict)
        else [{"params": list(groups)}]
    )
    return [
        {
            **g,
            "lr": cfg.lr * float(g.get("lr_scale", 1.0)),
            "weight_decay": cfg.weight_decay * float(g.get("wd_scale", 1.0)),
        }
        for g in dicts
    ]


def build_optimizer(
    params: ParamGroups | list[nn.Parameter], cfg: TrainConfig
) -> torch.optim.Optimizer:
    """The configured optimizer over `params` (a list of parameters, or groups with scales)."""
    params = _scaled(params, cfg)  # type: ignore[assignment]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,  # type: ignore[arg-type]
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)  # type: ignore[arg-type]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)  # type: ignore[arg-type]
    return torch.optim.RMSprop(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,  # type: ignore[arg-type]
        weight_decay=cfg.weight_decay,
    )


def build_scheduler(
    opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A scheduler stepped once per batch (so one-cycle and cosine are smooth)."""
    total = cfg.epochs * steps_per_epoch
    if cfg.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=[g["lr"] for g in opt.param_groups],
            total_steps=total,
            pct_start=cfg.warmup,
            cycle_momentum=cfg.optimizer == "sgd",
        )
    if cfg.scheduler == "triangle":
        return torch.optim.lr_scheduler.LambdaLR(opt, triangle(total, cfg.warmup))
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(
            opt, step_size=cfg.step_epochs * steps_per_epoch, gamma=cfg.gamma
        )
    return None


def triangle(
    total: int, warmup: float, start: float = 0.2, end: float = 0.07
) -> Callable[[int], float]:
    """LR multiplier of step s: linear `start` → 1 over the first `warmup` of `total` steps,
    then linear 1 → `end` (airbench94's schedule)."""
    peak = max(1, int(total * warmup))

    def factor(step: int) -> float:
        if step < peak:
            return start + (1 - start) * step / peak
        return 1 + (end - 1) * min(1.0, (step - peak) / max(1, total - peak))

    return factor
