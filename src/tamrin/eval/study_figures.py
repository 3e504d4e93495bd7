"""Figures of a study report: curves with a ±1 std band over seeds, a bar chart of the compared
metric, and per-layer (or x/y) profiles. Data in, `Figure` out (no pyplot state)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def _groups(variants: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: list[str] = []
    for v in variants:
        if v["group"] not in seen:
            seen.append(v["group"])
    return seen


def _axes(n: int, width: float = 5.2, height: float = 3.6) -> tuple[Figure, list[Any]]:
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def band_figure(variants: Sequence[Mapping[str, Any]], column: str) -> Figure | None:
    """Mean of history column `column` per epoch with a ±1 std band, one panel per group."""
    groups = _groups(variants)
    fig, axes = _axes(len(groups))
    drawn = False
    for ax, group in zip(axes, groups, strict=True):
        for v in (v for v in variants if v["group"] == group):
            curve = (v.get("curves") or {}).get(column)
            if not curve or not curve.get("mean"):
                continue
            x = np.asarray(curve["epoch"], dtype=float)
            m = np.asarray(curve["mean"], dtype=float)
            s = np.asarray(curve["std"], dtype=float)
            (line,) = ax.plot(x, m, marker="o" if len(x) < 4 else None, ms=3, label=v["name"])
            ax.fill_between(x, m - s, m + s, alpha=0.2, color=line.get_color())
            drawn = True
        ax.set_xlabel("epoch")
        ax.set_ylabel(column)
        ax.set_title(group or column)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig if drawn else None


def bar_figure(
    variants: Sequence[Mapping[str, Any]], metric: str, stats_key: str = "metric"
) -> Figure:
    """Mean ± std of the compared metric per variant (seeds as dots), one panel per group."""
    groups = _groups(variants)
    fig, axes = _axes(len(groups), height=3.2)
    for ax, group in zip(axes, groups, strict=True):
        members = [v for v in variants if v["group"] == group]
        for i, v in enumerate(members):
            st = v[stats_key]
            vals = [x for x in st["values"] if x is not None]
            if st["mean"] is None:
                continue
            color = "tab:gray" if v.get("baseline") else "tab:blue"
            ax.bar(i, st["mean"], yerr=st["std"], color=color, alpha=0.75, capsize=3)
            ax.plot([i] * len(vals), vals, "k.", ms=3)
        ax.set_xticks(range(len(members)), [v["name"] for v in members], rotation=30, ha="right")
        ax.set_ylabel(metric)
        ax.set_title(group or metric)
        means = [v[stats_key]["mean"] for v in members if v[stats_key]["mean"] is not None]
        if means:
            lo, hi = min(means), max(means)
            pad = max((hi - lo) * 0.5, 1e-3)
            ax.set_ylim(max(lo - pad, 0) if lo >= 0 else lo - pad, hi + pad)
        ax.grid(axis="y", alpha=0.3)
    return fig


def profile_figure(variants: Sequence[Mapping[str, Any]], key: str) -> Figure | None:
    """Mean over seeds of a list-valued metric (x = layer) or an {"x", "y"} curve, per variant."""
    groups = _groups(variants)
    fig, axes = _axes(len(groups))
    drawn = False
    xlabel = "layer"
    for ax, group in zip(axes, groups, strict=True):
        for v in (v for v in variants if v["group"] == group):
            prof = (v.get("profiles") or {}).get(key)
            if not prof:
                continue
            ax.plot(prof["x"], prof["mean"], marker="o", ms=3, label=v["name"])
            xlabel = prof.get("xlabel", xlabel)
            drawn = True
        ax.set_xlabel(xlabel)
        ax.set_ylabel(key.rsplit(".", 1)[-1])
        ax.set_yscale("symlog", linthresh=1e-6)
        ax.set_title(group or key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig if drawn else None
