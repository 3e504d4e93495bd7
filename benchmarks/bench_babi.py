"""The Keras `babi_memnn` example vs `tamrin run babi-memn2n` on bAbI task 1 (10k), one run.

(a) reference: `babi_memnn_keras.py` — the Keras example as published (softmax match, RMSprop,
    batch 32, 120 epochs, validating on the test set), Keras 3 on the torch backend, in the
    Keras venv of `bench_kerastuner.py` (made and filled with pip; keras never enters tamrin's).
(b) tamrin: `tamrin run babi-memn2n --set tasks=1 --seeds N`, exactly as a user types it.

The arms run one after the other, each on `--threads` cores (affinity + thread caps), never
together. Reported: each arm's accuracy (Keras: test accuracy after its last epoch, as the
example prints it; tamrin: its test accuracy, scored once, mean ± std over seeds), the training
seconds, and the time tamrin needs to reach the Keras run's final accuracy — the end of the
first epoch whose *validation* accuracy (tamrin's held-out training stories: it never looks at
the test set while training) is at or above it — and the ratio keras train time / that time.

    python benchmarks/bench_babi.py --out benchmarks/results/babi-keras-x86_64-2cores.json
    python benchmarks/bench_babi.py --keras-epochs 5 --seeds 1   # quick check
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_kerastuner import DEFAULT_VENV, _clean_env, _pin, ensure_keras_venv, machine

HERE = Path(__file__).resolve().parent
KERAS_SCRIPT = HERE / "babi_memnn_keras.py"
TARBALL = "babi/tasks_1-20_v1-2.tar.gz"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("TAMRIN_DATA", "../shared/datasets"))
    p.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the Keras venv")
    p.add_argument("--keras-epochs", type=int, default=120, help="the example's 120")
    p.add_argument("--seeds", type=int, default=3, help="tamrin seeds")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-keras", action="store_true")
    p.add_argument("--keras-json", type=Path, help="reuse an earlier Keras arm's JSON")
    p.add_argument("--out", type=Path)
    return p.parse_args()


def run_keras(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    ensure_keras_venv(args.venv)
    python = args.venv.expanduser().absolute() / "bin" / "python"
    out = tmp / "keras.json"
    tarball = Path(args.data_dir).absolute() / TARBALL
    cmd = [
        str(python),
        str(KERAS_SCRIPT),
        str(tarball),
        str(out),
        "--epochs",
        str(args.keras_epochs),
    ]
    env = _clean_env(args.threads) | {"KERAS_BACKEND": "torch"}
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, env=env, cwd=tmp, preexec_fn=_pin(args.threads))
    raw: dict[str, Any] = json.loads(out.read_text())
    raw["process_wall_s"] = time.monotonic() - t0
    return raw


def run_tamrin(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """One dict per seed: test accuracy, training seconds, the per-epoch val timeline."""
    runs = tmp / "runs"
    cmd = [
        sys.executable, "-m", "tamrin", "run", "babi-memn2n", "--set", "tasks=1",
        "--seeds", str(args.seeds), "--out", str(runs), "--quiet",
    ]  # fmt: skip
    env = _clean_env(args.threads) | {"TAMRIN_DATA": str(Path(args.data_dir).absolute())}
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, env=env, preexec_fn=_pin(args.threads))
    wall = time.monotonic() - t0
    out = []
    for run_dir in sorted((runs / "babi-memn2n").glob("*-s[0-9]*")):
        if not (run_dir / "metrics.json").is_file():
            continue
        metrics = json.loads((run_dir / "metrics.json").read_text())
        with (run_dir / "history.csv").open() as f:
            rows = list(csv.DictReader(f))
        elapsed, timeline = 0.0, []
        for r in rows:
            elapsed += float(r["seconds"])
            val = r.get("val_acc") or "nan"
            timeline.append({"epoch": int(r["epoch"]), "seconds": elapsed, "val_acc": float(val)})
        out.append(
            {
                "run": run_dir.name,
                "test_accuracy": metrics["test"]["accuracy"],
                "train_s": metrics["train_time_s"],
                "timeline": timeline,
                "command_wall_s_all_seeds": wall,
            }
        )
    return out


def time_to_reach(timeline: list[dict[str, Any]], target: float) -> float | None:
    hits = [e["seconds"] for e in timeline if e["val_acc"] >= target]
    return min(hits) if hits else None


def _mean_std(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def main() -> None:
    args = parse_args()
    result: dict[str, Any] = {"machine": machine(args.threads), "task": "bAbI task 1, 10k"}
    with tempfile.TemporaryDirectory(prefix="tamrin-babi-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.keras_json:
            result["keras"] = json.loads(args.keras_json.read_text())
        elif not args.skip_keras:
            result["keras"] = run_keras(args, tmp)
        seeds = run_tamrin(args, tmp)
    result["tamrin"] = {
        "seeds": seeds,
        "test_accuracy": _mean_std([s["test_accuracy"] for s in seeds]),
        "train_s": _mean_std([s["train_s"] for s in seeds]),
    }
    keras = result.get("keras")
    if keras:
        target = keras["final_test_accuracy"]
        reach = [time_to_reach(s["timeline"], target) for s in seeds]
        reached = [r for r in reach if r is not None]
        result["comparison"] = {
            "keras_final_test_accuracy": target,
            "keras_train_s": keras["train_s"],
            "tamrin_seconds_to_reach": reach,
            "tamrin_seconds_to_reach_mean": statistics.fmean(reached) if reached else None,
            "ratio_keras_over_tamrin": keras["train_s"] / statistics.fmean(reached)
            if reached
            else None,
        }
    text = json.dumps(result, indent=2)
    print(json.dumps({k: result[k] for k in ("comparison",) if k in result}, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
