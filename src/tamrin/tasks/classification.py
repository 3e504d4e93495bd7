"""Image classification end to end — the task most course recipes share.

`load_splits` reads a data set and splits it (val from the set's own split or a seeded
stratified hold-out, normalized with train statistics, on the device); `image_batches` builds
the training batches (shuffled, class-balanced or P×K) with the configured augmentation;
`train_classifier` fits with validation on val; `test_logits` touches the test split once; and
`log_test_predictions` scores it; `record_model` writes model.json (what `tamrin.load` rebuilds
the model from). `run_classifier` is all of that for the plain recipes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from tamrin import rundir
from tamrin.config import require, to_dict
from tamrin.data.augment import AugmentConfig, JitterConfig, for_dataset, image_augment
from tamrin.data.batches import BalancedSampler, Batches, PKSampler, Sampler, ShuffleSampler
from tamrin.data.prepare import ImageSplits, prepare_images
from tamrin.models import build_model
from tamrin.models.factory import ModelConfig, build_classifier
from tamrin.registry import RunContext
from tamrin.tasks.training import log_model, precision_dtype, run_precision, train
from tamrin.train.callbacks import Callback
from tamrin.train.fit import FitResult, Validator, classification_validator
from tamrin.train.inference import predict_logits
from tamrin.train.objectives import Classify, LossTerm, Objective
from tamrin.train.optim import TrainConfig

ImageData = Literal["cifar10", "mnist", "fashion-mnist"]
SamplerKind = Literal["shuffle", "balanced"]


@dataclass
class SplitConfig:
    """Which image data set and how it is split (the same split for every seed)."""

    data: ImageData = "cifar10"  # cifar10 | mnist | fashion-mnist
    val_fraction: float = 0.1  # stratified hold-out of train used for selection, in (0, 1)
    split_seed: int = 0  # seed of the hold-out (fixed so all seeds see the same val split)
    train_subset: int | None = None  # train on a stratified subset of this size (None = all)
    test_subset: int | None = None  # evaluate on a stratified test subset (smoke runs only)

    def validate(self) -> None:
        require(
            0 < self.val_fraction < 1, f"val_fraction must be in (0, 1); got {self.val_fraction}"
        )
        require(
            self.train_subset is None or self.train_subset >= 10,
            f"train_subset must be >= 10 or None; got {self.train_subset}",
        )


@dataclass
class ClassifierConfig(SplitConfig):
    """An image classifier experiment: which data, which network, how to train it."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def smoke_shrink(cfg: Any) -> Any:
    """The same code path, shrunk to seconds: 2 epochs of 4 batches, narrow model, small slices."""
    cfg.train_subset = 512
    cfg.test_subset = 256
    cfg.train.epochs = 2
    cfg.train.batch_size = 64
    cfg.train.max_batches = 4
    cfg.model.width = 0.25
    return cfg


def load_splits(cfg: SplitConfig, ctx: RunContext) -> ImageSplits:
    """`cfg.data` from the run's data store, split as `cfg` says and on the run's device."""
    from tamrin.data.datasets import load_images

    return split_images(
        load_images(cfg.data, ctx.data_store()),
        ctx,
        val_fraction=cfg.val_fraction,
        split_seed=cfg.split_seed,
        train_subset=cfg.train_subset,
        test_subset=cfg.test_subset,
    )


def split_images(
    ds: Any,
    ctx: RunContext,
    *,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    train_subset: int | None = None,
    test_subset: int | None = None,
) -> ImageSplits:
    """A decoded image data set as normalized train / val / test tensors on the run's device.

    Val is the set's own split when it has one, else a seeded stratified hold-out of train.
    """
    return prepare_images(
        ds,
        val_fraction=val_fraction,
        split_seed=split_seed,
        device=ctx.device,
        train_subset=train_subset,
        test_subset=test_subset,
    )


def image_batches(
    splits: ImageSplits,
    batch_size: int,
    seed: int,
    *,
    augment: AugmentConfig | None = None,
    jitter: JitterConfig | None = None,
    data: str = "",
    sampler: SamplerKind | Sampler = "shuffle",
) -> Batches:
    """Training batches {"x", "y"} of `splits`: shuffled, class-balanced, or any sampler given.

    `data` resolves `augment.hflip=None` to the data set's default (flips for photos, none for
    digits).
    """
    if sampler == "shuffle":
        sampler = ShuffleSampler(splits.train_x.shape[0], batch_size, seed=seed)
    elif sampler == "balanced":
        sampler = BalancedSampler(splits.train_y, batch_size, seed=seed)
    geometry = for_dataset(augment, data) if augment is not None and data else augment
    return Batches(
        {"x": splits.train_x, "y": splits.train_y},
        sampler,  # type: ignore[arg-type]
        augment={"x": image_augment(geometry, jitter)},
        seed=seed,
    )


def pk_batches(
    splits: ImageSplits, p: int, k: int, seed: int, *, augment: AugmentConfig | None = None
) -> Batches:
    """P×K training batches (P classes, K images each) for metric learning."""
    return image_batches(
        splits, p * k, seed, augment=augment, sampler=PKSampler(splits.train_y, p, k, seed=seed)
    )


