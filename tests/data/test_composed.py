"""The composed segmentation set: shapes, seeds, masks that match a by-hand re-paste, occlusion,
argument checks, and train / val / test canvases that share no source image."""

from __future__ import annotations

import pytest
import torch

from tamrin.data.composed import ComposedSet, compose, composed_splits
from tamrin.data.datasets import ImageDataset, load_images
from tamrin.data.store import DataStore
from tamrin.errors import ConfigError

NAMES = ["square", "bar", "cross", "dot"]


def _shapes() -> tuple[torch.Tensor, torch.Tensor]:
    """Four hand-made 28x28 tiles (M, 1, 28, 28) with distinct values, each with a faint halo
    (value 30, below the default threshold) that must never reach the canvas or the mask."""
    x = torch.zeros(4, 28, 28, dtype=torch.uint8)
    x[:, 2:26, 2:26] = 30  # faint background inside every tile
    x[0, 4:24, 4:24] = 200  # a big square
    x[1, 4:24, 12:16] = 150  # a vertical bar
    x[2, 12:16, 4:24] = 250  # a cross
    x[2, 4:24, 12:16] = 250
    x[3, 11:17, 11:17] = 100  # a small central dot
    return x[:, None], torch.tensor([0, 1, 2, 3])


def _repaste(
    sources: torch.Tensor, placements: list[list[tuple[int, int, int, int]]], canvas: int, thr: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canvases and masks rebuilt one canvas, one object at a time, back to front."""
    tiles = sources.reshape(sources.shape[0], 28, 28)
    images = torch.zeros(len(placements), 1, canvas, canvas, dtype=torch.uint8)
    masks = torch.zeros(len(placements), canvas, canvas, dtype=torch.int64)
    for n, row in enumerate(placements):
        for src, cls, top, left in row:
            tile = tiles[src]
            fg = tile > thr
            images[n, 0, top : top + 28, left : left + 28][fg] = tile[fg]
            masks[n, top : top + 28, left : left + 28][fg] = cls + 1
    return images, masks


def test_shapes_dtypes_and_classes() -> None:
    x, y = _shapes()
    s = compose(x, y, NAMES, 7, canvas=40)
    assert isinstance(s, ComposedSet) and len(s) == 7
    assert s.images.shape == (7, 1, 40, 40) and s.images.dtype == torch.uint8
    assert s.masks.shape == (7, 40, 40) and s.masks.dtype == torch.int64
    assert s.classes == ["background", *NAMES]
    assert len(s.placements) == 7
    assert all(isinstance(v, int) for row in s.placements for p in row for v in p)
    assert int(s.masks.max()) <= len(NAMES) and int(s.masks.min()) == 0


def test_three_and_four_dimensional_sources_agree() -> None:
    x, y = _shapes()
    a, b = compose(x, y, NAMES, 5, seed=3), compose(x[:, 0], y, NAMES, 5, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)


def test_same_seed_same_set_other_seed_another() -> None:
    x, y = _shapes()
    a, b = compose(x, y, NAMES, 20, seed=5), compose(x, y, NAMES, 20, seed=5)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert a.placements == b.placements
    c = compose(x, y, NAMES, 20, seed=6)
    assert not torch.equal(a.images, c.images) and a.placements != c.placements


@pytest.mark.parametrize("threshold", [0, 64, 160])
def test_images_and_masks_match_a_repaste_from_the_placements(threshold: int) -> None:
    x, y = _shapes()
    s = compose(x, y, NAMES, 60, canvas=48, objects=(1, 4), threshold=threshold, seed=1)
    for row in s.placements:
        assert all(cls == int(y[src]) for src, cls, _, _ in row)
    images, masks = _repaste(x, s.placements, 48, threshold)
    assert torch.equal(s.images, images)
    assert torch.equal(s.masks, masks)
    if threshold >= 30:  # the faint halos never show
        assert not ((s.images > 0) & (s.images <= threshold)).any()
    assert torch.equal(s.masks > 0, s.images[:, 0] > threshold)


def test_later_objects_occlude_earlier_ones_and_earlier_ones_show_around_them() -> None:
    x, y = _shapes()
    big, dot = x[[0, 3]], y[[0, 3]]  # square (class 0) and small dot (class 3), both at (0, 0)
    s = compose(big, dot, NAMES, 40, canvas=28, objects=(2, 2), seed=0)
    orders = {tuple(src for src, *_ in row) for row in s.placements}
    assert {(0, 1), (1, 0)} <= orders  # both paste orders occur
    for n, row in enumerate(s.placements):
        assert [(top, left) for *_, top, left in row] == [(0, 0), (0, 0)]
        order = tuple(src for src, *_ in row)
        if order == (0, 1):  # the dot lies over the square: the dot wins in the centre...
            assert (s.masks[n, 11:17, 11:17] == 4).all()
            assert (s.images[n, 0, 11:17, 11:17] == 100).all()
            # ...and the square shows all around it
            ring = s.masks[n, 4:24, 4:24].clone()
            ring[7:13, 7:13] = 1
            assert (ring == 1).all() and (s.images[n, 0, 4:11, 4:24] == 200).all()
        elif order == (1, 0):  # the square covers the dot entirely
            assert (s.masks[n, 4:24, 4:24] == 1).all()
            assert (s.images[n, 0, 4:24, 4:24] == 200).all()
        assert (s.masks[n, :4] == 0).all() and (s.images[n, 0, :4] == 0).all()


def test_object_counts_and_positions_cover_their_ranges() -> None:
    x, y = _shapes()
    s = compose(x, y, NAMES, 300, canvas=30, objects=(1, 3), seed=2)
    counts = {len(row) for row in s.placements}
    assert counts == {1, 2, 3}
    tops = {top for row in s.placements for _, _, top, _ in row}
    lefts = {left for row in s.placements for *_, left in row}
    assert tops == {0, 1, 2} and lefts == {0, 1, 2}  # every position where the tile fits
    assert {src for row in s.placements for src, *_ in row} == {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "count must be >= 1; got 0"),
        ({"canvas": 20}, "canvas must be >= the tile size 28x28; got 20"),
        ({"objects": (0, 2)}, r"objects must be \(min, max\) with 1 <= min <= max; got \(0, 2\)"),
        ({"objects": (3, 2)}, r"1 <= min <= max; got \(3, 2\)"),
        ({"threshold": 255}, "threshold must be in 0..254"),
        ({"threshold": -1}, "threshold must be in 0..254"),
        ({"labels": torch.tensor([0, 1, 2])}, r"labels must be \(M,\) with M = len\(images\) = 4"),
        ({"labels": torch.tensor([0, 1, 2, 4])}, r"labels must lie in 0..3 \(4 class names\)"),
        ({"images": torch.zeros(4, 28, 28)}, "images must be uint8; got torch.float32"),
        ({"images": torch.zeros(4, 3, 28, 28, dtype=torch.uint8)}, "images must have one channel"),
    ],
)
def test_bad_arguments_raise_config_errors(kwargs: dict, message: str) -> None:
    x, y = _shapes()
    args = {"images": x, "labels": y, "class_names": NAMES, "count": 3, **kwargs}
    with pytest.raises(ConfigError, match=message):
        compose(**args)


def _dataset(train: int, test: int) -> ImageDataset:
    """A tiny stand-in for `load_images`: random 28x28 images whose value encodes their index."""
    gen = torch.Generator().manual_seed(0)

    def images(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, 1, 28, 28), generator=gen, dtype=torch.uint8)

    return ImageDataset(
        "toy",
        images(train),
        torch.arange(train) % 4,
        images(test),
        torch.arange(test) % 4,
        None,
        None,
        NAMES,
    )


def _sources(s: ComposedSet) -> set[int]:
    return {src for row in s.placements for src, *_ in row}


def _check_splits(ds: ImageDataset, parts: dict[str, ComposedSet], threshold: int) -> None:
    """Train / val index disjoint parts of train_x, test uses test_x: each re-pastes exactly."""
    assert _sources(parts["train"]).isdisjoint(_sources(parts["val"]))
    for name, x in (("train", ds.train_x), ("val", ds.train_x), ("test", ds.test_x)):
        s = parts[name]
        images, masks = _repaste(x, s.placements, s.images.shape[-1], threshold)
        assert torch.equal(s.images, images) and torch.equal(s.masks, masks), name
        y = ds.train_y if name != "test" else ds.test_y
        assert all(cls == int(y[src]) for row in s.placements for src, cls, *_ in row)


def test_splits_share_no_source_image() -> None:
    ds = _dataset(train=200, test=50)
    parts = composed_splits(ds, train=60, val=30, test=20, canvas=40, seed=4)
    assert {k: len(v) for k, v in parts.items()} == {"train": 60, "val": 30, "test": 20}
    _check_splits(ds, parts, threshold=64)
    assert max(_sources(parts["test"])) < 50
    assert len(_sources(parts["val"])) <= 20  # val draws from 10 % of the 200 train images
    again = composed_splits(ds, train=60, val=30, test=20, canvas=40, seed=4)
    assert all(torch.equal(parts[k].masks, again[k].masks) for k in parts)
    other = composed_splits(ds, train=60, val=30, test=20, canvas=40, seed=5)
    assert not torch.equal(parts["train"].images, other["train"].images)


@pytest.mark.data
def test_real_mnist_splits_share_no_source_image(real_data: str | None, tmp_path) -> None:
    if real_data is None:
        pytest.skip("real data sets not found (../shared/datasets; or set TAMRIN_DATA)")
    store = DataStore(real_data, download=False, cache_dir=tmp_path / "cache")
    row = next(r for r in store.status() if r["name"] == "mnist")
    if row["state"] != "ok":
        pytest.skip(f"mnist is {row['state']} in the real data roots")
    ds = load_images("mnist", store)
    parts = composed_splits(ds, train=300, val=100, test=100, seed=0)
    _check_splits(ds, parts, threshold=64)
    assert parts["train"].classes == ["background", *ds.classes]
    for s in parts.values():  # real digits: most canvases show several classes
        assert s.masks.shape == (len(s), 64, 64)
        shown = [len(torch.unique(m)) for m in s.masks]
        assert sum(n >= 3 for n in shown) > len(s) // 2
