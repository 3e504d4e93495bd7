"""Figures of a study report: curves with a ±1 std band over seeds, a bar chart of the compared
metric, and per-layer (or x/y) profiles. Data in, `Figure` out (no pyplot state)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tamrin.eval.figures import BandInfo, draw_band


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
    """Mean of history column `column` per epoch with a ±1 std band, one panel per group
    (drawn by the run reports' "band" kind, so a one-epoch study gets sane axes too)."""
    panels = []
    for group in _groups(variants):
        series = {
            v["name"]: curve
            for v in variants
            if v["group"] == group
            and (curve := (v.get("curves") or {}).get(column))
            and curve.get("mean")
        }
        panels.append({"title": group or column, "ylabel": column, "series": series})
    if not any(p["series"] for p in panels):
        return None
    return draw_band(BandInfo(panels))


def forest_figure(variants: Sequence[Mapping[str, Any]], metric: str, scale: float) -> Figure:
    """Δ vs the group's baseline with its 95% confidence interval, one panel per group.

    `scale` 100 draws rates in percentage points. A variant far outside the others' range is
    pinned to the panel's edge with its value written beside it, so it cannot flatten the rest.
    """
    groups = _groups(variants)
    fig, axes = _axes(len(groups), height=0.45 * max(len(variants) / len(groups), 4) + 1)
    for ax, group in zip(axes, groups, strict=True):
        rows = [v for v in variants if v["group"] == group and v.get("comparison")]
        if not rows:
            ax.set_visible(False)
            continue
        diffs = np.array([v["comparison"]["diff"] * scale for v in rows])
        lows = np.array([v["comparison"]["ci_low"] * scale for v in rows])
        highs = np.array([v["comparison"]["ci_high"] * scale for v in rows])
        typical = np.percentile(np.abs(np.r_[lows, highs]), 50) or 1.0
        outlier = np.abs(diffs) > 8 * typical
        limit = max(np.abs(np.r_[lows[~outlier], highs[~outlier]]).max(initial=0) * 1.25, 1e-9)
        y = np.arange(len(rows))[::-1]
        for yi, d, lo, hi, out, v in zip(y, diffs, lows, highs, outlier, rows, strict=True):
            significant = (v["comparison"].get("p") or 1) < 0.05
            color = "tab:red" if significant else "tab:blue"
            if out:
                edge = np.sign(d) * limit
                ax.plot(edge, yi, marker="<" if d < 0 else ">", color=color, ms=8)
                ax.annotate(f"{d:+.1f}", (edge, yi), textcoords="offset points",
                            xytext=(12 if d < 0 else -12, 4), ha="left" if d < 0 else "right",
                            fontsize=8, color=color)  # fmt: skip
                continue
            ax.errorbar(d, yi, xerr=[[d - lo], [hi - d]], fmt="o", color=color, capsize=3, ms=4)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlim(-limit * 1.05, limit * 1.05)
        ax.set_yticks(y, [v["name"] for v in rows])
        base = next((v["name"] for v in variants if v["group"] == group and v["baseline"]), "")
        unit = " (points)" if scale == 100 else ""
        ax.set_xlabel(f"Δ {metric} vs {base}{unit}, 95% CI")
        ax.set_title(group or metric)
        ax.grid(axis="x", alpha=0.3)
    return fig


def bar_figure(variants: Sequence[Mapping[str, Any]], metric: str) -> Figure:
    """Mean ± std of the compared metric per variant (seeds as dots; grey: the baseline), one
    panel per group. The axis spans the typical variants; one far below or above is drawn to
    the edge with its mean written on it."""
    groups = _groups(variants)
    fig, axes = _axes(len(groups), height=3.2)
    for ax, group in zip(axes, groups, strict=True):
        members = [v for v in variants if v["group"] == group and v["metric"]["mean"] is not None]
        means = np.array([v["metric"]["mean"] for v in members])
        if not len(means):
            ax.set_visible(False)
            continue
        centre = float(np.median(means))
        spread = float(np.median(np.abs(means - centre))) or float(np.ptp(means)) or 1e-3
        inlier = np.abs(means - centre) <= 10 * spread
        lo = min(
            v["metric"]["mean"] - v["metric"]["std"]
            for v, ok in zip(members, inlier, strict=True)
            if ok
        )
        hi = max(
            v["metric"]["mean"] + v["metric"]["std"]
            for v, ok in zip(members, inlier, strict=True)
            if ok
        )
        pad = max((hi - lo) * 0.3, 1e-4)
        bottom, top = lo - pad, hi + pad
        for i, (v, ok) in enumerate(zip(members, inlier, strict=True)):
            st = v["metric"]
            color = "tab:gray" if v.get("baseline") else "tab:blue"
            if not ok:
                ax.bar(i, top - bottom, bottom=bottom, color="white", edgecolor=color, hatch="//")
                ax.text(
                    i, (bottom + top) / 2, f"{st['mean']:.4g}\n(off scale)", ha="center", fontsize=7
                )
                continue
            ax.bar(
                i,
                st["mean"] - bottom,
                bottom=bottom,
                yerr=st["std"],
                color=color,
                alpha=0.75,
                capsize=3,
            )
            vals = [x for x in st["values"] if x is not None]
            ax.plot([i] * len(vals), vals, "k.", ms=3)
        ax.set_ylim(bottom, top)
        ax.set_xticks(range(len(members)), [v["name"] for v in members], rotation=30, ha="right")
        ax.set_ylabel(metric)
        ax.set_title(group or metric)
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
