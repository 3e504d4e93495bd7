"""Reports (HTML + Markdown) rebuilt from a folder alone: a run, a seed group or a study.

    document       the blocks a report is made of, and the one number format (`fmt`)
    to_html        blocks -> one self-contained HTML page (inline CSS, no scripts, no URLs)
    to_markdown    blocks -> GitHub-flavoured Markdown
    output         figures (PNG) and report.html + report.md, written atomically
    run_section    one run: headline, curves, test set, tables, figures, config
    group_section  several seeds of a recipe: mean ± std, one row per seed
    study_section  variants × seeds: Welch t-tests, verdicts, bars, forest plot, curves
    index          one page of every run, seed group and study under a runs folder

`write_folder_report(path)` picks the section by the folder's files; the runner, `tamrin report`
and the notebook API all call it.
"""

from __future__ import annotations

from pathlib import Path

from tamrin import rundir
from tamrin.eval.report.document import (
    Block,
    Cell,
    Code,
    Collapsed,
    Heading,
    Image,
    Link,
    Table,
    Text,
    fmt,
    fmt_diff,
    fmt_pm,
    fmt_seconds,
    kv_table,
    mean_pm_std,
)
from tamrin.eval.report.group_section import (
    group_curves_info,
    group_report_blocks,
    summarize_runs,
    write_group_report,
)
from tamrin.eval.report.index import runs_index_blocks, write_runs_index
from tamrin.eval.report.output import save_figure, write_document, write_text
from tamrin.eval.report.run_section import (
    RunFolder,
    load_run,
    redraw_figures,
    run_report_blocks,
    standard_plots,
    write_report,
)
from tamrin.eval.report.study_section import (
    study_report_blocks,
    summarize_study,
    write_study_report,
)
from tamrin.eval.report.to_html import markdown_to_html, render_html
from tamrin.eval.report.to_markdown import render_markdown


def read_history(path: Path) -> tuple[list[str], list[dict]]:
    """(columns, rows) of a history.csv file (kept for callers of the old module)."""
    history = rundir.read_history(Path(path).parent)
    return history.columns, history.rows


def write_folder_report(path: Path) -> tuple[Path, Path]:
    """Rebuild the report of a run, seed-group or study folder from its files alone.

    A study's summary.json is recomputed from its cells first (so a resumed or repaired study
    reports its current numbers).
    """
    path = Path(path)
    if rundir.is_study_dir(path):
        rundir.write_json(path / rundir.SUMMARY, summarize_study(path))
        return write_study_report(path)
    if rundir.is_group_dir(path):
        return write_group_report(path)
    return write_report(path)


__all__ = [
    "Block",
    "Cell",
    "Code",
    "Collapsed",
    "Heading",
    "Image",
    "Link",
    "RunFolder",
    "Table",
    "Text",
    "fmt",
    "fmt_diff",
    "fmt_pm",
    "fmt_seconds",
    "group_curves_info",
    "group_report_blocks",
    "kv_table",
    "load_run",
    "markdown_to_html",
    "mean_pm_std",
    "read_history",
    "redraw_figures",
    "render_html",
    "render_markdown",
    "run_report_blocks",
    "runs_index_blocks",
    "save_figure",
    "standard_plots",
    "study_report_blocks",
    "summarize_runs",
    "summarize_study",
    "write_document",
    "write_folder_report",
    "write_group_report",
    "write_report",
    "write_runs_index",
    "write_study_report",
    "write_text",
]
