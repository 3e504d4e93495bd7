"""Pictures of word vectors: analogy accuracy per section, word pairs with their difference
vectors, categories of words in 2-D, and a failed analogy with its target point.

Plot data is computed apart from drawing, as in `embedding_figures`: each `*_info` function
returns a plain value (words, accuracies, 2-D coordinates) that can be tested without matplotlib,
and each `*_figure` function, registered by kind in `tamrin.eval.figures` (analogy_sections,
word_pairs, word_clusters, failed_analogy), only draws it, from the value or from the JSON data a
run folder keeps of it, so `tamrin report` redraws these figures from the folder alone. 2-D maps
are PCA of unit vectors (exact and deterministic) or t-SNE through `embedding_figures.tsne_2d`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tamrin.data.vectors import WordVectors
from tamrin.eval.analogy import AnalogyResult
from tamrin.eval.embedding_figures import tsne_2d
from tamrin.eval.figures import register_drawer

PROJECTIONS = ("pca", "tsne")


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(n, D) -> (n, 2): the first two principal components (centred, via SVD)."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def _units(wv: WordVectors, words: Sequence[str]) -> np.ndarray:
    """(n, D) unit vectors of `words` (OutOfVocabularyError names the first unknown one)."""
    return np.stack([wv.unit[wv.index_of(w)] for w in words])


def _xy(value: Any) -> np.ndarray:
    """(n, 2) coordinates from an array or the nested lists of JSON plot data."""
    return np.asarray(value, dtype=np.float64).reshape(-1, 2)


# ------------------------------------------------------------------- accuracy per section


@dataclass(frozen=True)
class SectionBars:
    """Accuracy per analogy section (and the total, last) of each labelled result."""

    sections: list[str]  # section names, then "total"
    series: dict[str, list[float]]  # label -> accuracy per entry of `sections`


def section_bars_info(columns: Mapping[str, AnalogyResult]) -> SectionBars:
    """The bars of `section_figure`: every result's per-section and overall accuracy."""
    first = next(iter(columns.values()))
    return SectionBars(
        [s.section for s in first.sections] + ["total"],
        {
            label: [s.accuracy for s in r.sections] + [r.overall.accuracy]
            for label, r in columns.items()
        },
    )


