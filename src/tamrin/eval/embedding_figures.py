"""Pictures of an embedding: t-SNE maps, a nearest-neighbour gallery, distance histograms.

Plot data is computed apart from drawing (`tsne_2d` returns coordinates; the figure functions
only draw). t-SNE uses openTSNE (FFT-accelerated, about 30 s for 10,000 points on one core) when
it is installed (`pip install openTSNE`), else scikit-learn's Barnes-Hut TSNE.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


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


def tsne_figure(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray]], class_names: Sequence[str]
) -> Figure:
    """One scatter per (title, coords (N, 2), labels (N,)), coloured by class, shared legend."""
    cols = min(2, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(5.2 * cols, 4.8 * rows))
    cmap = _palette(len(class_names))
    for i, (title, xy, y) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.scatter(xy[:, 0], xy[:, 1], c=cmap[y], s=1.5, alpha=0.6, linewidths=0, rasterized=True)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [
        fig.axes[0].scatter([], [], color=cmap[c], s=20, label=str(name))
        for c, name in enumerate(class_names)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(10, len(class_names)), fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def gallery_figure(
    query_images: np.ndarray,
    query_labels: np.ndarray,
    neighbour_images: np.ndarray,
    neighbour_labels: np.ndarray,
    class_names: Sequence[str],
    titles: Sequence[str] = (),
) -> Figure:
    """Rows: a query (left, blue frame) and its top-k retrieved references; wrong ones in red.

    Images are (Q, H, W) and (Q, k, H, W), any scale (each shown with the same grey range).
    """
    q, k = neighbour_labels.shape
    fig = Figure(figsize=(1.1 * (k + 1) + 0.6, 1.2 * q + 0.3))
    lo = float(min(query_images.min(), neighbour_images.min()))
    hi = float(max(query_images.max(), neighbour_images.max()))
    for i in range(q):
        for j in range(k + 1):
            ax = fig.add_subplot(q, k + 1, i * (k + 1) + j + 1)
            img = query_images[i] if j == 0 else neighbour_images[i, j - 1]
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
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


def distance_histogram_figure(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
) -> Figure:
    """One panel per (title, positive-pair distances, negative-pair distances)."""
    fig = Figure(figsize=(5.2 * len(panels), 3.6))
    for i, (title, pos, neg) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        hi = float(max(pos.max(initial=0), neg.max(initial=0))) or 1.0
        bins = np.linspace(0, hi, 60)
        ax.hist(neg, bins=bins, alpha=0.55, density=True, label="negative pairs", color="tab:red")
        ax.hist(pos, bins=bins, alpha=0.55, density=True, label="positive pairs", color="tab:blue")
        ax.set_xlabel("Euclidean distance")
        ax.set_ylabel("density")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _palette(n: int) -> np.ndarray:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return np.array([cmap(i % cmap.N) for i in range(n)])
