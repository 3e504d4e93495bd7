"""Vision-transformer runs: the one test pass with attention maps, and throughput facts.

`evaluate_vit` scores the test split once (metrics, confusion, ROC as every classifier) and
draws, from the same pass's images, the last block's [CLS] → patch attention per head and the
attention rollout for one test image of each class. `log_speed` records images/s of training
and FLOPs per image — the numbers the issue asks a ViT report to state.
"""

from __future__ import annotations

from typing import Any

import torch

from tamrin.data.prepare import ImageSplits
from tamrin.eval.vision_figures import (
    attention_maps_info,
    attention_rollout,
    cls_attention,
    display_images,
)
from tamrin.models.vit import ViT, flops_per_image
from tamrin.registry import RunContext
from tamrin.tasks.classification import outputs
from tamrin.train.fit import FitResult
from tamrin.train.inference import predict_logits
from tamrin.train.optim import TrainConfig


def one_per_class(y: torch.Tensor, classes: int) -> torch.Tensor:
    """Indices of the first example of each class present in `y`, in class order."""
    firsts = [int((y == c).nonzero()[0]) for c in range(classes) if bool((y == c).any())]
    return torch.tensor(firsts, dtype=torch.long)


def log_attention_maps(
    model: ViT,
    x: torch.Tensor,
    y: torch.Tensor,
    predicted: torch.Tensor,
    splits: ImageSplits,
    ctx: RunContext,
    *,
    name: str = "attention_maps",
    caption: str = "",
) -> None:
    """Rollout and last-block [CLS] attention per head for one image of each class in (x, y)."""
    chosen = one_per_class(y, len(splits.classes))
    images = x[chosen.to(x.device)]
    weights = predict_logits(model, images, method="attention").cpu()  # eval mode, fp32
    titles = [
        f"{splits.classes[int(y[i])]} (pred {splits.classes[int(predicted[i])]})" for i in chosen
    ]
    pixels = display_images(images, splits.normalizer.mean.tolist(), splits.normalizer.std.tolist())
    info = attention_maps_info(
        pixels, attention_rollout(weights, model.grid), cls_attention(weights, model.grid), titles
    )
    ctx.log_plot(
        name,
        "attention-maps",
        info,
        caption
        or "One test image per class: attention rollout over every block (Abnar & Zuidema 2020) "
        "and the last block's [CLS] → patch attention per head.",
    )


def evaluate_vit(model: ViT, splits: ImageSplits, train_cfg: TrainConfig, ctx: RunContext) -> None:
    """The test split's one pass: predictions logged, attention maps drawn from its images."""
    if ctx.tuning_trial:
        return
    test_x, test_y = splits.take_test()
    logits = outputs(model, test_x, train_cfg, ctx)
    if not torch.isfinite(logits).all():
        ctx.log_note("The test split was not scored: the model's outputs are not finite.")
        return
    ctx.log_predictions(test_y.cpu(), torch.softmax(logits, dim=1), splits.classes)
    log_attention_maps(model, test_x, test_y.cpu(), logits.argmax(1), splits, ctx)


def log_speed(
    ctx: RunContext,
    model: ViT,
    splits: ImageSplits,
    result: FitResult,
    train_cfg: TrainConfig,
    section: str = "speed",
) -> dict[str, Any]:
    """Training images/s (images seen / training time, validation included) and forward FLOPs
    per image."""
    per_epoch = splits.train_x.shape[0]
    if train_cfg.max_batches is not None:
        per_epoch = min(per_epoch, train_cfg.max_batches * train_cfg.batch_size)
    seen = per_epoch * result.epochs_run
    facts: dict[str, Any] = {
        "train_images_per_s": seen / result.train_time_s if result.train_time_s else None,
        "forward_gflops_per_image": flops_per_image(model.cfg, splits.in_shape, len(splits.classes))
        / 1e9,
        "tokens": model.patch_embed.num_patches + 1,
    }
    ctx.log_metrics(section, facts)
    return facts
