"""Train and evaluate an image classifier end to end — the routine most course recipes share.

Recipes give it a `ClassifierConfig` (data set, model, training, augmentation) and their run
context; it loads and splits the data, trains with `fit`, evaluates the test split once and logs
everything through the context. Recipes add what is specific to their exercise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from tamrin.config import require
from tamrin.data.augment import AugmentConfig, for_dataset
from tamrin.data.loader import BatchIterator
from tamrin.data.prepare import ImageSplits, prepare_images
from tamrin.models.factory import ModelConfig, build_classifier
from tamrin.train.device import autocast_dtype
from tamrin.train.fit import FitResult, LossTerm, classification_validator, fit
from tamrin.train.inference import predict_logits
from tamrin.train.optim import TrainConfig

ImageData = Literal["cifar10", "mnist", "fashion-mnist"]


@dataclass
class ClassifierConfig:
    """An image classifier experiment: which data, which network, how to train it."""

    data: ImageData = "cifar10"  # cifar10 | mnist | fashion-mnist
    val_fraction: float = 0.1  # stratified hold-out of train used for selection, in (0, 1)
    split_seed: int = 0  # seed of the hold-out (fixed so all seeds see the same val split)
    train_subset: int | None = None  # train on a stratified subset of this size (None = all)
    test_subset: int | None = None  # evaluate on a stratified test subset (smoke runs only)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> None:
        require(
            0 < self.val_fraction < 1, f"val_fraction must be in (0, 1); got {self.val_fraction}"
        )
        require(
            self.train_subset is None or self.train_subset >= 10,
            f"train_subset must be >= 10 or None; got {self.train_subset}",
        )


def smoke_shrink(cfg: Any) -> Any:
    """The same code path, shrunk to seconds: 1 epoch, few batches, narrow model, small slices."""
    cfg.train_subset = 512
    cfg.test_subset = 256
    cfg.train.epochs = 2
    cfg.train.batch_size = 64
    cfg.train.max_batches = 4
    cfg.model.width = 0.25
    return cfg


def load_splits(cfg: ClassifierConfig, ctx: Any) -> ImageSplits:
    from tamrin.data.datasets import load_images

    ds = load_images(cfg.data, ctx.data_store())
    return prepare_images(
        ds,
        val_fraction=cfg.val_fraction,
        split_seed=cfg.split_seed,
        device=ctx.device,
        train_subset=cfg.train_subset,
        test_subset=cfg.test_subset,
    )


def train_on_splits(
    model: nn.Module,
    splits: ImageSplits,
    cfg: ClassifierConfig,
    ctx: Any,
    *,
    name: str = "",
    log_history: bool = True,
    losses: Mapping[str, LossTerm] | None = None,
    after_epoch: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Fit `model` on `splits` (checkpoints under checkpoints/<name>/), log the result.

    `losses` replaces cross-entropy; `after_epoch(row)` runs after each epoch is logged
    (probes of the model's state, for example).
    """

    def on_epoch(row: dict[str, float]) -> None:
        if log_history:
            ctx.log_epoch(row)
        if after_epoch is not None:
            after_epoch(row)

    amp = autocast_dtype(ctx.device)
    batches = BatchIterator(
        splits.train_x,
        splits.train_y,
        cfg.train.batch_size,
        seed=ctx.seed,
        augment=for_dataset(cfg.augment, cfg.data),
    )
    result = fit(
        model,
        batches,
        cfg.train,
        device=ctx.device,
        amp=amp,
        validate=classification_validator(
            splits.val_x, splits.val_y, cfg.train.eval_batch_size, amp
        ),
        losses=losses,
        checkpoint_dir=ctx.checkpoint_dir / name if name else ctx.checkpoint_dir,
        on_epoch=on_epoch,
        progress=ctx.progress(),
    )
    ctx.log_fit(result, name=name)
    return result


def evaluate_test(model: nn.Module, splits: ImageSplits, cfg: ClassifierConfig, ctx: Any) -> None:
    """Score the test split once and log its predictions (metrics, confusion, ROC)."""
    test_x, test_y = splits.take_test()
    logits = predict_logits(model, test_x, cfg.train.eval_batch_size, autocast_dtype(ctx.device))
    if not torch.isfinite(logits).all():  # diverged before any good epoch was saved
        ctx.log_note("The test split was not scored: the model's outputs are not finite.")
        return
    ctx.log_predictions(test_y, torch.softmax(logits, dim=1), splits.classes)


def run_classifier(cfg: ClassifierConfig, ctx: Any) -> tuple[nn.Module, ImageSplits, FitResult]:
    """Load data, build `cfg.model`, train, evaluate the test split once; returns the pieces."""
    splits = load_splits(cfg, ctx)
    model = build_classifier(cfg.model, splits.in_shape, len(splits.classes))
    ctx.log_metrics(
        "model",
        {
            "parameters": sum(p.numel() for p in model.parameters()),
            "arch": cfg.model.arch,
            "norm": cfg.model.norm,
        },
    )
    result = train_on_splits(model, splits, cfg, ctx)
    evaluate_test(model, splits, cfg, ctx)
    return model, splits, result
