"""`tamrin tune fashion-mlp` vs HW14's KerasTuner Hyperband, side by side under one time budget.

(a) reference: HW14's KerasTuner search (`kerastuner_hw14.py`: Dense units 16..512 step 16,
    Adam lr in {1e-2, 1e-3, 1e-4}, Hyperband max_epochs=10 factor=3 on val_accuracy), Keras 3 on
    the torch backend, in a venv of its own (default ~/.cache/tamrin-bench/keras-venv, made and
    filled here with pip: keras never enters tamrin's venv), then its best hyperparameters
    retrained and tested once.
(b) tamrin: `tamrin tune fashion-mlp --timeout BUDGET`, then `tamrin run fashion-mlp
    --from-study STUDY --seeds 1`, exactly as a user types them; the study is read back with
    Optuna. Its space is the recipe's, not HW14's two knobs (1-3 layers, units, shrink, lr,
    dropout; AdamW one-cycle, 20 epochs a trial, Hyperband pruning): the benchmark compares each
    tool as it is used, on the same data and clock. The Keras retrain runs `--retrain-epochs`
    (default 20, the recipe's train.epochs; HW14 ran 50).

Both see the same Fashion-MNIST split: tamrin's own (`load_images` + `prepare_images`,
val_fraction 0.1, split_seed 0: 54,000 train / 6,000 val / 10,000 test), exported to an .npz for
Keras with tamrin's normalized pixels (train mean/std) by default, `--pixels unit` for x/255 as
the homework had. The arms run one after the other, each on `--threads` cores (CPU affinity and
torch threads), so neither competes with the other.

Inside each search clock: the search only (Keras: `tuner.search`; tamrin: first trial start to
each trial's end, from the study). Outside: venv set-up, data export, process start-up, imports,
the retrain. Reported per arm: best val accuracy, retrained test accuracy, trials complete /
pruned (/ cut at the deadline, Keras), epochs trained, wall times, and the time each arm first
reaches KerasTuner's final best val (ratio keras / tamrin; null where never reached). One run
of each arm per invocation: no spread, so read single runs as such.

    python benchmarks/bench_kerastuner.py --budget 600 --out benchmarks/results/kerastuner.json
    python benchmarks/bench_kerastuner.py --budget 60 --skip-tamrin --train-rows 6000  # quick

`--train-rows N` gives both arms the same stratified N-row train subset (tamrin's
`train_subset`; val shrinks to N/4 as prepare_images does), for checks, not for the figures.
`tamrin run --from-study` takes the study's --set values (train_subset included) from tune.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import tamrin
from tamrin.data.datasets import load_images
from tamrin.data.prepare import prepare_images
from tamrin.data.store import DataStore
from tamrin.runner import git_commit
from tamrin.train.device import cpu_cores, read_cpuinfo

HERE = Path(__file__).resolve().parent
KERAS_SCRIPT = HERE / "kerastuner_hw14.py"
DEFAULT_VENV = Path("~/.cache/tamrin-bench/keras-venv")
# torch first and pinned (the CPU build); six: keras-tuner 1.4 imports it without declaring it
# (tensorflow usually brings it, and the torch backend has no tensorflow)
KERAS_REQUIREMENTS = ("torch==2.13.0", "numpy", "keras>=3", "keras-tuner", "six")
RECIPE = "fashion-mlp"
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
VAL_FRACTION, SPLIT_SEED = 0.1, 0  # tamrin's Fashion-MNIST hold-out (the recipe's defaults)
SAME_VAL = 1e-6  # float32 vs float64 accuracies of the same k/6000 differ below this


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=600, help="search budget per arm, seconds")
    p.add_argument("--out", type=Path, default=HERE / "results" / "kerastuner.json")
    p.add_argument("--threads", type=int, default=2, help="cores (affinity + torch threads)")
    p.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the Keras venv")
    p.add_argument("--retrain-epochs", type=int, default=20, help="Keras retrain (HW14: 50)")
    p.add_argument("--pixels", choices=("normalized", "unit"), default="normalized")
    p.add_argument("--seed", type=int, default=0, help="KerasTuner's seed")
    p.add_argument(
        "--hyperband-iterations",
        type=int,
        default=1,
        help="KerasTuner Hyperband iterations (HW14: 1; 0 = repeat until the budget)",
    )
    p.add_argument("--data-dir", default=None, help="data root (default $TAMRIN_DATA)")
    p.add_argument(
        "--train-rows",
        type=int,
        default=None,
        help="quick check: a stratified train subset (both arms: tamrin gets train_subset)",
    )
    p.add_argument("--skip-keras", action="store_true", help="run the tamrin arm only")
    p.add_argument("--skip-tamrin", action="store_true", help="run the Keras arm only")
    p.add_argument(
        "--keras-from", type=Path, default=None, help="reuse the keras arm of an earlier JSON"
    )
    p.add_argument(
        "--tamrin-set", action="append", default=[], help="extra --set k=v for tamrin tune"
    )
    p.add_argument(
        "--tamrin-study",
        type=Path,
        default=None,
        help="reuse a finished `tamrin tune fashion-mlp` study folder as the tamrin arm "
        "(with --tamrin-runs: the --out holding its --from-study retrain)",
    )
    p.add_argument("--tamrin-runs", type=Path, default=None, help="see --tamrin-study")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (printed)")
    args = p.parse_args(argv)
    if args.budget <= 0:
        p.error(f"--budget must be > 0 seconds; got {args.budget}")
    if args.skip_keras and args.skip_tamrin:
        p.error("--skip-keras and --skip-tamrin together leave nothing to run")
    return args


# ----------------------------------------------------------------------------- environment


def ensure_keras_venv(venv: Path) -> dict[str, str]:
    """Make (or reuse) the Keras venv and return its package versions.

    Refuses tamrin's own venv: the reference's packages must never land next to tamrin's."""
    venv = venv.expanduser().absolute()
    if venv.resolve() == Path(sys.prefix).resolve():
        raise SystemExit(f"--venv {venv} is tamrin's own venv; keras must live in its own")
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} (python3 -m venv)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    versions = _venv_versions(python)
    if versions is None:
        print(f"installing {' '.join(KERAS_REQUIREMENTS)} into {venv}", flush=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *KERAS_REQUIREMENTS],
            check=True,
            env=_clean_env(),
        )
        versions = _venv_versions(python)
        if versions is None:
            raise SystemExit(f"{venv}: keras / keras_tuner / torch still not importable")
    return versions


