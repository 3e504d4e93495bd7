"""Vision transformers on CIFAR-10 / MNIST / Fashion-MNIST (course HW5).

HW5 compared an MLP (3072-4096-2048-1024-512-256-64-10: 52.2 % test accuracy on CIFAR-10) with a
BEiT-based classifier and claimed, among its true/false answers, that "positional encoding is
essential: without it the network fails". Here a small ViT (`tamrin.models.vit`: patches,
[CLS], learned positions, the encoder block BERT stacks) is trained from scratch on the CPU in
minutes, with the batched crop + flip augmentation and label smoothing small-data transformers
need, and reported next to the measured `cifar10-mlp` on the same split.

    vit-classify   the ViT from scratch: accuracy, images/s, FLOPs per image, attention maps
                   (rollout and [CLS] per head) over test images; `--set model.pos_embed=none`
                   drops the position embeddings (the study `study-vit-positions`)
    beit-pretrain  masked image modelling (BEiT's block masks of 40 % of the patches, SimMIM's
                   pixel targets: no dVAE tokenizer to train first), then fine-tuning, beside
                   the same ViT from scratch at the same fine-tuning budget

    tamrin run vit-classify --seeds 3
    tamrin run vit-classify --set data=fashion-mnist
    tamrin study study-vit-positions
    tamrin run beit-pretrain --seeds 3

References: Dosovitskiy et al. 2021 (ViT); Abnar & Zuidema 2020 (attention rollout); Touvron et
al. 2021 (DeiT: the augmentation and regularisation small-data ViTs need); Bao et al. 2022
(BEiT: blockwise masking); Xie et al. 2022 (SimMIM: pixel targets, a linear decoder); He et al.
2022 (MAE: per-patch normalised targets).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from tamrin import measured
from tamrin.data.augment import AugmentConfig
from tamrin.eval.figures import LinesInfo
from tamrin.eval.metrics import classification_metrics
from tamrin.models import build_model
from tamrin.models.vit import ViTConfig
from tamrin.registry import HomeworkFigure, RunContext, StudySpec, Variant, recipe, register_study
from tamrin.tasks.classification import (
    SplitConfig,
    load_splits,
    outputs,
    record_model,
    smoke_shrink,
    train_classifier,
)
from tamrin.tasks.image_pretraining import (
    MimSettings,
    encoder_for_finetuning,
    pretrain_mim,
    settings,
)
from tamrin.tasks.training import log_model
from tamrin.tasks.vision import evaluate_vit, log_attention_maps, log_speed
from tamrin.train.checkpoint import seeded
from tamrin.train.optim import TrainConfig

_IMAGES = ("cifar10", "mnist", "fashion-mnist")


def vit_train() -> TrainConfig:
    """AdamW, warm-up then cosine decay (one-cycle), label smoothing: DeiT's recipe, shortened."""
    return TrainConfig(
        epochs=10,
        optimizer="adamw",
        lr=1e-3,
        batch_size=128,
        weight_decay=0.05,
        warmup=0.1,
        label_smoothing=0.1,
        grad_clip=1.0,
        eval_batch_size=500,
    )


@dataclass
class ViTClassifyConfig(SplitConfig):
    """A small ViT (patch 4, 192 wide, 6 blocks) from scratch; crop + flip augmentation."""

    model: ViTConfig = field(default_factory=ViTConfig)
    train: TrainConfig = field(default_factory=vit_train)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(crop_padding=4))


def vit_smoke(cfg: Any) -> Any:
    cfg = smoke_shrink(cfg)
    cfg.model.dim, cfg.model.depth, cfg.model.heads = 32, 2, 2
    return cfg


def log_mlp_comparison(ctx: RunContext, data: str) -> None:
    """The measured `cifar10-mlp` result on the same data and split, beside this run's number."""
    rows = [
        [r["recipe"], r["mean"], r.get("std"), len(r.get("seeds", [])), r.get("source", "")]
        for r in measured.for_recipe("cifar10-mlp")
        if r.get("data") == data and set(r.get("overrides") or {}) <= {"train.precision"}
    ]
    if rows:
        ctx.log_table(
            "mlp_comparison",
            ["recipe", "test accuracy (mean)", "std", "seeds", "measured in"],
            rows,
            "The HW5 MLP, measured by tamrin on the same data and split (package measured.json).",
        )


