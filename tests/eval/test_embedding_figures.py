"""Embedding figures (t-SNE maps, neighbour gallery, distance histograms): small JSON-ready plot
data, drawn the same from the value and from its JSON round trip."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from tamrin.eval import embedding_figures as E
from tamrin.eval import figures as F


def _through_json(info: Any) -> Any:
    """The plot data as `tamrin report` reads it back from figures/<name>.json."""
    return json.loads(json.dumps(F.to_data(info)))


def test_tsne_data_is_rounded_and_drawn_from_json() -> None:
    rng = np.random.default_rng(0)
    xy = rng.normal(scale=20.0, size=(50, 2))
    y = (np.arange(50) % 3).astype(np.int64)
    info = E.tsne_info([("test, after", xy, y), ("train, after", xy[:10], y[:10])], "abc")
    panel = info.panels[0]
    assert panel["labels"] == y.tolist() and all(type(v) is int for v in panel["labels"])
    np.testing.assert_array_equal(panel["xy"], np.round(xy, 3))
    assert "tsne" in F.plot_kinds()
    fig = F.draw("tsne", _through_json(info))
    assert [ax.get_title() for ax in fig.axes[:2]] == ["test, after", "train, after"]
    offsets = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, np.round(xy, 3), atol=0)
    colours = fig.axes[0].collections[0].get_facecolors()
    assert len({tuple(c) for c in colours}) == 3  # one colour per class
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b", "c"]


def test_gallery_keeps_uint8_images_and_marks_wrong_neighbours() -> None:
    rng = np.random.default_rng(1)
    q_img, n_img = rng.uniform(-1, 3, (2, 5, 4)), rng.uniform(-1, 3, (2, 3, 5, 4))
    q_img[0, 0, 0], n_img[1, 2, 4, 3] = -2.0, 4.0  # the shared grey range: -2 .. 4
    q_y, n_y = np.array([0, 1]), np.array([[0, 1, 0], [1, 1, 2]])
    info = E.gallery_info(q_img, q_y, n_img, n_y, ["zero", "one", "two"], ["random", "miss"])
    images = np.asarray(info.query_images)
    assert images.shape == (2, 5, 4) and images.min() == 0 and images.max() <= 255
    assert np.asarray(info.neighbour_images).max() == 255
    np.testing.assert_array_equal(images, np.rint((q_img + 2) * 255 / 6))
    fig = F.draw("neighbour_gallery", _through_json(info))
    assert len(fig.axes) == 2 * 4
    assert fig.axes[0].get_title() == "random: zero" and fig.axes[4].get_title() == "miss: one"
    assert fig.axes[0].images[0].get_array().dtype == np.uint8
    wrong = [ax.get_title() for ax in fig.axes if ax.spines["left"].get_edgecolor()[0] == 1.0]
    assert wrong == ["one", "two"]  # red frames: the neighbours of another class


def test_distance_histogram_keeps_counts_and_draws_the_same_densities() -> None:
    rng = np.random.default_rng(2)
    pos, neg = rng.gamma(2.0, 0.2, 300), rng.gamma(5.0, 0.2, 400)
    info = E.distance_histogram_info([("after", pos, neg), ("none", np.zeros(0), np.zeros(0))])
    first = info.panels[0]
    assert sum(first["positive"]) == 300 and sum(first["negative"]) == 400
    assert first["edges"][0] == 0.0 and first["edges"][-1] == max(pos.max(), neg.max())
    fig = F.draw("distance_histogram", _through_json(info))
    assert len(fig.axes) == 2
    bars = [p.get_height() for p in fig.axes[0].patches]
    edges = np.asarray(first["edges"])
    want = [*np.histogram(neg, edges, density=True)[0], *np.histogram(pos, edges, density=True)[0]]
    np.testing.assert_allclose(bars, want, rtol=1e-12)  # what hist(raw pairs) drew before