def _venv_versions(python: Path) -> dict[str, str] | None:
    """keras, keras_tuner, torch versions in the venv; None when any is missing or torch isn't
    the pinned one."""
    code = (
        "import json, keras_tuner, torch, numpy; from importlib.metadata import version as v; "
        "print(json.dumps({'keras': v('keras'), 'keras_tuner': keras_tuner.__version__, "
        "'torch': torch.__version__, 'numpy': numpy.__version__}))"
    )
    env = _clean_env() | {"KERAS_BACKEND": "torch"}  # else Keras 3 wants tensorflow
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return None
    versions: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    pinned = KERAS_REQUIREMENTS[0].split("==")[1]
    return versions if versions["torch"].split("+")[0] == pinned else None


def _clean_env(threads: int | None = None) -> dict[str, str]:
    """This environment without the variables that would let tamrin's venv leak into another
    Python; with `threads`, the thread caps for OpenMP / MKL as well."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if threads is not None:
        env |= {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return env


def _pin(threads: int) -> Any:
    """A preexec_fn that pins the child to the first `threads` allowed cores (Linux), so that
    tamrin's cpu_cores() and torch both see exactly `threads` cores."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cores or threads >= len(cores):
        return None
    keep = set(cores[:threads])
    return lambda: os.sched_setaffinity(0, keep)


def machine(threads: int) -> dict[str, Any]:
    """What the timings were measured on."""
    cpu = read_cpuinfo()
    return {
        "cpu": cpu.model,
        "cores_available": cpu_cores(),
        "threads_per_arm": threads,
        "flags": {f: f in cpu.flags for f in CPU_FLAGS},
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "tamrin": tamrin.__version__,
        "git_commit": git_commit(),
    }


# ----------------------------------------------------------------------------- data


