"""Hooks into `fit` for what later exercises need, without another flag in the loop.

A callback overrides any of:

    on_train_start(model, optimizer)       once, after a resume is restored (custom schedules
                                           keep the optimizer to set its learning rates)
    on_batch_end(model, epoch, batch)      after each optimizer step
    before_validate(model)                 e.g. swap in averaged weights for validation
    after_validate(model)                  ... and back (after best.pt is written)
    on_epoch_end(model, row) -> str|None   a reason stops training, with the callback's
                                           `stop_status` ("stopped_early"; Pruning: "pruned")
    state_dict() / load_state_dict(d)      saved in last.pt, so resume stays exact

`EMA` (exponential moving average of the weights, validated and kept as best.pt), `Lookahead`
(slow weights pulled toward the fast ones every few steps, airbench-style) and `Pruning` (report
each epoch's metric, stop when the pruner says so — Optuna's trial.report / trial.should_prune
fit it) are the first three. Raising `KeyboardInterrupt` in `on_batch_end`
acts like Ctrl-C: the state is saved and the run can be resumed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn


class Callback:
    """Base class: every hook does nothing."""

    stop_status = "stopped_early"  # the run's status when this callback stops training

    def on_train_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        return None

    def on_batch_end(self, model: nn.Module, epoch: int, batch: int) -> None:
        return None

    def before_validate(self, model: nn.Module) -> None:
        return None

    def after_validate(self, model: nn.Module) -> None:
        return None

    def on_epoch_end(self, model: nn.Module, row: Mapping[str, float]) -> str | None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None


class EMA(Callback):
    """Exponential moving average of the weights: w̄ ← d·w̄ + (1−d)·w after each step.

    Validation (and so best.pt and the test split, with `restore_best`) sees the averaged
    weights; training continues from the raw ones. Buffers (BatchNorm statistics) are copied,
    not averaged. `decay` in [0, 1); warm-up as in timm's ModelEmaV2 is left to the caller.
    """

    def __init__(self, decay: float = 0.999) -> None:
        if not 0 <= decay < 1:
            raise ValueError(f"EMA decay must be in [0, 1); got {decay}")
        self.decay = decay
        self.shadow: dict[str, torch.Tensor] | None = None
        self._raw: dict[str, torch.Tensor] | None = None
        self._params: set[str] = set()

    def _ensure(self, model: nn.Module) -> dict[str, torch.Tensor]:
        if not self._params:
            self._params = {k for k, _ in model.named_parameters()}
        if self.shadow is None:
            self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self.shadow

    @torch.no_grad()
    def on_batch_end(self, model: nn.Module, epoch: int, batch: int) -> None:
        shadow = self._ensure(model)
        for k, v in model.state_dict().items():
            if k in self._params and v.dtype.is_floating_point:
                shadow[k].mul_(self.decay).add_(v, alpha=1 - self.decay)
            else:
                shadow[k].copy_(v)

    def before_validate(self, model: nn.Module) -> None:
        shadow = self._ensure(model)
        self._raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(shadow)

    def after_validate(self, model: nn.Module) -> None:
        if self._raw is not None:
            model.load_state_dict(self._raw)
            self._raw = None

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.shadow = state.get("shadow")


class Lookahead(Callback):
    """Lookahead with a rising pull (airbench94): every `every` steps the slow weights move
    toward the fast ones and the fast ones are reset to them.

    At step s of `total`, slow ← slow + (1 − d)·(fast − slow), fast ← slow, with
    d = base^every · (s / total)^3: early on (d ≈ 0) the slow weights simply follow, late in
    training they average over the last steps; the final step copies the slow weights in. Every
    floating-point entry of the state dict moves (BatchNorm statistics too), as in airbench.
    `total` is the run's optimizer steps; the slow weights are saved in last.pt for resume.
    """

    def __init__(self, total: int, steps_per_epoch: int, every: int = 5, base: float = 0.95):
        if total < 1 or steps_per_epoch < 1 or every < 1 or not 0 < base <= 1:
            raise ValueError(
                f"Lookahead needs total, steps_per_epoch, every >= 1 and base in (0, 1]; got "
                f"{total}, {steps_per_epoch}, {every}, {base}"
            )
        self.total, self.per_epoch, self.every, self.base = total, steps_per_epoch, every, base
        self.slow: dict[str, torch.Tensor] | None = None

    def decay(self, step: int) -> float:
        """The weight kept by the slow copy at optimizer step `step` (1-based)."""
        return self.base**self.every * (step / self.total) ** 3

    @torch.no_grad()
    def on_batch_end(self, model: nn.Module, epoch: int, batch: int) -> None:
        state = model.state_dict()
        if self.slow is None:
            self.slow = {k: v.detach().clone() for k, v in state.items()}
        step = epoch * self.per_epoch + batch + 1
        if step % self.every and step != self.total:
            return
        d = 1.0 if step >= self.total else self.decay(step)
        for k, v in state.items():
            if v.dtype.is_floating_point:
                self.slow[k].lerp_(v, 1 - d)
                v.copy_(self.slow[k])

    def state_dict(self) -> dict[str, Any]:
        return {"slow": self.slow}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.slow = state.get("slow")


class Pruning(Callback):
    """Report `metric` after each epoch; stop with status "pruned" when `should_prune()`.

    `report(step, value)` and `should_prune()` are Optuna's `trial.report` / `trial.should_prune`
    or anything with the same meaning; nothing here imports Optuna.
    """

    stop_status = "pruned"

    def __init__(
        self,
        metric: str,
        report: Callable[[int, float], None],
        should_prune: Callable[[], bool],
    ) -> None:
        self.metric, self.report, self.should_prune = metric, report, should_prune

    def on_epoch_end(self, model: nn.Module, row: Mapping[str, float]) -> str | None:
        self.report(int(row["epoch"]), float(row.get(self.metric, float("nan"))))
        if self.should_prune():
            return f"pruned after epoch {int(row['epoch'])} ({self.metric} {row.get(self.metric)})"
        return None
