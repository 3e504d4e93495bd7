"""Several processes, one run: torch.distributed from torchrun's environment, and the few
collectives the fit loop, inference and the runner need.

torchrun (`python -m torch.distributed.run`, what `tamrin run --nproc N` starts) sets RANK,
WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE; `session` opens the process group from them (gloo
on CPU, NCCL on GPUs). Every rank runs the same recipe code on the same data with the same seed,
so the ranks hold identical models; `fit` splits each global batch between them and lets
DistributedDataParallel average the gradients, and `predict_logits` splits the rows to score and
gathers them back, each row scored once (no padding, no duplicates: pytorch#25162). Without
WORLD_SIZE > 1 everything here is a no-op and a run is one plain process.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from tamrin.errors import ConfigError

T = TypeVar("T")
ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
TIMEOUT = datetime.timedelta(minutes=30)  # a rank waiting this long for the others gives up


@dataclass(frozen=True)
class World:
    """This process's place among the run's processes (a plain run: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # rank among the processes on this machine
    local_size: int = 1  # processes on this machine

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run folder and prints."""
        return self.rank == 0


def world_from_env(env: Mapping[str, str] | None = None) -> World:
    """The World torchrun describes in the environment (rank 0 of 1 without it)."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return World()
    try:
        rank, size = int(env.get("RANK", "0")), int(env["WORLD_SIZE"])
        local_rank = int(env.get("LOCAL_RANK", "0"))
        local_size = int(env.get("LOCAL_WORLD_SIZE") or size)
    except ValueError as exc:
        raise ConfigError(
            f"torchrun's environment is malformed ({', '.join(f'{k}={env.get(k)}' for k in ENV)})"
        ) from exc
    world = World(rank, size, local_rank, local_size)
    if not (0 <= world.rank < world.size and 0 <= world.local_rank < world.local_size):
        raise ConfigError(f"torchrun's environment is inconsistent: {world}")
    return world


def active() -> World:
    """The World of the open process group (rank 0 of 1 when none is open)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    env = world_from_env()
    return World(dist.get_rank(), dist.get_world_size(), env.local_rank, env.local_size)


def threads_per_rank(cores: int, local_size: int) -> int:
    """Intra-op threads for each of `local_size` processes sharing `cores`: ranks × threads ≤
    cores, at least one (torchrun's default OMP_NUM_THREADS=1 leaves cores idle, and every rank
    taking all cores oversubscribes them several-fold: pytorch#19163)."""
    return max(1, cores // max(1, local_size))


def backend(device_type: str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device_type == "cuda" else "gloo"


@contextlib.contextmanager
def session(device_type: str) -> Iterator[World]:
    """The process group for a torchrun-started run, open for the block (a no-op otherwise).

    Opened once: an already open group (a caller's own torchrun script) is used and left open.
    """
    world = world_from_env()
    if not world.distributed or dist.is_initialized():
        yield active() if world.distributed else world
        return
    if device_type == "cuda":
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group(backend(device_type), timeout=TIMEOUT)
    try:
        yield active()
    finally:
        dist.destroy_process_group()


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank `src`'s `obj` on every rank (picklable objects; unchanged in a plain run)."""
    if not active().distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: T) -> list[T]:
    """Every rank's `obj`, in rank order (`[obj]` in a plain run)."""
    world = active()
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def on_main(fn: Callable[[], T]) -> T:
    """`fn()` computed on rank 0 only and given to every rank: decisions that must agree
    (a timed precision probe measured on every rank at once would be contended, and could
    differ)."""
    world = active()
    if not world.distributed:
        return fn()
    return broadcast_object(fn() if world.is_main else None)  # type: ignore[return-value]


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum of `t` over ranks, in place (unchanged in a plain run)."""
    if active().distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def any_rank(*flags: bool, device: torch.device | None = None) -> tuple[bool, ...]:
    """Each flag OR-ed over ranks: every rank takes the same branch (stop, NaN) or none does."""
    if not active().distributed:
        return tuple(flags)
    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def shard_bounds(n: int, world: World) -> tuple[int, int]:
    """Rows [start, stop) of `n` that `world.rank` takes: `tensor_split`'s contiguous parts,
    which differ in size by at most one and together cover each row once."""
    base, extra = divmod(n, world.size)
    start = world.rank * base + min(world.rank, extra)
    return start, start + base + (1 if world.rank < extra else 0)


def gather_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """The (n, ...) concatenation of every rank's `shard_bounds` part, on every rank.

    all_gather needs equal shapes, so parts are padded to the largest and the padding cut off:
    nothing duplicated is ever counted.
    """
    world = active()
    if not world.distributed:
        return local
    sizes = [shard_bounds(n, World(r, world.size)) for r in range(world.size)]
    width = max(stop - start for start, stop in sizes)
    padded = local.new_zeros((width, *local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[: stop - start] for p, (start, stop) in zip(parts, sizes, strict=True)])


def average_buffers(model: nn.Module) -> None:
    """Floating buffers (BatchNorm's running mean and variance) averaged over ranks, in place.

    Each rank's BatchNorm tracked the statistics of its own shard; their average is the running
    mean one process would track over the whole batch (the variance misses the spread between
    shards), and every rank then evaluates the same model.
    """
    world = active()
    if not world.distributed:
        return
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf.div_(world.size)


class _Dispatch(nn.Module):
    """What DDP wraps: `forward(method, ...)` calls the model's forward or another method, so an
    objective's `model.masked_logits(...)` also runs through DDP (whose gradient all-reduce is
    armed only by its own forward)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        fn = self.model if method == "forward" else getattr(self.model, method)
        return fn(*args, **kwargs)


class Replicated:
    """The model as an objective sees it during distributed training: calling it, or any of its
    methods, is one DistributedDataParallel forward; other attributes are the model's."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.module = model
        self.ddp = nn.parallel.DistributedDataParallel(
            _Dispatch(model),
            device_ids=[device.index or 0] if device.type == "cuda" else None,
            forward_sync_buffers=False,  # averaged once an epoch instead: `average_buffers`
            static_graph=True,  # the step uses the same parameters every time; some stay
            # unused (BERT's pooler in MLM), found once instead of by a graph walk per step
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.ddp("forward", *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.module, name)
        if inspect.ismethod(attr):
            return functools.partial(self.ddp, name)
        return attr