def export_splits(path: Path, *, data_dir: str | None, pixels: str, train_rows: int | None) -> dict:
    """Write tamrin's Fashion-MNIST train / val / test to `path` as float32 (N, 28, 28) arrays.

    `normalized`: tamrin's own tensors (train-split mean/std). `unit`: the same images as x/255
    (un-normalized and rounded back to the exact uint8 values first)."""
    ds = load_images("fashion-mnist", DataStore(data_dir))
    splits = prepare_images(
        ds,
        val_fraction=VAL_FRACTION,
        split_seed=SPLIT_SEED,
        device=torch.device("cpu"),
        train_subset=train_rows,
    )
    test_x, test_y = splits.take_test()
    mean = splits.normalizer.mean[None, :, None, None]
    std = splits.normalizer.std[None, :, None, None]

    def as_keras(x: torch.Tensor) -> np.ndarray:  # (N, 1, 28, 28) normalized -> (N, 28, 28)
        if pixels == "unit":
            x = torch.round(x * std + mean) / 255.0
        return x[:, 0].numpy().astype(np.float32)

    arrays = {
        "x_train": as_keras(splits.train_x),
        "y_train": splits.train_y.numpy(),
        "x_val": as_keras(splits.val_x),
        "y_val": splits.val_y.numpy(),
        "x_test": as_keras(test_x),
        "y_test": test_y.numpy(),
    }
    np.savez(path, pixels=np.array(pixels), **arrays)
    return {
        "data": "fashion-mnist",
        "val_fraction": VAL_FRACTION,
        "split_seed": SPLIT_SEED,
        "pixels": pixels,
        "train_rows_cap": train_rows,
        "train": len(arrays["y_train"]),
        "val": len(arrays["y_val"]),
        "test": len(arrays["y_test"]),
        "normalizer": {
            "mean": splits.normalizer.mean.tolist(),
            "std": splits.normalizer.std.tolist(),
        },
    }


# ----------------------------------------------------------------------------- the arms


