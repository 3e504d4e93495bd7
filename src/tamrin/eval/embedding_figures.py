"""Pictures of an embedding: t-SNE maps, a nearest-neighbour gallery, distance histograms.

Plot data is computed apart from drawing, as optuna's `_get_*_info` / `_plot_*`: `tsne_2d`
returns coordinates, each `*_info` function a plain, JSON-ready value, and each `*_figure` drawer,
registered by kind in `tamrin.eval.figures`, only draws it, so `tamrin report` can redraw these
figures from a run folder's figures/<name>.json. t-SNE uses openTSNE (FFT-accelerated, about
30 s for 10,000 points on one core) when it is installed (`pip install openTSNE`), else
scikit-learn's Barnes-Hut TSNE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tamrin.eval.figures import register_drawer


def tsne_backend() -> str:
    try:
        import openTSNE  # noqa: F401
    except ImportError:
        return "sklearn"
    return "openTSNE"


def tsne_2d(emb: np.ndarray, seed: int = 0, n_jobs: int | None = None) -> np.ndarray:
    """(N, D) -> (N, 2) t-SNE coordinates (perplexity 30, PCA initialization).

    `n_jobs=None` uses every core this process may run on (1 under `taskset -c 0`).
    """
    import os

    jobs = n_jobs or len(os.sched_getaffinity(0))
    x = np.ascontiguousarray(emb, dtype=np.float32)
    perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
    if tsne_backend() == "openTSNE":
        from openTSNE import TSNE as OpenTSNE

        tsne = OpenTSNE(perplexity=perplexity, n_jobs=jobs, random_state=seed, verbose=False)
        return np.asarray(tsne.fit(x))
    from sklearn.manifold import TSNE

    return TSNE(2, init="pca", perplexity=perplexity, random_state=seed, n_jobs=jobs).fit_transform(
        x
    )


def _grid(value: Any, dtype: type) -> np.ndarray:
    """Plot data read back from JSON (nested lists) or kept in memory, as an array."""
    return np.asarray(value, dtype=dtype)


# ----------------------------------------------------------------------------- t-SNE maps


@dataclass
class TsneInfo:
    """t-SNE panels: [{"title", "xy": (N, 2) coordinates, "labels": (N,) class ids}, ...]."""

    panels: list[dict[str, Any]]
    class_names: list[str]


def tsne_info(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray]], class_names: Sequence[str]
) -> TsneInfo:
    """The map of each (title, coords (N, 2), labels (N,)): coordinates rounded to 3 decimals
    (a thousandth of a t-SNE unit is far below a pixel) and int labels keep the JSON small."""
    return TsneInfo(
        [
            {
                "title": str(title),
                "xy": np.round(np.asarray(xy, dtype=np.float64), 3).tolist(),
                "labels": np.asarray(y).astype(int).tolist(),
            }
            for title, xy, y in panels
        ],
        [str(c) for c in class_names],
    )


@register_drawer("tsne", TsneInfo)
def tsne_figure(info: TsneInfo) -> Figure:
    """One scatter per panel, coloured by class, shared legend."""
    cols = min(2, len(info.panels))
    rows = -(-len(info.panels) // cols)
    fig = Figure(figsize=(5.2 * cols, 4.8 * rows))
    cmap = _palette(len(info.class_names))
    for i, panel in enumerate(info.panels):
        xy = _grid(panel["xy"], np.float64).reshape(-1, 2)
        y = _grid(panel["labels"], np.int64)
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.scatter(xy[:, 0], xy[:, 1], c=cmap[y], s=1.5, alpha=0.6, linewidths=0, rasterized=True)
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [
        fig.axes[0].scatter([], [], color=cmap[c], s=20, label=str(name))
        for c, name in enumerate(info.class_names)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(10, len(info.class_names)), fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


# ----------------------------------------------------------------------------- retrieval gallery


@dataclass
class GalleryInfo:
    """Queries and their top-k retrieved references as uint8 display images (0..255)."""

    query_images: list[Any]  # (Q, H, W) grey or (Q, H, W, 3) RGB
    query_labels: list[int]  # (Q,)
    neighbour_images: list[Any]  # (Q, k, H, W) or (Q, k, H, W, 3)
    neighbour_labels: list[list[int]]  # (Q, k)
    class_names: list[str]
    titles: list[str] = field(default_factory=list)  # per query row, e.g. "random" / "miss"


def gallery_info(
    query_images: np.ndarray,
    query_labels: np.ndarray,
    neighbour_images: np.ndarray,
    neighbour_labels: np.ndarray,
    class_names: Sequence[str],
    titles: Sequence[str] = (),
) -> GalleryInfo:
    """Images of any scale mapped together (one grey range for all of them) to uint8 0..255."""
    q_img = np.asarray(query_images, dtype=np.float64)
    n_img = np.asarray(neighbour_images, dtype=np.float64)
    lo = float(min(q_img.min(), n_img.min()))
    hi = float(max(q_img.max(), n_img.max()))
    scale = 255.0 / (hi - lo) if hi > lo else 0.0

    def to_uint8(x: np.ndarray) -> list[Any]:
        return np.clip(np.rint((x - lo) * scale), 0, 255).astype(np.uint8).tolist()

    return GalleryInfo(
        to_uint8(q_img),
        np.asarray(query_labels).astype(int).tolist(),
        to_uint8(n_img),
        np.asarray(neighbour_labels).astype(int).tolist(),
        [str(c) for c in class_names],
        [str(t) for t in titles],
    )


@register_drawer("neighbour_gallery", GalleryInfo)
def gallery_figure(info: GalleryInfo) -> Figure:
    """Rows: a query (left, blue frame) and its top-k retrieved references; wrong ones in red."""
    query_images = _grid(info.query_images, np.uint8)
    neighbour_images = _grid(info.neighbour_images, np.uint8)
    query_labels = _grid(info.query_labels, np.int64)
    neighbour_labels = _grid(info.neighbour_labels, np.int64).reshape(len(query_labels), -1)
    class_names, titles = info.class_names, info.titles
    q, k = neighbour_labels.shape
    fig = Figure(figsize=(1.1 * (k + 1) + 0.6, 1.2 * q + 0.3))
    for i in range(q):
        for j in range(k + 1):
            ax = fig.add_subplot(q, k + 1, i * (k + 1) + j + 1)
            img = query_images[i] if j == 0 else neighbour_images[i, j - 1]
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                colour, label = "tab:blue", class_names[int(query_labels[i])]
                if i < len(titles):
                    label = f"{titles[i]}: {label}"
            else:
                ok = neighbour_labels[i, j - 1] == query_labels[i]
                colour = "tab:green" if ok else "red"
                label = class_names[int(neighbour_labels[i, j - 1])]
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(1.0 if colour == "tab:green" else 3.0)
            ax.set_title(label, fontsize=7, color="red" if colour == "red" else "black")
    fig.tight_layout(pad=0.3)
    return fig


# ----------------------------------------------------------------------------- distance histograms

_HIST_BINS = 60  # bin edges from 0 to the largest distance of a panel


@dataclass
class DistanceHistInfo:
    """Per panel: {"title", "edges": bin edges, "positive" / "negative": counts per bin}."""

    panels: list[dict[str, Any]]


def distance_histogram_info(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
) -> DistanceHistInfo:
    """Counts of each (title, positive-pair distances, negative-pair distances) in shared bins
    (the picture needs only these, not the pairs)."""
    out = []
    for title, pos, neg in panels:
        pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
        hi = float(max(pos.max(initial=0), neg.max(initial=0))) or 1.0
        edges = np.linspace(0, hi, _HIST_BINS)
        out.append(
            {
                "title": str(title),
                "edges": edges.tolist(),
                "positive": np.histogram(pos, bins=edges)[0].astype(int).tolist(),
                "negative": np.histogram(neg, bins=edges)[0].astype(int).tolist(),
            }
        )
    return DistanceHistInfo(out)


@register_drawer("distance_histogram", DistanceHistInfo)
def distance_histogram_figure(info: DistanceHistInfo) -> Figure:
    """One panel per entry: densities of negative (red) and positive (blue) pair distances."""
    n = max(len(info.panels), 1)
    fig = Figure(figsize=(5.2 * n, 3.6))
    for i, panel in enumerate(info.panels):
        ax = fig.add_subplot(1, n, i + 1)
        edges = _grid(panel["edges"], np.float64)
        for key, label, colour in (
            ("negative", "negative pairs", "tab:red"),
            ("positive", "positive pairs", "tab:blue"),
        ):
            counts = _grid(panel[key], np.float64)
            # one weighted sample per bin draws exactly the histogram of the original values
            ax.hist(
                edges[:-1],
                bins=edges.tolist(),
                weights=counts,
                alpha=0.55,
                density=bool(counts.sum()),
                label=label,
                color=colour,
            )
        ax.set_xlabel("Euclidean distance")
        ax.set_ylabel("density")
        ax.set_title(panel["title"], fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _palette(n: int) -> np.ndarray:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return np.array([cmap(i % cmap.N) for i in range(n)])
