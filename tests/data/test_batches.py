"""The batch protocol: samplers are pure functions of (seed, epoch, batch) and equal the old ones.

`golden_samplers_0aa5175.json` holds the index sequences (and augmented pixels) that the pre-v2
iterators `BatchIterator`, `ImbalancedBatches` and `PKSampler` yielded at commit 0aa5175 on a
53-example imbalanced toy set (integers: equal on every CPU). The new samplers must reproduce
them exactly, so every seeded run trains on the same batches as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tamrin.data.augment import AugmentConfig, JitterConfig, image_augment
from tamrin.data.batches import (
    BalancedSampler,
    Batches,
    MixSampler,
    PKSampler,
    ShardedSampler,
    ShuffleSampler,
)

GOLDEN = json.loads((Path(__file__).parent / "golden_samplers_0aa5175.json").read_text())
N = GOLDEN["N"]
Y = torch.tensor(GOLDEN["y"])
X_IDX = torch.arange(N, dtype=torch.float32)[:, None, None, None].expand(N, 1, 4, 4).contiguous()
X_PIX = torch.arange(N * 16, dtype=torch.float32).reshape(N, 1, 4, 4)
CASES = [(s, e) for s in (0, 3) for e in (0, 1, 4)]


def _indices(sampler, epoch: int) -> list[list[int]]:
    return [b.tolist() for b in sampler.batches(epoch)]


def _pixels(batches: Batches, epoch: int, n: int = 2) -> list[list[int]]:
    return [b["x"].long().flatten().tolist() for b in batches.epoch(epoch)][:n]


@pytest.mark.parametrize(("seed", "epoch"), CASES)
def test_samplers_equal_the_pre_v2_iterators(seed: int, epoch: int) -> None:
    key = f"s{seed}/e{epoch}"
    assert _indices(ShuffleSampler(N, 8, seed=seed), epoch) == GOLDEN[f"shuffle/{key}"]
    assert _indices(ShuffleSampler(N, 8, seed=seed), epoch) == GOLDEN[f"imbalanced_shuffle/{key}"]
    plain = ShuffleSampler(N, 8, seed=seed, shuffle=False, drop_last=True)
    assert _indices(plain, epoch) == GOLDEN[f"sequential_droplast/{key}"]
    assert _indices(BalancedSampler(Y, 8, seed=seed), epoch) == GOLDEN[f"balanced/{key}"]
    assert _indices(PKSampler(Y, 3, 4, seed=seed), epoch) == GOLDEN[f"pk3x4/{key}"]


@pytest.mark.parametrize(("seed", "epoch"), CASES)
def test_augmented_batches_equal_the_pre_v2_iterators(seed: int, epoch: int) -> None:
    key = f"s{seed}/e{epoch}"
    geo = image_augment(AugmentConfig(crop_padding=1, hflip=True, rot90=True))
    shuffled = Batches({"x": X_PIX, "y": Y}, ShuffleSampler(N, 8, seed=seed), augment={"x": geo})
    assert _pixels(shuffled, epoch) == GOLDEN[f"augment_pixels/{key}"]
    pk_aug = image_augment(AugmentConfig(crop_padding=1, hflip=True))
    pk = Batches({"x": X_PIX, "y": Y}, PKSampler(Y, 3, 4, seed=seed), augment={"x": pk_aug})
    assert _pixels(pk, epoch) == GOLDEN[f"pk_augment_pixels/{key}"]
    jitter = image_augment(
        AugmentConfig(crop_padding=1), JitterConfig(brightness=0.5, contrast=0.5)
    )
    bal = Batches(
        {"x": X_PIX, "y": Y}, BalancedSampler(Y, 8, seed=seed), augment={"x": jitter}, seed=seed
    )
    sums = [round(float(b["x"].double().sum()), 3) for b in bal.epoch(epoch)][:3]
    assert sums == pytest.approx(GOLDEN[f"balanced_jitter_sum/{key}"], abs=1e-2)


def test_batches_carry_every_field_and_resume_mid_epoch() -> None:
    mask = torch.arange(N) % 2 == 0
    data = {"x": X_PIX, "y": Y, "labelled": mask}
    aug = image_augment(AugmentConfig(crop_padding=1, hflip=True))
    it = Batches(data, ShuffleSampler(N, 8, seed=5), augment={"x": aug}, seed=5)
    full = list(it.epoch(2))
    assert len(full) == len(it) == 7
    assert set(full[0]) == {"x", "y", "labelled"}
    again = list(
        Batches(data, ShuffleSampler(N, 8, seed=5), augment={"x": aug}, seed=5).epoch(2, 4)
    )
    for a, b in zip(full[4:], again, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(next(iter(it.epoch(3)))["y"], full[0]["y"])


def test_batches_reject_mismatched_fields() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        Batches({"x": X_PIX, "y": Y[:10]}, ShuffleSampler(N, 8))
    with pytest.raises(ValueError, match="unknown fields"):
        Batches({"x": X_PIX}, ShuffleSampler(N, 8), augment={"z": lambda t, g: t})


def test_balanced_sampler_evens_out_classes() -> None:
    y = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    drawn = torch.cat(list(BalancedSampler(y, 100, seed=0).batches(0)))
    share = torch.bincount(y[drawn], minlength=3).float() / len(drawn)
    assert torch.all((share - 1 / 3).abs() < 0.05), share


def test_mix_sampler_puts_labelled_examples_in_every_batch() -> None:
    labelled, unlabelled = torch.arange(0, 10), torch.arange(10, 110)
    s = MixSampler(labelled, unlabelled, labelled_per_batch=4, unlabelled_per_batch=16, seed=1)
    batches = list(s.batches(0))
    assert len(batches) == len(s) == 7  # ceil(100 / 16)
    assert all((b[:4] < 10).all() and (b[4:] >= 10).all() for b in batches)
    u = torch.cat([b[4:] for b in batches])
    assert sorted(u.tolist()) == list(range(10, 110))  # one pass over the unlabelled pool
    stream = torch.cat([b[:4] for b in batches])[:20]  # labelled: permutations, cycled
    assert sorted(stream[:10].tolist()) == list(range(10))
    assert sorted(stream[10:20].tolist()) == list(range(10))
    resumed = list(s.batches(0, start=3))
    assert all(torch.equal(a, b) for a, b in zip(batches[3:], resumed, strict=True))
    assert not torch.equal(torch.cat(list(s.batches(1))), torch.cat(batches))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_sharded_sampler_splits_each_global_batch_exactly(world: int) -> None:
    inner = ShuffleSampler(N, 8, seed=2)
    shards = [list(ShardedSampler(inner, r, world).batches(1)) for r in range(world)]
    for b, whole in enumerate(inner.batches(1)):
        assert torch.equal(torch.cat([shards[r][b] for r in range(world)]), whole)
    with pytest.raises(ValueError):
        ShardedSampler(inner, 2, 2)
