"""One recipe in N processes (DistributedDataParallel, gloo) vs one process, same config.

(a) reference: `tamrin run RECIPE` in one process with every core as intra-op threads.
(b) tamrin DDP: `tamrin run RECIPE --nproc N`, each process cores // N threads.
(c) the agreement reference: one process pinned (taskset) to cores // N cores, so it has the
    DDP processes' thread count: oneDNN's reductions depend on the thread count, and a
    1-thread and a 2-thread run of one process already differ by ~5e-5 after 40 LeNet steps.

All exactly as a user types them, one after the other on real data, fp32 (so the weights can
be compared), the same seed and global batch. Reported: training images/s of (a) and (b)
(training steps × batch over the recipe's measured training time, which includes the per-epoch
validation pass), whole-command wall times, and whether (b) trained (c)'s weights (max
|difference| of the final checkpoints <= 1e-6) and scored the same test accuracy; the (a)-(c)
difference is recorded beside it as the thread count's own effect.

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
    p.add_argument("--out", type=Path, help="result file")
    return p.parse_args()


def run(
    args: argparse.Namespace, out: Path, nproc: int, cores: int | None = None
) -> dict[str, Any]:
    sets = {"train.precision": "fp32", "train.epochs": args.epochs}
    if args.max_batches:
        sets["train.max_batches"] = args.max_batches
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


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = run(args, Path(tmp) / "one", 1)
        many = run(args, Path(tmp) / "many", args.nproc)
        pinned = run(args, Path(tmp) / "pinned", 1, cores=many["threads"])
        one_w, many_w, pinned_w = (
            torch.load(Path(r["run_dir"]) / "checkpoints" / "last.pt", weights_only=True)["model"]
            for r in (one, many, pinned)
        )
    diff = max(float((pinned_w[k] - many_w[k]).abs().max()) for k in pinned_w)
    thread_effect = max(float((pinned_w[k] - one_w[k]).abs().max()) for k in pinned_w)
    same_test = pinned["test_accuracy"] == many["test_accuracy"]
    record = {
        "benchmark": "ddp",
        "recipe": args.recipe,
        "epochs": args.epochs,
        "max_batches": args.max_batches,
        "one_process": one,
        "processes": many,
        "one_process_same_threads": pinned,
        "thread_count_effect_max_abs_diff": thread_effect,
        "ratio_images_per_s": many["images_per_s"] / one["images_per_s"],
        "machine": machine(cpu_cores()),
        "load_1m_end": os.getloadavg()[0],
        "agreement": {
            "ok": diff <= TOLERANCE and same_test,
            "checked": f"DDP vs one process at the same threads: final weights max |diff| <= "
            f"{TOLERANCE}, equal test accuracy",
            "detail": f"max |diff| {diff:.2e} (thread count alone: {thread_effect:.2e}); test "
            f"accuracy {pinned['test_accuracy']:.4f} vs {many['test_accuracy']:.4f}",
        },
    }
    print(json.dumps({k: record[k] for k in ("ratio_images_per_s", "agreement")}, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
