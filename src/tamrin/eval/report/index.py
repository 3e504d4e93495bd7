"""The runs index: one page of every run, seed group and study under a runs folder.

`tamrin runs --html` gathers the rows (`runner.list_runs`, which knows the folder layout) and
passes them here; this module adds what each folder says about the homework's figure and ours
and writes RUNS/index.html, whose links open each folder's own report. The course at a glance.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tamrin import rundir
from tamrin.config import lookup
from tamrin.errors import RunDirError
from tamrin.eval.report.document import (
    Block,
    Cell,
    Heading,
    Link,
    Table,
    Text,
    fmt,
    fmt_diff,
    mean_pm_std,
)
from tamrin.eval.report.to_html import render_html

INDEX = "index.html"
_KIND_WORDS = {"run": "run", "seeds": "seed group", "study": "study"}
_PLURAL = {"run": "runs", "seeds": "seed groups", "study": "studies"}


def _read(folder: Path, name: str) -> dict[str, Any]:
    """A JSON file of the folder, {} when it is missing or damaged (the row still shows)."""
    try:
        return rundir.read_json(folder / name)
    except (RunDirError, OSError):
        return {}


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def homework_vs_ours(row: Mapping[str, Any]) -> dict[str, Any]:
    """{"metric", "homework", "ours", "diff"} of one `list_runs` row, read from its folder.

    A run: the homework's figure's metric (else the first headline metric) in metrics.json.
    A seed group: the same over seeds, mean ± std from summary.json. A study: its compared
    metric for its best variant (no homework's figure: a study asks its own question).
    """
    folder, kind = Path(str(row.get("run_dir"))), row.get("kind")
    out: dict[str, Any] = {"metric": "", "homework": "—", "ours": "—", "diff": "—"}
    if kind == "study":
        summary = _read(folder, rundir.SUMMARY)
        variants = [v for v in summary.get("variants") or [] if v["metric"].get("mean") is not None]
        if variants:
            sign = 1.0 if summary.get("higher_is_better", True) else -1.0
            best = max(variants, key=lambda v: sign * float(v["metric"]["mean"]))
            out["metric"] = f"{summary.get('metric', '')} (best: {best['label']})"
            out["ours"] = mean_pm_std(best["metric"])
        return out
    source = _read(folder, rundir.SUMMARY if kind == "seeds" else rundir.CONFIG)
    fig = (
        source.get("homework_figure")
        if kind == "seeds"
        else rundir.homework_figure(source)
        if source
        else None
    )
    fig = fig if isinstance(fig, Mapping) else None
    headline = source.get("headline") or []
    metric = str(fig["metric"]) if fig and fig.get("metric") else ""
    if not metric and headline:
        metric = str(next(iter(headline)))
    if not metric:
        return out
    out["metric"] = metric
    theirs = _number(fig.get("value")) if fig and fig.get("metric") == metric else None
    if kind == "seeds":
        stats = (source.get("headline") or {}).get(metric)
        stats = stats if isinstance(stats, Mapping) else {}
        ours, out["ours"] = _number(stats.get("mean")), mean_pm_std(stats)
    else:
        ours = _number(lookup(_read(folder, rundir.METRICS), metric))
        out["ours"] = fmt(ours)
    out["homework"] = fmt(theirs)
    out["diff"] = fmt_diff(ours - theirs) if ours is not None and theirs is not None else "—"
    return out


def runs_index_blocks(rows: Sequence[Mapping[str, Any]], out: Path, index_dir: Path) -> list[Block]:
    """The index page as blocks: one row per `list_runs` row, links relative to `index_dir`."""
    counts = {k: sum(r.get("kind") == k for r in rows) for k in _KIND_WORDS}
    n = {k: f"{c} {_KIND_WORDS[k] if c == 1 else _PLURAL[k]}" for k, c in counts.items()}
    blocks: list[Block] = [
        Heading(f"tamrin runs — {Path(out).name or out}", 1),
        Text(
            f"{n['run']}, {n['seeds']} and {n['study']} under `{out}`. Each name opens its "
            "folder's report. Ours: the homework's "
            "metric (or the first headline metric) as the folder's metrics.json or summary.json "
            "records it, a seed group's as mean ± std over its seeds, a study's for its best "
            "variant.",
            "muted",
        ),
    ]
    if not rows:
        return [*blocks, Text(f"No runs under `{out}` yet (`tamrin run NAME` writes them).")]
    table: list[list[Cell]] = []
    for row in rows:
        folder = Path(str(row.get("run_dir")))
        report = folder / "report.html"
        name = str(row.get("name") or folder.parent.name)
        href = Path(os.path.relpath(report, index_dir)).as_posix()
        status = str(row.get("status") or "")
        if row.get("smoke"):
            status += ", smoke"
        c = homework_vs_ours(row)
        data = str(row.get("data") or "")
        table.append(
            [
                Link(name, href) if report.is_file() else f"{name} (no report)",
                _KIND_WORDS.get(str(row.get("kind")), str(row.get("kind"))),
                c["metric"] or "—",
                c["homework"],
                c["ours"],
                c["diff"],
                ", ".join(rundir.data_title(d.strip()) for d in data.split(",")) if data else "—",
                str(row.get("date") or "—"),
                str(row.get("seeds") or "—"),
                status,
            ]
        )
    blocks.append(
        Table(
            [
                "name",
                "kind",
                "metric",
                "homework's figure",
                "ours",
                "ours − homework",
                "data",
                "date",
                "seeds",
                "status",
            ],
            table,
            "A folder without a report gets one from `tamrin report FOLDER`; a damaged one shows "
            "its status.",
            id="runs",
        )
    )
    blocks.append(Text("Generated by `tamrin runs --html` from the folders' files.", "muted"))
    return blocks


def write_runs_index(
    rows: Sequence[Mapping[str, Any]], out: Path, path: Path | None = None
) -> Path:
    """Write the index page of `rows` (from `runner.list_runs(out)`) to `path` (default
    out/index.html); returns the path. RunDirError when `out` is not a folder."""
    out = Path(out)
    if not out.is_dir():
        raise RunDirError(
            f"no runs folder at {out}; `tamrin run NAME` writes runs there "
            "(or name the folder with --out RUNS)"
        )
    path = Path(path) if path is not None else out / INDEX
    blocks = runs_index_blocks(rows, out, path.parent)
    rundir.write_text(path, render_html(f"tamrin runs — {out}", blocks))
    return path


__all__ = ["INDEX", "homework_vs_ours", "runs_index_blocks", "write_runs_index"]
