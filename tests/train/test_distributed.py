"""Distributed training on CPU: 2 gloo processes on 127.0.0.1 compute what 1 process computes.

The equivalence tolerance: gloo's all-reduce sums the two ranks' gradients (each the mean over
half the batch, weighted by its share) instead of one process summing over the whole batch, so
the float32 rounding differs by ~1 ulp per step; over the tens of steps here the weights agree
to 1e-6 relative (measured: about 2e-8 absolute on LeNet after 60 steps), far below a step's
change (~1e-3). Evaluation is exact: each row is scored once whatever the world size.
"""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from tamrin.data.batches import Batches, ShardedBatches, ShuffleSampler
from tamrin.errors import ConfigError
from tamrin.train import distributed
from tamrin.train.distributed import World, shard_bounds, threads_per_rank, world_from_env
from tamrin.train.fit import classification_validator, fit
from tamrin.train.inference import predict_logits
from tamrin.train.optim import TrainConfig

WEIGHT_RTOL, WEIGHT_ATOL = 1e-5, 1e-6  # see the module docstring


def test_world_from_env_reads_torchruns_variables() -> None:
    assert world_from_env({}) == World()
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    world = world_from_env(env)
    assert (world.rank, world.size, world.local_rank, world.local_size) == (3, 4, 1, 2)
    assert world.distributed and not world.is_main
    with pytest.raises(ConfigError, match="malformed"):
        world_from_env({"WORLD_SIZE": "two"})
    with pytest.raises(ConfigError, match="inconsistent"):
        world_from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_threads_per_rank_never_oversubscribes() -> None:
    assert threads_per_rank(16, 4) == 4
    assert threads_per_rank(2, 2) == 1
    assert threads_per_rank(2, 3) == 1  # at least one
    for cores in range(1, 9):
        for ranks in range(1, cores + 1):
            assert ranks * threads_per_rank(cores, ranks) <= cores


@pytest.mark.parametrize("n", [0, 1, 7, 8, 100])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_shard_bounds_cover_every_row_once(n: int, size: int) -> None:
    parts = [shard_bounds(n, World(r, size)) for r in range(size)]
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    expected = [len(p) for p in torch.arange(n).tensor_split(size)]
    assert [stop - start for start, stop in parts] == expected


def test_sharded_batches_deal_out_the_augmented_global_batch() -> None:
    data = {"x": torch.arange(30.0)[:, None], "y": torch.arange(30)}
    noise = lambda x, gen: x + torch.rand(x.shape, generator=gen)  # noqa: E731
    whole = Batches(data, ShuffleSampler(30, 7, seed=3), augment={"x": noise})
    shards = [ShardedBatches(whole, r, 2) for r in range(2)]
    assert len(shards[0]) == len(whole) and shards[0].batch_size == 7
    for full, a, b in zip(whole.epoch(1), shards[0].epoch(1), shards[1].epoch(1), strict=True):
        for key in data:  # the same augmented rows, dealt out in turn, none twice
            assert torch.equal(
                torch.cat([a[key], b[key]]), torch.cat([full[key][0::2], full[key][1::2]])
            )
    with pytest.raises(ValueError, match="rank"):
        ShardedBatches(whole, 2, 2)


# --- two real processes ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(fn, size: int, *args) -> None:
    port = _free_port()
    mp.start_processes(_worker, args=(fn, size, port, args), nprocs=size, start_method="spawn")


def _worker(rank: int, fn, size: int, port: int, args: tuple) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(size)
    )
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size
    )
    try:
        fn(rank, *args)
    finally:
        dist.destroy_process_group()


def _data(n: int = 90) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 12, generator=gen)
    return {"x": x, "y": (x[:, :4].sum(1) > 0).long() + (x[:, 4] > 1).long()}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))


def _train(out: Path | None, batch_size: int) -> nn.Module:
    """Fit the MLP and save its weights (no dropout or BatchNorm: a rank draws its dropout masks
    and batch statistics for its own share of the batch, which one process cannot match)."""
    data = _data()
    model = _model()
    cfg = TrainConfig(epochs=3, batch_size=batch_size, lr=0.05, optimizer="sgd", momentum=0.9)
    batches = Batches(data, ShuffleSampler(90, batch_size, seed=1))
    val = _data(33)
    result = fit(
        model,
        batches,
        cfg,
        device=torch.device("cpu"),
        validate=classification_validator(val["x"], val["y"], batch_size=8),
    )
    if out is not None:
        torch.save({"model": model.state_dict(), "history": result.history}, out)
    return model


def _train_rank(rank: int, out: Path, batch_size: int) -> None:
    _train(out if rank == 0 else None, batch_size)


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [16, 7])  # 7: the ranks' shares differ (4 and 3)
def test_two_processes_train_the_weights_of_one(tmp_path: Path, batch_size: int) -> None:
    reference = _train(None, batch_size).state_dict()
    _spawn(_train_rank, 2, tmp_path / "ddp.pt", batch_size)
    got = torch.load(tmp_path / "ddp.pt", weights_only=False)
    for key, want in reference.items():
        assert torch.allclose(got["model"][key], want, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL), key
    changed = max(
        (want - _model().state_dict()[k]).abs().max().item() for k, want in reference.items()
    )
    assert changed > 1e-2  # it trained: the tolerance is far below what training moved
    first = got["history"][0]
    assert set(first) >= {"train_loss", "train_acc", "val_loss", "val_acc"}


def _evaluate_rank(rank: int, out: Path, n: int) -> None:
    model = _model()
    x = _data(n)["x"]
    logits = predict_logits(model, x, batch_size=4)
    flags = distributed.any_rank(rank == 1, False)
    gathered = distributed.all_gather_object(rank)
    if rank == 0:
        torch.save({"logits": logits, "flags": flags, "gathered": gathered}, out)


@pytest.mark.slow
@pytest.mark.parametrize("n", [7, 1])  # 7 rows: 4 + 3; 1 row: fewer rows than ranks
def test_evaluation_is_exact_across_world_sizes(tmp_path: Path, n: int) -> None:
    want = predict_logits(_model(), _data(n)["x"], batch_size=4)
    _spawn(_evaluate_rank, 2, tmp_path / "eval.pt", n)
    got = torch.load(tmp_path / "eval.pt", weights_only=False)
    assert got["logits"].shape == want.shape  # every row once: no padding, no duplicates
    assert torch.allclose(got["logits"], want, atol=1e-6)
    assert got["flags"] == (True, False) and got["gathered"] == [0, 1]


def test_collectives_are_identities_in_a_plain_process() -> None:
    t = torch.ones(3)
    assert distributed.all_reduce_sum(t) is t and distributed.gather_rows(t, 3) is t
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    assert distributed.on_main(lambda: 5) == 5 and distributed.any_rank(True) == (True,)
    assert not distributed.active().distributed
