"""Controlled studies of course HW2: activations, weight initialization, pooling and losses.

The homework answered each question with one run and prose: zero/constant initialization cannot
break symmetry and Xavier keeps the variance; pooling comes as max, min, average and L2;
cross-entropy beats MSE for classification; and on MNIST "after 1 epoch ReLU wins on train,
LeakyReLU on test; after 1000 epochs LeakyReLU wins everywhere" by fractions of a percent.
Here each is a study: every variant × 5 seeds on the same split and budget, mean ± std, a
Welch t-test against the baseline and a verdict generated from the numbers. The cells run
`lab-net`, a classifier whose activation, initialization, pooling and loss are config choices
and which logs the probes the questions need (dead units, symmetry, per-layer signal and
gradient, the gradient on a confidently wrong logit).

    tamrin run study-activation
    tamrin run study-init --seeds 3 --set train.epochs=2
    tamrin run lab-net --set model.init=zeros --set model.activation=tanh

References: Glorot & Bengio 2010; He et al. 2015; Maas et al. 2013 (LeakyReLU);
Springenberg et al. 2015 (strided convolutions instead of pooling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from tamrin.config import require
from tamrin.data.augment import AugmentConfig
from tamrin.models.factory import ModelConfig, build_classifier
from tamrin.registry import RunContext, StudySpec, Variant, recipe, register_study
from tamrin.tasks.classification import (
    ClassifierConfig,
    ImageData,
    evaluate_test,
    load_splits,
    record_model,
    smoke_shrink,
    train_classifier,
)
from tamrin.tasks.training import log_model
from tamrin.train import diagnostics as D
from tamrin.train.inference import predict_logits
from tamrin.train.losses import LossKind, classification_loss
from tamrin.train.objectives import LossTerm
from tamrin.train.optim import TrainConfig

SATURATION_MARGINS = [0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0]  # wrong-logit leads of the probe curve


@dataclass
class LabConfig(ClassifierConfig):
    """A small classifier with every knob the studies turn; MNIST, no augmentation.

    lr 0.02: at 0.05 (the CIFAR-10 recipes' rate) 3 of 10 LeNet runs with LeakyReLU(0.3) or
    PReLU on MNIST diverged to NaN in the first epoch, which a study would have to drop.
    """

    data: ImageData = "mnist"  # cifar10 | mnist | fashion-mnist
    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="mlp", hidden=[256, 128]))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=2, lr=0.02))
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossKind = "ce"  # ce | mse_softmax | mse_linear | hinge (multi-class margin)
    probe_size: int = 1024  # validation images the probes run on (fixed: the first N)

    def validate(self) -> None:
        super().validate()
        require(self.probe_size >= 16, f"probe_size must be >= 16; got {self.probe_size}")


def _lab_smoke(cfg: LabConfig) -> LabConfig:
    cfg = smoke_shrink(cfg)
    cfg.probe_size = 64
    return cfg


def _probe(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: LabConfig
) -> dict[str, Any]:
    """The state the studies compare: dead units, symmetry, per-layer signal, loss gradient."""
    loss_fn = classification_loss(cfg.loss, cfg.train.label_smoothing)
    activity = D.unit_activity(model, x)
    profile = D.layer_profile(model, x, y, loss_fn)
    logits = predict_logits(model, x, cfg.train.eval_batch_size)
    wrong = D.wrong_logit_gradient(loss_fn, logits, y)
    spread = D.row_spread(model)
    return {
        "dead_fraction": activity["dead_fraction"],
        "dead_fraction_per_layer": activity["dead_fraction_per_layer"],
        "act_std": profile["act_std"],
        "grad_norm": profile["grad_norm"],
        "row_spread": spread,
        "min_row_spread": min(spread) if spread else None,
        "wrong_logit_grad": wrong["mean"],
        "wrong_examples": wrong["examples"],
    }


def _lab(cfg: LabConfig, ctx: RunContext) -> None:
    """Train a classifier with the configured activation / init / pooling / loss and log the
    probes at initialization, after epoch 1 and after training."""
    splits = load_splits(cfg, ctx)
    model = build_classifier(cfg.model, splits.in_shape, len(splits.classes)).to(ctx.device)
    record_model(ctx, cfg.model.arch, cfg.model, splits, cfg.train)
    n = min(cfg.probe_size, splits.val_x.shape[0])
    px, py = splits.val_x[:n], splits.val_y[:n]
    loss_fn = classification_loss(cfg.loss, cfg.train.label_smoothing)
    log_model(
        ctx,
        model,
        arch=cfg.model.arch,
        activation=cfg.model.activation,
        init=cfg.model.init,
        pooling=cfg.model.pooling,
        loss=cfg.loss,
    )
    ctx.log_metrics("diagnostics", {"init": _probe(model, px, py, cfg)})
    ctx.log_metrics(
        "diagnostics",
        {
            "saturation": {
                "x": SATURATION_MARGINS,
                "y": D.saturation_curve(loss_fn, SATURATION_MARGINS),
                "xlabel": "lead of the wrong logit over the others",
            }
        },
    )

    def after_epoch(row: dict[str, float]) -> None:
        if int(row["epoch"]) == 1:
            ctx.log_metrics("diagnostics", {"epoch1": _probe(model, px, py, cfg)})

    result = train_classifier(
        model,
        splits,
        cfg.train,
        ctx,
        augment=cfg.augment,
        data=cfg.data,
        losses={cfg.loss: LossTerm(loss_fn)},
        after_epoch=after_epoch,
    )
    ctx.log_metrics("diagnostics", {"trained": _probe(model, px, py, cfg)})
    images = splits.train_x.shape[0] * result.epochs_run
    if cfg.train.max_batches:
        images = min(images, cfg.train.max_batches * cfg.train.batch_size * result.epochs_run)
    ctx.log_metrics(
        "speed",
        {"train_images_per_s": images / result.train_time_s if result.train_time_s else None},
    )
    evaluate_test(model, splits, cfg, ctx)


recipe(
    "lab-net",
    course="HW2",
    summary="A classifier whose activation, init, pooling and loss are config choices, probed",
    config=LabConfig,
    data=("mnist", "fashion-mnist", "cifar10"),
    smoke=_lab_smoke,
)(_lab)


# ----------------------------------------------------------------------------- the studies

_MLP = {"model.arch": "mlp", "model.hidden": [256, 128]}
_CNN = {"model.arch": "lenet"}
_ACTIVATIONS = [
    Variant("ReLU", {"model.activation": "relu"}),
    Variant("LeakyReLU(0.01)", {"model.activation": "leaky_relu", "model.negative_slope": 0.01}),
    Variant("LeakyReLU(0.1)", {"model.activation": "leaky_relu", "model.negative_slope": 0.1}),
    Variant("LeakyReLU(0.3)", {"model.activation": "leaky_relu", "model.negative_slope": 0.3}),
    Variant("PReLU", {"model.activation": "prelu", "model.negative_slope": 0.25}),
    Variant("GELU", {"model.activation": "gelu"}),
    Variant("sigmoid", {"model.activation": "sigmoid"}),
    Variant("tanh", {"model.activation": "tanh"}),
]


def _grouped(variants: list[Variant], groups: dict[str, dict[str, Any]]) -> tuple[Variant, ...]:
    return tuple(
        Variant(v.name, {**shared, **v.overrides}, group)
        for group, shared in groups.items()
        for v in variants
    )


_ACTIVATION_QUESTION = (
    "The homework: on MNIST, after 1 epoch ReLU wins on train and LeakyReLU on test; after "
    "1000 epochs LeakyReLU wins everywhere, by fractions of a percent. Does any activation "
    "differ from ReLU by more than seed-to-seed noise, on an MLP and on LeNet, and how many "
    "ReLU units die?"
)
_ACTIVATION_METRICS = (
    "final.train_acc",
    "best.value",
    "diagnostics.trained.dead_fraction",
)

register_study(
    StudySpec(
        name="study-activation",
        summary="ReLU vs LeakyReLU (0.01/0.1/0.3), PReLU, GELU, sigmoid, tanh — 1 epoch, MNIST",
        recipe="lab-net",
        variants=_grouped(_ACTIVATIONS, {"MLP": _MLP, "LeNet": _CNN}),
        question=_ACTIVATION_QUESTION,
        base={"data": "mnist", "train.epochs": 1},
        baseline="ReLU",
        metrics=_ACTIVATION_METRICS,
        curves=("val_acc",),
        data=("mnist",),
        module=__name__,
    )
)
register_study(
    StudySpec(
        name="study-activation-long",
        summary="The activation study at a long budget (15 epochs, MLP), MNIST",
        recipe="lab-net",
        variants=_grouped(_ACTIVATIONS, {"MLP": _MLP}),
        question=_ACTIVATION_QUESTION,
        base={"data": "mnist", "train.epochs": 15},
        baseline="ReLU",
        metrics=_ACTIVATION_METRICS,
        curves=("val_acc", "train_loss"),
        data=("mnist",),
        module=__name__,
    )
)

_DEEP = {"model.arch": "mlp", "model.hidden": [128] * 8}
_INITS = [
    Variant("PyTorch default", {"model.init": "default"}),
    Variant("zeros", {"model.init": "zeros"}),
    Variant("constant 0.1", {"model.init": "constant", "model.init_constant": 0.1}),
    Variant("N(0, 0.01²)", {"model.init": "normal", "model.init_std": 0.01}),
    Variant("N(0, 1)", {"model.init": "normal", "model.init_std": 1.0}),
    Variant("Xavier uniform", {"model.init": "xavier_uniform"}),
    Variant("Xavier normal", {"model.init": "xavier_normal"}),
    Variant("He (Kaiming) normal", {"model.init": "kaiming_normal"}),
]
register_study(
    StudySpec(
        name="study-init",
        summary="Weight initialization of a 10-layer MLP with tanh and with ReLU, Fashion-MNIST",
        recipe="lab-net",
        variants=_grouped(
            _INITS,
            {
                "tanh": {**_DEEP, "model.activation": "tanh"},
                "ReLU": {**_DEEP, "model.activation": "relu"},
            },
        ),
        question=(
            "The homework: zero or constant initialization cannot break the symmetry between the "
            "units of a layer, and Xavier keeps the variance of the signal. Measured: accuracy, "
            "the smallest per-layer spread between units' weights after training (0 = every "
            "unit of some layer identical), and per-layer activation std and gradient norm at "
            "initialization and after one epoch."
        ),
        base={"data": "fashion-mnist", "train.epochs": 2},
        baseline="Xavier uniform",
        metrics=(
            "best.value",
            "diagnostics.trained.min_row_spread",
            "diagnostics.trained.dead_fraction",
        ),
        curves=("val_acc",),
        profiles=(
            "diagnostics.init.act_std",
            "diagnostics.init.grad_norm",
            "diagnostics.epoch1.act_std",
            "diagnostics.epoch1.grad_norm",
        ),
        data=("fashion-mnist",),
        module=__name__,
    )
)

register_study(
    StudySpec(
        name="study-pooling",
        summary="Max, min, average, L2 pooling and strided convolution in LeNet, Fashion-MNIST",
        recipe="lab-net",
        variants=tuple(
            Variant(name, {"model.arch": "lenet", "model.pooling": kind})
            for name, kind in (
                ("max", "max"),
                ("min", "min"),
                ("average", "avg"),
                ("L2 (LPPool p=2)", "l2"),
                ("strided conv 2x2/2", "stride"),
            )
        ),
        question=(
            "The homework lists max, min, average and L2 pooling. How do they, and a learned "
            "strided convolution in their place, compare in accuracy, parameters and speed "
            "in the same LeNet?"
        ),
        base={"data": "fashion-mnist", "train.epochs": 3},
        baseline="max",
        metrics=("best.value", "model.parameters", "speed.train_images_per_s"),
        curves=("val_acc",),
        data=("fashion-mnist",),
        module=__name__,
    )
)

register_study(
    StudySpec(
        name="study-loss",
        summary="Cross-entropy vs MSE (on softmax / on logits) vs multi-class hinge, Fashion-MNIST",
        recipe="lab-net",
        variants=tuple(
            Variant(name, {"loss": kind})
            for name, kind in (
                ("cross-entropy", "ce"),
                ("MSE on softmax", "mse_softmax"),
                ("MSE on logits", "mse_linear"),
                ("hinge (margin 1)", "hinge"),
            )
        ),
        question=(
            "The homework: cross-entropy beats MSE for classification because MSE on a saturated "
            "softmax gives a vanishing gradient. Measured: accuracy, and the gradient each loss "
            "puts on the winning logit of misclassified examples, at initialization and after "
            "training, plus the same gradient as a function of how far the wrong logit leads."
        ),
        base={"data": "fashion-mnist", "train.epochs": 3},
        baseline="cross-entropy",
        metrics=(
            "best.value",
            "diagnostics.init.wrong_logit_grad",
            "diagnostics.trained.wrong_logit_grad",
        ),
        curves=("val_acc", "val_loss"),
        profiles=("diagnostics.saturation",),
        data=("fashion-mnist",),
        module=__name__,
    )
)
