"""FLOPs per training example and the machine's matmul peak: how close a run came to the hardware.

`training_flops` counts one training step's FLOPs (forward and backward, `torch.utils.
flop_counter`: matmuls, convolutions and attention; elementwise ops are not counted, as in every
published FLOP figure) on a copy of the model, so the run's weights, BatchNorm statistics and
gradients are untouched. `matmul_peak` times large square matmuls in fp32 and under bf16
autocast on the run's threads — the ceiling a run's achieved FLOP/s is set against — and is
measured once per machine (cached beside the precision probe).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tamrin.train.device import probe_cache_path, read_cache, read_cpuinfo, write_cache
from tamrin.train.inference import autocast, batch_layout, prefers_channels_last
from tamrin.train.objectives import Objective

PEAK_FILE = "matmul-peak.json"
PEAK_VERSION = 1
PEAK_SIZE = 2048  # side of the square matmul timed for the peak
_MEMO: dict[str, dict[str, float]] = {}


def training_flops(
    model: nn.Module,
    batch: Mapping[str, torch.Tensor],
    objective: Objective,
    *,
    device: torch.device,
    amp: torch.dtype | None = None,
    channels_last: bool = True,
) -> tuple[float, int]:
    """(FLOPs of one training step on `batch`, the examples in it) on copies of `model` and
    `objective` (an objective may accumulate per-epoch statistics)."""
    twin, twin_objective = copy.deepcopy(model).to(device).train(), copy.deepcopy(objective)
    nhwc = channels_last and prefers_channels_last(twin)
    with FlopCounterMode(display=False) as counter:
        with autocast(device, amp):
            out = twin_objective.step(twin, batch_layout(dict(batch), nhwc))
        out.loss.backward()
    examples = int(next(iter(batch.values())).shape[0])
    return float(counter.get_total_flops()), examples


def _time_matmul(dtype: torch.dtype | None, size: int, reps: int) -> float:
    """Best TFLOP/s of a size² matmul (fp32, or under bf16 autocast) over `reps` calls."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    if dtype is not None:
        a, b = a.to(dtype), b.to(dtype)
    a @ b  # warm-up: kernel selection, page faults
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e12


def measure_matmul_peak(size: int = PEAK_SIZE, reps: int = 5) -> dict[str, float]:
    """fp32 and bf16 matmul TFLOP/s on this CPU at the current thread count (best of `reps`)."""
    return {
        "fp32_tflops": _time_matmul(None, size, reps),
        "bf16_tflops": _time_matmul(torch.bfloat16, size, reps),
        "size": float(size),
        "threads": float(torch.get_num_threads()),
    }


def _peak_key() -> str:
    cpu = read_cpuinfo()
    flags = ",".join(sorted(cpu.flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}))
    return (
        f"v{PEAK_VERSION}|{cpu.model}|{flags}|torch {torch.__version__}|"
        f"threads {torch.get_num_threads()}"
    )


def matmul_peak(path: Path | None = None) -> dict[str, float]:
    """The machine's matmul peak (`measure_matmul_peak`), measured once and cached per CPU,
    torch version and thread count; a read-only or damaged cache only costs a re-measurement."""
    path = path or probe_cache_path().with_name(PEAK_FILE)
    key = _peak_key()
    if key in _MEMO:  # one measurement per process even where every run has its own cache
        return dict(_MEMO[key])
    entries = read_cache(path)
    hit = entries.get(key)
    if isinstance(hit, dict) and "fp32_tflops" in hit and "bf16_tflops" in hit:
        _MEMO[key] = {k: float(v) for k, v in hit.items()}
        return dict(_MEMO[key])
    result = measure_matmul_peak()
    entries[key] = _MEMO[key] = result
    write_cache(path, entries)
    return result


def compute_facts(
    step_flops: float,
    examples: int,
    steps: int,
    train_time_s: float,
    precision: str,
    peak: Mapping[str, float] | None,
) -> dict[str, Any]:
    """The `compute` section of metrics.json: FLOPs per training example (one step's FLOPs over
    its examples), achieved TFLOP/s over the training time (per-epoch validation included, so a
    slight underestimate) and its share of the matmul peak in the run's precision."""
    achieved = step_flops * steps / train_time_s / 1e12 if train_time_s > 0 else None
    facts: dict[str, Any] = {
        "train_gflops_per_example": step_flops / max(examples, 1) / 1e9,  # forward + backward
        "achieved_tflops": achieved,
        "steps": steps,
        "precision": precision,
    }
    if peak is not None:
        facts["peak_fp32_tflops"] = peak["fp32_tflops"]
        facts["peak_bf16_tflops"] = peak["bf16_tflops"]
        ceiling = peak["bf16_tflops" if precision == "bf16" else "fp32_tflops"]
        facts["fraction_of_peak"] = achieved / ceiling if achieved and ceiling else None
    return facts