@register_drawer("analogy_sections", SectionBars)
def section_figure(bars: SectionBars) -> Figure:
    """Grouped bars: one group per section, one bar per result."""
    fig = Figure(figsize=(9, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(bars.series)
    x = np.arange(len(bars.sections))
    for k, (label, acc) in enumerate(bars.series.items()):
        ax.bar(x + k * width - 0.4 + width / 2, acc, width, label=label)
    ax.set_xticks(x, bars.sections, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------- pairs and their arrows


@dataclass(frozen=True)
class PairPanel:
    """Word pairs of one panel and their 2-D positions (PCA of this panel's unit vectors)."""

    title: str
    pairs: list[tuple[str, str]]  # (from, to), e.g. (man, woman)
    xy: np.ndarray  # (2P, 2): row 2j is pairs[j][0], row 2j + 1 is pairs[j][1]

    def __post_init__(self) -> None:  # JSON gives lists: back to tuples and an array
        object.__setattr__(self, "pairs", [(str(p[0]), str(p[1])) for p in self.pairs])
        object.__setattr__(self, "xy", _xy(self.xy))


@dataclass(frozen=True)
class PairPanels:
    """The panels of the word-pairs figure, in order."""

    panels: list[PairPanel]

    def __post_init__(self) -> None:
        panels = [p if isinstance(p, PairPanel) else PairPanel(**p) for p in self.panels]
        object.__setattr__(self, "panels", panels)


def pair_panels_info(wv: WordVectors, panels: Mapping[str, Sequence[Sequence[str]]]) -> PairPanels:
    """One PairPanel per (title, [[from, to], ...]); each panel gets its own PCA."""
    out = []
    for title, pairs in panels.items():
        words = [w for p in pairs for w in p]
        out.append(PairPanel(title, [(p[0], p[1]) for p in pairs], pca_2d(_units(wv, words))))
    return PairPanels(out)


@register_drawer("word_pairs", PairPanels)
def pairs_figure(info: PairPanels) -> Figure:
    """Side-by-side panels, each pair's difference vector drawn as an arrow."""
    panels = info.panels
    fig = Figure(figsize=(4.2 * len(panels), 4.2))
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        xy = panel.xy
        for j, (w0, w1) in enumerate(panel.pairs):
            p0, p1 = xy[2 * j], xy[2 * j + 1]
            ax.annotate(
                "",
                xy=p1,
                xytext=p0,
                arrowprops={"arrowstyle": "->", "color": f"C{j % 10}", "lw": 1.4},
            )
            ax.text(p0[0], p0[1], w0, fontsize=8)
            ax.text(p1[0], p1[1], w1, fontsize=8, color=f"C{j % 10}")
        ax.scatter(xy[:, 0], xy[:, 1], s=8, c="k")
        ax.set_title(panel.title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- clusters


@dataclass(frozen=True)
class ClusterMap:
    """Words of several categories in 2-D, one projection for all of them."""

    categories: list[str]
    words: list[list[str]]  # per category, its words
    xy: np.ndarray  # (sum of len(words[k]), 2), the categories' words in order
    projection: str  # 'pca' or 'tsne'

    def __post_init__(self) -> None:  # JSON gives nested lists
        object.__setattr__(self, "xy", _xy(self.xy))


def cluster_map_info(
    wv: WordVectors, clusters: Sequence[Sequence[str]], projection: str, seed: int = 0
) -> ClusterMap:
    """`clusters` = [[category, word, ...], ...] projected together by PCA or t-SNE."""
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {PROJECTIONS}; got {projection!r}")
    words = [list(c[1:]) for c in clusters]
    x = _units(wv, [w for ws in words for w in ws])
    xy = tsne_2d(x, seed=seed) if projection == "tsne" else pca_2d(x)
    return ClusterMap([c[0] for c in clusters], words, xy, projection)


@register_drawer("word_clusters", ClusterMap)
def cluster_figure(m: ClusterMap) -> Figure:
    """One scatter, a colour and a legend entry per category, every word labelled."""
    fig = Figure(figsize=(6.5, 5.2))
    ax = fig.add_subplot(1, 1, 1)
    start = 0
    for k, (category, words) in enumerate(zip(m.categories, m.words, strict=True)):
        pts = m.xy[start : start + len(words)]
        ax.scatter(pts[:, 0], pts[:, 1], color=f"C{k}", label=category, s=20)
        for w, p in zip(words, pts, strict=True):
            ax.text(p[0], p[1], w, fontsize=7, color=f"C{k}")
        start += len(words)
    ax.set_title(
        f"{len(m.categories)} categories, {m.projection.upper()} of unit vectors", fontsize=9
    )
    ax.legend(fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ failed analogy


@dataclass(frozen=True)
class FailedAnalogy:
    """a : b :: c : d answered wrongly, with the target point b − a + c, in 2-D."""

    words: tuple[str, str, str, str]  # a, b, c, expected d
    answer: str  # what 3CosAdd answered
    labels: list[str]  # the words shown (a, b, c, d, answer, once each), then "target"
    xy: np.ndarray  # (len(labels), 2), PCA of their unit vectors and the unit target

    def __post_init__(self) -> None:  # JSON gives lists: back to a tuple and an array
        a, b, c, d = self.words
        object.__setattr__(self, "words", (a, b, c, d))
        object.__setattr__(self, "xy", _xy(self.xy))


def failed_analogy_info(wv: WordVectors, words: Sequence[str], answer: str) -> FailedAnalogy:
    """Positions of the analogy's words, its answer and unit(b̂ − â + ĉ) in one PCA."""
    a, b, c, d = words
    target = wv.unit[wv.index_of(b)] + wv.unit[wv.index_of(c)] - wv.unit[wv.index_of(a)]
    shown = list(dict.fromkeys([a, b, c, d, answer]))
    x = np.concatenate([_units(wv, shown), (target / np.linalg.norm(target))[None]])
    return FailedAnalogy((a, b, c, d), answer, [*shown, "target"], pca_2d(x))


@register_drawer("failed_analogy", FailedAnalogy)
def failed_analogy_figure(info: FailedAnalogy) -> Figure:
    """The words, the target (red) and the arrows a → b, c → target, a → c, b → d."""
    a, b, c, d = info.words
    pos = dict(zip(info.labels, info.xy, strict=True))
    fig = Figure(figsize=(5.6, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(info.xy[:, 0], info.xy[:, 1], s=18, c="k")
    for w, p in pos.items():
        label = f"{b} − {a} + {c}" if w == "target" else w
        ax.text(p[0], p[1], " " + label, fontsize=9, color="C3" if w == "target" else "k")
    for src, dst, colour in ((a, b, "C0"), (c, "target", "C0"), (a, c, "C2"), (b, d, "C2")):
        ax.annotate(
            "",
            xy=pos[dst],
            xytext=pos[src],
            arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.2},
        )
    ax.set_title(f"{a} : {b} :: {c} : ?  (expected {d}, got {info.answer})", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig
