"""Writing a report: figures (PNG, atomically) and report.html + report.md from one block list."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from tamrin.eval.report.document import Block
from tamrin.eval.report.to_html import render_html
from tamrin.eval.report.to_markdown import render_markdown
from tamrin.rundir import write_text

DPI = 110


def save_figure(fig: Figure, path: Path) -> None:
    """Save a figure as PNG via a temporary file and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.png")  # per process: no shared tmp
    fig.savefig(tmp, dpi=DPI, format="png")
    os.replace(tmp, path)


def write_document(folder: Path, title: str, blocks: Sequence[Block]) -> tuple[Path, Path]:
    """folder/report.html and folder/report.md of the same blocks; returns both paths."""
    html_path, md_path = Path(folder) / "report.html", Path(folder) / "report.md"
    write_text(html_path, render_html(title, blocks))
    write_text(md_path, render_markdown(blocks))
    return html_path, md_path


__all__ = ["DPI", "save_figure", "write_document", "write_text"]
