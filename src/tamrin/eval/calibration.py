"""Calibration and precision–recall: ECE with its reliability diagram, PR curves with AP per class,
the confusion matrix side by side (counts and normalized), and the val-chosen operating point.

Metric math is scikit-learn's: reliability bins from `sklearn.calibration.calibration_curve`
(top-label: "is the predicted class right" against the predicted class's probability),
precision–recall curves from `precision_recall_curve`, AP from `average_precision_score`.
Values come back as plain JSON data. Each figure is a plain data value (`reliability_info`,
`pr_info`, `confusion_pair_info`, `operating_point_info`) apart from its drawer, registered by kind
in `tamrin.eval.figures` ("reliability", "precision_recall", "confusion_pair", "operating_point"),
so `ctx.log_plot` keeps the data and `tamrin report` redraws the figure from the run folder alone.
Drawers build bare `Figure`s (Agg, no pyplot state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve

from tamrin.eval.figures import register_drawer

_DECIMALS = 4  # curve points kept in a run folder's plot data are rounded to this many decimals


def _as_arrays(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != y.shape[0]:
        raise ValueError(f"proba must be (n, K) with n = len(y_true) = {y.shape[0]}; got {p.shape}")
    if y.size == 0:
        raise ValueError("y_true is empty; there is nothing to evaluate")
    return y, np.clip(p, 0.0, 1.0)


def reliability(y_true: Any, proba: Any, n_bins: int = 15) -> dict[str, Any]:
    """Top-label reliability bins and the expected calibration error (ECE).

    Confidence is max_c p_c, correctness is argmax == y. Bins are `n_bins` equal-width bins of
    [0, 1] (scikit-learn's "uniform" strategy); ECE = Σ_b (n_b / n) |accuracy_b - confidence_b|,
    and MCE = max_b |accuracy_b - confidence_b| over non-empty bins.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    y, p = _as_arrays(y_true, proba)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.int64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], confidence)  # the same binning as calibration_curve
    counts = np.bincount(ids, minlength=n_bins)
    if np.unique(correct).size == 1:  # calibration_curve needs both outcomes present
        acc = np.full(int((counts > 0).sum()), float(correct[0]))
        conf = (
            np.bincount(ids, weights=confidence, minlength=n_bins)[counts > 0] / counts[counts > 0]
        )
    else:
        acc, conf = calibration_curve(correct, confidence, n_bins=n_bins, strategy="uniform")
    used = counts[counts > 0]
    gaps = np.abs(acc - conf)
    return {
        "ece": float(np.sum(used / y.size * gaps)),
        "mce": float(gaps.max()),
        "n_bins": int(n_bins),
        "bin_lower": [float(e) for e in edges[:-1][counts > 0]],
        "bin_accuracy": [float(a) for a in acc],
        "bin_confidence": [float(c) for c in conf],
        "bin_count": [int(c) for c in used],
        "mean_confidence": float(confidence.mean()),
        "accuracy": float(correct.mean()),
    }


def pr_curves(
    y_true: Any, proba: Any
) -> tuple[list[tuple[np.ndarray, np.ndarray] | None], list[float | None]]:
    """One-vs-rest (recall, precision) per class and its average precision; None where a class
    is absent from `y_true` (AP is undefined there)."""
    y, p = _as_arrays(y_true, proba)
    curves: list[tuple[np.ndarray, np.ndarray] | None] = []
    aps: list[float | None] = []
    for c in range(p.shape[1]):
        positive = y == c
        if not positive.any():
            curves.append(None)
            aps.append(None)
            continue
        precision, recall, _ = precision_recall_curve(positive, p[:, c])
        curves.append((recall, precision))
        aps.append(float(average_precision_score(positive, p[:, c])))
    return curves, aps


