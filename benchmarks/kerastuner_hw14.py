"""HW14's KerasTuner Hyperband on Fashion-MNIST, under a wall-clock budget (the reference arm).

Runs inside its own venv (Keras 3 on the torch backend, keras-tuner), never in tamrin's:
`bench_kerastuner.py` makes that venv, writes the data and calls this script. It imports nothing
from tamrin, so the split it trains on is whatever the .npz holds (tamrin's own, exported).

The homework (HW14, question 4): Flatten -> Dense(units 16..512 step 16, relu) -> Dense(10),
Adam with learning rate in {1e-2, 1e-3, 1e-4}, `kt.Hyperband(max_epochs=10, factor=3)` on
val_accuracy, batch 128, no early stopping shown; then the best hyperparameters
(352 units, lr 1e-3 in the report, val 0.8916) retrained for 50 epochs (val 0.8895 at the end).

KerasTuner has no timeout, so `BudgetedHyperband` adds one: no trial starts after the deadline,
and the trial running at the deadline stops at the end of its current epoch (so the search
overruns by at most one epoch). That trial ends with its val accuracy over the epochs it ran and
is marked `"cut": true` in the timeline. Inside the budget clock: `tuner.search` only (not
imports, data loading or building the tuner).

Retraining: the best hyperparameters, fit on train with val watched each epoch, the weights of
the best-val epoch kept, test evaluated once. The homework trained 50 epochs; `--retrain-epochs`
caps it (the harness passes its own number) to keep the benchmark short.

    python kerastuner_hw14.py --data splits.npz --budget 600 --out kerastuner-arm.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOMEWORK_RETRAIN_EPOCHS = 50  # HW14 retrained the best model for 50 epochs
UNITS = (16, 512, 16)  # Dense units: min, max, step (HW14)
LEARNING_RATES = (1e-2, 1e-3, 1e-4)  # Adam learning rates (HW14)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help=".npz with x/y train, val, test")
    p.add_argument("--budget", type=float, required=True, help="search wall-clock budget, s")
    p.add_argument("--out", type=Path, required=True, help="result JSON to write")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=0, help="Keras and Hyperband seed")
    p.add_argument("--max-epochs", type=int, default=10, help="Hyperband max_epochs (HW14: 10)")
    p.add_argument("--factor", type=int, default=3, help="Hyperband factor (HW14: 3)")
    p.add_argument(
        "--iterations",
        type=int,
        default=1,
        help="hyperband_iterations (HW14: 1; 0 = until the budget)",
    )
    p.add_argument("--batch-size", type=int, default=128, help="HW14: 128 (375 steps of 48k)")
    p.add_argument(
        "--retrain-epochs",
        type=int,
        default=20,
        help=f"epochs of the final retrain (HW14: {HOMEWORK_RETRAIN_EPOCHS}; capped for time)",
    )
    p.add_argument("--workdir", type=Path, default=None, help="KerasTuner's folder (default tmp)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.budget <= 0:
        raise SystemExit(f"--budget must be > 0 seconds; got {args.budget}")
    os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: Keras 3 reads it once
    import keras
    import keras_tuner as kt
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    started = time.monotonic()

    with np.load(args.data) as f:
        data = {k: f[k] for k in f.files}
    x_train, y_train = data["x_train"], data["y_train"]  # (N, 28, 28) float32, (N,) int64
    x_val, y_val = data["x_val"], data["y_val"]
    x_test, y_test = data["x_test"], data["y_test"]
    pixels = str(data["pixels"]) if "pixels" in data else "unknown"
    in_shape = tuple(int(d) for d in x_train.shape[1:])

    def build_model(hp: Any) -> keras.Model:
        """HW14's model: one hidden Dense layer whose width and Adam lr are tuned."""
        units = hp.Int("dense_neurons", min_value=UNITS[0], max_value=UNITS[1], step=UNITS[2])
        lr = hp.Choice("learning_rate", values=list(LEARNING_RATES))
        model = keras.Sequential(
            [
                keras.Input(shape=in_shape),
                keras.layers.Flatten(),
                keras.layers.Dense(units, activation="relu"),
                keras.layers.Dense(10),  # logits; the loss applies the softmax
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    class BudgetedHyperband(kt.Hyperband):
        """kt.Hyperband that stops at a wall-clock deadline and logs every ended trial."""

        def __init__(self, *a: Any, budget_s: float, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.budget_s = budget_s
            self.t0 = 0.0  # set by on_search_begin: the budget clock starts with the search
            self.epochs_run: dict[str, int] = {}
            self.timeline: list[dict[str, Any]] = []
            self.stopped_by_budget = False

        def elapsed(self) -> float:
            return time.monotonic() - self.t0

        def on_search_begin(self) -> None:
            super().on_search_begin()
            self.t0 = time.monotonic()

        def pre_create_trial(self) -> None:
            # The oracle has no clock. Past the deadline, capping max_trials at the trials made
            # so far lets its own stop rule end the search (create_trial answers STOPPED).
            if self.elapsed() >= self.budget_s and self.oracle.trials:
                self.stopped_by_budget = True
                self.oracle.max_trials = len(self.oracle.trials)

        def on_epoch_end(self, trial: Any, model: Any, epoch: int, logs: Any = None) -> None:
            super().on_epoch_end(trial, model, epoch, logs=logs)
            self.epochs_run[trial.trial_id] = self.epochs_run.get(trial.trial_id, 0) + 1
            if self.elapsed() >= self.budget_s:
                model.stop_training = True  # ends fit after this epoch (validation already ran)

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)  # the oracle scores the trial: best val over its epochs
            done = self.oracle.get_trial(trial.trial_id)
            hp = done.hyperparameters.values
            planned = int(hp.get("tuner/epochs", 0)) - int(hp.get("tuner/initial_epoch", 0))
            ran = self.epochs_run.get(trial.trial_id, 0)
            score = None if done.score is None else float(done.score)
            before = self.timeline[-1]["best_val_so_far"] if self.timeline else None
            known = [v for v in (before, score) if v is not None]
            entry = {
                "trial": done.trial_id,
                "end_s": self.elapsed(),
                "val_acc": score,
                "best_val_so_far": max(known) if known else None,
                "status": str(done.status),
                "units": hp.get("dense_neurons"),
                "lr": hp.get("learning_rate"),
                "epochs_planned": planned,
                "epochs_run": ran,
                "cut": ran < planned,
                "hp": dict(hp),
            }
            self.timeline.append(entry)
            print(
                f"[keras] {entry['end_s']:7.1f}s trial {done.trial_id} units={entry['units']} "
                f"lr={entry['lr']} epochs={ran}/{planned} val={score}",
                file=sys.stderr,
                flush=True,
            )

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="kerastuner-"))
    tuner = BudgetedHyperband(
        build_model,
        objective="val_accuracy",
        max_epochs=args.max_epochs,
        factor=args.factor,
        hyperband_iterations=args.iterations,
        seed=args.seed,
        directory=str(workdir),
        project_name="hw14",
        overwrite=True,
        budget_s=args.budget,
    )
    tuner.search(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        batch_size=args.batch_size,
        verbose=0,
    )
    search_s = tuner.elapsed()
    ok = [t for t in tuner.timeline if t["val_acc"] is not None]
    best = max(ok, key=lambda t: t["val_acc"]) if ok else None

    retrain = retrain_best(
        keras,
        build_model,
        tuner,
        (x_train, y_train, x_val, y_val, x_test, y_test),
        epochs=args.retrain_epochs,
        batch_size=args.batch_size,
    )
    result = {
        "arm": "kerastuner",
        "versions": {
            "python": platform.python_version(),
            "keras": keras.__version__,
            "keras_tuner": kt.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "backend": keras.backend.backend(),
            "torch_threads": torch.get_num_threads(),
        },
        "settings": {
            "budget_s": args.budget,
            "objective": "val_accuracy",
            "max_epochs": args.max_epochs,
            "factor": args.factor,
            "hyperband_iterations": args.iterations,
            "batch_size": args.batch_size,
            "units": list(UNITS),
            "learning_rates": list(LEARNING_RATES),
            "retrain_epochs": args.retrain_epochs,
            "retrain_epochs_homework": HOMEWORK_RETRAIN_EPOCHS,
            "seed": args.seed,
        },
        "data": {
            "train": len(y_train),
            "val": len(y_val),
            "test": len(y_test),
            "pixels": pixels,
        },
        "search": {
            "wall_s": search_s,
            "ended_by": "budget" if tuner.stopped_by_budget else "hyperband finished",
            "trials_complete": sum(
                t["status"] == "COMPLETED" and not t["cut"] for t in tuner.timeline
            ),
            "trials_cut": sum(t["cut"] for t in tuner.timeline),
            "trials_failed": sum(t["val_acc"] is None for t in tuner.timeline),
            "epochs_trained": sum(t["epochs_run"] for t in tuner.timeline),
            "best_val": None if best is None else best["val_acc"],
            "best_trial": None if best is None else best["trial"],
            "best_end_s": None if best is None else best["end_s"],
            "best_units": None if best is None else best["units"],
            "best_lr": None if best is None else best["lr"],
            "timeline": tuner.timeline,
        },
        "retrain": retrain,
        "wall_s": time.monotonic() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


def retrain_best(
    keras: Any,
    build_model: Any,
    tuner: Any,
    arrays: tuple[Any, ...],
    *,
    epochs: int,
    batch_size: int,
) -> dict[str, Any] | None:
    """Fit the best hyperparameters from scratch, keep the best-val epoch, test once."""
    x_train, y_train, x_val, y_val, x_test, y_test = arrays
    best_hps = tuner.get_best_hyperparameters(num_trials=1)
    if not best_hps:
        return None
    hp = best_hps[0]

    class KeepBestEpoch(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        """Remember the weights of the epoch with the highest val accuracy; restore at the end."""

        def __init__(self) -> None:
            super().__init__()
            self.best, self.epoch, self.weights = -1.0, -1, None

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            val = float((logs or {}).get("val_accuracy", -1.0))
            if val > self.best:
                self.best, self.epoch, self.weights = val, epoch + 1, self.model.get_weights()

        def on_train_end(self, logs: dict[str, float] | None = None) -> None:
            if self.weights is not None:
                self.model.set_weights(self.weights)

    t0 = time.monotonic()
    model = build_model(hp)
    keep = KeepBestEpoch()
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=[keep],
        verbose=0,
    )
    fit_s = time.monotonic() - t0
    test_loss, test_acc = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    return {
        "units": hp.get("dense_neurons"),
        "lr": hp.get("learning_rate"),
        "epochs": epochs,
        "best_epoch": keep.epoch,
        "best_val": keep.best,
        "val_acc_per_epoch": [float(v) for v in history.history["val_accuracy"]],
        "fit_s": fit_s,
        "test_acc": float(test_acc),
        "test_loss": float(test_loss),
        "wall_s": time.monotonic() - t0,
    }


if __name__ == "__main__":
    main()
