"""One recipe in N processes (DistributedDataParallel, gloo) vs one process, same config.

(a) reference: `tamrin run RECIPE` in one process with every core as intra-op threads.
(b) tamrin DDP: `tamrin run RECIPE --nproc N`, each process cores // N threads.
All exactly as a user types them, one after the other on real data, fp32, the same seed and
global batch. Reported: training images/s of (a) and (b) (training steps × batch over the
recipe's measured training time, which includes the per-epoch validation pass) and wall times.

Agreement is checked where it is defined: float32 rounding differs between the arms (gloo sums
two half-batch gradients; oneDNN's reductions depend on the thread count) and training amplifies
it chaotically (measured on LeNet: 4e-8 after 40 steps, ~0.1 after 700, where one process at 1
vs 2 threads differs by as much: such runs end as far apart as two seeds' bit-level noise). So
(b) is compared, over `--agree-batches` steps, with one process pinned (taskset) to the DDP
processes' thread count: final weights within 1e-6. The full runs' weight difference and test
accuracies are recorded beside it, with the thread count's own effect.

    TAMRIN_DATA=../shared/datasets python benchmarks/bench_ddp.py --out /tmp/ddp.json
    python benchmarks/bench_ddp.py --max-batches 20     # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench_kerastuner import machine
from tamrin.train.device import cpu_cores

TOLERANCE = 1e-6  # measured 3.7e-8 after 40 LeNet steps: all-reduce rounding only


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="cifar10-lenet")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--max-batches", type=int, default=None, help="batches per epoch cap")
    p.add_argument("--agree-batches", type=int, default=20, help="steps per epoch, agreement runs")
    p.add_argument("--out", type=Path, help="result file")
    return p.parse_args()


def run(
    args: argparse.Namespace,
    out: Path,
    nproc: int,
    *,
    cores: int | None = None,
    batches: int | None,
) -> dict[str, Any]:
    sets: dict[str, Any] = {"train.precision": "fp32", "train.epochs": args.epochs}
    if batches:
        sets["train.max_batches"] = batches
    pin = ["taskset", "-c", f"0-{cores - 1}"] if cores else []
    cmd = [*pin, sys.executable, "-m", "tamrin", "run", args.recipe, "--quiet", "--device", "cpu"]
    cmd += ["--out", str(out), *(a for k, v in sets.items() for a in ("--set", f"{k}={v}"))]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    (run_dir,) = (out / args.recipe).iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    batch = config["config"]["train"]["batch_size"]
    images = metrics["compute"]["steps"] * batch
    return {
        "nproc": nproc,
        "threads": config.get("distributed", {}).get("threads_per_process", config["threads"]),
        "images_per_s": images / metrics["train_time_s"],
        "train_time_s": metrics["train_time_s"],
        "wall_s": wall,
        "test_accuracy": metrics["test"]["accuracy"],
        "run_dir": str(run_dir),
    }


def weights(*runs: dict[str, Any]) -> list[dict[str, torch.Tensor]]:
    return [
        torch.load(Path(r["run_dir"]) / "checkpoints" / "last.pt", weights_only=True)["model"]
        for r in runs
    ]


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = run(args, Path(tmp) / "one", 1, batches=args.max_batches)
        many = run(args, Path(tmp) / "many", args.nproc, batches=args.max_batches)
        short = args.agree_batches
        pinned = run(args, Path(tmp) / "pinned", 1, cores=many["threads"], batches=short)
        many_short = run(args, Path(tmp) / "many-short", args.nproc, batches=short)
        pinned_2 = run(args, Path(tmp) / "one-short", 1, batches=short)
        one_w, many_w, pinned_w, short_w, pinned2_w = weights(
            one, many, pinned, many_short, pinned_2
        )
    diff = max_diff(pinned_w, short_w)
    record = {
        "benchmark": "ddp",
        "recipe": args.recipe,
        "epochs": args.epochs,
        "max_batches": args.max_batches,
        "one_process": one,
        "processes": many,
        "ratio_images_per_s": many["images_per_s"] / one["images_per_s"],
        "full_runs_max_abs_weight_diff": max_diff(one_w, many_w),
        "agreement_runs": {
            "batches_per_epoch": short,
            "ddp_vs_one_process_same_threads": diff,
            "one_process_threads_effect": max_diff(pinned_w, pinned2_w),
        },
        "machine": machine(cpu_cores()),
        "load_1m_end": os.getloadavg()[0],
        "agreement": {
            "ok": diff <= TOLERANCE,
            "checked": f"DDP vs one process at the same threads, {args.epochs} × {short} steps: "
            f"final weights max |diff| <= {TOLERANCE}",
            "detail": f"max |diff| {diff:.2e} (one process, {many['threads']} vs "
            f"{one['threads']} threads: {max_diff(pinned_w, pinned2_w):.2e}); full runs: test "
            f"accuracy {one['test_accuracy']:.4f} (1 process) vs {many['test_accuracy']:.4f}",
        },
    }
    print(json.dumps({k: record[k] for k in ("ratio_images_per_s", "agreement")}, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