def pr_summary(y_true: Any, proba: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """AP per class, macro AP (over present classes) and each class's prevalence (chance AP)."""
    y, _ = _as_arrays(y_true, proba)
    _, aps = pr_curves(y, proba)
    present = [a for a in aps if a is not None]
    return {
        "average_precision_macro": float(np.mean(present)) if present else None,
        "average_precision": {str(n): a for n, a in zip(class_names, aps, strict=True)},
        "prevalence": {str(n): float(np.mean(y == c)) for c, n in enumerate(class_names)},
    }


def _colors(k: int) -> list[Any]:
    cmap = "tab10" if k <= 10 else "tab20"
    return [matplotlib.colormaps[cmap](i % 20) for i in range(k)]


# ----------------------------------------------------------------------------- precision–recall


@dataclass
class PrInfo:
    """One-vs-rest PR curve per class ({"recall", "precision"}, None where the class is absent),
    its AP and its prevalence in y_true (the AP of chance)."""

    class_names: list[str]
    curves: list[dict[str, list[float]] | None]
    aps: list[float | None]
    prevalence: list[float]


def _thin(recall: np.ndarray, precision: np.ndarray) -> dict[str, list[float]]:
    """Points rounded to _DECIMALS, consecutive repeats dropped (the step drawn is the same)."""
    pts = np.round(np.stack([recall, precision], axis=1), _DECIMALS)
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
    pts = pts[keep]
    return {"recall": pts[:, 0].tolist(), "precision": pts[:, 1].tolist()}


def pr_info(
    y_true: Any,
    proba: Any,
    class_names: Sequence[str],
    aps: Sequence[float | None] | None = None,
) -> PrInfo:
    """Plot data of the PR curves of `proba` (n, K) against `y_true`; `aps` defaults to
    scikit-learn's average precision per class (pass the logged ones to show the same values)."""
    y, _ = _as_arrays(y_true, proba)
    curves, own = pr_curves(y, proba)
    shown = list(own if aps is None else aps)
    if len(class_names) != len(curves) or len(shown) != len(curves):
        raise ValueError(
            f"need one class name and AP per column of proba ({len(curves)}); got "
            f"{len(class_names)} names and {len(shown)} APs"
        )
    return PrInfo(
        [str(n) for n in class_names],
        [None if c is None else _thin(*c) for c in curves],
        [None if a is None else float(a) for a in shown],
        [float(np.mean(y == c)) for c in range(len(curves))],
    )


@register_drawer("precision_recall", PrInfo)
def draw_pr(info: PrInfo) -> Figure:
    """Precision–recall curve per class, AP and prevalence (the AP of chance) in the legend."""
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.subplots()
    colors = _colors(len(info.class_names))
    for c, name in enumerate(info.class_names):
        curve = info.curves[c]
        if curve is None:
            continue
        ap = info.aps[c]
        shown = f"{ap:.3f}" if ap is not None else "n/a"
        label = f"{name} (AP {shown}, chance {info.prevalence[c]:.3f})"
        ax.step(
            curve["recall"], curve["precision"], where="post", color=colors[c], linewidth=1.4,
            label=label,
        )  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision–recall, one class vs the rest")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="lower left")
    return fig


# ----------------------------------------------------------------------------- reliability


@dataclass
class ReliabilityInfo:
    """The non-empty bins of a reliability diagram (as `reliability` returns them) and ECE/MCE."""

    n_bins: int
    bin_lower: list[float]
    bin_accuracy: list[float]
    bin_confidence: list[float]
    bin_count: list[int]
    ece: float
    mce: float


def reliability_info(rel: Mapping[str, Any]) -> ReliabilityInfo:
    """Plot data of a `reliability(...)` result."""
    return ReliabilityInfo(
        int(rel["n_bins"]),
        [float(v) for v in rel["bin_lower"]],
        [float(v) for v in rel["bin_accuracy"]],
        [float(v) for v in rel["bin_confidence"]],
        [int(v) for v in rel["bin_count"]],
        float(rel["ece"]),
        float(rel["mce"]),
    )


@register_drawer("reliability", ReliabilityInfo)
def draw_reliability(info: ReliabilityInfo) -> Figure:
    """Reliability diagram (accuracy vs confidence per bin) over a histogram of confidences."""
    fig = Figure(figsize=(5.6, 6.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    width = 1.0 / info.n_bins
    lower = np.asarray(info.bin_lower, dtype=float)
    top.bar(
        lower, info.bin_accuracy, width=width, align="edge", edgecolor="k", alpha=0.7,
        label="accuracy in bin",
    )  # fmt: skip
    top.plot(info.bin_confidence, info.bin_accuracy, "o", color="C3", markersize=3,
             label="(mean confidence, accuracy)")  # fmt: skip
    top.plot([0, 1], [0, 1], "--", color="0.4", label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    top.set_title(f"reliability (ECE {info.ece:.4f}, MCE {info.mce:.4f})")
    top.legend(fontsize="small", loc="upper left")
    top.grid(alpha=0.3)
    bottom.bar(lower, info.bin_count, width=width, align="edge", edgecolor="k", color="0.6")
    bottom.set_yscale("log")
    bottom.set_xlabel("confidence (probability of the predicted class)")
    bottom.set_ylabel("examples")
    bottom.set_xlim(0, 1)
    return fig


# ----------------------------------------------------------------------------- confusion pair


@dataclass
class ConfusionPairInfo:
    """A confusion matrix as counts and row-normalized, (K, K) each, rows the true class."""

    counts: list[list[int]]
    normalized: list[list[float]]
    class_names: list[str]


def confusion_pair_info(
    counts: Sequence[Sequence[int]],
    normalized: Sequence[Sequence[float]],
    class_names: Sequence[str],
) -> ConfusionPairInfo:
    """Plot data of a confusion matrix (metrics' `confusion` and `confusion_normalized`)."""
    k = len(class_names)
    if len(counts) != k or len(normalized) != k:
        raise ValueError(
            f"confusion matrices must be {k} x {k} (one row per class); got {len(counts)} and "
            f"{len(normalized)} rows"
        )
    return ConfusionPairInfo(
        [[int(v) for v in row] for row in counts],
        [[float(v) for v in row] for row in normalized],
        [str(n) for n in class_names],
    )


@register_drawer("confusion_pair", ConfusionPairInfo)
def draw_confusion_pair(info: ConfusionPairInfo) -> Figure:
    """Two heat maps side by side: counts (log colour scale) and the row-normalized matrix."""
    from matplotlib.colors import LogNorm

    c = np.asarray(info.counts, dtype=float)
    n = np.asarray(info.normalized, dtype=float)
    k = len(info.class_names)
    fig = Figure(figsize=(12.0, 5.4), layout="constrained")
    axes = fig.subplots(1, 2)
    panels = (
        (c, "counts", LogNorm(vmin=1, vmax=max(c.max(), 1)), lambda v: f"{int(v)}"),
        (n, "fraction of the true class (recall on the diagonal)", None, lambda v: f"{v:.2f}"),
    )
    for ax, (m, title, norm, fmt) in zip(axes, panels, strict=True):
        shown = np.where(m > 0, m, np.nan) if norm is not None else m
        im = ax.imshow(shown, cmap="Blues", norm=norm, vmin=None if norm else 0.0,
                       vmax=None if norm else 1.0)  # fmt: skip
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ticks = np.arange(k)
        short = [s if len(s) <= 14 else s[:13] + "…" for s in info.class_names]
        ax.set_xticks(ticks, labels=short, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_yticks(ticks, labels=short)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize="medium")
        if k <= 15:
            hi = np.nanmax(shown) if np.isfinite(shown).any() else 1.0
            for i in range(k):
                for j in range(k):
                    dark = np.isfinite(shown[i, j]) and shown[i, j] > (
                        hi**0.5 if norm is not None else 0.5
                    )
                    ax.text(j, i, fmt(m[i, j]), ha="center", va="center", fontsize="x-small",
                            color="white" if dark else "black")  # fmt: skip
    return fig


# ----------------------------------------------------------------------------- operating point


@dataclass
class OperatingPointInfo:
    """The val objective at each logit-adjustment strength τ and the τ chosen on val."""

    taus: list[float]
    values: list[float]
    chosen: float
    objective: str


def operating_point_info(
    taus: Sequence[float], values: Sequence[float], chosen: float, objective: str
) -> OperatingPointInfo:
    """Plot data of the τ sweep (one val objective value per τ)."""
    if len(taus) != len(values):
        raise ValueError(f"need one value per τ; got {len(taus)} τ and {len(values)} values")
    return OperatingPointInfo(
        [float(t) for t in taus], [float(v) for v in values], float(chosen), str(objective)
    )


@register_drawer("operating_point", OperatingPointInfo)
def draw_operating_point(info: OperatingPointInfo) -> Figure:
    """The val objective against the logit-adjustment strength τ, the chosen τ marked."""
    objective = info.objective.replace("_", " ")
    fig = Figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(info.taus, info.values, "-o", markersize=3, label=f"val {objective}")
    ax.axvline(0.0, color="0.6", linestyle=":", label="argmax (τ = 0)")
    ax.axvline(
        info.chosen, color="C3", linestyle="--", label=f"chosen on val (τ = {info.chosen:g})"
    )
    ax.set_xlabel("τ in argmax(z − τ log π)")
    ax.set_ylabel(objective)
    ax.set_title("post-hoc logit adjustment, chosen on the validation split")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig
