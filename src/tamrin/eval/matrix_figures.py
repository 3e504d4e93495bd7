"""Small matrices drawn side by side with every value written in its cell, and optional arrows along
the axis a panel was reduced over (e.g. batch norm: columns; layer norm: rows).

The data is a plain value (`MatricesInfo`, a `matrices_info(...)` builder) apart from its drawer,
registered as plot kind "matrices", so a run's figure is redrawn from figures/<name>.json alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from matplotlib.figure import Figure

from tamrin.eval.figures import register_drawer

Arrows = Literal["rows", "columns"] | None
_ARROWS = ("rows", "columns", None)


@dataclass
class MatricesInfo:
    """Panels of {"values": (R, C) list of rows, "title": str, "arrows": "rows"|"columns"|None}."""

    panels: list[dict[str, Any]]
    xlabel: str = "feature"
    ylabel: str = "sample"


def matrices_info(
    panels: Sequence[tuple[Any, str, Arrows]], xlabel: str = "feature", ylabel: str = "sample"
) -> MatricesInfo:
    """Plot data of (matrix, title, arrows) panels; arrows mark the axis each panel runs along."""
    out = []
    for values, title, arrows in panels:
        if arrows not in _ARROWS:
            raise ValueError(f"arrows must be one of {_ARROWS}; got {arrows!r}")
        m = np.asarray(values, dtype=float)
        if m.ndim != 2:
            raise ValueError(f"a panel's values must be a 2-d matrix; got shape {m.shape}")
        out.append({"values": m.tolist(), "title": str(title), "arrows": arrows})
    return MatricesInfo(out, xlabel, ylabel)


@register_drawer("matrices", MatricesInfo)
def draw_matrices(info: MatricesInfo) -> Figure:
    """One heat map per panel, each value written in its cell (two decimals), arrows optional."""
    n = max(len(info.panels), 1)
    fig = Figure(figsize=(11 * n / 3, 3.6))
    for i, panel in enumerate(info.panels):
        m = np.asarray(panel["values"], dtype=float)
        ax = fig.add_subplot(1, n, i + 1)
        ax.imshow(m, cmap="coolwarm")
        for (r, c), v in np.ndenumerate(m):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7)
        if panel.get("arrows") == "columns":
            for c in range(m.shape[1]):
                ax.annotate(
                    "",
                    xy=(c, m.shape[0] - 0.6),
                    xytext=(c, -0.4),
                    arrowprops={"arrowstyle": "->", "alpha": 0.4},
                )
        elif panel.get("arrows") == "rows":
            for r in range(m.shape[0]):
                ax.annotate(
                    "",
                    xy=(m.shape[1] - 0.6, r),
                    xytext=(-0.4, r),
                    arrowprops={"arrowstyle": "->", "alpha": 0.4},
                )
        ax.set_title(str(panel.get("title", "")), fontsize=9)
        ax.set_xlabel(info.xlabel)
        ax.set_ylabel(info.ylabel)
    fig.tight_layout()
    return fig