@recipe(
    "vit-classify",
    course="HW5",
    summary="Small vision transformer from scratch (patch 4, [CLS], learned positions) (HW5)",
    config=ViTClassifyConfig,
    data=_IMAGES,
    smoke=vit_smoke,
    homework=HomeworkFigure(
        "52.2% test accuracy of the 3072-4096-...-64-10 MLP the ViT is compared with",
        0.522,
        "test.accuracy",
    ),
)
def vit_classify(cfg: ViTClassifyConfig, ctx: RunContext) -> None:
    """Patch embedding, [CLS], positions, pre-norm encoder blocks, linear head on [CLS]."""
    splits = load_splits(cfg, ctx)
    model = build_model("vit", cfg.model, in_shape=splits.in_shape, out_dim=len(splits.classes))
    log_model(ctx, model, arch="vit", pos_embed=cfg.model.pos_embed)
    record_model(ctx, "vit", cfg.model, splits, cfg.train)
    result = train_classifier(model, splits, cfg.train, ctx, augment=cfg.augment, data=cfg.data)
    log_speed(ctx, model, splits, result, cfg.train)  # type: ignore[arg-type]
    evaluate_vit(model, splits, cfg.train, ctx)  # type: ignore[arg-type]
    log_mlp_comparison(ctx, cfg.data)


def finetune_train() -> TrainConfig:
    """The fine-tuning budget both arms get: vit-classify's recipe for one epoch (a short budget,
    where what pretraining learned shows; `--set finetune.epochs=N` for longer)."""
    return replace(vit_train(), epochs=1)


@dataclass
class BeitPretrainConfig(SplitConfig):
    """MIM pretraining of vit-classify's ViT, then fine-tuning beside the same ViT from scratch."""

    model: ViTConfig = field(default_factory=ViTConfig)
    mim: MimSettings = field(default_factory=MimSettings)
    finetune: TrainConfig = field(default_factory=finetune_train)  # both arms: same budget
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(crop_padding=4))
    scratch: bool = True  # also train the from-scratch arm (the comparison)


def beit_smoke(cfg: Any) -> Any:
    cfg.train_subset, cfg.test_subset = 512, 256
    cfg.model.dim, cfg.model.depth, cfg.model.heads = 32, 2, 2
    for train in (cfg.mim.train, cfg.finetune):
        train.epochs, train.batch_size, train.max_batches = 1, 64, 4
    return cfg


def _scores(logits: torch.Tensor, y: torch.Tensor, classes: list[str]) -> dict[str, float]:
    m = classification_metrics(y.numpy(), torch.softmax(logits, 1).numpy(), classes)
    return {"test_accuracy": m["accuracy"], "test_macro_f1": m["macro_f1"]}


@recipe(
    "beit-pretrain",
    course="HW5",
    summary="BEiT-style masked image modelling (pixel targets), then fine-tuning vs scratch (HW5)",
    config=BeitPretrainConfig,
    data=_IMAGES,
    smoke=beit_smoke,
    headline=("test.accuracy", "scratch.test_accuracy", "comparison.gain"),
)
def beit_pretrain(cfg: BeitPretrainConfig, ctx: RunContext) -> None:
    """Pretrain (cached by settings), fine-tune, train the scratch arm, score both once."""
    splits = load_splits(cfg, ctx)
    split = {
        "val_fraction": cfg.val_fraction,
        "split_seed": cfg.split_seed,
        "train_subset": cfg.train_subset,
    }
    key = settings(cfg.data, split, cfg.model, cfg.mim, cfg.augment)
    pretrained, info = pretrain_mim(
        cfg.model, cfg.mim, splits, ctx, key_settings=key, augment=cfg.augment, data=cfg.data
    )
    history = info.get("history", [])
    ctx.log_metrics("pretrain", {k: v for k, v in info.items() if k != "history"})
    with seeded(ctx.seed):
        finetuned = encoder_for_finetuning(pretrained, len(splits.classes))
    log_model(ctx, finetuned, arch="vit", pos_embed=cfg.model.pos_embed)
    record_model(ctx, "vit", cfg.model, splits, cfg.finetune)
    tuned = train_classifier(
        finetuned, splits, cfg.finetune, ctx, augment=cfg.augment, data=cfg.data
    )
    histories = {"after MIM": tuned.history}
    scratch = None
    if cfg.scratch:
        scratch = build_model(
            "vit", cfg.model, in_shape=splits.in_shape, out_dim=len(splits.classes)
        )
        fit = train_classifier(
            scratch,
            splits,
            cfg.finetune,
            ctx,
            augment=cfg.augment,
            data=cfg.data,
            name="scratch",
            log_history=False,
        )
        histories["from scratch"] = fit.history
    _plot_histories(ctx, history, histories)
    if ctx.tuning_trial:
        return
    test_x, test_y = splits.take_test()  # the one pass: both arms, after both are trained
    logits = outputs(finetuned, test_x, cfg.finetune, ctx)
    ctx.log_predictions(test_y.cpu(), torch.softmax(logits, 1), splits.classes)
    log_attention_maps(finetuned, test_x, test_y.cpu(), logits.argmax(1), splits, ctx)
    if scratch is not None:
        tuned_scores = _scores(logits, test_y.cpu(), splits.classes)
        scratch_scores = _scores(
            outputs(scratch, test_x, cfg.finetune, ctx), test_y.cpu(), splits.classes
        )
        ctx.log_metrics("scratch", scratch_scores)
        ctx.log_metrics(
            "comparison",
            {"gain": tuned_scores["test_accuracy"] - scratch_scores["test_accuracy"]},
        )


def _plot_histories(
    ctx: RunContext, pretraining: list[dict[str, Any]], arms: dict[str, list[dict[str, Any]]]
) -> None:
    if pretraining:
        ctx.log_plot(
            "mim_loss",
            "lines",
            LinesInfo(
                [float(r["epoch"]) for r in pretraining],
                {
                    "train": [r.get("train_loss", float("nan")) for r in pretraining],
                    "val (fixed masks)": [r.get("val_loss", float("nan")) for r in pretraining],
                },
                xlabel="epoch",
                ylabel="masked-patch L1 (normalised pixels)",
                title="Masked image modelling",
            ),
            "Pretraining loss: L1 between predicted and per-patch-normalised pixels of the "
            "hidden patches (train: per epoch; val: the same fixed masks every epoch).",
        )
    epochs = max(len(h) for h in arms.values())
    ctx.log_plot(
        "finetune_val_acc",
        "lines",
        LinesInfo(
            list(range(1, epochs + 1)),
            {
                name: [r.get("val_acc", float("nan")) for r in h]
                + [float("nan")] * (epochs - len(h))
                for name, h in arms.items()
            },
            xlabel="fine-tuning epoch",
            ylabel="validation accuracy",
            title="Same ViT, same fine-tuning budget",
        ),
        "Validation accuracy per fine-tuning epoch, after MIM pretraining and from scratch.",
    )


register_study(
    StudySpec(
        name="study-vit-positions",
        summary="ViT with and without position embeddings on CIFAR-10 (HW5's claim), 2 epochs",
        recipe="vit-classify",
        variants=(
            Variant("learned positions", {"model.pos_embed": "learned"}),
            Variant("no positions", {"model.pos_embed": "none"}),
        ),
        question="HW5: 'positional encoding is essential: without it the network fails'. Without "
        "position embeddings a ViT sees its patches as a set: does it fail, or only lose points?",
        base={"data": "cifar10", "train.epochs": 2},
        baseline="learned positions",
        metrics=("test.macro_f1", "speed.train_images_per_s"),
        curves=("val_acc",),
        seeds=3,
        data=("cifar10",),
        module=__name__,
    )
)
