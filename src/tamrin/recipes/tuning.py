"""The two KerasTuner exercises (HW14, HW6) as recipes with search spaces for `tamrin tune`.

HW14 ran Hyperband over one dense layer's units (16-512, step 16) and the learning rate
{1e-2, 1e-3, 1e-4} on Fashion-MNIST: best val 0.8916, retrained 50 epochs 0.8895 test. HW6
searched a CNN over 1-4 conv blocks, dropout, dense units and the learning rate with 5 random
trials: best val 0.816 (its data set is not named; tamrin measures both Fashion-MNIST and
CIFAR-10), then "precision 0.8161, recall 0.8161, F1 0.8161" — micro averages, which for
single-label classes always equal accuracy; the reports give macro figures too.

    tamrin tune fashion-mlp                        # 10-minute Hyperband search (TPE sampler)
    tamrin run fashion-mlp --from-study runs/tune/fashion-mlp --seeds 3
    tamrin tune cnn-blocks --set data=cifar10 --timeout 1200

Each recipe also runs alone with its defaults (`tamrin run fashion-mlp`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tamrin.data.augment import AugmentConfig
from tamrin.models.tunable import CNNBlocksConfig, DenseConfig
from tamrin.registry import HomeworkFigure, RunContext, recipe, register_tuning
from tamrin.search_space import Choice, Float, Int, SearchSpace, TuneSpec
from tamrin.tasks.classification import ImageData, SplitConfig, run_classifier, smoke_shrink
from tamrin.train.optim import TrainConfig


@dataclass
class FashionMLPConfig(SplitConfig):
    """HW14's MLP on Fashion-MNIST: AdamW with a one-cycle schedule, no augmentation."""

    data: ImageData = "fashion-mnist"  # fashion-mnist | mnist | cifar10
    model: DenseConfig = field(default_factory=DenseConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=20, optimizer="adamw", lr=1e-3, batch_size=256, weight_decay=1e-4
        )
    )
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(hflip=False))


@dataclass
class CNNBlocksRecipeConfig(SplitConfig):
    """HW6's CNN: AdamW, one-cycle, flips and 2-pixel crops."""

    data: ImageData = "fashion-mnist"  # fashion-mnist | cifar10 | mnist
    model: CNNBlocksConfig = field(default_factory=CNNBlocksConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=8, optimizer="adamw", lr=2e-3, batch_size=128, weight_decay=5e-4
        )
    )
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(crop_padding=2))


_IMAGES = ("fashion-mnist", "cifar10", "mnist")


@recipe(
    "fashion-mlp",
    course="HW14",
    summary="HW14's tuned MLP on Fashion-MNIST (tamrin tune fashion-mlp)",
    config=FashionMLPConfig,
    data=_IMAGES,
    smoke=smoke_shrink,
    homework=HomeworkFigure(
        "0.8895 test accuracy after Hyperband (best val 0.8916), retrained 50 epochs",
        0.8895,
        "test.accuracy",
    ),
)
def fashion_mlp(cfg: FashionMLPConfig, ctx: RunContext) -> None:
    """1-3 dense layers (units, shrink) with dropout on flattened pixels."""
    run_classifier(cfg, ctx, model_name="dense-mlp")


@recipe(
    "cnn-blocks",
    course="HW6",
    summary="HW6's tuned CNN: 1-4 conv blocks with BatchNorm (tamrin tune cnn-blocks)",
    config=CNNBlocksRecipeConfig,
    data=_IMAGES,
    smoke=smoke_shrink,
    homework=HomeworkFigure(
        "0.816 val accuracy of KerasTuner's best of 5 random trials (data set not named)",
        0.816,
        "test.accuracy",
    ),
)
def cnn_blocks(cfg: CNNBlocksRecipeConfig, ctx: RunContext) -> None:
    """[conv3x3-BN-ReLU, maxpool] x blocks -> dense -> dropout -> logits."""
    run_classifier(cfg, ctx, model_name="cnn-blocks")


register_tuning(
    TuneSpec(
        recipe="fashion-mlp",
        summary="HW14's Hyperband search: layers, units, learning rate, dropout",
        space=SearchSpace(
            (
                Int("model.layers", 1, 3),
                Int("model.units", 16, 512, step=16),
                Choice("model.shrink", (1.0, 0.5)),
                Float("train.lr", 1e-4, 1e-2, log=True, role="nuisance"),
                Float("model.dropout", 0.0, 0.5, role="nuisance"),
            ),
            fixed={"train.epochs": 20},
        ),
        timeout_s=600,
        homework="1 layer, 16-512 units step 16, lr {1e-2, 1e-3, 1e-4}: val 0.8916, test 0.8895",
        module=__name__,
    )
)

register_tuning(
    TuneSpec(
        recipe="cnn-blocks",
        summary="HW6's search: conv blocks, dropout, dense units, learning rate",
        space=SearchSpace(
            (
                Int("model.blocks", 1, 4),
                Float("model.dropout", 0.0, 0.5, role="nuisance"),
                Int("model.dense", 64, 512, step=64),
                Float("train.lr", 1e-4, 1e-2, log=True, role="nuisance"),
            ),
            fixed={"train.epochs": 8},
        ),
        timeout_s=1200,
        homework="4 blocks, dropout 0.1, dense 256, lr ~9e-4: best val 0.816",
        module=__name__,
    )
)
