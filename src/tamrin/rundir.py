"""The one reader and writer of run folders (and of the JSON files of group and study folders).

runs/<recipe>/<YYYYmmdd-HHMMSS>-s<seed>/ holds config.json, history.csv, metrics.json,
predictions.npz, model.json (how to rebuild the model, for runs that train one) and figures/
(PNGs, and for redrawable figures the plot data as JSON). The
runner, the reports, `tamrin runs`, resume and the notebook API read and write these files only
through this module, so a missing or damaged file always ends in the same one-line `RunDirError`
that names the file and the fix. Every write is atomic (tmp file + rename): a reader, or a run
killed mid-write, never leaves half a file.
"""

from __future__ import annotations

import csv
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tamrin.errors import RunDirError

CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
PREDICTIONS = "predictions.npz"
FIGURES = "figures"
MODEL = "model.json"  # how to rebuild the run's model and preprocess its inputs
SUMMARY = "summary.json"  # seed-group and study folders
STUDY = "study.json"  # study folders
FINISHED = ("completed", "stopped_early", "stopped_nonfinite", "pruned")  # ended on its own

TRIAL_NOTE = (
    "A tuning trial: the test split was not scored (a search selects on val only; "
    "`tamrin run RECIPE --from-study STUDY` retrains the best configuration and tests once)."
)


# ----------------------------------------------------------------------------- atomic writes


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()  # a 0-d torch tensor (no torch import here)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


def write_text(path: Path, text: str) -> None:
    """Write text via a temporary file and rename, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: writers never share it
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    """Write JSON atomically (numpy scalars, 0-d tensors and paths become plain values).

    `compact` drops the indentation (plot data: t-SNE points, gallery pixels), which is 4-7x
    smaller and read by programs, not people.
    """
    text = (
        json.dumps(data, separators=(",", ":"), default=_json_default)
        if compact
        else json.dumps(data, indent=2, default=_json_default)
    )
    write_text(Path(path), text + "\n")


# ----------------------------------------------------------------------------- reading JSON


def read_json(path: Path, what: str = "run") -> dict[str, Any]:
    """A JSON object file of a `what` ("run", "seed-group", "study") folder, or RunDirError."""
    path = Path(path)
    folder = path.parent
    if not path.is_file():
        raise RunDirError(f"not a tamrin {what} folder: {folder} has no {path.name}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(
            f"damaged {what} folder: {path} is not valid JSON ({e}); restore the file or rerun"
        ) from None
    if not isinstance(data, dict):
        raise RunDirError(
            f"damaged {what} folder: {path} should hold a JSON object, got {type(data).__name__}; "
            "restore the file or rerun"
        )
    return data


def _check_folder(run_dir: Path, what: str = "run") -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(
            f"not a tamrin {what} folder: {run_dir} does not exist or is not a folder"
        )
    return run_dir


def read_config(run_dir: Path) -> dict[str, Any]:
    """config.json of a run folder (RunDirError when the folder is not one or it is damaged)."""
    return read_json(_check_folder(run_dir) / CONFIG)


def write_config(run_dir: Path, meta: Mapping[str, Any]) -> None:
    write_json(Path(run_dir) / CONFIG, dict(meta))


def read_metrics(run_dir: Path, *, missing_ok: bool = False) -> dict[str, Any]:
    """metrics.json of a run; `missing_ok` gives {} for a run that has not finished yet.

    A damaged file is always an error (never silently read as "not finished").
    """
    path = Path(run_dir) / METRICS
    if missing_ok and not path.exists():
        return {}
    return read_json(path)


def write_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> None:
    write_json(Path(run_dir) / METRICS, dict(metrics))


def status(run_dir: Path) -> str:
    """'completed', 'interrupted', ... from metrics.json; 'unfinished' without one."""
    return str(read_metrics(run_dir, missing_ok=True).get("status", "unfinished"))


def is_finished(run_dir: Path) -> bool:
    """True when the run ended on its own (completed, stopped early or on a non-finite loss)."""
    return status(run_dir) in FINISHED


def is_run_dir(path: Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def is_group_dir(path: Path) -> bool:
    p = Path(path)
    return (p / SUMMARY).is_file() and not (p / STUDY).is_file() and not (p / CONFIG).is_file()


def is_study_dir(path: Path) -> bool:
    return (Path(path) / STUDY).is_file()


# ----------------------------------------------------------------------------- history.csv


@dataclass
class History:
    """history.csv: its column names (in file order) and one dict per epoch."""

    columns: list[str]
    rows: list[dict[str, Any]]


def _cell(text: str | None) -> Any:
    """A history.csv cell as int, float or (non-numeric) str; empty cells become None."""
    if text is None or text.strip() == "":
        return None
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def read_history(run_dir: Path, *, missing_ok: bool = True) -> History:
    """history.csv with numbers parsed; a missing file is an empty history when `missing_ok`."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        if missing_ok:
            return History([], [])
        raise RunDirError(f"not a tamrin run folder: {Path(run_dir)} has no {HISTORY}")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = [
                {k: c for k, v in row.items() if k is not None and (c := _cell(v)) is not None}
                for row in reader
            ]
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise RunDirError(
            f"damaged run folder: cannot read {path} ({e}); restore the file or rerun"
        ) from None
    return History(columns, rows)


def write_history(run_dir: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rewrite history.csv whole (atomically) with the union of the rows' columns."""
    path = Path(run_dir) / HISTORY
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: writers never share it
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns or ["epoch"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- predictions.npz


def write_predictions(
    run_dir: Path, y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str]
) -> None:
    """The test split's labels and class probabilities (what ROC curves are redrawn from)."""
    path = Path(run_dir) / PREDICTIONS
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(
        tmp,
        y_true=np.asarray(y_true, dtype=np.int64),
        proba=np.asarray(proba, dtype=np.float32),
        class_names=np.array([str(c) for c in class_names]),
    )
    os.replace(tmp, path)


def read_predictions(run_dir: Path) -> dict[str, np.ndarray] | None:
    """{'y_true', 'proba', 'class_names'} of predictions.npz, None when the run has none."""
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            out = {k: npz[k] for k in ("y_true", "proba", "class_names")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise RunDirError(
            f"damaged run folder: {path} should hold y_true, proba and class_names "
            f"({e}); delete it to report without ROC curves"
        ) from None
    y, p, names = out["y_true"], out["proba"], out["class_names"]
    if p.ndim != 2 or y.shape != (p.shape[0],) or names.shape != (p.shape[1],):
        raise RunDirError(
            f"damaged run folder: {path} has y_true {y.shape}, proba {p.shape}, "
            f"class_names {names.shape}; expected (n,), (n, K), (K,); delete it or rerun"
        )
    return out


# ----------------------------------------------------------------------------- model.json


def write_model_spec(run_dir: Path, spec: Mapping[str, Any]) -> None:
    """model.json: the registered model, its config, input shape, outputs, class names and the
    train-split normalization — what `tamrin.load(RUN).model()` / `.predict` rebuild from."""
    write_json(Path(run_dir) / MODEL, dict(spec))


def read_model_spec(run_dir: Path) -> dict[str, Any] | None:
    """model.json of a run (None when its recipe recorded no single model)."""
    path = Path(run_dir) / MODEL
    if not path.is_file():
        return None
    return read_json(path)


# ----------------------------------------------------------------------------- figures


def figure_path(run_dir: Path, name: str, suffix: str = ".png") -> Path:
    """figures/<name><suffix>, the folder made on demand."""
    folder = Path(run_dir) / FIGURES
    folder.mkdir(exist_ok=True)
    return folder / f"{name}{suffix}"


def write_plot_data(run_dir: Path, name: str, kind: str, data: Any, caption: str) -> str:
    """figures/<name>.json: what a figure of `kind` is redrawn from; returns its relative path."""
    path = figure_path(run_dir, name, ".json")
    write_json(path, {"kind": kind, "caption": caption, "data": data}, compact=True)
    return f"{FIGURES}/{path.name}"


def read_plot_data(run_dir: Path, rel: str) -> dict[str, Any]:
    """A figures/<name>.json written by `write_plot_data` ({'kind', 'caption', 'data'})."""
    data = read_json(Path(run_dir) / rel)
    if not isinstance(data.get("kind"), str) or "data" not in data:
        raise RunDirError(
            f"damaged run folder: {Path(run_dir) / rel} has no 'kind' and 'data'; "
            "delete it or rerun"
        )
    return data


def add_figure(metrics: dict[str, Any], entry: Mapping[str, Any]) -> None:
    """List a figure in metrics['figures'] (replacing an older entry of the same file)."""
    figures = [f for f in metrics.get("figures", []) if f.get("file") != entry["file"]]
    metrics["figures"] = [*figures, dict(entry)]


def list_figures(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The figure entries of metrics.json that are well formed (file inside the folder)."""
    out = []
    entries = metrics.get("figures")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and entry.get("file"):
            out.append(dict(entry))
    return out


# ------------------------------------------------------------------------- the homework's figure


def homework_figure(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The homework's figure a run is compared with, or None where it does not apply.

    The figure belongs to (recipe, data set): a run on another data set than the one the
    homework measured (`--set data=mnist` for a CIFAR-10 figure) is not compared with it.
    """
    fig = recorded_homework_figure(config)
    if fig is None:
        return None
    data, measured_on = config.get("data"), fig.get("data")
    if data and measured_on and data != measured_on:
        return None
    return dict(fig)


def recorded_homework_figure(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The homework's figure as config.json recorded it, whatever data set the run used
    (folders written before the rename call it `seed_figure`)."""
    fig = config.get("homework_figure", config.get("seed_figure"))
    return dict(fig) if isinstance(fig, Mapping) else None


# Display names of the data sets in run titles ("LeNet-5 on MNIST"); others show as named.
_DATA_TITLES = {
    "cifar10": "CIFAR-10",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "dermamnist": "DermaMNIST",
    "imdb": "IMDB",
    "babi": "bAbI",
    "glove": "GloVe",
}


def data_title(name: str) -> str:
    """'CIFAR-10' for 'cifar10'; an unknown name as is."""
    return _DATA_TITLES.get(name, name)


def run_title(summary: str, data: str, default_data: str) -> str:
    """The recipe's summary for the data set it ran on: 'LeNet-5 on CIFAR-10 (HW2)' run with
    `--set data=mnist` is 'LeNet-5 on MNIST (HW2)'."""
    if not data or data == default_data:
        return summary
    default_title = data_title(default_data) if default_data else ""
    if default_title and default_title in summary:
        return summary.replace(default_title, data_title(data))
    return f"{summary} — on {data_title(data)}"
