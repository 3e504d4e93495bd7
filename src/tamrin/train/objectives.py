"""Training objectives: what one step computes from a batch, so `fit` never guesses.

An objective's `step(model, batch)` runs the forward pass and returns a `StepOutput`: the scalar
loss that `fit` back-propagates, named parts (batch means, logged per epoch as
`train_<name>`), and the number of samples they average over. `fit` accumulates every part by
name, weighted by the count, with no host sync per batch. An objective may also keep its own
statistics over an epoch and hand them over in `epoch_end()` (the triplet miner's active
fraction, for example).

    classify      cross-entropy (or any named, weighted losses) on logits; train accuracy;
                  several input fields for question answering (story, question -> answer)
    multitask     several heads, each with its own target and an optional per-sample mask
                  (few-label self-supervision: the class loss only where a label exists)
    triplet       an embedding with the triplet loss and an in-batch miner (tamrin.train.triplet)

Masked language modelling and question answering are objectives of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

Batch = Mapping[str, torch.Tensor]
LossFn = Callable[[Any, torch.Tensor], torch.Tensor]  # (model output, targets) -> scalar


@dataclass
class StepOutput:
    """What one training step produced."""

    loss: torch.Tensor  # scalar, the one `backward()` sees
    parts: dict[str, torch.Tensor] = field(default_factory=dict)  # named batch means (scalars)
    count: int = 0  # samples the loss and the parts average over


class Objective(Protocol):
    """`step(model, batch) -> StepOutput`; `epoch_end()` -> extra history columns (or {})."""

    def step(self, model: nn.Module, batch: Batch) -> StepOutput: ...

    def epoch_end(self) -> dict[str, float]: ...


@dataclass
class LossTerm:
    """One named part of the training objective: `weight * fn(output, targets)`."""

    fn: LossFn
    weight: float = 1.0


def cross_entropy(label_smoothing: float = 0.0) -> LossFn:
    """Cross-entropy on logits (B, K) against labels (B,)."""
    return lambda out, y: F.cross_entropy(out, y, label_smoothing=label_smoothing)


class Classify:
    """Logits from `model(batch[input])` against `batch[target]`: named weighted losses + acc.

    `input` may name several fields, passed in order: `Classify(input=("story", "question"),
    target="answer")` is question answering. With more than one loss term each is logged as
    `train_loss_<name>`; `accuracy=False` for outputs that are not class logits.
    """

    def __init__(
        self,
        losses: Mapping[str, LossTerm] | None = None,
        *,
        input: str | tuple[str, ...] = "x",
        target: str = "y",
        accuracy: bool = True,
        label_smoothing: float = 0.0,
    ) -> None:
        self.losses = dict(losses or {"ce": LossTerm(cross_entropy(label_smoothing))})
        self.inputs = (input,) if isinstance(input, str) else tuple(input)
        self.target, self.accuracy = target, accuracy

    def step(self, model: nn.Module, batch: Batch) -> StepOutput:
        y = batch[self.target]
        out = model(*(batch[k] for k in self.inputs))  # (B, K)
        terms = {k: term.fn(out, y) for k, term in self.losses.items()}
        loss = sum(self.losses[k].weight * v for k, v in terms.items())
        parts = {f"loss_{k}": v.detach() for k, v in terms.items()} if len(terms) > 1 else {}
        if self.accuracy:
            parts["acc"] = (out.detach().argmax(1) == y).double().mean()
        return StepOutput(loss, parts, int(y.shape[0]))  # type: ignore[arg-type]

    def epoch_end(self) -> dict[str, float]:
        return {}


@dataclass
class Head:
    """One output of a multi-head model: its target field, loss, weight and optional mask."""

    target: str  # batch field with this head's targets
    loss: LossFn = field(default_factory=lambda: cross_entropy())  # (outputs, targets) -> mean
    weight: float = 1.0  # weight in the total loss
    mask: str | None = None  # batch field (bool, (B,)): samples this head's loss counts on
    accuracy: bool = True  # log train_<head>_acc (argmax of the head's logits)


class MultiTask:
    """A model returning `{head: output}`; the loss is Σ weight · (masked) mean loss per head.

    `method` names the model's method that returns the dict when `forward` keeps the
    registered-model protocol (one logits tensor): `tamrin.models.rotnet.RotationNet.heads`.
    A head with a `mask` sees only the masked samples (e.g. the class loss only on labelled
    images — not zero-filled targets, which push the classifier toward class 0). A batch whose
    mask is empty adds nothing for that head (a zero still attached to the graph).
    """

    def __init__(
        self, heads: Mapping[str, Head], *, input: str = "x", method: str | None = None
    ) -> None:
        if not heads:
            raise ValueError("MultiTask needs at least one head")
        self.heads, self.input, self.method = dict(heads), input, method

    def step(self, model: nn.Module, batch: Batch) -> StepOutput:
        forward = getattr(model, self.method) if self.method else model
        outputs = forward(batch[self.input])  # {head: (B, K_head)}
        total: torch.Tensor | None = None
        parts: dict[str, torch.Tensor] = {}
        for name, head in self.heads.items():
            out, y = outputs[name], batch[head.target]
            if head.mask is not None:
                keep = batch[head.mask].bool()
                out, y = out[keep], y[keep]
            value = head.loss(out, y) if len(y) else outputs[name].sum() * 0.0
            total = head.weight * value if total is None else total + head.weight * value
            parts[f"loss_{name}"] = value.detach()
            if head.accuracy and len(y):
                parts[f"{name}_acc"] = (out.detach().argmax(1) == y).double().mean()
        assert total is not None
        return StepOutput(total, parts, int(batch[self.input].shape[0]))

    def epoch_end(self) -> dict[str, float]:
        return {}


class Triplet:
    """Embeddings `model(batch[input])` scored by a triplet miner/loss (`TripletObjective`).

    Its per-epoch statistics (active fractions, triplets per batch) become history columns.
    """

    def __init__(self, loss: Any, *, input: str = "x", target: str = "y") -> None:
        self.loss, self.input, self.target = loss, input, target

    def step(self, model: nn.Module, batch: Batch) -> StepOutput:
        y = batch[self.target]
        return StepOutput(self.loss(model(batch[self.input]), y), {}, int(y.shape[0]))

    def epoch_end(self) -> dict[str, float]:
        return self.loss.pop_stats()
