"""`auto` precision for one model: bf16 only where this model's training step is faster.

`train.device.resolve_precision` decides per machine (bf16 instructions + a matmul/conv probe).
That is not enough per model: on a CPU with AMX, LeNet-5, the wide CNN and the small ResNet
train 1.4-1.75x faster under bf16 autocast, but LeNet-5 with BatchNorm (6 and 16 channels)
trains ~10% *slower* (81.7-103.2 s vs 74.5-77.4 s per 10 epochs, measured). So where the machine
allows bf16, `choose_model_precision` times a few real training steps of the model itself —
fp32 and bf16 interleaved, on a copy, with the run's first batch — and keeps bf16 only when it
is at least `MODEL_MIN_SPEEDUP` faster. The answer is cached per (machine, model, input shape,
threads), so the probe costs a second or two once per model and nothing afterwards.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from tamrin.train.device import (
    Precision,
    probe_cache_path,
    read_cache,
    read_cpuinfo,
    write_cache,
)
from tamrin.train.inference import autocast, batch_layout, prefers_channels_last
from tamrin.train.objectives import Objective

MODEL_MIN_SPEEDUP = 1.1  # bf16 must make this model's whole training step this much faster
MODEL_CACHE_FILE = "precision-models.json"
PROBE_STEPS = 3  # timed steps per precision (the fastest counts), after one warm-up each


def model_key(model: nn.Module, batch: Mapping[str, torch.Tensor], channels_last: bool) -> str:
    """What the measured ratio depends on: CPU, torch, threads, architecture, input shapes."""
    cpu = read_cpuinfo()
    shapes = {k: (tuple(v.shape), str(v.dtype)) for k, v in batch.items()}
    text = json.dumps(
        [
            cpu.model,
            sorted(cpu.bf16_flags),
            torch.__version__,
            torch.get_num_threads(),
            repr(model),
            sorted(shapes.items()),
            channels_last,
        ],
        default=str,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def probe_model(
    model: nn.Module,
    batch: Mapping[str, torch.Tensor],
    objective: Objective,
    *,
    channels_last: bool = True,
    steps: int = PROBE_STEPS,
) -> dict[str, float]:
    """Fastest fp32 and bf16 training step (forward, loss, backward, a zero-lr SGD step) of a
    copy of `model` on `batch`, in ms, interleaved. The model, the global RNG and the thread
    count are left exactly as they were."""
    device = next(model.parameters()).device
    rng = torch.get_rng_state()
    work = copy.deepcopy(model).train()
    objective = copy.deepcopy(objective)  # its epoch statistics (e.g. the miner's) stay clean
    nhwc = channels_last and prefers_channels_last(work)
    if nhwc:
        work = work.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    data = batch_layout(batch, nhwc)
    opt = torch.optim.SGD(work.parameters(), lr=0.0)

    def step(dtype: torch.dtype | None) -> float:
        t0 = time.perf_counter()
        with autocast(device, dtype):
            out = objective.step(work, data)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        return (time.perf_counter() - t0) * 1e3

    try:
        step(None), step(torch.bfloat16)  # warm-up: kernel selection, allocations
        pairs = [(step(None), step(torch.bfloat16)) for _ in range(steps)]
    finally:
        torch.set_rng_state(rng)
    fp32, bf16 = min(p[0] for p in pairs), min(p[1] for p in pairs)
    return {"fp32_ms": fp32, "bf16_ms": bf16, "speedup": fp32 / max(bf16, 1e-6)}


def _cache_path() -> Path:
    return probe_cache_path().with_name(MODEL_CACHE_FILE)


def choose_model_precision(
    machine: Precision,
    model: nn.Module,
    batch: Mapping[str, torch.Tensor],
    objective: Objective,
    *,
    channels_last: bool = True,
) -> Precision:
    """`machine` (the per-machine `auto` answer) refined for this model.

    Only an `auto` that came out bf16 on a CPU is probed: an explicit request, fp32, or CUDA
    (where bf16 is native) is returned unchanged.
    """
    device = next(model.parameters()).device
    if machine.request != "auto" or machine.name != "bf16" or device.type != "cpu":
        return machine
    key = model_key(model, batch, channels_last)
    path = _cache_path()
    cache = read_cache(path)
    entry = cache.get(key)
    cached = isinstance(entry, dict) and "speedup" in entry
    if not cached:
        entry = probe_model(model, batch, objective, channels_last=channels_last)
        cache[key] = {**entry, "model": type(model).__name__}
        write_cache(path, cache)
    speedup = float(entry["speedup"])  # type: ignore[index]
    how = "cached probe" if cached else "probe"
    if speedup >= MODEL_MIN_SPEEDUP:
        return Precision(
            "bf16",
            torch.bfloat16,
            f"auto: the CPU has bf16 and this model's training step measured {speedup:.2f}x "
            f"faster under bf16 autocast ({how})",
            "auto",
        )
    return Precision(
        "fp32",
        None,
        f"auto: the CPU has bf16, but this model's training step measured only {speedup:.2f}x "
        f"under bf16 autocast ({how}; bf16 needs >= {MODEL_MIN_SPEEDUP}x), so fp32",
        "auto",
    )
