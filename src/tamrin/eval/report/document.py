"""The report's document model: blocks (headings, text, tables, images, ...) and one number format.

A report is a list of blocks, rendered twice (`to_html`, `to_markdown`), so the two formats
cannot drift apart: each number is formatted once by `fmt` and shown in both.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tamrin.config import flatten

_NUMBER = r"([-+]?\d+(\.\d+)?(e[-+]?\d+)?|NaN|-?inf)"
_NUMERIC = re.compile(rf"^{_NUMBER}( ± {_NUMBER})?( s)?$")  # cells right-aligned in tables
_MAX_DECIMALS = 4  # the finest decimal place a report shows (fmt's floats, mean ± std)


# ----------------------------------------------------------------------------- number formatting


def fmt(value: Any) -> str:
    """One number format for both reports: ints as is, floats to 4 decimals (2 decimals from 100,
    significant digits for tiny or huge values), None as an em dash, NaN/inf spelled out."""
    if value is None:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0 or 1e-3 <= abs(v) < 100:
            return f"{v:.4f}"
        if 100 <= abs(v) < 1e6:
            return f"{v:.2f}"
        return f"{v:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    return str(value)


def fmt_diff(value: Any) -> str:
    """A signed difference to 4 decimals ('+0.0100'); rounding noise shows as '+0.0000'."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    if not math.isfinite(value):
        return fmt(float(value))
    return f"{round(float(value), 4) + 0.0:+.4f}"


def fmt_seconds(seconds: Any) -> str:
    """'118.2 s (1 min 58 s)': seconds to one decimal, with minutes/hours where they help."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return "—"
    s = float(seconds)
    if not math.isfinite(s):
        return fmt(s)
    text = f"{s:.1f} s"
    whole = round(s)
    if whole >= 3600:
        text += f" ({whole // 3600} h {whole % 3600 // 60:02d} min)"
    elif whole >= 60:
        text += f" ({whole // 60} min {whole % 60:02d} s)"
    return text


# ----------------------------------------------------------------------------- document blocks


@dataclass
class Link:
    """A table cell that links to another file (relative href)."""

    text: str
    href: str


Cell = str | Link


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Text:
    """A paragraph in minimal Markdown (`code`, **bold**, '- ' lists); style '', 'warn' or 'muted'.

    Muted text is grey in HTML and plain in Markdown.
    """

    text: str
    style: str = ""


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    id: str = ""


@dataclass
class Image:
    src: str  # relative to the report, posix separators
    caption: str


@dataclass
class Collapsed:
    """Content hidden behind a summary line (<details> in both HTML and Markdown)."""

    summary: str
    body: list[Any] = field(default_factory=list)


@dataclass
class Code:
    text: str
    language: str = ""


Block = Heading | Text | Table | Image | Collapsed | Code


def numeric_columns(table: Table) -> list[bool]:
    """Which columns hold only numbers (or dashes): those are right-aligned in both formats."""
    out = []
    for j in range(len(table.columns)):
        cells = [row[j] for row in table.rows if j < len(row)]
        filled = [c for c in cells if not (isinstance(c, str) and c in ("", "—"))]
        out.append(bool(filled) and all(isinstance(c, str) and _NUMERIC.match(c) for c in filled))
    return out


def kv_table(data: Mapping[str, Any], caption: str = "", id: str = "") -> Table:
    """A key/value table of a (nested) mapping, keys dotted."""
    return Table(["key", "value"], [[k, fmt(v)] for k, v in flatten(data).items()], caption, id)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def fmt_pm(mean: Any, std: Any) -> str:
    """mean ± std rounded together: the std to two significant digits, the mean to the same
    decimal place, at most 4 decimals (a smaller std shows as '± 0.0000'), so
    `0.1000 ± 4.081e-09` reads '0.1000 ± 0.0000' and `0.63 ± 0.0157` reads '0.630 ± 0.016'.

    Without a finite std (one run) the mean alone; values below 1e-3 or from 1e6 in `fmt`'s
    significant-digit form. '—' without a mean.
    """
    m, s = _finite(mean), _finite(std)
    if m is None:
        return fmt(mean)
    if s is None:
        return fmt(m) if std is None else f"{fmt(m)} ± {fmt(std)}"
    s = abs(s)
    if (m != 0 and abs(m) < 1e-3) or abs(m) >= 1e6:
        return f"{fmt(m)} ± {s:.2g}"
    decimals = _MAX_DECIMALS if s == 0 else min(1 - math.floor(math.log10(s)), _MAX_DECIMALS)
    if decimals > 0:
        return f"{m:.{decimals}f} ± {s:.{decimals}f}"
    return f"{round(m, decimals):.0f} ± {round(s, decimals):.0f}"  # std ≥ 10: whole tens, ...


def mean_pm_std(stats: Mapping[str, Any]) -> str:
    """'0.630 ± 0.020' of a mean_std dict (`fmt_pm`); the mean alone for one value (its std
    of 0 says nothing), '—' without a mean."""
    if stats.get("mean") is None:
        return "—"
    std = None if stats.get("n") == 1 else stats.get("std")
    return fmt_pm(stats.get("mean"), std)
