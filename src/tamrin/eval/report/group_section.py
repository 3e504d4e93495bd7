"""The report of a seed group: several seeds of one recipe, mean ± std of the headline metrics.

`summarize_runs` computes the group's summary.json from its runs' files; `write_group_report`
draws the report from summary.json (and each run's metrics.json for its status), with curves
of mean ± std over seeds computed from the runs' history.csv files and kept as plot data in
the group's figures/curves.json, so `tamrin report GROUP_DIR` redraws them even when the runs
are gone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tamrin import rundir
from tamrin.config import lookup
from tamrin.errors import RunDirError
from tamrin.eval import figures as F
from tamrin.eval.metrics import mean_std
from tamrin.eval.report.document import (
    Block,
    Cell,
    Heading,
    Image,
    Link,
    Table,
    Text,
    fmt,
    fmt_diff,
    fmt_seconds,
    mean_pm_std,
)
from tamrin.eval.report.output import save_figure, write_document

CURVES = "curves"  # the group's figure: figures/curves.json (plot data) and figures/curves.png


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def summarize_runs(run_dirs: Sequence[Path], relative_to: Path | None = None) -> dict[str, Any]:
    """The summary.json dict of a multi-seed group: mean ± std of each headline metric over runs.

    Headline keys come from the first run's config.json. `runs` lists the folders relative to
    `relative_to` (the group folder, so the group travels with its runs) when given.
    """
    if not run_dirs:
        raise ValueError("summarize_runs needs at least one run folder")
    configs, metrics = [], []
    for d in run_dirs:
        metrics.append(rundir.read_metrics(Path(d)))
        configs.append(rundir.read_config(Path(d)))
    first = configs[0]
    recipes = {c.get("recipe") for c in configs}
    if len(recipes) > 1:
        names = sorted(map(str, recipes))
        raise RunDirError(f"a seed group must hold runs of one recipe; got {names}")
    keys = [str(k) for k in first.get("headline") or []]
    homework_fig = rundir.homework_figure(first)
    if (
        isinstance(homework_fig, Mapping)
        and homework_fig.get("metric")
        and homework_fig["metric"] not in keys
    ):
        keys.append(str(homework_fig["metric"]))
    headline = {k: mean_std([_number_or_none(lookup(m, k)) for m in metrics]) for k in keys}
    times = {
        k: mean_std([_number_or_none(m.get(k)) for m in metrics])
        for k in ("wall_time_s", "train_time_s")
    }
    runs = [
        os.path.relpath(Path(d), relative_to) if relative_to is not None else str(d)
        for d in run_dirs
    ]
    return {
        "recipe": first.get("recipe"),
        "summary": first.get("summary"),
        "title": first.get("title") or first.get("summary"),
        "data": first.get("data"),
        "homework_figure": homework_fig,
        "homework_figure_recorded": rundir.recorded_homework_figure(first),
        "seeds": [c.get("seed") for c in configs],
        "runs": [Path(r).as_posix() for r in runs],
        "headline": headline,
        "time": times,
        "wall_time_s": float(sum(t for t in times["wall_time_s"]["values"] if t is not None)),
    }


def _resolve_run(group_dir: Path, run: str) -> Path:
    path = Path(run)
    if path.is_absolute():
        return path
    return group_dir / path if (group_dir / path).exists() or not path.exists() else path


def _read_run_metrics(folder: Path) -> dict[str, Any]:
    """A group member's metrics.json; a missing or damaged one shows as a status, not a crash."""
    try:
        return rundir.read_metrics(folder)
    except RunDirError:
        return {"status": "run folder missing or damaged"}


def _read_run_history(folder: Path) -> list[dict[str, Any]] | None:
    try:
        return rundir.read_history(folder, missing_ok=False).rows
    except RunDirError:
        return None


def _val_column(columns: Sequence[str], run_metrics: Sequence[Mapping[str, Any]]) -> str | None:
    """The validation column the runs selected their best epoch by, else val_acc / val_loss."""
    for m in run_metrics:
        best = m.get("best")
        if isinstance(best, Mapping) and str(best.get("metric")) in columns:
            return str(best["metric"])
    for c in ("val_acc", "val_loss", *columns):
        if c in columns and c.startswith("val_"):
            return c
    return None


