"""CNNs and an MLP on CIFAR-10 (course HW2 and HW5), also on MNIST and Fashion-MNIST.

The homework trained LeNet-5 for 5 epochs with batch 4 and lr 0.001 (62% test accuracy), the same
with BatchNorm (65%), a wider 3x3 net (70%), and a 3072-4096-2048-1024-512-256-64-10 MLP (52.2%,
macro F1 0.513). tamrin trains the same networks in far less compute: batch 128 from tensors in
memory, one-cycle SGD with Nesterov momentum, light augmentation — see the README for the
measured numbers (3 seeds). Any of them runs on MNIST / Fashion-MNIST with `--set data=mnist`.

    tamrin run cifar10-lenet --seeds 3
    tamrin run cifar10-mlp --set data=fashion-mnist

Reference: LeCun et al. 1998, "Gradient-based learning applied to document recognition".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tamrin.data.augment import AugmentConfig
from tamrin.models.factory import ModelConfig
from tamrin.registry import HomeworkFigure, RunContext, recipe
from tamrin.tasks.classification import ClassifierConfig, run_classifier, smoke_shrink
from tamrin.train.optim import TrainConfig


@dataclass
class LeNetConfig(ClassifierConfig):
    """LeNet-5: 10 short epochs, flips + 2-pixel crops (more crop only slows a net this small)."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="lenet"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, lr=0.05))
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(crop_padding=2))


@dataclass
class LeNetBNConfig(LeNetConfig):
    """LeNet-5 with BatchNorm after each conv: BN tolerates a higher learning rate."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="lenet", norm="batch"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, lr=0.1))


@dataclass
class WideConfig(ClassifierConfig):
    """The 3x3 wide net: 30 channels, two pools, dense head."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="wide"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=6, lr=0.05))
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(crop_padding=2))


@dataclass
class MLPConfig(ClassifierConfig):
    """The HW5 MLP; compute-bound (~23M weights, ~65 s per epoch on 2 cores), so 4 epochs of
    AdamW with a one-cycle schedule (SGD at lr 0.02 reached only 0.50 val accuracy in 6 epochs:
    a 7-layer ReLU MLP starts slowly under SGD)."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="mlp"))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=4, optimizer="adamw", lr=1e-3, batch_size=256, weight_decay=0.05
        )
    )
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def _classify(cfg: ClassifierConfig, ctx: RunContext) -> None:
    run_classifier(cfg, ctx)


_IMAGES = ("cifar10", "mnist", "fashion-mnist")


@recipe(
    "cifar10-lenet",
    course="HW2",
    summary="LeNet-5 on CIFAR-10 (HW2)",
    config=LeNetConfig,
    data=_IMAGES,
    smoke=smoke_shrink,
    homework=HomeworkFigure(
        "62% test accuracy after 5 epochs (batch 4, lr 0.001)", 0.62, "test.accuracy"
    ),
)
def cifar10_lenet(cfg: LeNetConfig, ctx: RunContext) -> None:
    """LeNet-5: conv5(6)-pool-conv5(16)-pool-FC120-FC84-FC10, SGD with momentum."""
    _classify(cfg, ctx)


@recipe(
    "cifar10-lenet-bn",
    course="HW2",
    summary="LeNet-5 with BatchNorm after each conv (HW2)",
    config=LeNetBNConfig,
    data=_IMAGES,
    smoke=smoke_shrink,
    homework=HomeworkFigure("65% test accuracy after 5 epochs", 0.65, "test.accuracy"),
)
def cifar10_lenet_bn(cfg: LeNetBNConfig, ctx: RunContext) -> None:
    """LeNet-5 + BatchNorm2d after each convolution."""
    _classify(cfg, ctx)


@recipe(
    "cifar10-wide",
    course="HW2",
    summary="Wider 3x3 CNN (30 channels) on CIFAR-10 (HW2)",
    config=WideConfig,
    data=_IMAGES,
    smoke=smoke_shrink,
    homework=HomeworkFigure("70% test accuracy", 0.70, "test.accuracy"),
)
def cifar10_wide(cfg: WideConfig, ctx: RunContext) -> None:
    """conv3(30)-pool-conv3(30)-pool-FC1080-256-10."""
    _classify(cfg, ctx)


@recipe(
    "cifar10-mlp",
    course="HW5",
    summary="7-layer MLP 3072-4096-...-64-10 on CIFAR-10 (HW5)",
    config=MLPConfig,
    data=_IMAGES,
    smoke=smoke_shrink,
    homework=HomeworkFigure("52.2% test accuracy, macro F1 0.513", 0.522, "test.accuracy"),
)
def cifar10_mlp(cfg: MLPConfig, ctx: RunContext) -> None:
    """Fully connected 3072-4096-2048-1024-512-256-64-10 with ReLU."""
    _classify(cfg, ctx)
