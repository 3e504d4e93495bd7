"""The fit loop: epochs over in-memory batches, an open training step, per-epoch validation,
best-epoch tracking, early stopping, callbacks, atomic checkpoints, exact resume, Ctrl-C and NaN
handling.

What a step computes is the objective's business (`tamrin.train.objectives`): `fit` calls
`objective.step(model, batch)`, back-propagates the loss it returns and accumulates its named
parts; it never looks inside a batch or an output. Resume is exact on CPU: batch (epoch, b) is a
pure function of the seed (see `tamrin.data.batches`), and the checkpoint holds the model,
optimizer, scheduler, RNG states, callback states, history, and — after Ctrl-C — the position
and running sums inside the epoch.

Under torchrun (`tamrin run --nproc N`) every rank runs this same loop: each takes its share of
every global batch (`ShardedBatches`), DistributedDataParallel averages the gradients, each
rank's loss is weighted by its share of the step's samples (so unequal shares still give the
global mean), and the epoch's sums, the NaN and Ctrl-C checks and the stop decisions are agreed
between ranks, so N processes train the weights one process would.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tamrin.data.batches import Batches, ShardedBatches
from tamrin.errors import RunInterrupted
from tamrin.train import checkpoint as ckpt
from tamrin.train import distributed
from tamrin.train.callbacks import Callback
from tamrin.train.display import TrainDisplay
from tamrin.train.inference import (
    autocast,
    batch_layout,
    classification_loss_acc,
    predict_logits,
    prefers_channels_last,
)
from tamrin.train.objectives import Classify, Objective
from tamrin.train.optim import TrainConfig, build_optimizer, build_scheduler, trainable_groups

Validator = Callable[[nn.Module], Mapping[str, float]]  # model -> {"val_loss": .., "val_acc": ..}
LOG_EVERY = 50  # batches between host syncs (NaN check)


@dataclass
class FitResult:
    history: list[dict[str, float]]  # one row per epoch
    best: dict[str, Any]  # {"metric", "mode", "epoch", "value"}
    status: str  # completed | stopped_early | stopped_nonfinite | pruned
    message: str = ""
    train_time_s: float = 0.0
    epochs_run: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


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
    train: Batches,
    cfg: TrainConfig,
    *,
    device: torch.device,
    objective: Objective | None = None,
    validate: Validator | None = None,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: Path | None = None,
    amp: torch.dtype | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    display: TrainDisplay | None = None,
) -> FitResult:
    """Train `model` for `cfg.epochs`, resuming from `checkpoint_dir/last.pt` when it exists.

    `objective` defaults to cross-entropy classification of batch["x"] against batch["y"].
    A callback's `on_epoch_end` returning a reason stops training with that callback's
    `stop_status` ("stopped_early", or "pruned" for `Pruning`). Raises RunInterrupted after
    saving on Ctrl-C (or a KeyboardInterrupt raised by `on_batch_end`); a NaN/inf loss ends
    training with status `stopped_nonfinite` and keeps the last good checkpoint. `display`
    (`tamrin.train.display.TrainDisplay`) shows a batch bar and one line per epoch.
    """
    model.to(device)
    nhwc = cfg.channels_last and prefers_channels_last(model)
    if nhwc:  # NHWC lets oneDNN/cuDNN pick faster convolution kernels
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if cfg.compile:  # in place: forward is compiled, the state dict's keys stay as they are
        model.compile()
    objective = objective or Classify(label_smoothing=cfg.label_smoothing)
    callbacks = list(callbacks)
    world = distributed.active()
    stepper: Any = model  # what the objective calls: the model, or its DDP replica
    if world.distributed:
        train = ShardedBatches(train, world.rank, world.size)  # type: ignore[assignment]
        stepper = distributed.Replicated(model, device)
    steps = min(len(train), cfg.max_batches or len(train))
    opt = build_optimizer(trainable_groups(model), cfg)
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
        for cb, cb_state in zip(callbacks, saved.get("callbacks") or [], strict=False):
            cb.load_state_dict(cb_state)
        state.update({k: saved[k] for k in state})
        if state["sums"] is not None and not world.is_main:  # saved sums are global: rank 0's
            state["sums"] = {k: v * 0 for k, v in state["sums"].items()}
    for cb in callbacks:
        cb.on_train_start(model, opt)

    def save(path: Path | None, epoch: int, batch: int, sums: dict | None, elapsed: float) -> None:
        if path is None:
            return
        ckpt.atomic_save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "rng": ckpt.capture_rng(),
                "callbacks": [cb.state_dict() for cb in callbacks],
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

    def zero() -> torch.Tensor:
        return torch.zeros((), dtype=torch.float64, device=device)

    status, message = "completed", ""
    shown: AbstractContextManager[Any] = (
        display.fitting(epochs=cfg.epochs, steps=steps) if display is not None else nullcontext()
    )
    with _StopOnSigint() as stop, shown:
        for epoch in range(state["epoch"], cfg.epochs):
            resuming = epoch == state["epoch"]
            start_batch = state["batch"] if resuming else 0
            sums: dict[str, Any] = (
                state["sums"]
                if (resuming and state["sums"] is not None)
                else {"loss": zero(), "count": 0}
            )
            sums = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in sums.items()}
            elapsed_before = state["elapsed"] if resuming else 0.0
            t0 = time.perf_counter()
            model.train()
            if display is not None:
                display.epoch_start(epoch, batch=start_batch, samples=sums["count"])
            pending_stop = False  # distributed: a stop request waits for the next agreed check
            for b, batch in enumerate(train.epoch(epoch, start_batch), start=start_batch):
                if b >= steps:
                    break
                batch = batch_layout(batch, nhwc)
                with autocast(device, amp):
                    out = objective.step(stepper, batch)
                loss = out.loss
                if world.distributed:  # DDP averages over ranks: weight by this rank's share
                    total = distributed.all_reduce_sum(
                        torch.tensor(float(out.count), device=device)
                    )
                    loss = loss * (world.size * out.count / total)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                if sched is not None:
                    sched.step()
                n = out.count
                if n:  # a rank's share of a tiny last batch may be empty (its loss is NaN)
                    sums["loss"] += out.loss.detach().double() * n
                    for k, v in out.parts.items():
                        if k not in sums:
                            sums[k] = zero()
                        sums[k] += v.detach().double() * n
                    sums["count"] += n
                check = (b + 1) % LOG_EVERY == 0
                nonfinite = check and not torch.isfinite(sums["loss"]).item()
                if check and world.distributed:  # every rank breaks at the same batch
                    (nonfinite,) = distributed.any_rank(nonfinite, device=device)
                if nonfinite:
                    break  # handled below, after the loop
                interrupted = stop.requested or pending_stop
                try:
                    for cb in callbacks:
                        cb.on_batch_end(model, epoch, b)
                except KeyboardInterrupt:
                    interrupted = True
                if world.distributed:  # every rank stops at the same batch, or none does
                    pending_stop = interrupted
                    agreed = check or b + 1 == steps
                    interrupted = agreed and distributed.any_rank(interrupted, device=device)[0]
                if display is not None:
                    display.batch_end(b + 1, sums)  # reads the sums every ~0.2 s, not per batch
                if interrupted:
                    sums = _global_sums(sums, world, device)
                    save(last, epoch, b + 1, sums, elapsed_before + time.perf_counter() - t0)
                    raise RunInterrupted(
                        f"interrupted at epoch {epoch + 1}, batch {b + 1}; state saved"
                    )
            sums = _global_sums(sums, world, device)
            count = max(sums["count"], 1)
            train_loss = (sums["loss"] / count).item()
            train_s = time.perf_counter() - t0  # after the sync above: training only, no val
            if not math.isfinite(train_loss):
                status = "stopped_nonfinite"
                message = (
                    f"training stopped: the loss became {train_loss} in epoch {epoch + 1}; "
                    f"weights of the last good epoch ({epoch}) are kept"
                )
                break
            row: dict[str, float] = {"epoch": epoch + 1, "train_loss": train_loss}
            row.update(
                {f"train_{k}": (v / count).item() for k, v in sums.items() if k not in _TOTALS}
            )
            row.update(objective.epoch_end())
            distributed.average_buffers(model)  # BatchNorm statistics: one model on every rank
            for cb in callbacks:
                cb.before_validate(model)
            if validate is not None:
                row.update({k: float(v) for k, v in validate(model).items()})
            group = opt.param_groups[-1]  # groups with scales: the unscaled rate is the config's
            row["lr"] = group["lr"] / group.get("lr_scale", 1.0)
            row["seconds"] = elapsed_before + time.perf_counter() - t0
            row = distributed.broadcast_object(row)  # one history on every rank: rank 0's
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
            for cb in callbacks:
                cb.after_validate(model)
            stops = [(cb.stop_status, r) for cb in callbacks if (r := cb.on_epoch_end(model, row))]
            stops = distributed.broadcast_object(stops)  # rank 0 decides for every rank
            state.update(epoch=epoch + 1, batch=0, sums=None, elapsed=0.0)
            save(last, epoch + 1, 0, None, 0.0)
            if on_epoch is not None:
                on_epoch(row)
            if display is not None:
                display.epoch_end(row, samples=sums["count"], train_seconds=train_s)
            if stops:
                status = stops[0][0]
                message = "; ".join(reason for _, reason in stops)
                break
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


_TOTALS = ("loss", "count")  # accumulators that are not named parts


def _global_sums(
    sums: dict[str, Any], world: distributed.World, device: torch.device
) -> dict[str, Any]:
    """An epoch's running sums over every rank (the sums themselves in a plain run).

    Ranks may have met different part names (a head with no labelled rows in a rank's share),
    so the names are agreed first; the count travels as a float64 beside the sums.
    """
    if not world.distributed:
        return sums
    names = sorted(set().union(*distributed.all_gather_object(sorted(sums))) - {"count"})
    stacked = torch.stack(
        [
            sums[k] if k in sums else torch.zeros((), dtype=torch.float64, device=device)
            for k in names
        ]
        + [torch.tensor(float(sums["count"]), dtype=torch.float64, device=device)]
    )
    distributed.all_reduce_sum(stacked)
    out: dict[str, Any] = dict(zip(names, stacked[:-1].unbind(), strict=True))
    out["count"] = int(stacked[-1].item())
    return out
