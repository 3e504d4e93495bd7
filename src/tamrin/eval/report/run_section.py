"""The report of one run folder, rebuilt from the folder alone.

`write_report(run_dir)` is what `tamrin report RUN_DIR` calls and what the runner calls at the end
of every run. It redraws every standard figure from the folder's files (training curves from
history.csv, the confusion matrix from metrics.json, ROC curves from predictions.npz) and every
figure a recipe logged with `log_plot` (from figures/<name>.json), then writes `report.html`
(self-contained: inline CSS, relative PNG paths, no scripts, no external URLs) and `report.md`.
Every number shown is read from `metrics.json` / `history.csv`; nothing is recomputed but the
drawing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tamrin import rundir
from tamrin.config import lookup
from tamrin.errors import RunDirError
from tamrin.eval import figures as F
from tamrin.eval.report.document import (
    Block,
    Cell,
    Code,
    Collapsed,
    Heading,
    Image,
    Table,
    Text,
    fmt,
    fmt_seconds,
    kv_table,
)
from tamrin.eval.report.output import save_figure, write_document

# metrics.json sections the report lays out itself; any other top-level key is shown as a table.
_KNOWN_SECTIONS = frozenset(
    {
        "status",
        "status_message",
        "wall_time_s",
        "train_time_s",
        "epochs_run",
        "best",
        "final",
        "test",
        "tables",
        "notes",
        "figures",
        "artifacts",
    }
)
# keys of classification_metrics' dict that the test section lays out itself
_CLASSIFICATION_KEYS = frozenset(
    {
        "n",
        "accuracy",
        "balanced_accuracy",
        "macro_precision",
        "macro_recall",
        "macro_f1",
        "weighted_precision",
        "weighted_recall",
        "weighted_f1",
        "roc_auc_macro",
        "log_loss",
        "class_names",
        "per_class",
        "confusion",
        "confusion_normalized",
    }
)
_STATUS_WORDS = {
    "completed": "completed",
    "stopped_nonfinite": "stopped early: the loss became NaN or infinite",
    "interrupted": "interrupted before it finished",
}


@dataclass
class RunFolder:
    """Everything a report needs, read from one run folder."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    columns: list[str]
    predictions: dict[str, np.ndarray] | None = None


def load_run(run_dir: Path) -> RunFolder:
    """Read config.json, metrics.json, history.csv and the optional predictions.npz of a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"not a tamrin run folder: {run_dir} does not exist or is not a folder")
    metrics = rundir.read_metrics(run_dir)
    config = rundir.read_config(run_dir)
    history = rundir.read_history(run_dir, missing_ok=False)
    predictions = rundir.read_predictions(run_dir)
    return RunFolder(run_dir, config, metrics, history.rows, history.columns, predictions)


# ----------------------------------------------------------------------------- figures


def standard_plots(run: RunFolder) -> dict[str, tuple[str, Any]]:
    """{figure name: (plot kind, plot data)} of the standard figures the folder has data for."""
    test = run.metrics.get("test")
    plots: dict[str, tuple[str, Any]] = {}
    for name, info in (
        ("curves", F.curves_info(run.history, run.metrics.get("best"))),
        ("confusion", F.confusion_info(test)),
        ("roc", F.roc_info(run.predictions, test)),
    ):
        if info is not None:
            plots[name] = (name, info)
    return plots


def redraw_figures(run: RunFolder) -> dict[str, str]:
    """Redraw the standard figures and every logged plot; {standard name: relative path}."""
    written: dict[str, str] = {}
    for name, (kind, info) in standard_plots(run).items():
        save_figure(F.draw(kind, info), rundir.figure_path(run.path, name))
        written[name] = f"{rundir.FIGURES}/{name}.png"
    for entry in rundir.list_figures(run.metrics):
        if not entry.get("data") or not _inside(Path(str(entry["data"]))):
            continue
        plot = rundir.read_plot_data(run.path, str(entry["data"]))
        save_figure(F.draw(plot["kind"], plot["data"]), run.path / str(entry["file"]))
    return written


def _inside(rel: Path) -> bool:
    return not rel.is_absolute() and ".." not in rel.parts


# ----------------------------------------------------------------------------- blocks


def _headline_blocks(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[Block]:
    fig = rundir.homework_figure(config)
    keys = [str(k) for k in config.get("headline") or []]
    if fig and fig.get("metric") and fig["metric"] not in keys:
        keys.append(str(fig["metric"]))
    if not keys:
        return [Text("No headline metrics are named in config.json.", "muted")]
    rows: list[list[Cell]] = []
    for key in keys:
        theirs = fig.get("value") if fig and fig.get("metric") == key else None
        rows.append([key, fmt(lookup(metrics, key)), fmt(theirs)])
    blocks: list[Block] = [Table(["metric", "ours", "homework's figure"], rows, id="headline")]
    if fig and fig.get("text"):
        blocks.append(Text(f"The homework reported: {fig['text']}", "muted"))
    blocks += other_data_note(config)
    return blocks


def other_data_note(config: Mapping[str, Any]) -> list[Block]:
    """Why the homework's figure is not compared: it was measured on another data set."""
    fig = rundir.recorded_homework_figure(config)
    if not isinstance(fig, Mapping) or rundir.homework_figure(config) is not None:
        return []
    measured_on = rundir.data_title(str(fig.get("data")))
    here = rundir.data_title(str(config.get("data")))
    return [
        Text(
            f"The homework's figure ({fig.get('text')}) was measured on {measured_on}; this run "
            f"is on {here}, so it is not compared with it.",
            "muted",
        )
    ]


