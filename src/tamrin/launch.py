"""`tamrin run RECIPE --nproc N`: the same command again under torchrun, N processes per machine.

tamrin does not start or coordinate processes itself: it hands the command line to PyTorch's own
launcher (`python -m torch.distributed.run`), which sets each process's RANK / WORLD_SIZE /
LOCAL_RANK and restarts nothing by itself. One machine uses `--standalone` (a private rendezvous
on a free local port); several machines run the same command on each with `--nnodes M
--rdzv-endpoint HOST:PORT` (c10d rendezvous hosted by the first to arrive). Each process gets
cores // N intra-op threads (OMP_NUM_THREADS is set so torchrun does not force 1: pytorch#19163).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from tamrin.errors import ConfigError
from tamrin.train.device import cpu_cores
from tamrin.train.distributed import threads_per_rank, world_from_env

LAUNCH_FLAGS = ("--nproc", "--nnodes", "--rdzv-endpoint")  # ours; torchrun gets them, not tamrin
ENTRY: tuple[str, ...] = ("-m", "tamrin")  # what torchrun starts (tests start a script instead)


def check_launch(nproc: int | None, nnodes: int | None, rdzv_endpoint: str | None) -> None:
    """A ConfigError for values torchrun would reject later, or that make no sense here."""
    if nproc is not None and nproc < 1:
        raise ConfigError(f"--nproc must be >= 1 (processes on this machine); got {nproc}")
    if nnodes is not None and nnodes < 1:
        raise ConfigError(f"--nnodes must be >= 1 (machines); got {nnodes}")
    if (nnodes or 1) > 1 and not rdzv_endpoint:
        raise ConfigError(
            f"--nnodes {nnodes} needs --rdzv-endpoint HOST:PORT, the address every machine can "
            f"reach (e.g. the first machine's, port 29400)"
        )
    if rdzv_endpoint is not None and ":" not in rdzv_endpoint:
        raise ConfigError(f"--rdzv-endpoint must be HOST:PORT; got '{rdzv_endpoint}'")
    if (nproc or nnodes or rdzv_endpoint) and world_from_env().distributed:
        raise ConfigError(
            "this process was already started by torchrun (WORLD_SIZE is set); "
            "leave out --nproc/--nnodes/--rdzv-endpoint"
        )


def wants_launch(nproc: int | None, nnodes: int | None, rdzv_endpoint: str | None) -> bool:
    """True when the command must be re-run under torchrun (more than one process overall)."""
    return (nproc or 1) > 1 or (nnodes or 1) > 1 or rdzv_endpoint is not None


def strip_launch_flags(argv: Sequence[str]) -> list[str]:
    """`argv` without --nproc/--nnodes/--rdzv-endpoint and their values (both `--f V`, `--f=V`)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in LAUNCH_FLAGS:
            skip = "=" not in arg
            continue
        out.append(arg)
    return out


def torchrun_command(
    argv: Sequence[str], nproc: int, nnodes: int | None = None, rdzv_endpoint: str | None = None
) -> list[str]:
    """The torchrun command line that runs `tamrin ARGV` in `nproc` processes per machine."""
    if (nnodes or 1) > 1 or rdzv_endpoint:
        where = ["--nnodes", str(nnodes or 1), "--rdzv-backend", "c10d"]
        where += ["--rdzv-endpoint", str(rdzv_endpoint)]
    else:
        where = ["--standalone", "--nnodes", "1"]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *where,
        "--nproc-per-node",
        str(nproc),
        *ENTRY,
        *strip_launch_flags(argv),
    ]


def launch(
    argv: Sequence[str], nproc: int, nnodes: int | None = None, rdzv_endpoint: str | None = None
) -> int:
    """Run `tamrin ARGV` under torchrun and return its exit status.

    This process only waits: Ctrl-C reaches the workers from the terminal (torchrun passes it
    on), so it is ignored here while they stop.
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads_per_rank(cpu_cores(), nproc)))
    proc = subprocess.Popen(torchrun_command(argv, nproc, nnodes, rdzv_endpoint), env=env)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