def group_curves_info(
    histories: Sequence[Sequence[Mapping[str, Any]]], run_metrics: Sequence[Mapping[str, Any]]
) -> F.BandInfo | None:
    """Mean ± std over seeds per epoch of the validation metric and the training loss (with the
    validation loss beside it), from the runs' history rows; None without such columns."""
    columns: list[str] = []
    for rows in histories:
        for row in rows:
            columns += [c for c in row if c not in columns]
    val = _val_column(columns, run_metrics)
    losses: list[str] = [c for c in ("train_loss", "val_loss") if c in columns and c != val]
    wanted: list[tuple[str, str, list[str]]] = [(val, "", [val])] if val is not None else []
    if losses:
        wanted.append((" and ".join(losses), "loss", losses))
    panels = []
    for title, ylabel, names in wanted:
        curves = {name: F.mean_std_curve(histories, name) for name in names}
        series = {name: c for name, c in curves.items() if c["epoch"]}
        if series:
            panels.append({"title": title, "ylabel": ylabel or title, "series": series})
    if not panels:
        return None
    n = len(histories)
    return F.BandInfo(panels, title=f"mean ± 1 std over {n} seed{'s' if n != 1 else ''}")


def _group_figures(
    group_dir: Path, folders: Sequence[Path], run_metrics: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Compute the curves' plot data from the runs (when any history is readable), keep it as
    figures/curves.json and draw figures/curves.png from that file; {name: relative path}."""
    read = [(_read_run_history(f), m) for f, m in zip(folders, run_metrics, strict=True)]
    histories = [h for h, _ in read if h]
    info = group_curves_info(histories, [m for h, m in read if h]) if histories else None
    data_file = rundir.figure_path(group_dir, CURVES, ".json")
    if info is not None:
        caption = "Mean per epoch over seeds; band (or bar, for one epoch): ±1 std."
        rundir.write_plot_data(group_dir, CURVES, "band", F.to_data(info), caption)
    if not data_file.is_file():
        return {}
    plot = rundir.read_plot_data(group_dir, f"{rundir.FIGURES}/{data_file.name}")
    save_figure(F.draw(plot["kind"], plot["data"]), rundir.figure_path(group_dir, CURVES))
    return {CURVES: f"{rundir.FIGURES}/{CURVES}.png"}


def _seconds_pm(stats: Mapping[str, Any]) -> str:
    mean, std = stats.get("mean"), stats.get("std")
    if not isinstance(mean, int | float) or not isinstance(std, int | float):
        return "—"
    return f"{mean:.1f} ± {std:.1f} s"


def group_report_blocks(
    group_dir: Path, summary: Mapping[str, Any], figures: Mapping[str, str] | None = None
) -> list[Block]:
    """The multi-seed report as blocks: mean ± std, curves over seeds (`figures`, from
    `_group_figures`), one row per seed."""
    recipe = str(summary.get("recipe") or group_dir.name)
    seeds = list(summary.get("seeds") or [])
    runs = [str(r) for r in summary.get("runs") or []]
    headline = summary.get("headline") or {}
    homework_fig = summary.get("homework_figure", summary.get("seed_figure"))
    homework_fig = homework_fig if isinstance(homework_fig, Mapping) else None
    blocks: list[Block] = [Heading(f"{recipe} — {len(runs)} seeds", 1)]
    title = summary.get("title") or summary.get("summary")
    if title:
        blocks.append(Text(str(title)))
    blocks.append(
        Text(
            f"seeds {fmt(seeds)} · total wall time {fmt_seconds(summary.get('wall_time_s'))}",
            "muted",
        )
    )
    folders = [_resolve_run(group_dir, run) for run in runs]
    run_metrics = [_read_run_metrics(folder) for folder in folders]
    unfinished = [str(m.get("status")) for m in run_metrics if m.get("status") != "completed"]
    if unfinished:
        blocks.append(
            Text(
                f"**{len(unfinished)} of {len(runs)} runs did not complete** "
                f"({', '.join(unfinished)}); see the table of runs.",
                "warn",
            )
        )

    blocks.append(Heading("Headline over seeds"))
    rows: list[list[Cell]] = []
    for key, stats in headline.items():
        stats = stats if isinstance(stats, Mapping) else {}
        theirs = (
            homework_fig.get("value")
            if homework_fig and homework_fig.get("metric") == key
            else None
        )
        mean = stats.get("mean")
        diff = (
            mean - theirs
            if isinstance(mean, int | float) and isinstance(theirs, int | float)
            else None
        )
        rows.append([key, mean_pm_std(stats), fmt(stats.get("n")), fmt(theirs), fmt_diff(diff)])
    blocks.append(
        Table(
            ["metric", "ours (mean ± std)", "runs", "homework's figure", "ours − homework"],
            rows,
            "Mean and sample standard deviation (ddof=1) over seeds.",
            id="headline",
        )
    )
    if homework_fig and homework_fig.get("text"):
        blocks.append(Text(f"The homework reported: {homework_fig['text']}", "muted"))
    recorded = summary.get("homework_figure_recorded", summary.get("seed_figure_recorded"))
    if isinstance(recorded, Mapping) and not homework_fig and summary.get("data"):
        blocks.append(
            Text(
                f"The homework's figure ({recorded.get('text')}) was measured on "
                f"{rundir.data_title(str(recorded.get('data')))}; these runs are on "
                f"{rundir.data_title(str(summary['data']))}, so they are not compared with it.",
                "muted",
            )
        )
    times = summary.get("time")
    if isinstance(times, Mapping):
        parts = [
            f"{name.removesuffix('_s').replace('_', ' ')} {_seconds_pm(st)}"
            for name, st in times.items()
            if isinstance(st, Mapping)
        ]
        if parts:
            blocks.append(Text("Per run: " + " · ".join(parts) + "."))

    blocks.append(Heading("Curves over seeds"))
    if figures and CURVES in figures:
        blocks.append(
            Image(
                figures[CURVES],
                "Mean per epoch over seeds with a ±1 std band (an error bar where there is "
                "one epoch); computed from each run's history.csv.",
            )
        )
    else:
        blocks.append(Text("No run of this group has a history.csv with epochs.", "muted"))

    blocks.append(Heading("Runs"))
    keys = list(headline)
    run_rows: list[list[Cell]] = []
    for i, (folder, metrics) in enumerate(zip(folders, run_metrics, strict=True)):
        values = [
            (headline[k].get("values") or []) if isinstance(headline[k], Mapping) else []
            for k in keys
        ]
        cells: list[Cell] = [fmt(seeds[i] if i < len(seeds) else None)]
        cells += [fmt(v[i] if i < len(v) else None) for v in values]
        best = metrics.get("best")
        cells.append(fmt(best.get("epoch")) if isinstance(best, Mapping) else "—")
        seconds = metrics.get("train_time_s")
        cells.append(f"{seconds:.1f} s" if isinstance(seconds, int | float) else "—")
        cells.append(fmt(metrics.get("status")))
        report = folder / "report.html"
        href = Path(os.path.relpath(report, group_dir)).as_posix()
        cells.append(Link("report", href) if report.is_file() else "report missing")
        run_rows.append(cells)
    blocks.append(
        Table(
            ["seed", *keys, "best epoch", "train time", "status", "report"],
            run_rows,
            "One row per seed: its headline values, the epoch its checkpoint was chosen at, "
            "its training time and its own report.",
            id="seeds",
        )
    )
    blocks.append(
        Text(
            "Generated by `tamrin report` from summary.json (the per-seed metric values "
            "are those the means were taken over) and each run's metrics.json.",
            "muted",
        )
    )
    return blocks


def write_group_report(group_dir: Path) -> tuple[Path, Path]:
    """Write report.html and report.md of a multi-seed group folder (reads its summary.json)."""
    group_dir = Path(group_dir)
    if not group_dir.is_dir():
        raise RunDirError(
            f"not a tamrin seed-group folder: {group_dir} does not exist or is not a folder"
        )
    summary = rundir.read_json(group_dir / rundir.SUMMARY, "seed-group")
    folders = [_resolve_run(group_dir, str(run)) for run in summary.get("runs") or []]
    figures = _group_figures(group_dir, folders, [_read_run_metrics(f) for f in folders])
    blocks = group_report_blocks(group_dir, summary, figures)
    title = f"{summary.get('recipe') or group_dir.name} — seeds {fmt(summary.get('seeds'))}"
    return write_document(group_dir, title, blocks)
