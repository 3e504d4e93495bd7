"""fp32 vs bf16 autocast: whole training steps of tamrin's models on this CPU, in one process.

For each model (built by the project's own builders: `build_classifier` for lenet / wide /
wide+BN / mlp, `build_resnet` for the small ResNet) on CIFAR-10-shaped input (B, 3, 32, 32),
batch 128, two identical copies are trained side by side, one step fp32, then one step under
bf16 autocast, alternating, so that load from other processes hits both alike.

Inside the timer: one training step as `train/fit.py` does it — the `Classify` objective's
step (forward, cross-entropy, accuracy) under `tamrin.train.inference.autocast`, backward,
`build_optimizer`'s SGD step (NHWC input and weights for conv nets, as
`train.channels_last=True` does). Outside: building the models and the (fixed, random) batch.
Warm-up steps are discarded; median, min and quartiles of the rest are reported, with the ratio
fp32/bf16 of medians and of minimums (on a shared machine the minimum is the steadier estimate
of what the hardware does). Also recorded: a 2048² matmul fp32 vs bf16 (TFLOP/s), the cached
probe `resolve_precision` uses, and what `auto` picks.

    python benchmarks/bench_precision.py            # ~1-3 minutes on 2 cores
    python benchmarks/bench_precision.py --steps 20 --models mlp,wide
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import tamrin
from tamrin.models.factory import ModelConfig, build_classifier
from tamrin.models.resnet import ResNetConfig, build_resnet
from tamrin.runner import git_commit
from tamrin.train.device import (
    cached_probe,
    cpu_cores,
    probe_cache_path,
    read_cpuinfo,
    resolve_precision,
)
from tamrin.train.inference import autocast, memory_format, prefers_channels_last
from tamrin.train.objectives import Classify
from tamrin.train.optim import TrainConfig, build_optimizer

IN_SHAPE = (3, 32, 32)  # CIFAR-10
NUM_CLASSES = 10

BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "lenet": lambda: build_classifier(ModelConfig(arch="lenet"), IN_SHAPE, NUM_CLASSES),
    "lenet-bn": lambda: build_classifier(
        ModelConfig(arch="lenet", norm="batch"), IN_SHAPE, NUM_CLASSES
    ),
    "wide": lambda: build_classifier(ModelConfig(arch="wide"), IN_SHAPE, NUM_CLASSES),
    "wide-bn": lambda: build_classifier(
        ModelConfig(arch="wide", norm="batch"), IN_SHAPE, NUM_CLASSES
    ),
    "mlp": lambda: build_classifier(ModelConfig(arch="mlp"), IN_SHAPE, NUM_CLASSES),
    "resnet8": lambda: build_resnet(ResNetConfig(depth=8, width=32), IN_SHAPE, NUM_CLASSES),
}


def _stats(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=4)
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "p25_ms": q[0], "p75_ms": q[2]}


def _stepper(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: torch.dtype | None):
    """One training step of `model` as `fit` takes it (the `Classify` objective's step under
    autocast, backward, the optimizer `build_optimizer` makes), as a closure. Alternating two
    models step by step is what `fit` itself cannot do, hence the closure."""
    cpu = torch.device("cpu")
    channels_last = prefers_channels_last(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    batch = {"x": memory_format(x, channels_last), "y": y}  # (B, C, H, W), (B,)
    opt = build_optimizer(list(model.parameters()), TrainConfig(optimizer="sgd", lr=0.01))
    objective = Classify()
    model.train()

    def step() -> None:
        with autocast(cpu, amp):
            out = objective.step(model, batch)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()

    return step


def bench_model(name: str, steps: int, warmup: int, batch: int) -> dict:
    """Alternate fp32 / bf16 steps on two copies of the same initialized model."""
    torch.manual_seed(0)
    model32 = BUILDERS[name]()
    model16 = BUILDERS[name]()
    model16.load_state_dict(model32.state_dict())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *IN_SHAPE, generator=g)
    y = torch.randint(0, NUM_CLASSES, (batch,), generator=g)
    runs = {"fp32": _stepper(model32, x, y, None), "bf16": _stepper(model16, x, y, torch.bfloat16)}
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for i in range(warmup + steps):
        for key, step in runs.items():
            t0 = time.perf_counter()
            step()
            if i >= warmup:
                times[key].append((time.perf_counter() - t0) * 1e3)
    fp32, bf16 = _stats(times["fp32"]), _stats(times["bf16"])
    return {
        "params": sum(p.numel() for p in model32.parameters()),
        "fp32": fp32,
        "bf16": bf16,
        "speedup_median": fp32["median_ms"] / bf16["median_ms"],
        "speedup_min": fp32["min_ms"] / bf16["min_ms"],
        "images_per_s_fp32": batch / fp32["median_ms"] * 1e3,
        "images_per_s_bf16": batch / bf16["median_ms"] * 1e3,
    }


def bench_matmul(n: int = 2048, reps: int = 5) -> dict[str, float]:
    """TFLOP/s of an n×n matmul, fp32 and bf16 (inputs already bf16), best of `reps`."""
    g = torch.Generator().manual_seed(0)
    out: dict[str, float] = {}
    for dtype, key in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        a = torch.randn(n, n, generator=g).to(dtype)
        b = torch.randn(n, n, generator=g).to(dtype)
        a @ b  # warm-up
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        out[f"{key}_tflops"] = 2 * n**3 / best / 1e12
    out["speedup"] = out["bf16_tflops"] / out["fp32_tflops"]
    return out


def cpu_tag(flags: frozenset[str]) -> str:
    isa = "amx" if "amx_bf16" in flags else "avx512bf16" if "avx512_bf16" in flags else "nobf16"
    return f"{platform.machine()}-{isa}-{cpu_cores()}cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(BUILDERS), help="comma-separated")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per precision")
    parser.add_argument("--warmup", type=int, default=3, help="discarded steps per precision")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results"), help="folder or .json"
    )
    args = parser.parse_args()
    torch.set_num_threads(cpu_cores())
    load_start = os.getloadavg()  # before we add our own load: the neighbours' share
    cpu = read_cpuinfo()
    t_start = time.perf_counter()
    models = {}
    for name in args.models.split(","):
        models[name] = r = bench_model(name, args.steps, args.warmup, args.batch)
        f32, b16 = r["fp32"]["median_ms"], r["bf16"]["median_ms"]
        print(
            f"{name:8s} fp32 {f32:7.1f} ms  bf16 {b16:7.1f} ms"
            f"  speedup median {r['speedup_median']:.2f}x  min {r['speedup_min']:.2f}x",
            flush=True,
        )
    matmul = bench_matmul()
    print(f"matmul 2048: fp32 {matmul['fp32_tflops']:.2f} bf16 {matmul['bf16_tflops']:.2f} TFLOP/s")
    probe = cached_probe(cpu, torch.get_num_threads())
    auto = resolve_precision("auto", torch.device("cpu"))
    load_end = os.getloadavg()
    result = {
        "benchmark": "precision",
        "inside_timer": "one training step: autocast forward, cross-entropy, backward, SGD step",
        "batch": args.batch,
        "input_shape": list(IN_SHAPE),
        "steps": args.steps,
        "warmup": args.warmup,
        "models": models,
        "matmul_2048": matmul,
        "probe": probe,
        "probe_cache": str(probe_cache_path()),
        "auto": auto.record(),
        "wall_s": time.perf_counter() - t_start,
        "contended": load_start[0] > 0.5 or load_end[0] > cpu_cores() + 0.5,
        "loadavg_start": list(load_start),
        "loadavg_end": list(load_end),
        "env": {
            "torch": torch.__version__,
            "tamrin": tamrin.__version__,
            "cpu_model": cpu.model,
            "flags": {f: f in cpu.flags for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2")},
            "cores": cpu_cores(),
            "threads": torch.get_num_threads(),
            "git_commit": git_commit(),
            "python": platform.python_version(),
            "host": platform.node(),
        },
    }
    out = Path(args.out)  # a .json file (tamrin bench), or a folder for the default name
    path = out if out.suffix == ".json" else out / f"precision-{cpu_tag(cpu.flags)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"auto -> {auto.name}: {auto.reason}")
    print(f"contended: {result['contended']} (loadavg at start {load_start[0]:.2f})")
    print(f"written {path}")


if __name__ == "__main__":
    main()