def run_keras(python: Path, npz: Path, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run `kerastuner_hw14.py` in the Keras venv; its result JSON plus the process wall time."""
    out = tmp / "keras-arm.json"
    cmd = [
        str(python),
        str(KERAS_SCRIPT),
        "--data", str(npz),
        "--budget", str(args.budget),
        "--out", str(out),
        "--threads", str(args.threads),
        "--retrain-epochs", str(args.retrain_epochs),
        "--seed", str(args.seed),
        "--iterations", str(args.hyperband_iterations),
        "--workdir", str(tmp / "kerastuner"),
    ]  # fmt: skip
    t0 = time.monotonic()
    env = _clean_env(args.threads) | {"KERAS_BACKEND": "torch"}
    subprocess.run(cmd, check=True, env=env, cwd=tmp, preexec_fn=_pin(args.threads))
    raw: dict[str, Any] = json.loads(out.read_text())
    raw["process_wall_s"] = time.monotonic() - t0
    return raw


def run_tamrin(tmp: Path, stamp: str, args: argparse.Namespace) -> dict[str, Any]:
    """`tamrin tune` then `tamrin run --from-study`, as a user types them; the study read back."""
    study = f"bench-{stamp}"
    tamrin_cli = [sys.executable, "-m", "tamrin"]
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    extra = list(args.tamrin_set)
    if args.train_rows is not None:  # the same prepare_images subset the Keras arm exported
        extra.append(f"train_subset={args.train_rows}")
    sets = [a for kv in extra for a in ("--set", kv)]
    budget = str(int(args.budget)) if float(args.budget).is_integer() else str(args.budget)
    tune = [*tamrin_cli, "tune", RECIPE, "--timeout", budget, "--study", study]
    tune += ["--out", str(tmp), "-q", *data, *sets]
    env = _clean_env(args.threads)
    t0 = time.monotonic()
    subprocess.run(tune, check=True, env=env, preexec_fn=_pin(args.threads))
    tune_wall = time.monotonic() - t0
    study_dir = tmp / "tune" / study
    run = [*tamrin_cli, "run", RECIPE, "--from-study", str(study_dir), "--seeds", "1"]
    run += ["--out", str(tmp), "-q", *data]
    t0 = time.monotonic()
    subprocess.run(run, check=True, env=env, preexec_fn=_pin(args.threads))
    run_wall = time.monotonic() - t0
    return {
        "commands": [" ".join(tune), " ".join(run)],
        "tune_process_wall_s": tune_wall,
        "run_process_wall_s": run_wall,
        "search": read_study(study_dir),
        "retrain": read_retrain(tmp, study_dir),
    }


def read_study(study_dir: Path) -> dict[str, Any]:
    """Every trial of the study folder's Optuna study: end time (s since the first trial's
    start), state and value, in the order they ended; plus counts and the best."""
    import optuna  # tamrin's own dependency for `tune`; imported here so --skip-tamrin needs none

    meta = json.loads((study_dir / "tune.json").read_text())
    storage_ref = str(meta.get("storage", "journal.log"))
    storage: Any
    if "://" in storage_ref:
        storage = storage_ref
    else:
        backend = optuna.storages.journal.JournalFileBackend(str(study_dir / storage_ref))
        storage = optuna.storages.JournalStorage(backend)
    study = optuna.load_study(study_name=meta.get("study", study_dir.name), storage=storage)
    trials = [t for t in study.trials if t.datetime_start is not None]
    if not trials:
        return {"trials_complete": 0, "trials_pruned": 0, "timeline": [], "best_val": None}
    t0 = min(t.datetime_start for t in trials if t.datetime_start is not None)
    timeline = []
    for t in sorted(trials, key=lambda t: t.datetime_complete or dt.datetime.max):
        end = None if t.datetime_complete is None else (t.datetime_complete - t0).total_seconds()
        complete = t.state == optuna.trial.TrialState.COMPLETE
        timeline.append(
            {
                "trial": t.number,
                "end_s": end,
                "state": t.state.name,
                "val_acc": t.value if complete else None,
                "last_intermediate": _last_intermediate(t.intermediate_values),
                "params": t.params,
                "epochs_run": t.user_attrs.get("epochs_run"),
            }
        )
    done = [e for e in timeline if e["val_acc"] is not None]
    best = max(done, key=lambda e: e["val_acc"]) if done else None
    ended = [e["end_s"] for e in timeline if e["end_s"] is not None]
    return {
        "study": study.study_name,
        "trials_complete": len(done),
        "trials_pruned": sum(e["state"] == "PRUNED" for e in timeline),
        "trials_failed": sum(e["state"] == "FAIL" for e in timeline),
        "epochs_trained": sum(int(e["epochs_run"] or 0) for e in timeline),
        "wall_s": max(ended) if ended else None,
        "best_val": None if best is None else best["val_acc"],
        "best_trial": None if best is None else best["trial"],
        "best_end_s": None if best is None else best["end_s"],
        "best_params": None if best is None else best["params"],
        "timeline": timeline,
    }


def _last_intermediate(values: dict[int, float]) -> float | None:
    return values[max(values)] if values else None


def read_retrain(out: Path, study_dir: Path) -> dict[str, Any]:
    """The metrics of the run `tamrin run --from-study` wrote under `out` (not the study's)."""
    found = [p for p in out.glob(f"{RECIPE}/**/metrics.json") if study_dir not in p.parents]
    if not found:
        raise SystemExit(f"no {RECIPE} run folder with metrics.json under {out}")
    path = max(found, key=lambda p: p.stat().st_mtime)
    metrics = json.loads(path.read_text())
    best = metrics.get("best") or {}
    return {
        "run_dir": str(path.parent.relative_to(out)),
        "status": metrics.get("status"),
        "epochs_run": metrics.get("epochs_run"),
        "best_val": best.get("value"),
        "best_epoch": best.get("epoch"),
        "test_acc": (metrics.get("test") or {}).get("accuracy"),
        "train_time_s": metrics.get("train_time_s"),
        "wall_s": metrics.get("wall_time_s"),
    }


# ----------------------------------------------------------------------------- comparison


def time_to_reach(timeline: list[dict[str, Any]], target: float | None) -> float | None:
    """End time of the first trial whose val accuracy reaches `target`; None if none does."""
    if target is None:
        return None
    hits = [
        e["end_s"]
        for e in timeline
        if e.get("val_acc") is not None
        and e.get("end_s") is not None
        and e["val_acc"] >= target - SAME_VAL
    ]
    return min(hits) if hits else None


def summarize(keras: dict[str, Any] | None, tam: dict[str, Any] | None) -> dict[str, Any]:
    """The side-by-side numbers: one flat block per arm, and the time-to-target ratio."""
    target = None if keras is None else keras["search"]["best_val"]
    arms: dict[str, Any] = {}
    if keras is not None:
        s, r = keras["search"], keras.get("retrain") or {}
        arms["keras"] = {
            "best_val": s["best_val"],
            "best_hp": {"units": s["best_units"], "lr": s["best_lr"]},
            "test_acc": r.get("test_acc"),
            "retrain_epochs": r.get("epochs"),
            "retrain_best_val": r.get("best_val"),
            "trials_complete": s["trials_complete"],
            "trials_pruned": None,  # Hyperband here stops no trial early; it promotes or drops
            "trials_cut_at_budget": s["trials_cut"],
            "epochs_trained": s["epochs_trained"],
            "search_wall_s": s["wall_s"],
            "ended_by": s["ended_by"],
            "retrain_wall_s": r.get("wall_s"),
            "process_wall_s": keras.get("process_wall_s"),
            "time_to_keras_best_s": time_to_reach(s["timeline"], target),
        }
    if tam is not None:
        s, r = tam["search"], tam["retrain"]
        arms["tamrin"] = {
            "best_val": s["best_val"],
            "best_hp": s.get("best_params"),
            "test_acc": r["test_acc"],
            "retrain_epochs": r["epochs_run"],
            "retrain_best_val": r["best_val"],
            "trials_complete": s["trials_complete"],
            "trials_pruned": s["trials_pruned"],
            "epochs_trained": s.get("epochs_trained"),
            "search_wall_s": s.get("wall_s"),
            "retrain_wall_s": r.get("wall_s"),
            "process_wall_s": (
                tam["tune_process_wall_s"] + tam["run_process_wall_s"]
                if "tune_process_wall_s" in tam
                else None  # a reused study: its processes were not timed here
            ),
            "time_to_keras_best_s": time_to_reach(s["timeline"], target),
        }
    k_time = arms.get("keras", {}).get("time_to_keras_best_s")
    t_time = arms.get("tamrin", {}).get("time_to_keras_best_s")
    ratio = k_time / t_time if k_time is not None and t_time else None
    return {"target_val": target, "arms": arms, "time_ratio_keras_over_tamrin": ratio}


def print_table(summary: dict[str, Any]) -> None:
    rows = [
        ("best val", "best_val", "{:.4f}"),
        ("test acc (retrained)", "test_acc", "{:.4f}"),
        ("trials complete", "trials_complete", "{}"),
        ("trials pruned", "trials_pruned", "{}"),
        ("epochs trained", "epochs_trained", "{}"),
        ("search wall s", "search_wall_s", "{:.1f}"),
        ("process wall s", "process_wall_s", "{:.1f}"),
        ("s to keras best val", "time_to_keras_best_s", "{:.1f}"),
    ]
    arms = summary["arms"]
    names = [n for n in ("keras", "tamrin") if n in arms]
    print(f"{'':24}" + "".join(f"{n:>12}" for n in names))
    for label, key, fmt in rows:
        cells = []
        for n in names:
            v = arms[n].get(key)
            cells.append(f"{'-' if v is None else fmt.format(v):>12}")
        print(f"{label:24}" + "".join(cells))
    target, ratio = summary["target_val"], summary["time_ratio_keras_over_tamrin"]
    print(f"target (KerasTuner's final best val): {target}")
    print(f"time to target, keras / tamrin: {'-' if ratio is None else f'{ratio:.2f}x'}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    load_start = os.getloadavg()
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = Path(tempfile.mkdtemp(prefix="bench-kerastuner-"))
            print(f"temp folder kept: {tmp}", flush=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-kt-")))
        keras: dict[str, Any] | None = None
        venv_versions: dict[str, str] | None = None
        data_info: dict[str, Any] | None = None
        if args.keras_from is not None:
            keras = json.loads(args.keras_from.read_text())["keras_raw"]
        elif not args.skip_keras:
            venv_versions = ensure_keras_venv(args.venv)
            npz = tmp / "fashion-mnist-splits.npz"
            data_info = export_splits(
                npz, data_dir=args.data_dir, pixels=args.pixels, train_rows=args.train_rows
            )
            print(
                f"keras arm: {args.budget:g} s budget, {data_info['train']} train rows", flush=True
            )
            python = args.venv.expanduser().absolute() / "bin" / "python"
            keras = run_keras(python, npz, tmp, args)
            # kept at once: the Keras arm takes the whole budget and must not be lost to a
            # later failure (reuse it with --keras-from)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            keras_copy = args.out.with_name(args.out.stem + "-keras-arm.json")
            keras_copy.write_text(json.dumps({"keras_raw": keras}, indent=2) + "\n")
        tam = None
        if args.tamrin_study is not None:
            tam = {
                "commands": [f"reused study {args.tamrin_study}"],
                "search": read_study(args.tamrin_study),
                "retrain": read_retrain(
                    args.tamrin_runs or args.tamrin_study.parents[1], args.tamrin_study
                ),
            }
        elif not args.skip_tamrin:
            print(f"tamrin arm: {args.budget:g} s budget", flush=True)
            tam = run_tamrin(tmp, stamp, args)
    summary = summarize(keras, tam)
    load_end = os.getloadavg()
    result = {
        "benchmark": "kerastuner-vs-tamrin-tune",
        "recipe": RECIPE,
        "stamp": stamp,
        "budget_s": args.budget,
        "machine": machine(args.threads),
        "contended": load_start[0] > 0.5,
        "loadavg_start": list(load_start),
        "loadavg_end": list(load_end),
        "data": data_info or (keras or {}).get("data"),
        "keras_venv": venv_versions,
        **summary,
        "keras_raw": keras,
        "tamrin_raw": tam,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(summary)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
