"""The two networks the course tunes with KerasTuner, as configs a search space can fill in.

`dense-mlp` is HW14's MLP (Flatten -> Dense(units) -> Dense(10)) grown to 1-3 dense layers;
`cnn-blocks` is HW6's CNN: 1-4 blocks of conv3x3-BN-ReLU (x `convs`) and 2x2 max pooling,
channels doubling per block, then Flatten -> Dense(dense) -> Dropout -> Dense(10). Every field is
a plain number, so `tamrin tune` can draw it and `--set` can check it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from tamrin.config import require
from tamrin.models.cnn import flat_features
from tamrin.models.mlp import MLP
from tamrin.models.registry import register_model


@dataclass
class DenseConfig:
    """An MLP of `layers` dense layers: `units` wide, each next one `shrink` times as wide."""

    layers: int = 2  # dense hidden layers, >= 1
    units: int = 256  # width of the first hidden layer
    shrink: float = 1.0  # width ratio of each next layer (0.5: 512-256-128), in (0, 1]
    dropout: float = 0.2  # after each hidden layer, in [0, 1)
    width: float = 1.0  # multiplies every width (smoke runs use a fraction)

    def validate(self) -> None:
        require(self.layers >= 1, f"model.layers must be >= 1; got {self.layers}")
        require(self.units >= 1, f"model.units must be >= 1; got {self.units}")
        require(0 < self.shrink <= 1, f"model.shrink must be in (0, 1]; got {self.shrink}")
        require(0 <= self.dropout < 1, f"model.dropout must be in [0, 1); got {self.dropout}")
        require(self.width > 0, f"model.width must be > 0; got {self.width}")

    def hidden(self) -> list[int]:
        return [max(1, round(self.units * self.shrink**i)) for i in range(self.layers)]


@dataclass
class CNNBlocksConfig:
    """`blocks` conv blocks (channels `channels`, 2x, 4x, ...), a dense layer, dropout."""

    blocks: int = 3  # conv blocks, each ending in 2x2 max pooling, >= 1
    convs: int = 1  # conv3x3-BN-ReLU layers per block, >= 1
    channels: int = 32  # channels of the first block (doubling per block)
    dense: int = 256  # units of the dense layer before the classifier
    dropout: float = 0.25  # before the classifier, in [0, 1)
    width: float = 1.0  # multiplies every width (smoke runs use a fraction)

    def validate(self) -> None:
        require(self.blocks >= 1, f"model.blocks must be >= 1; got {self.blocks}")
        require(self.convs >= 1, f"model.convs must be >= 1; got {self.convs}")
        require(self.channels >= 1, f"model.channels must be >= 1; got {self.channels}")
        require(self.dense >= 1, f"model.dense must be >= 1; got {self.dense}")
        require(0 <= self.dropout < 1, f"model.dropout must be in [0, 1); got {self.dropout}")
        require(self.width > 0, f"model.width must be > 0; got {self.width}")


class CNNBlocks(nn.Module):
    """HW6's tuned CNN: [conv-BN-ReLU x convs, maxpool] x blocks -> dense -> dropout -> logits."""

    def __init__(self, cfg: CNNBlocksConfig, in_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        c, h, w = in_shape
        require(
            min(h, w) >= 2**cfg.blocks,
            f"model.blocks={cfg.blocks} halves {h}x{w} images below 1 pixel; use fewer blocks",
        )
        layers: list[nn.Module] = []
        cin = c
        for b in range(cfg.blocks):
            cout = max(1, round(cfg.channels * 2**b * cfg.width))
            for _ in range(cfg.convs):
                layers += [
                    nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True),
                ]
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers, nn.Flatten())
        dense = max(1, round(cfg.dense * cfg.width))
        self.head = nn.Sequential(
            nn.Linear(flat_features(self.body, in_shape), dense),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(dense, num_classes),
        )

    def forward(self, x):  # type: ignore[no-untyped-def]  # (B, C, H, W) -> (B, K)
        return self.head(self.body(x))


@register_model(
    "dense-mlp",
    config=DenseConfig,
    smoke={"width": 0.25},
    summary="HW14's tuned MLP: 1-3 dense layers (units, shrink), dropout",
)
def dense_mlp(cfg: DenseConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    c, h, w = in_shape
    return MLP(c * h * w, cfg.hidden(), out_dim, dropout=cfg.dropout, width=cfg.width)


@register_model(
    "cnn-blocks",
    config=CNNBlocksConfig,
    smoke={"width": 0.25, "blocks": 2},
    summary="HW6's tuned CNN: 1-4 conv-BN-ReLU blocks with max pooling, dense, dropout",
)
def cnn_blocks(cfg: CNNBlocksConfig, in_shape: tuple[int, int, int], out_dim: int) -> nn.Module:
    return CNNBlocks(cfg, in_shape, out_dim)
