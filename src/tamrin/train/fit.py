"""The fit loop: epochs over in-memory batches, named weighted losses, per-epoch validation,
best-epoch tracking, early stopping, atomic checkpoints, exact resume, Ctrl-C and NaN handling.

Resume is exact on CPU: the batch order and augmentation of (epoch, batch) are pure functions of
the seed (see `BatchIterator`), and the checkpoint holds the model, optimizer, scheduler, RNG
states, history, and — after Ctrl-C — the position and running sums inside the epoch.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tamrin.data.loader import BatchIterator
from tamrin.errors import RunInterrupted
from tamrin.train import checkpoint as ckpt
from tamrin.train.inference import (
    autocast,
    classification_loss_acc,
    memory_format,
    predict_logits,
    prefers_channels_last,
)
from tamrin.train.optim import TrainConfig, build_optimizer, build_scheduler

LossFn = Callable[[Any, torch.Tensor], torch.Tensor]  # (model output, targets) -> scalar
Validator = Callable[[nn.Module], Mapping[str, float]]  # model -> {"val_loss": .., "val_acc": ..}
LOG_EVERY = 50  # batches between host syncs (NaN check, progress text)


@dataclass
class LossTerm:
    """One named part of the training objective: `weight * fn(output, targets)`."""

    fn: LossFn
    weight: float = 1.0


@dataclass
class FitResult:
    history: list[dict[str, float]]  # one row per epoch
    best: dict[str, Any]  # {"metric", "mode", "epoch", "value"}
    status: str  # completed | stopped_early | stopped_nonfinite
    message: str = ""
    train_time_s: float = 0.0
    epochs_run: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def cross_entropy(label_smoothing: float = 0.0) -> LossFn:
    """Cross-entropy on logits (B, K) against labels (B,)."""
    return lambda out, y: F.cross_entropy(out, y, label_smoothing=label_smoothing)


def classification_validator(
    x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024, amp: torch.dtype | None = None
) -> Validator:
    """Validation loss and accuracy of a classifier on (x, y)."""

    def run(model: nn.Module) -> dict[str, float]:
        stats = classification_loss_acc(predict_logits(model, x, batch_size, amp), y)
        return {"val_loss": stats["loss"], "val_acc": stats["acc"]}

    return run


class _StopOnSigint:
    """While active, Ctrl-C sets a flag checked between batches (a second Ctrl-C aborts)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopOnSigint:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _improved(value: float, best: float | None, mode: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best if mode == "min" else value > best


def fit(
    model: nn.Module,
    train: BatchIterator,
    cfg: TrainConfig,
    *,
    device: torch.device,
    validate: Validator | None = None,
    losses: Mapping[str, LossTerm] | None = None,
    checkpoint_dir: Path | None = None,
    amp: torch.dtype | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    progress: Any = None,
    track_accuracy: bool = True,  # False: no train_acc (outputs that are not logits: embeddings)
) -> FitResult:
    """Train `model` for `cfg.epochs`, resuming from `checkpoint_dir/last.pt` when it exists.

    `losses` defaults to cross-entropy. `on_batch(epoch, batch)` runs after each optimizer step
    (raising KeyboardInterrupt there acts like Ctrl-C). Raises RunInterrupted after saving on
    Ctrl-C; a NaN/inf loss ends training with status `stopped_nonfinite` and keeps the last good
    checkpoint.
    """
    model.to(device)
    nhwc = cfg.channels_last and prefers_channels_last(model)
    if nhwc:  # NHWC lets oneDNN/cuDNN pick faster convolution kernels
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    losses = dict(losses or {"ce": LossTerm(cross_entropy(cfg.label_smoothing))})
    steps = min(len(train), cfg.max_batches or len(train))
    opt = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    sched = build_scheduler(opt, cfg, steps)
    mode = cfg.select_mode
    state: dict[str, Any] = {
        "epoch": 0,
        "batch": 0,
        "history": [],
        "best_value": None,
        "best_epoch": 0,
        "bad_epochs": 0,
        "sums": None,
        "elapsed": 0.0,
    }
    last = checkpoint_dir / "last.pt" if checkpoint_dir else None
    if last is not None and last.exists():
        saved = ckpt.load(last)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        if sched is not None and saved.get("scheduler") is not None:
            sched.load_state_dict(saved["scheduler"])
        ckpt.restore_rng(saved["rng"])
        state.update({k: saved[k] for k in state})

    def save(path: Path | None, epoch: int, batch: int, sums: dict | None, elapsed: float) -> None:
        if path is None:
            return
        ckpt.atomic_save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "rng": ckpt.capture_rng(),
                "epoch": epoch,
                "batch": batch,
                "history": state["history"],
                "best_value": state["best_value"],
                "best_epoch": state["best_epoch"],
                "bad_epochs": state["bad_epochs"],
                "sums": sums,
                "elapsed": elapsed,
            },
            path,
        )

    status, message = "completed", ""
    epoch_task = (
        progress.add_task("epochs", total=cfg.epochs, completed=state["epoch"])
        if progress is not None
        else None
    )
    batch_task = progress.add_task("batches", total=steps) if progress is not None else None
    with _StopOnSigint() as stop:
        for epoch in range(state["epoch"], cfg.epochs):
            start_batch = state["batch"] if epoch == state["epoch"] else 0
            sums: dict[str, Any] = (
                state["sums"]
                if (epoch == state["epoch"] and state["sums"] is not None)
                else {
                    "loss": torch.zeros((), dtype=torch.float64, device=device),
                    "correct": torch.zeros((), dtype=torch.float64, device=device),
                    "count": 0,
                    **{
                        f"loss_{k}": torch.zeros((), dtype=torch.float64, device=device)
                        for k in losses
                    },
                }
            )
            sums = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in sums.items()}
            elapsed_before = state["elapsed"] if epoch == state["epoch"] else 0.0
            t0 = time.perf_counter()
            model.train()
            if batch_task is not None:
                progress.reset(
                    batch_task,
                    total=steps,
                    completed=start_batch,
                    description=f"epoch {epoch + 1}/{cfg.epochs}",
                )
            for b, (xb, yb) in enumerate(train.epoch(epoch, start_batch), start=start_batch):
                if b >= steps:
                    break
                xb = memory_format(xb, nhwc)
                with autocast(device, amp):
                    out = model(xb)
                    parts = {k: term.fn(out, yb) for k, term in losses.items()}
                    loss = sum(losses[k].weight * v for k, v in parts.items())
                opt.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[union-attr]
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                if sched is not None:
                    sched.step()
                n = yb.shape[0]
                sums["loss"] += loss.detach().double() * n  # type: ignore[union-attr]
                for k, v in parts.items():
                    sums[f"loss_{k}"] += v.detach().double() * n
                if track_accuracy and torch.is_tensor(out) and out.ndim == 2 and yb.ndim == 1:
                    sums["correct"] += (out.detach().argmax(1) == yb).sum()
                sums["count"] += n
                if (b + 1) % LOG_EVERY == 0 and not torch.isfinite(sums["loss"]).item():
                    break  # handled below, after the loop
                interrupted = stop.requested
                try:
                    if on_batch is not None:
                        on_batch(epoch, b)
                except KeyboardInterrupt:
                    interrupted = True
                if batch_task is not None:
                    progress.advance(batch_task)
                if interrupted:
                    save(last, epoch, b + 1, sums, elapsed_before + time.perf_counter() - t0)
                    raise RunInterrupted(
                        f"interrupted at epoch {epoch + 1}, batch {b + 1}; state saved"
                    )
            count = max(sums["count"], 1)
            train_loss = (sums["loss"] / count).item()
            if not math.isfinite(train_loss):
                status = "stopped_nonfinite"
                message = (
                    f"training stopped: the loss became {train_loss} in epoch {epoch + 1}; "
                    f"weights of the last good epoch ({epoch}) are kept"
                )
                break
            row: dict[str, float] = {"epoch": epoch + 1, "train_loss": train_loss}
            if len(losses) > 1:
                row.update({f"train_loss_{k}": (sums[f"loss_{k}"] / count).item() for k in losses})
            if track_accuracy and (sums["correct"].item() > 0 or "acc" in cfg.select):
                row["train_acc"] = (sums["correct"] / count).item()
            if validate is not None:
                row.update({k: float(v) for k, v in validate(model).items()})
            row["lr"] = opt.param_groups[0]["lr"]
            row["seconds"] = elapsed_before + time.perf_counter() - t0
            state["history"].append(row)
            value = row.get(cfg.select, float("nan"))
            if _improved(value, state["best_value"], mode):
                state.update(best_value=value, best_epoch=epoch + 1, bad_epochs=0)
                if checkpoint_dir is not None:
                    ckpt.atomic_save(
                        {"model": model.state_dict(), "epoch": epoch + 1},
                        checkpoint_dir / "best.pt",
                    )
            else:
                state["bad_epochs"] += 1
            state.update(epoch=epoch + 1, batch=0, sums=None, elapsed=0.0)
            save(last, epoch + 1, 0, None, 0.0)
            if on_epoch is not None:
                on_epoch(row)
            if epoch_task is not None:
                progress.advance(epoch_task)
            if cfg.patience is not None and state["bad_epochs"] >= cfg.patience:
                status = "stopped_early"
                message = (
                    f"early stopping after epoch {epoch + 1}: no better {cfg.select} "
                    f"for {cfg.patience} epochs"
                )
                break
    if status == "stopped_nonfinite" and last is not None and last.exists():
        model.load_state_dict(ckpt.load(last)["model"])
    best_path = checkpoint_dir / "best.pt" if checkpoint_dir else None
    if cfg.restore_best and best_path is not None and best_path.exists():
        model.load_state_dict(ckpt.load(best_path)["model"])
    history = state["history"]
    return FitResult(
        history=history,
        best={
            "metric": cfg.select,
            "mode": mode,
            "epoch": state["best_epoch"],
            "value": state["best_value"],
        },
        status=status,
        message=message,
        train_time_s=sum(r["seconds"] for r in history),
        epochs_run=len(history),
    )
