"""The run context a recipe receives: it logs, the framework writes the run folder.

`Run` implements `registry.RunContext`. Every file it writes goes through `tamrin.rundir`
(atomic), so a recipe never opens a file: history rows, metrics sections, tables, notes,
figures (`log_plot` keeps the plot data so `tamrin report` can redraw it), the test split's
predictions (once) and artifacts (trained vectors, encoders).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tamrin import rundir
from tamrin.registry import Recipe
from tamrin.tensorboard import RunLog


class Run:
    """The run context a recipe receives (implements `registry.RunContext`)."""

    def __init__(
        self,
        recipe: Recipe,
        cfg: Any,
        seed: int,
        run_dir: Path,
        device: torch.device,
        *,
        smoke: bool,
        data_dir: str | None,
        quiet: bool,
        tensorboard: bool = False,
        callbacks: Sequence[Any] = (),
        tuning_trial: bool = False,
    ) -> None:
        self.recipe, self.cfg, self.seed, self.run_dir = recipe, cfg, seed, run_dir
        # added to every fit of the run (a tuning trial's Pruning); `tuning_trial` keeps the
        # test split unseen: a search selects on val only, the retrain tests once
        self.callbacks, self.tuning_trial = tuple(callbacks), tuning_trial
        self.device, self.smoke, self.data_dir, self.quiet = device, smoke, data_dir, quiet
        self.checkpoint_dir = run_dir / "checkpoints"
        self.history: list[dict[str, float]] = rundir.read_history(run_dir).rows
        self.metrics: dict[str, Any] = {}
        self._progress: Any = None
        self._predicted = False
        self._precision: dict[str, Any] | None = None  # config.json's record, read once
        self._precision_read = False
        # --tensorboard: event files in run_dir/tensorboard/, written once per epoch
        self.tensorboard: RunLog | None = RunLog(run_dir) if tensorboard else None

    # --- what recipes call -------------------------------------------------------------------
    def data_store(self) -> Any:
        from tamrin.data.store import DataStore

        return DataStore(self.data_dir)

    def log_epoch(self, row: Mapping[str, float]) -> None:
        """Append one epoch's row to history.csv (rewritten whole, so it is always complete);
        a row for an epoch already logged replaces it in place (rows stay in epoch order)."""
        at = next(
            (i for i, r in enumerate(self.history) if r.get("epoch") == row.get("epoch")), None
        )
        fresh = dict(row)
        if at is None:
            self.history.append(fresh)
        else:
            self.history[at] = fresh
        rundir.write_history(self.run_dir, self.history)
        if self.tensorboard is not None:
            self.tensorboard.write_epochs(self.history, fresh=fresh)

    def log_fit(self, result: Any, name: str = "") -> None:
        """Record a FitResult: the whole history, best epoch and how training ended."""
        summary = {
            "best": result.best,
            "status": result.status,
            "message": result.message,
            "epochs_run": result.epochs_run,
            "train_time_s": result.train_time_s,
        }
        if name:
            self.metrics.setdefault("fits", {})[name] = summary
            return
        self.history = list(result.history)
        rundir.write_history(self.run_dir, self.history)
        if self.tensorboard is not None:
            self.tensorboard.write_epochs(self.history)
        self.metrics.update(
            best=result.best,
            epochs_run=result.epochs_run,
            train_time_s=result.train_time_s,
            final=result.history[-1] if result.history else {},
        )
        if result.status != "completed":
            self.metrics["status"] = result.status
            self.metrics["status_message"] = result.message

    def log_metrics(self, section: str, values: Mapping[str, Any]) -> None:
        self.metrics.setdefault(section, {}).update(values)

    def log_table(
        self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = ""
    ) -> None:
        self.metrics.setdefault("tables", {})[name] = {
            "columns": list(columns),
            "rows": [list(r) for r in rows],
            "caption": caption,
        }

    def log_note(self, text: str) -> None:
        self.metrics.setdefault("notes", []).append(text)

    def log_figure(self, fig: Any, name: str, caption: str = "") -> None:
        """Save a matplotlib figure as figures/<name>.png and list it for the report.

        For a figure that cannot be redrawn from data; prefer `log_plot`, which `tamrin report`
        redraws from the folder alone.
        """
        path = rundir.figure_path(self.run_dir, name)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        rundir.add_figure(self.metrics, {"file": f"figures/{name}.png", "caption": caption})

    def log_image(self, name: str, write: Callable[[Path], bool], caption: str = "") -> bool:
        """figures/<name>.png from `write(path) -> bool` (a browser screenshot, say), listed for
        the report when it returned True; False (nothing listed) when it could not write."""
        path = rundir.figure_path(self.run_dir, name)
        if not write(path) or not path.is_file():
            return False
        rundir.add_figure(self.metrics, {"file": f"figures/{name}.png", "caption": caption})
        return True

    def log_plot(self, name: str, kind: str, data: Any, caption: str = "") -> None:
        """Keep a plot's data as figures/<name>.json and draw it (figures/<name>.png) with the
        drawer registered for `kind` in `tamrin.eval.figures`; `tamrin report` redraws it."""
        from tamrin.eval.figures import check_kind, draw, to_data
        from tamrin.eval.report import save_figure

        check_kind(kind)
        plain = to_data(data)
        ref = rundir.write_plot_data(self.run_dir, name, kind, plain, caption)
        save_figure(draw(kind, plain), rundir.figure_path(self.run_dir, name))
        rundir.add_figure(
            self.metrics,
            {"file": f"figures/{name}.png", "caption": caption, "data": ref, "kind": kind},
        )

    def log_artifact(self, name: str, save: Callable[[Path], None], caption: str = "") -> Path:
        """Keep what `save(path)` writes (one file, or a folder it makes) as artifacts/<name>.

        `save` writes at a temporary path inside the run folder; the result is then renamed in
        one step, so artifacts/<name> is either absent or complete (a failed `save` leaves
        nothing). Listed in metrics["artifacts"] for the report; returns the final path.
        """
        if not name or name != Path(name).name or name.startswith("."):
            raise ValueError(f"artifact name must be a plain file name; got {name!r}")
        folder = self.run_dir / "artifacts"
        folder.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))  # same disk: rename is atomic
        try:
            tmp, path = work / name, folder / name
            save(tmp)
            if not tmp.exists():
                raise RuntimeError(f"artifact {name!r}: save() wrote nothing at the path it got")
            files = [tmp] if tmp.is_file() else [f for f in tmp.rglob("*") if f.is_file()]
            size = sum(f.stat().st_size for f in files)
            if path.exists() and (path.is_dir() or tmp.is_dir()):  # rename cannot overwrite these
                os.replace(path, work / ".replaced")
            os.replace(tmp, path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        entry = {"name": name, "file": f"artifacts/{name}", "caption": caption, "bytes": size}
        kept = [a for a in self.metrics.get("artifacts", []) if a["name"] != name]
        self.metrics["artifacts"] = [*kept, entry]
        return path

    def log_predictions(self, y_true: Any, proba: Any, class_names: Sequence[str]) -> None:
        """The test split's predictions: saved, and scored with the classification metrics.

        Allowed once per run: the test split is touched once, at the end.
        """
        from tamrin.eval.metrics import classification_metrics

        if self._predicted:
            raise RuntimeError("test predictions were already logged: the test split is used once")
        if self.tuning_trial:
            self.log_note(rundir.TRIAL_NOTE)
            return
        self._predicted = True
        y = np.asarray(torch.as_tensor(y_true).cpu(), dtype=np.int64)
        p = np.asarray(torch.as_tensor(proba).float().cpu(), dtype=np.float32)
        rundir.write_predictions(self.run_dir, y, p, list(class_names))
        self.metrics["test"] = classification_metrics(y, p, list(class_names))

    def log_inference(self, spec: Mapping[str, Any]) -> None:
        """Record what inference needs (model.json): the registered model and its config, input
        shape, outputs, class names, normalization; later calls add or replace fields (the
        logit offsets an imbalance remedy chose on val). `tamrin.load(RUN).model()` reads it."""
        record = rundir.read_model_spec(self.run_dir) or {}
        rundir.write_model_spec(self.run_dir, {**record, **spec})

    def recorded_precision(self) -> dict[str, Any] | None:
        """The precision config.json records for this run (None before one is recorded).

        Read from disk once: validation and every inference pass ask for it.
        """
        if not self._precision_read:
            record = rundir.read_config(self.run_dir).get("precision")
            self._precision = dict(record) if isinstance(record, Mapping) else None
            self._precision_read = True
        return dict(self._precision) if self._precision is not None else None

    def record_precision(self, record: Mapping[str, Any]) -> None:
        """Write the run's precision decision into config.json (kept there on resume)."""
        meta = rundir.read_config(self.run_dir)
        meta["precision"] = dict(record)
        rundir.write_config(self.run_dir, meta)
        self._precision, self._precision_read = dict(record), True

    def finish_tensorboard(self, metrics: Mapping[str, Any], *, drawn: bool, done: bool) -> None:
        """The end of a run with --tensorboard: the test metrics and every figure (drawn here
        first where no report drew them: study cells), then the event file is closed.

        `done=False` (interrupted) only closes it: the resumed run writes the rest.
        """
        if self.tensorboard is None:
            return
        if done:
            if not drawn:
                from tamrin.eval.report import load_run, redraw_figures

                redraw_figures(load_run(self.run_dir))
            self.tensorboard.finish(self.history, metrics)
        self.tensorboard.close()

    def progress(self) -> Any:
        """The run's training display (`tamrin.train.display.TrainDisplay`); None when quiet."""
        return self._progress