def train_classifier(
    model: nn.Module,
    splits: ImageSplits,
    train_cfg: TrainConfig,
    ctx: RunContext,
    *,
    augment: AugmentConfig | None = None,
    data: str = "",
    name: str = "",
    log_history: bool = True,
    losses: dict[str, LossTerm] | None = None,
    objective: Objective | None = None,
    validate: Validator | None = None,
    batches: Batches | None = None,
    callbacks: Sequence[Callback] = (),
    after_epoch: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Fit a classifier on `splits`, selecting on the val split.

    Batches default to shuffled `augment`-ed ones (`data` resolves the flip default); `losses`
    replaces cross-entropy; `validate` replaces val loss/accuracy.
    """
    if batches is None:
        batches = image_batches(splits, train_cfg.batch_size, ctx.seed, augment=augment, data=data)
    if objective is None:
        objective = Classify(losses, label_smoothing=train_cfg.label_smoothing)
    amp = run_precision(ctx, train_cfg, model, batches, objective).dtype
    if validate is None:
        validate = classification_validator(
            splits.val_x, splits.val_y, train_cfg.eval_batch_size, amp
        )
    return train(
        model,
        batches,
        train_cfg,
        ctx,
        objective=objective,
        validate=validate,
        callbacks=callbacks,
        name=name,
        log_history=log_history,
        after_epoch=after_epoch,
    )


def outputs(model: nn.Module, x: torch.Tensor, train_cfg: TrainConfig, ctx: RunContext) -> Any:
    """Model outputs for every row of `x` (eval mode, the run's precision), float32 on CPU."""
    amp = precision_dtype(train_cfg, ctx)
    return predict_logits(model, x, train_cfg.eval_batch_size, amp).cpu()


def test_logits(
    model: nn.Module, splits: ImageSplits, train_cfg: TrainConfig, ctx: RunContext
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(logits, labels) of the test split on the CPU — the one time the test split is touched.

    None (with a note in the report) when the outputs are not finite: a run that diverged before
    any good epoch was saved is not scored. None as well in a tuning trial, which selects on val
    only and never sees the test split.
    """
    if ctx.tuning_trial:
        ctx.log_note(rundir.TRIAL_NOTE)
        return None
    test_x, test_y = splits.take_test()
    logits = outputs(model, test_x, train_cfg, ctx)
    if not torch.isfinite(logits).all():
        ctx.log_note("The test split was not scored: the model's outputs are not finite.")
        return None
    return logits, test_y.cpu()


def evaluate_test(
    model: nn.Module, splits: ImageSplits, cfg: ClassifierConfig, ctx: RunContext
) -> None:
    """Score the test split once and log its predictions (metrics, confusion, ROC)."""
    scored = test_logits(model, splits, cfg.train, ctx)
    if scored is not None:
        logits, y = scored
        ctx.log_predictions(y, torch.softmax(logits, dim=1), splits.classes)


def record_model(
    ctx: RunContext,
    model_name: str,
    model_cfg: Any,
    splits: ImageSplits,
    train_cfg: TrainConfig,
    *,
    task: str = "classify",
    out_dim: int | None = None,
    fit: str = "",
) -> None:
    """Record in model.json how to rebuild the run's model and prepare its inputs.

    `model_name` is the registered model (`tamrin.models.build_model(model_name, model_cfg,
    ...)`), `fit` the named fit whose checkpoints hold its weights; the class names and the
    train split's uint8-scale mean/std are what `tamrin.load(RUN).predict(images)` applies.
    """
    ctx.log_inference(
        {
            "format": 1,
            "model": model_name,
            "model_config": to_dict(model_cfg),
            "task": task,  # classify: (N, K) logits; embed: (N, D) embeddings
            "in_shape": list(splits.in_shape),
            "out_dim": len(splits.classes) if out_dim is None else int(out_dim),
            "classes": list(splits.classes),
            "normalizer": {
                "mean": [float(v) for v in splits.normalizer.mean.cpu()],
                "std": [float(v) for v in splits.normalizer.std.cpu()],
                "scale": 255.0,  # the statistics are of uint8 pixels
            },
            "checkpoints": f"checkpoints/{fit}" if fit else "checkpoints",
            "weights": "best" if train_cfg.restore_best else "last",
        }
    )


def run_classifier(
    cfg: Any, ctx: RunContext, model_name: str | None = None
) -> tuple[nn.Module, ImageSplits, FitResult]:
    """Load data, build `cfg.model`, train, evaluate the test split once; returns the pieces.

    `cfg` is a ClassifierConfig, or any SplitConfig with `model`, `train` and `augment`;
    `model_name` is the registered model `cfg.model` configures (default: `cfg.model.arch`).
    """
    splits = load_splits(cfg, ctx)
    if model_name is None:
        model = build_classifier(cfg.model, splits.in_shape, len(splits.classes))
        model_name = cfg.model.arch
        log_model(ctx, model, arch=model_name, norm=cfg.model.norm)
    else:
        model = build_model(
            model_name, cfg.model, in_shape=splits.in_shape, out_dim=len(splits.classes)
        )
        log_model(ctx, model, arch=model_name)
    record_model(ctx, model_name, cfg.model, splits, cfg.train)
    result = train_classifier(model, splits, cfg.train, ctx, augment=cfg.augment, data=cfg.data)
    evaluate_test(model, splits, cfg, ctx)
    return model, splits, result
