"""Pick the device: CUDA when present (bf16 autocast there), else CPU with one thread per core."""

from __future__ import annotations

import os
from typing import Literal

import torch

from tamrin.errors import DeviceError

DeviceName = Literal["auto", "cpu", "cuda"]


def cpu_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' without CUDA is a DeviceError."""
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise DeviceError(f"--device must be cpu, cuda or auto; got '{name}'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            "--device cuda was asked for but CUDA is not available here; use --device cpu (or auto)"
        )
    device = torch.device(name)
    if device.type == "cpu":
        torch.set_num_threads(cpu_cores())
    return device


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA; None (fp32) on CPU, where bf16 is only faster on some CPUs."""
    return torch.bfloat16 if device.type == "cuda" else None
