"""Attention rollout and [CLS] maps against hand-computed cases; the figures draw."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from tamrin.eval.figures import draw, to_data
from tamrin.eval.vision_figures import (
    attention_maps_info,
    attention_rollout,
    cls_attention,
    display_images,
    masks_info,
)


def test_rollout_of_one_layer_is_the_residual_mixed_attention() -> None:
    # T = 3 ([CLS] + 2 patches), one layer, two heads
    a = torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    b = torch.tensor([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    weights = torch.stack([a, b])[None, None]  # (B=1, L=1, H=2, 3, 3)
    rollout = attention_rollout(weights, (1, 2))
    # mean over heads: [CLS] row (0.5, 0.25, 0.25); + I, / 2: (0.75, 0.125, 0.125) -> patches
    # 0.125 each -> renormalised 0.5 / 0.5
    torch.testing.assert_close(rollout, torch.tensor([[[0.5, 0.5]]]))


def test_rollout_multiplies_layers_from_the_first_up() -> None:
    first = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    second = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    weights = torch.stack([first, second])[None, :, None]  # (1, L=2, H=1, 3, 3)
    mixed = [(m + torch.eye(3)) / 2 for m in (first, second)]
    expected = (mixed[1] @ mixed[0])[0, 1:]
    torch.testing.assert_close(attention_rollout(weights, (1, 2))[0, 0], expected / expected.sum())


def test_cls_attention_reads_the_last_layers_cls_row_per_head() -> None:
    weights = torch.rand(2, 3, 4, 5, 5)
    maps = cls_attention(weights, (2, 2))
    assert maps.shape == (2, 4, 2, 2)
    torch.testing.assert_close(maps[1, 2].flatten(), weights[1, -1, 2, 0, 1:])


def test_display_images_undoes_the_normalisation() -> None:
    pixels = torch.randint(0, 256, (2, 3, 4, 4)).float()
    mean, std = [100.0, 110.0, 120.0], [50.0, 60.0, 70.0]
    x = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    shown = display_images(x, mean, std)
    assert shown.dtype == np.uint8 and shown.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(shown, pixels.permute(0, 2, 3, 1).numpy().astype(np.uint8))


def test_figures_draw_from_their_json_data() -> None:
    images = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    info = attention_maps_info(images, torch.rand(2, 2, 2), torch.rand(2, 3, 2, 2), ["a", "b"])
    assert isinstance(draw("attention-maps", to_data(info)), Figure)
    truth = np.zeros((2, 8, 8), dtype=int)
    masks = masks_info(images[..., :1], truth, truth + 1, ["background", "one", "two"])
    assert isinstance(draw("masks", to_data(masks)), Figure)
    other = masks_info(images, truth, truth + 7, ["bg", "x"], predicted_classes=list("abcdefghij"))
    assert isinstance(draw("masks", to_data(other)), Figure)
