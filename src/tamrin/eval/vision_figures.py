"""What a vision transformer looks at, and segmentation masks: attention maps and mask panels.

`cls_attention` is the last block's [CLS] → patch attention per head; `attention_rollout`
(Abnar & Zuidema 2020) follows attention through every block — each layer's head-averaged
weights plus the identity (the residual path), rows renormalised, multiplied from the first block
up — and reads [CLS]'s row. `attention_maps_info` packs images and maps as plain data (plot kind
"attention-maps"); `masks_info` packs images with true and predicted class masks (plot kind
"masks"), so `tamrin report` redraws both from figures/<name>.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from tamrin.eval.figures import register_drawer


def cls_attention(weights: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, layers, heads, 1 + N, 1 + N) weights -> (B, heads, gh, gw): the last block's [CLS] row
    over the patches, per head."""
    last = weights[:, -1, :, 0, 1:]
    return last.reshape(last.shape[0], last.shape[1], *grid)


def attention_rollout(weights: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, layers, heads, T, T) weights -> (B, gh, gw) rollout of [CLS] over the patches.

    Per layer: A = mean over heads, Â = (A + I) / 2 renormalised by row; rollout = Â_L ··· Â_1.
    The [CLS] row's patch entries, rescaled to sum to 1.
    """
    a = weights.float().mean(dim=2)  # (B, L, T, T)
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    a = (a + eye) / 2
    a = a / a.sum(dim=-1, keepdim=True)
    rollout = a[:, 0]
    for layer in range(1, a.shape[1]):
        rollout = a[:, layer] @ rollout
    cls = rollout[:, 0, 1:]
    cls = cls / cls.sum(dim=-1, keepdim=True)
    return cls.reshape(cls.shape[0], *grid)


def display_images(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Normalised (B, C, H, W) images back to uint8 (B, H, W, C) for drawing."""
    m = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
    pixels = (x.float().cpu() * s + m).clamp(0, 255).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


@dataclass
class AttentionMapsInfo:
    """Rows of one image each: the image, its rollout, and the last block's heads."""

    images: list[Any]  # (H, W, C) uint8 per row
    rollout: list[Any]  # (gh, gw) per row
    heads: list[Any]  # (heads, gh, gw) per row
    titles: list[str]  # per row, e.g. "cat (pred cat)"


def attention_maps_info(
    images: np.ndarray, rollout: torch.Tensor, heads: torch.Tensor, titles: Sequence[str]
) -> AttentionMapsInfo:
    return AttentionMapsInfo(
        images=np.asarray(images).tolist(),
        rollout=rollout.float().cpu().numpy().round(5).tolist(),
        heads=heads.float().cpu().numpy().round(5).tolist(),
        titles=[str(t) for t in titles],
    )


def _show_image(ax: Any, image: np.ndarray) -> None:
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image)


def _overlay(ax: Any, image: np.ndarray, attention: np.ndarray) -> None:
    """The image in grey with the map (upsampled, nearest) drawn over it."""
    grey = image.mean(axis=-1)
    ax.imshow(grey, cmap="gray", vmin=0, vmax=255)
    h, w = grey.shape
    ax.imshow(attention, cmap="inferno", alpha=0.6, extent=(-0.5, w - 0.5, h - 0.5, -0.5))


@register_drawer("attention-maps", AttentionMapsInfo)
def draw_attention_maps(info: AttentionMapsInfo) -> Figure:
    """Per row: the image, attention rollout, then [CLS] → patches for each last-block head."""
    rows = max(len(info.images), 1)
    heads = len(info.heads[0]) if info.heads else 0
    cols = 2 + heads
    fig = Figure(figsize=(1.6 * cols, 1.7 * rows))
    for r in range(len(info.images)):
        image = np.asarray(info.images[r], dtype=np.uint8)
        panels = [("image", None), ("rollout", np.asarray(info.rollout[r]))]
        panels += [(f"head {h + 1}", np.asarray(info.heads[r][h])) for h in range(heads)]
        for c, (name, attention) in enumerate(panels):
            ax = fig.add_subplot(rows, cols, r * cols + c + 1)
            if attention is None:
                _show_image(ax, image)
                ax.set_ylabel(info.titles[r], fontsize=7)
            else:
                _overlay(ax, image, attention)
            if r == 0:
                ax.set_title(name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ segmentation masks


@dataclass
class MasksInfo:
    """Rows of image, true mask, predicted mask; `classes` names each mask value."""

    images: list[Any]  # (H, W, C) uint8 per row
    truth: list[Any]  # (H, W) class ids per row
    predicted: list[Any]  # (H, W) class ids per row
    classes: list[str]
    titles: list[str]
    predicted_classes: list[str] | None = None  # another label space (a pretrained model's)


def masks_info(
    images: np.ndarray,
    truth: np.ndarray,
    predicted: np.ndarray,
    classes: Sequence[str],
    titles: Sequence[str] = (),
    predicted_classes: Sequence[str] | None = None,
) -> MasksInfo:
    n = len(images)
    return MasksInfo(
        images=np.asarray(images).tolist(),
        truth=np.asarray(truth, dtype=int).tolist(),
        predicted=np.asarray(predicted, dtype=int).tolist(),
        classes=[str(c) for c in classes],
        titles=[str(t) for t in titles] if titles else [""] * n,
        predicted_classes=None
        if predicted_classes is None
        else [str(c) for c in predicted_classes],
    )


def class_colours(n: int) -> ListedColormap:
    """n distinct colours, class 0 (background) black."""
    import matplotlib

    base = matplotlib.colormaps["tab20"](np.linspace(0, 1, 20))
    colours = np.vstack([[0, 0, 0, 1], base[: max(n - 1, 1)]])[:n]
    return ListedColormap(colours)


@register_drawer("masks", MasksInfo)
def draw_masks(info: MasksInfo) -> Figure:
    """Per row: the image, the true mask, the predicted mask (one colour per class; a predicted
    mask in another label space gets its own colours, legend of the classes it uses)."""
    rows = max(len(info.images), 1)
    cmap = class_colours(len(info.classes))
    other = info.predicted_classes
    other_cmap = matplotlib_cmap_cycle(len(other)) if other else cmap
    fig = Figure(figsize=(6.4, 1.9 * rows + 0.6))
    for r in range(len(info.images)):
        image = np.asarray(info.images[r], dtype=np.uint8)
        for c, (name, mask) in enumerate(
            [("image", None), ("truth", info.truth[r]), ("predicted", info.predicted[r])]
        ):
            ax = fig.add_subplot(rows, 3, r * 3 + c + 1)
            if mask is None:
                _show_image(ax, image)
                ax.set_ylabel(info.titles[r], fontsize=7)
            else:
                own = bool(other) and name == "predicted"
                k = len(other) if own and other else len(info.classes)
                ax.imshow(
                    np.asarray(mask),
                    cmap=other_cmap if own else cmap,
                    vmin=-0.5,
                    vmax=k - 0.5,
                    interpolation="nearest",
                )
            if r == 0:
                ax.set_title(name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    handles = [matplotlib_patch(cmap(i), name) for i, name in enumerate(info.classes)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=7)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def matplotlib_patch(colour: Any, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, edgecolor="grey", label=label)


def matplotlib_cmap_cycle(n: int) -> Any:
    """A colour map of n classes cycling through tab20 (a pretrained model's label space)."""
    import matplotlib

    return matplotlib.colormaps["tab20"].resampled(max(n, 2))
