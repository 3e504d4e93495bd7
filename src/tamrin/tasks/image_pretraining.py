"""Masked image modelling on a ViT, cached by settings (the `beit-pretrain` recipe's first half).

`pretrain_mim` trains `MaskedImageModel` (a ViT + linear pixel decoder) on the training images
with BEiT block masks and SimMIM pixel targets (`tamrin.train.mim`), with the same batched crop /
flip augmentation as classification; val_loss is the masked-pixel L1 on the val images with
fixed masks. Labels are never read. The weights are kept in `PretrainedCache` under a key of
everything that determines them, so the runs of `--seeds 3` (and a later run) pretrain once and
differ only in fine-tuning; the pretraining seed is `MimSettings.seed`, fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tamrin.config import require, to_dict
from tamrin.data.augment import AugmentConfig
from tamrin.data.prepare import ImageSplits
from tamrin.models.vit import MaskedImageModel, ViT, ViTConfig
from tamrin.registry import RunContext
from tamrin.tasks.classification import image_batches
from tamrin.tasks.training import precision_dtype, train
from tamrin.train.checkpoint import seeded
from tamrin.train.mim import MaskedPatches, MaskedPixels, MaskPool, mim_validator
from tamrin.train.optim import TrainConfig
from tamrin.train.pretrained import PretrainedCache, cache_key


def mim_train() -> TrainConfig:
    """AdamW, warm-up then cosine decay; selection on the masked-pixel val loss."""
    return TrainConfig(
        epochs=4,
        optimizer="adamw",
        lr=1e-3,
        batch_size=128,
        weight_decay=0.05,
        warmup=0.1,
        grad_clip=1.0,
        select="val_loss",
        eval_batch_size=500,
    )


@dataclass
class MimSettings:
    """Masked image modelling: how much to hide and how long to train."""

    ratio: float = 0.4  # fraction of patches hidden (BEiT: 75 of 196 = 38 %)
    min_block: int = 4  # smallest block of hidden patches (BEiT: 16 of a 14x14 grid)
    train: TrainConfig = field(default_factory=mim_train)
    seed: int = 0  # the pretraining's own seed: every fine-tuning seed starts from the same weights

    def validate(self) -> None:
        require(0 < self.ratio < 1, f"mim.ratio must be in (0, 1); got {self.ratio}")
        require(self.min_block >= 1, f"mim.min_block must be >= 1; got {self.min_block}")


def settings(
    data: str, split: dict[str, Any], model: ViTConfig, mim: MimSettings, augment: AugmentConfig
) -> dict[str, Any]:
    """Everything that determines the pretrained weights."""
    return {
        "task": "mim-pixels",
        "data": data,
        **split,
        "model": to_dict(model),
        "augment": to_dict(augment),
        "train": to_dict(mim.train),
        "ratio": mim.ratio,
        "min_block": mim.min_block,
        "seed": mim.seed,
    }


def pretrain_mim(
    model_cfg: ViTConfig,
    mim: MimSettings,
    splits: ImageSplits,
    ctx: RunContext,
    *,
    key_settings: dict[str, Any],
    augment: AugmentConfig,
    data: str,
    cache: PretrainedCache | None = None,
) -> tuple[MaskedImageModel, dict[str, Any]]:
    """A pretrained `MaskedImageModel` and what the report shows (cached or not, history,
    wall time, images/s). The fit is named "mim": a killed run resumes it."""
    cache = cache or PretrainedCache()
    key = cache_key(key_settings)
    with seeded(mim.seed):
        encoder = ViT(model_cfg, splits.in_shape, len(splits.classes))
        model = MaskedImageModel(encoder)
    kept = cache.load(key_settings)
    if kept is not None:
        state, meta = kept
        model.load_state_dict(state["model"])
        return model, {**meta.get("info", {}), "cached": True, "key": key}
    pool = MaskPool(encoder.grid, mim.ratio, min_block=mim.min_block, seed=mim.seed)
    images = image_batches(splits, mim.train.batch_size, mim.seed, augment=augment, data=data)
    batches = MaskedPatches(images, pool)
    objective = MaskedPixels(model_cfg.patch)
    amp = precision_dtype(mim.train, ctx)
    validate = mim_validator(splits.val_x, pool, model_cfg.patch, mim.train.eval_batch_size, amp)
    with seeded(mim.seed):
        result = train(
            model,
            batches,  # type: ignore[arg-type]
            mim.train,
            ctx,
            objective=objective,
            validate=validate,
            name="mim",
            log_history=False,
            unit="patch",  # the step counts the hidden patches it scores
        )
    per_epoch = min(len(batches), mim.train.max_batches or len(batches)) * mim.train.batch_size
    info = {
        "cached": False,
        "key": key,
        "history": result.history,
        "status": result.status,
        "epochs_run": result.epochs_run,
        "train_time_s": result.train_time_s,
        "images": int(splits.train_x.shape[0]),
        "masked_patches": pool.count,
        "mean_mask_ratio": float(pool.masks.float().mean()),
        "images_per_s": per_epoch * result.epochs_run / result.train_time_s
        if result.train_time_s
        else None,
        "val_loss": result.history[-1].get("val_loss") if result.history else None,
    }
    if result.status == "completed":
        cache.save(key_settings, {"model": model.state_dict()}, info=info)
    return model, info


def encoder_for_finetuning(pretrained: MaskedImageModel, classes: int) -> ViT:
    """The pretrained encoder as a classifier: every weight kept, a fresh zero-mean head."""
    encoder = pretrained.encoder
    fresh = ViT(encoder.cfg, (encoder.patch_embed.proj.in_channels, *image_size(encoder)), classes)
    state = {k: v for k, v in encoder.state_dict().items() if not k.startswith("head.")}
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise RuntimeError(f"pretrained encoder does not fit: {missing=} {unexpected=}")
    return fresh


def image_size(vit: ViT) -> tuple[int, int]:
    gh, gw = vit.grid
    return gh * vit.cfg.patch, gw * vit.cfg.patch
