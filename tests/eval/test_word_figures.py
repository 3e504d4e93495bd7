"""Word-vector figures: plot data (PCA / t-SNE coordinates, bars) apart from drawing."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from tamrin.data.vectors import WordVectors
from tamrin.eval import figures as F
from tamrin.eval.analogy import AnalogyResult, SectionScore
from tamrin.eval.embedding_figures import tsne_2d
from tamrin.eval.word_figures import (
    PairPanels,
    cluster_figure,
    cluster_map_info,
    failed_analogy_figure,
    failed_analogy_info,
    pair_panels_info,
    pairs_figure,
    pca_2d,
    section_bars_info,
    section_figure,
)

WORDS = ["man", "woman", "king", "queen", "cat", "cats", "dog", "dogs", "calf", "mad"]


def _wv() -> WordVectors:
    rng = np.random.default_rng(0)
    return WordVectors(WORDS, rng.normal(size=(len(WORDS), 8)).astype(np.float32), "random")


def test_pca_2d_equals_sklearn_up_to_sign() -> None:
    from sklearn.decomposition import PCA

    x = np.random.default_rng(1).normal(size=(12, 6))
    ours, ref = pca_2d(x), PCA(2).fit_transform(x)
    signs = np.sign((ours * ref).sum(axis=0))
    np.testing.assert_allclose(ours * signs, ref, atol=1e-8)


def test_pair_panels_keep_pair_order_and_draw_one_axis_per_panel() -> None:
    wv = _wv()
    panels = pair_panels_info(wv, {"gender": [["man", "woman"], ["king", "queen"]]})
    assert panels.panels[0].pairs == [("man", "woman"), ("king", "queen")]
    want = pca_2d(wv.unit[[0, 1, 2, 3]])
    np.testing.assert_allclose(panels.panels[0].xy, want, rtol=1e-6)
    plural = pair_panels_info(wv, {"plural": [["cat", "cats"]] * 2})
    fig = pairs_figure(PairPanels([*panels.panels, *plural.panels]))
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def test_cluster_map_uses_the_shared_tsne() -> None:
    wv = _wv()
    clusters = [["animals", "cat", "dog", "calf"], ["people", "man", "woman", "king", "queen"]]
    m = cluster_map_info(wv, clusters, "tsne", seed=3)
    assert m.categories == ["animals", "people"] and m.xy.shape == (7, 2)
    rows = [wv.index_of(w) for c in clusters for w in c[1:]]
    np.testing.assert_allclose(m.xy, tsne_2d(wv.unit[rows], seed=3), rtol=1e-5, atol=1e-5)
    assert cluster_map_info(wv, clusters, "pca").xy.shape == (7, 2)
    with pytest.raises(ValueError, match="projection"):
        cluster_map_info(wv, clusters, "umap")
    assert len(cluster_figure(m).axes) == 1


def test_failed_analogy_places_the_unit_target_last() -> None:
    wv = _wv()
    info = failed_analogy_info(wv, ["man", "cat", "woman", "calf"], "mad")
    assert info.labels == ["man", "cat", "woman", "calf", "mad", "target"]
    target = wv.unit[1] + wv.unit[4] - wv.unit[0]
    x = np.concatenate([wv.unit[[0, 4, 1, 8, 9]], (target / np.linalg.norm(target))[None]])
    np.testing.assert_allclose(info.xy, pca_2d(x), rtol=1e-5, atol=1e-6)
    assert len(failed_analogy_info(wv, ["man", "cat", "woman", "calf"], "calf").labels) == 5
    assert "got mad" in failed_analogy_figure(info).axes[0].get_title()


def test_section_bars_hold_each_section_and_the_total() -> None:
    def result(correct: list[int]) -> AnalogyResult:
        secs = [SectionScore(n, c, 4, 0) for n, c in zip(["a", "b"], correct, strict=True)]
        total = SectionScore("total", sum(correct), 8, 0)
        return AnalogyResult("3cosadd", secs, total, [], 0, 100)

    bars = section_bars_info({"x": result([1, 4]), "y": result([0, 2])})
    assert bars.sections == ["a", "b", "total"]
    assert bars.series == {"x": [0.25, 1.0, 0.625], "y": [0.0, 0.5, 0.25]}
    assert len(section_figure(bars).axes[0].patches) == 6


def _through_json(info: Any) -> Any:
    """The plot data as `tamrin report` reads it back from figures/<name>.json."""
    return json.loads(json.dumps(F.to_data(info)))


def test_every_word_figure_is_redrawn_from_its_json_data() -> None:
    wv = _wv()
    secs = [SectionScore("a", 1, 4, 0)]
    result = AnalogyResult("3cosadd", secs, SectionScore("total", 1, 4, 0), [], 0, 100)
    infos = {
        "analogy_sections": section_bars_info({"x": result}),
        "word_pairs": pair_panels_info(wv, {"gender": [["man", "woman"], ["king", "queen"]]}),
        "word_clusters": cluster_map_info(wv, [["animals", "cat", "dog"], ["k", "king"]], "pca"),
        "failed_analogy": failed_analogy_info(wv, ["man", "cat", "woman", "calf"], "mad"),
    }
    assert set(infos) <= set(F.plot_kinds())
    for kind, info in infos.items():
        data = _through_json(info)
        want, got = F.draw(kind, info), F.draw(kind, data)
        assert len(got.axes) == len(want.axes) >= 1, kind
        texts = [[t.get_text() for t in ax.texts] for ax in got.axes]
        assert texts == [[t.get_text() for t in ax.texts] for ax in want.axes], kind
    pairs = F.draw("word_pairs", _through_json(infos["word_pairs"]))
    offsets = pairs.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, infos["word_pairs"].panels[0].xy, rtol=1e-12)