def _status_blocks(metrics: Mapping[str, Any]) -> list[Block]:
    status = str(metrics.get("status") or "unknown")
    if status == "completed":
        return []
    words = _STATUS_WORDS.get(status, f"ended with status '{status}'")
    message = str(metrics.get("status_message") or "").strip()
    text = f"**This run did not complete ({status}): it {words}.**"
    if message:
        text += f"\n{message}"
    return [Text(text, "warn")]


def _best_sentence(metrics: Mapping[str, Any]) -> str:
    best = metrics.get("best")
    runs = metrics.get("epochs_run")
    of = f" of {fmt(runs)}" if runs is not None else ""
    if not isinstance(best, Mapping) or best.get("epoch") is None:
        return f"No best epoch was recorded ({fmt(runs)} epochs run)."
    by = f"{best.get('mode')} {best.get('metric')}" if best.get("mode") else str(best.get("metric"))
    return (
        f"Best epoch: **{fmt(best['epoch'])}**{of}, chosen by {by} = **{fmt(best.get('value'))}**."
    )


def _time_sentence(metrics: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    text = f"Wall time: {fmt_seconds(metrics.get('wall_time_s'))}"
    if metrics.get("train_time_s") is not None:
        text += f", of which training {fmt_seconds(metrics.get('train_time_s'))}"
    text += f" on {config.get('device') or 'an unrecorded device'}"
    precision = config.get("precision")
    if isinstance(precision, Mapping) and precision.get("name"):
        text += f", in {precision['name']} ({precision.get('reason', '')})"
    return text.rstrip(" .") + "."


def _artifact_blocks(metrics: Mapping[str, Any]) -> list[Block]:
    """The files a recipe kept (trained vectors, encoders), with their sizes."""
    items = metrics.get("artifacts")
    if not isinstance(items, list) or not items:
        return []
    rows: list[list[Cell]] = [
        [str(a.get("file", "")), fmt(a.get("bytes")), str(a.get("caption", ""))]
        for a in items
        if isinstance(a, Mapping)
    ]
    return [Heading("Artifacts"), Table(["file", "bytes", "what"], rows)]


def _test_blocks(test: Mapping[str, Any], figures: Mapping[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading("Test set")]
    facts = [
        ("test examples", test.get("n")),
        ("accuracy", test.get("accuracy")),
        ("balanced accuracy", test.get("balanced_accuracy")),
        ("macro ROC AUC", test.get("roc_auc_macro")),
        ("log loss", test.get("log_loss")),
    ]
    shown = [f"{name} **{fmt(v)}**" for name, v in facts if v is not None]
    if shown:
        blocks.append(Text(" · ".join(shown)))
    per_class = test.get("per_class") or []
    if per_class:
        rows: list[list[Cell]] = [
            [
                str(pc.get("class")),
                fmt(pc.get("precision")),
                fmt(pc.get("recall")),
                fmt(pc.get("f1")),
                fmt(pc.get("support")),
                fmt(pc.get("auc")),
            ]
            for pc in per_class
        ]
        for avg, auc in (("macro", test.get("roc_auc_macro")), ("weighted", None)):
            rows.append(
                [
                    f"{avg} avg",
                    fmt(test.get(f"{avg}_precision")),
                    fmt(test.get(f"{avg}_recall")),
                    fmt(test.get(f"{avg}_f1")),
                    fmt(test.get("n")),
                    fmt(auc),
                ]
            )
        blocks += [
            Heading("Classification report", 3),
            Table(
                ["class", "precision", "recall", "F1", "support", "AUC (one vs rest)"],
                rows,
                id="classification",
                caption="AUC is — for a class absent from the test set; the macro AUC "
                "averages the classes present.",
            ),
        ]
    rest = {k: v for k, v in test.items() if k not in _CLASSIFICATION_KEYS}
    if rest:
        blocks += [Heading("Other test values", 3), kv_table(rest, id="test-other")]
    if "confusion" in figures:
        blocks += [
            Heading("Confusion matrix", 3),
            Image(
                figures["confusion"],
                "Confusion matrix on the test set: counts and fraction of each true class.",
            ),
        ]
    if "roc" in figures:
        blocks += [
            Heading("ROC curves", 3),
            Image(figures["roc"], "One-vs-rest ROC curve per class; AUC in the legend."),
        ]
    return blocks


def _table_block(name: str, spec: Any) -> list[Block]:
    if not isinstance(spec, Mapping):
        return [Heading(name, 3), Text(f"(table '{name}' is not an object: {fmt(spec)})", "muted")]
    columns = [str(c) for c in spec.get("columns") or []]
    rows: list[list[Cell]] = [[fmt(c) for c in row] for row in spec.get("rows") or []]
    return [Heading(name, 3), Table(columns, rows, str(spec.get("caption") or ""))]


def _extra_figure_blocks(run_dir: Path, entries: Any) -> list[Block]:
    blocks: list[Block] = []
    for entry in rundir.list_figures({"figures": entries}):
        rel = Path(str(entry["file"]))
        caption = str(entry.get("caption") or rel.name)
        if not _inside(rel):
            blocks.append(Text(f"(figure `{rel}` skipped: it must lie inside the run folder)"))
        elif not (run_dir / rel).is_file():
            blocks.append(
                Text(f"(figure `{rel.as_posix()}` is missing from the run folder)", "muted")
            )
        else:
            blocks.append(Image(rel.as_posix(), caption))
    return blocks


def title_of(config: Mapping[str, Any]) -> str:
    """The run's title ('LeNet-5 on MNIST (HW2)'): config.json's title, else the summary."""
    return str(config.get("title") or config.get("summary") or "")


def run_report_blocks(run: RunFolder, figures: Mapping[str, str]) -> list[Block]:
    """The report of one run as blocks, in reading order (top facts first, config last)."""
    cfg, m = run.config, run.metrics
    recipe = str(cfg.get("recipe") or run.path.name)
    blocks: list[Block] = [Heading(recipe, 1)]
    if title_of(cfg):
        blocks.append(Text(title_of(cfg)))
    started = f" · started {cfg['started']}" if cfg.get("started") else ""
    data = f" · data {rundir.data_title(str(cfg['data']))}" if cfg.get("data") else ""
    blocks.append(
        Text(
            f"seed {fmt(cfg.get('seed'))}{data}{started} · status "
            f"**{m.get('status', 'unknown')}** · folder `{run.path.name}`",
            "muted",
        )
    )
    if cfg.get("smoke"):
        blocks.append(
            Text(
                "**Smoke run**: data and model were shrunk to test the code path; "
                "the numbers below say nothing about the method.",
                "warn",
            )
        )
    blocks += _status_blocks(m)
    blocks += [Heading("Headline"), *_headline_blocks(cfg, m)]
    blocks += [Text(_best_sentence(m)), Text(_time_sentence(m, cfg))]

    blocks.append(Heading("Training curves"))
    if "curves" in figures:
        blocks.append(
            Image(
                figures["curves"],
                "Loss and accuracy per epoch; the dotted line marks the best epoch.",
            )
        )
    else:
        blocks.append(Text("history.csv has no epochs, so there are no curves.", "muted"))
    final = m.get("final")
    if isinstance(final, Mapping) and final:
        blocks.append(
            Table(
                list(map(str, final)),
                [[fmt(v) for v in final.values()]],
                "Last epoch (the last row of history.csv).",
                id="final",
            )
        )
    if run.history:
        rows: list[list[Cell]] = [[fmt(row.get(c)) for c in run.columns] for row in run.history]
        blocks.append(
            Collapsed(
                f"Every epoch ({len(run.history)} rows of history.csv)",
                [Table(run.columns, rows, id="history")],
            )
        )

    test = m.get("test")
    if isinstance(test, Mapping):
        blocks += _test_blocks(test, figures)
    else:
        blocks += [Heading("Test set"), Text("This run has no test evaluation.", "muted")]

    tables = m.get("tables")
    others = {k: v for k, v in m.items() if k not in _KNOWN_SECTIONS}
    sections = {k: v for k, v in others.items() if isinstance(v, Mapping)}
    scalars = {k: v for k, v in others.items() if not isinstance(v, Mapping)}
    if (isinstance(tables, Mapping) and tables) or others:
        blocks.append(Heading("More results"))
        for name, spec in (tables or {}).items() if isinstance(tables, Mapping) else []:
            blocks += _table_block(str(name), spec)
        for name, section in sections.items():
            blocks += [Heading(str(name), 3), kv_table(section)]
        if scalars:
            blocks += [Heading("Other values", 3), kv_table(scalars)]

    notes = m.get("notes")
    if isinstance(notes, list) and notes:
        blocks.append(Heading("Notes"))
        blocks += [Text(str(note)) for note in notes]
    extra = _extra_figure_blocks(run.path, m.get("figures"))
    if extra:
        blocks += [Heading("More figures"), *extra]
    blocks += _artifact_blocks(m)

    blocks.append(Heading("Configuration and environment"))
    resolved = json.dumps(cfg.get("config", {}), indent=2, sort_keys=False, default=str)
    blocks.append(Collapsed("Resolved config", [Code(resolved, "json")]))
    env_keys = (
        "tamrin_version",
        "torch_version",
        "device",
        "precision",
        "threads",
        "git_commit",
        "started",
        "seed",
        "data",
        "smoke",
    )
    blocks.append(kv_table({k: cfg.get(k) for k in env_keys}, id="environment"))
    blocks.append(
        Text(
            "Generated by `tamrin report` from this folder's metrics.json and "
            "history.csv; every number above is read from those files.",
            "muted",
        )
    )
    return blocks


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Redraw the figures and write report.html and report.md of a run folder; returns both paths.

    Raises RunDirError when the folder is not a run folder or a file in it is damaged.
    """
    run = load_run(Path(run_dir))
    figures = redraw_figures(run)
    blocks = run_report_blocks(run, figures)
    title = f"{run.config.get('recipe') or run.path.name} — seed {fmt(run.config.get('seed'))}"
    return write_document(run.path, title, blocks)
