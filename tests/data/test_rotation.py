"""The rotation pretext task's data: turns, balanced rotated batches, few-label splits, cycling.

`rotate` / `all_rotations` must give the rotation labels the network is trained on (a wrong
direction or order silently teaches the wrong task), so they are checked against `torch.rot90`
and against pixel positions worked out by hand. `RotationBatches` must show every image of an
epoch in all four rotations, balanced in every batch, and stay a pure function of
(seed, epoch, batch) for exact resume. `labelled_subset`, `CycleSampler` and `MixSampler`
decide which labels a few-label run sees and how often: stratified, disjoint, seeded, each
example once per cycle.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tamrin.data.batches import (
    Batch,
    Batches,
    CycleSampler,
    MixSampler,
    ShuffleSampler,
    generator,
    permutation_stream,
)
from tamrin.data.rotation import DEGREES, ROTATIONS, RotationBatches, all_rotations, rotate
from tamrin.data.splits import labelled_subset
from tamrin.errors import ConfigError

N = 10  # images in the toy data set of the RotationBatches tests
BATCH = 4  # does not divide N: batches of 4, 4, 2


def _corner(row: int, col: int, size: int = 4) -> torch.Tensor:
    """(1, 1, size, size) zeros with a single bright pixel at (row, col)."""
    x = torch.zeros(1, 1, size, size)
    x[0, 0, row, col] = 1.0
    return x


def _bright(x: torch.Tensor) -> tuple[int, int]:
    """(row, col) of the single bright pixel of a (1, 1, H, W) image."""
    rows, cols = torch.nonzero(x[0, 0], as_tuple=True)
    assert len(rows) == 1
    return int(rows[0]), int(cols[0])


# ----------------------------------------------------------------------------- rotate


@pytest.mark.parametrize(
    ("k", "where"),
    [(0, (0, 0)), (1, (3, 0)), (2, (3, 3)), (3, (0, 3)), (4, (0, 0)), (-1, (0, 3))],
)
def test_rotate_turns_counter_clockwise_by_hand(k: int, where: tuple[int, int]) -> None:
    # counter-clockwise: top-left -> bottom-left (90°) -> bottom-right (180°) -> top-right (270°)
    assert _bright(rotate(_corner(0, 0), k)) == where


def test_rotate_moves_every_pixel_as_a_ccw_quarter_turn() -> None:
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    for k in range(ROTATIONS):
        assert torch.equal(rotate(x, k), torch.rot90(x, k, dims=(2, 3)))
    turned = rotate(x, 1)
    for r in range(5):
        for c in range(5):  # a 90° CCW turn sends (r, c) to (W-1-c, r)
            assert torch.equal(turned[:, :, 4 - c, r], x[:, :, r, c])
    # a pixel off the diagonal and off the centre: (0, 1) -> (3, 0) -> (4, 3) -> (1, 4)
    assert [_bright(rotate(_corner(0, 1, 5), k)) for k in range(4)] == [
        (0, 1),
        (3, 0),
        (4, 3),
        (1, 4),
    ]


def test_rotate_with_one_k_per_image() -> None:
    x = torch.randn(6, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    k = torch.tensor([0, 1, 2, 3, 5, -1])  # 5 = 1 and -1 = 3 turns (mod 4)
    out = rotate(x, k)
    for i, turns in enumerate([0, 1, 2, 3, 1, 3]):
        assert torch.equal(out[i], torch.rot90(x[i], turns, dims=(1, 2)))
    assert torch.equal(x, torch.randn(6, 2, 4, 4, generator=torch.Generator().manual_seed(0)))


def test_rotate_back_is_the_identity() -> None:
    x = torch.randn(3, 3, 8, 8)
    assert torch.equal(rotate(rotate(x, 1), 3), x)
    assert torch.equal(rotate(rotate(x, 2), 2), x)
    k = torch.tensor([1, 2, 3])
    assert torch.equal(rotate(rotate(x, k), 4 - k), x)


@pytest.mark.parametrize("k", [1, torch.tensor([1, 2])])
def test_rotate_rejects_non_square_images(k: int | torch.Tensor) -> None:
    with pytest.raises(ValueError, match="square"):
        rotate(torch.zeros(2, 3, 4, 6), k)


def test_all_rotations_order_and_labels() -> None:
    b = 3
    x = torch.arange(b * 2 * 4 * 4, dtype=torch.float32).reshape(b, 2, 4, 4)
    turned, labels = all_rotations(x)
    assert turned.shape == (4 * b, 2, 4, 4)
    assert labels.tolist() == [0] * b + [1] * b + [2] * b + [3] * b
    assert DEGREES == (0, 90, 180, 270)
    for k in range(ROTATIONS):
        for j in range(b):
            assert torch.equal(turned[k * b + j], torch.rot90(x[j], k, dims=(1, 2)))
    assert _bright(all_rotations(_corner(0, 0))[0][1:2]) == (3, 0)  # label 1 is 90° CCW


# ----------------------------------------------------------------------------- RotationBatches


def _rotation_batches(upright: tuple[str, ...] = ("labelled",), seed: int = 3) -> RotationBatches:
    g = torch.Generator().manual_seed(0)
    data = {
        "x": torch.randn(N, 1, 4, 4, generator=g),
        "id": torch.arange(N),
        "labelled": torch.arange(N) % 3 == 0,
    }
    return RotationBatches(Batches(data, ShuffleSampler(N, BATCH, seed=seed)), upright=upright)


def test_rotation_batches_interface() -> None:
    rb = _rotation_batches()
    assert len(rb) == 3  # ceil(10 / 4)
    assert rb.batch_size == 16 and rb.num_samples == N and rb.seed == 3
    assert rb.data is rb.inner.data


def test_every_image_in_all_four_rotations_once_per_epoch() -> None:
    rb = _rotation_batches()
    images = rb.data["x"]
    seen: list[tuple[int, int]] = []
    sizes = []
    for batch in rb.epoch(1):
        assert set(batch) == {"x", "rot", "id", "labelled"}
        b = batch["x"].shape[0] // 4
        sizes.append(b)
        # every batch is exactly balanced, in the order 0°, 90°, 180°, 270°
        assert batch["rot"].tolist() == [0] * b + [1] * b + [2] * b + [3] * b
        assert torch.bincount(batch["rot"], minlength=4).tolist() == [b] * 4
        for img, i, r in zip(batch["x"], batch["id"].tolist(), batch["rot"].tolist(), strict=True):
            assert torch.equal(img, torch.rot90(images[i], r, dims=(1, 2)))
            seen.append((i, r))
    assert sizes == [4, 4, 2]
    assert sorted(seen) == [(i, r) for i in range(N) for r in range(ROTATIONS)]  # each once


def _as_lists(batches: list[Batch]) -> list[dict[str, list]]:
    return [{k: v.tolist() for k, v in b.items()} for b in batches]


def test_rotation_batches_are_a_pure_function_of_seed_epoch_batch() -> None:
    rb = _rotation_batches()
    first, second = list(rb.epoch(2)), list(rb.epoch(2))
    assert _as_lists(first) == _as_lists(second)
    assert _as_lists(list(_rotation_batches().epoch(2))) == _as_lists(first)  # a fresh wrapper
    for start in range(len(rb)):
        assert _as_lists(list(rb.epoch(2, start))) == _as_lists(first[start:])
    assert _as_lists(list(rb.epoch(3))) != _as_lists(first)
    assert _as_lists(list(_rotation_batches(seed=4).epoch(2))) != _as_lists(first)


def test_upright_mask_only_on_the_unrotated_copy_of_masked_images() -> None:
    rb = _rotation_batches()
    mask = rb.data["labelled"]
    for batch in rb.epoch(0):
        expected = (batch["rot"] == 0) & mask[batch["id"]]
        assert batch["labelled"].dtype == torch.bool
        assert torch.equal(batch["labelled"], expected)
    total = sum(int(b["labelled"].sum()) for b in rb.epoch(0))
    assert total == int(mask.sum()) == 4  # each masked image once per epoch (ids 0, 3, 6, 9)
    # without `upright`, a mask field is only repeated: True on all four copies
    plain = _rotation_batches(upright=())
    assert sum(int(b["labelled"].sum()) for b in plain.epoch(0)) == 4 * 4


def test_rotation_batches_reject_unknown_or_clashing_fields() -> None:
    inner = _rotation_batches().inner
    with pytest.raises(ValueError, match="no field"):
        RotationBatches(inner, upright=("mask",))
    with pytest.raises(ValueError, match="no field"):
        RotationBatches(inner, image="img")
    with pytest.raises(ValueError, match="exists already"):
        RotationBatches(inner, target="id")


# ----------------------------------------------------------------------------- labelled_subset


def _labels(per_class: int = 20, classes: int = 10) -> np.ndarray:
    return np.tile(np.arange(classes), per_class)  # classes interleaved, 200 labels


def test_labelled_subset_is_stratified_and_a_partition() -> None:
    y = _labels()
    lab, unl = labelled_subset(y, 50, seed=0)
    assert lab.dtype == np.int64 and unl.dtype == np.int64
    assert len(lab) == 50 and len(unl) == 150
    np.testing.assert_array_equal(np.bincount(y[lab], minlength=10), [5] * 10)
    assert np.all(np.diff(lab) > 0) and np.all(np.diff(unl) > 0)
    assert np.intersect1d(lab, unl).size == 0
    np.testing.assert_array_equal(np.union1d(lab, unl), np.arange(len(y)))


def test_labelled_subset_spreads_a_remainder() -> None:
    y = _labels()
    lab, _ = labelled_subset(y, 25, seed=1)
    counts = np.bincount(y[lab], minlength=10)
    assert counts.sum() == 25 and set(counts.tolist()) == {2, 3}


def test_labelled_subset_is_seeded() -> None:
    y = _labels()
    a, b, c = (labelled_subset(y, 20, seed=s)[0] for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(labelled_subset(torch.from_numpy(y), 20, seed=7)[0], a)


def test_labelled_subset_all_labels_and_too_few() -> None:
    y = _labels()
    lab, unl = labelled_subset(y, len(y), seed=0)
    np.testing.assert_array_equal(lab, np.arange(len(y)))
    assert unl.size == 0 and unl.dtype == np.int64
    with pytest.raises(ConfigError, match=r"labels must be >= the 10 classes.*got 9"):
        labelled_subset(y, 9, seed=0)


# ----------------------------------------------------------------------------- cycling samplers


def test_permutation_stream_windows_are_slices_of_one_stream() -> None:
    n, seed, epoch = 7, 2, 1
    whole = permutation_stream(n, 0, 3 * n, seed, epoch)
    cycles = [torch.randperm(n, generator=generator(seed, epoch, c, 3)) for c in range(3)]
    assert torch.equal(whole, torch.cat(cycles))  # cycle c: randperm seeded (seed, e, c, 3)
    for first, last in [(0, 1), (3, 11), (6, 8), (7, 14), (13, 21)]:
        assert torch.equal(permutation_stream(n, first, last, seed, epoch), whole[first:last])


def test_cycle_sampler_uses_every_example_once_per_cycle() -> None:
    s = CycleSampler(10, 4, 7, seed=5)
    assert len(s) == 7 and s.batch_size == 4 and s.num_samples == 10
    batches = list(s.batches(0))
    assert len(batches) == 7 and all(b.shape == (4,) and b.dtype == torch.int64 for b in batches)
    stream = torch.cat(batches)  # 28 positions: cycles 0 and 1 whole, 8 of cycle 2
    assert sorted(stream[:10].tolist()) == list(range(10))
    assert sorted(stream[10:20].tolist()) == list(range(10))
    assert len(set(stream[20:].tolist())) == 8
    assert torch.equal(stream, permutation_stream(10, 0, 28, 5, 0))


def test_cycle_sampler_caps_the_batch_at_the_pool() -> None:
    s = CycleSampler(5, 128, 3, seed=0)
    assert s.batch_size == 5
    for b in s.batches(1):  # one whole permutation per batch
        assert sorted(b.tolist()) == list(range(5))


def test_cycle_sampler_is_a_pure_function_of_seed_epoch_batch() -> None:
    s = CycleSampler(10, 4, 6, seed=1)
    full = [b.tolist() for b in s.batches(2)]
    assert [b.tolist() for b in CycleSampler(10, 4, 6, seed=1).batches(2)] == full
    for start in range(6):
        assert [b.tolist() for b in s.batches(2, start)] == full[start:]
    assert [b.tolist() for b in s.batches(3)] != full
    assert [b.tolist() for b in CycleSampler(10, 4, 6, seed=2).batches(2)] != full


@pytest.mark.parametrize(("n", "b", "per_epoch"), [(0, 4, 2), (10, 0, 2), (10, 4, 0)])
def test_cycle_sampler_rejects_empty_settings(n: int, b: int, per_epoch: int) -> None:
    with pytest.raises(ValueError):
        CycleSampler(n, b, per_epoch)


def test_mix_sampler_labelled_slots_walk_the_permutation_stream() -> None:
    labelled = torch.tensor([3, 8, 15, 21, 40])
    unlabelled = torch.tensor([i for i in range(50) if i not in (3, 8, 15, 21, 40)])
    s = MixSampler(labelled, unlabelled, labelled_per_batch=2, unlabelled_per_batch=9, seed=4)
    batches = list(s.batches(1))
    assert len(batches) == len(s) == 5 and s.batch_size == 11  # ceil(45 / 9)
    head = torch.cat([b[:2] for b in batches])  # labelled indices first in every batch
    assert all(set(b[2:].tolist()).isdisjoint(labelled.tolist()) for b in batches)
    # the labelled stream is labelled[randperm(5)] per cycle, seeded (seed, epoch, cycle, 3)
    perms = [torch.randperm(5, generator=generator(4, 1, c, 3)) for c in range(2)]
    assert torch.equal(head, labelled[torch.cat(perms)])
    assert sorted(head[:5].tolist()) == sorted(head[5:10].tolist()) == labelled.tolist()
    # pinned (torch's CPU randperm; checked against the semantics above when written)
    assert head.tolist() == [21, 3, 40, 8, 15, 21, 8, 15, 3, 40]
    assert batches[0].tolist() == [21, 3, 6, 16, 0, 41, 23, 1, 17, 22, 24]
