"""Plot data apart from drawing (as optuna's `_get_*_info` / `_plot_*`): the standard figures of
a run report (training curves, confusion matrix, one-vs-rest ROC) and recipe plots by kind.

For each figure a pure function computes a plain, JSON-ready data value from a run folder's
files (`curves_info`, `confusion_info`, `roc_info`) and a drawer turns that value into a
`matplotlib.figure.Figure` (`draw_curves`, ...), built without pyplot (no global state, no GUI
backend). Drawers are registered by kind (`register_drawer`), so a recipe's `ctx.log_plot(name,
kind, data)` stores the data as figures/<name>.json and `tamrin report` redraws it from there.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import roc_curve

from tamrin.errors import ConfigError, did_you_mean

# Columns drawn on each panel of the curves figure, in order; other columns that contain the panel
# word ("loss" / "acc") are drawn too, dashed (e.g. `train_loss_ce`).
_PANELS = {"loss": ("train_loss", "val_loss"), "accuracy": ("train_acc", "val_acc")}
_PANEL_WORD = {"loss": "loss", "accuracy": "acc"}
_MAX_ANNOTATED = 15  # annotate confusion counts only up to this many classes


def _number(x: Any) -> float:
    """A history cell as a float; missing or non-numeric cells become NaN (a gap in the line)."""
    if x is None or isinstance(x, bool):
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


# ----------------------------------------------------------------------------- the drawer registry

Drawer = Callable[[Any], Figure]
_DRAWERS: dict[str, tuple[type | None, Drawer]] = {}


def register_drawer(kind: str, info: type | None = None) -> Callable[[Drawer], Drawer]:
    """Register `fn(info) -> Figure` as the drawer of plot `kind`; `info` is the dataclass the
    JSON data is turned into (None: the drawer takes the plain mapping)."""

    def add(fn: Drawer) -> Drawer:
        if kind in _DRAWERS:
            raise ValueError(f"plot kind {kind!r} is registered twice")
        _DRAWERS[kind] = (info, fn)
        return fn

    return add


# Eval modules that register further plot kinds. They import this module (for register_drawer),
# so they are imported on first use rather than at the top: a fresh `tamrin report` process that
# never imported them can still redraw every logged plot.
KIND_MODULES = (
    "tamrin.eval.calibration",
    "tamrin.eval.embedding_figures",
    "tamrin.eval.word_figures",
    "tamrin.eval.matrix_figures",
    "tamrin.eval.memory_figures",
    "tamrin.eval.vision_figures",
)
_kinds_loaded = False


def _load_kinds() -> None:
    """Import every module of KIND_MODULES once, so all their drawers are registered."""
    global _kinds_loaded
    if _kinds_loaded:
        return
    _kinds_loaded = True  # set first: the imported modules import this one
    for module in KIND_MODULES:
        importlib.import_module(module)


def plot_kinds() -> list[str]:
    _load_kinds()
    return sorted(_DRAWERS)


def check_kind(kind: str) -> None:
    """ConfigError naming the known kinds when `kind` has no drawer."""
    _load_kinds()
    if kind not in _DRAWERS:
        raise ConfigError(
            f"unknown plot kind '{kind}'{did_you_mean(kind, _DRAWERS)}; known: "
            f"{', '.join(plot_kinds())}"
        )


def to_data(value: Any) -> Any:
    """A plot data value as plain JSON data (dataclasses and numpy arrays unpacked)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_data(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def draw(kind: str, data: Any) -> Figure:
    """Draw plot data of `kind` (its info dataclass, or the plain mapping read from JSON)."""
    check_kind(kind)
    info_type, fn = _DRAWERS[kind]
    if info_type is not None and isinstance(data, Mapping):
        known = {f.name for f in dataclasses.fields(info_type)}
        data = info_type(**{k: v for k, v in data.items() if k in known})
    return fn(data)


# ----------------------------------------------------------------------------- training curves


@dataclass
class CurvesInfo:
    """Loss / accuracy per epoch: {panel: {column: values}}, the best epoch and the title."""

    epochs: list[float]
    panels: dict[str, dict[str, list[float]]]
    best_epoch: float | None = None
    title: str = ""


def curve_series(history: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """{panel: {column: values}} for the columns present in `history`; empty panels are left out."""
    columns: list[str] = []
    for row in history:
        columns += [c for c in row if c not in columns]
    panels: dict[str, dict[str, list[float]]] = {}
    for panel, main in _PANELS.items():
        word = _PANEL_WORD[panel]
        extra = [c for c in columns if word in c and c not in main and c != "epoch"]
        names = [c for c in main if c in columns] + extra
        series = {c: [_number(row.get(c)) for row in history] for c in names}
        series = {c: v for c, v in series.items() if not all(math.isnan(x) for x in v)}
        if series:
            panels[panel] = series
    return panels


def best_title(best: Mapping[str, Any] | None) -> str:
    """'min val loss 0.83 at epoch 7' from metrics.json's `best`, or '' when there is none."""
    if not best or best.get("epoch") is None or best.get("metric") is None:
        return ""
    metric = str(best["metric"]).replace("_", " ")
    mode = str(best.get("mode") or "")
    value = best.get("value")
    shown = f"{float(value):.4g}" if isinstance(value, int | float) else "n/a"
    return f"{mode} {metric} {shown} at epoch {best['epoch']}".strip()


def curves_info(
    history: Sequence[Mapping[str, Any]], best: Mapping[str, Any] | None
) -> CurvesInfo | None:
    """The curves of history.csv (rows) and metrics.json's `best`; None without epochs."""
    if not history:
        return None
    epochs = [_number(row.get("epoch", i + 1)) for i, row in enumerate(history)]
    best_epoch = best.get("epoch") if best else None
    return CurvesInfo(
        epochs,
        curve_series(history),
        _number(best_epoch) if best_epoch is not None else None,
        best_title(best),
    )


def epoch_axis(ax: Any, xs: Sequence[float]) -> bool:
    """Whole-number epoch ticks; a lone epoch sits in the middle of [e - 1/2, e + 1/2] with one
    tick (matplotlib's default would be 0.945 to 1.055 around epoch 1). True when lone."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    finite = sorted({float(x) for x in xs if math.isfinite(_number(x))})
    if len(finite) != 1:
        return False
    e = finite[0]
    ax.set_xlim(e - 0.5, e + 0.5)
    ax.set_xticks([e])
    return True


def value_limits(ax: Any, values: Sequence[float], *, rate: bool, lone: bool) -> None:
    """A y range that shows where the values are, not their rounding noise: a rate in [0, 1]
    spans [0, 1.02] when `rate` or when there is a lone point; non-negative values start at 0
    when they are a lone point, all equal or not far from 0; otherwise matplotlib decides."""
    finite = [v for v in (_number(v) for v in values) if math.isfinite(v)]
    if not finite:
        return
    lo, hi = min(finite), max(finite)
    if (rate or lone) and lo >= 0.0 and hi <= 1.0:
        ax.set_ylim(0.0, 1.02)
    elif lo >= 0.0 and (lone or hi == lo or lo < 0.5 * hi):
        ax.set_ylim(0.0, (hi * 1.08) if hi > 0 else 1.0)
    elif hi == lo:  # a constant negative value: a unit span around it
        ax.set_ylim(lo - max(abs(lo) * 0.5, 0.5), hi + max(abs(hi) * 0.5, 0.5))


def _limits(ax: Any, xs: Sequence[float], panel: str, values: Sequence[float]) -> None:
    """Sensible axes of a curves panel: accuracy stays in [0, 1]; see epoch_axis, value_limits."""
    lone = epoch_axis(ax, xs)
    value_limits(ax, values, rate=panel == "accuracy", lone=lone)


CROWDED = 8  # more series than this in a panel: the legend goes beside it


@register_drawer("curves", CurvesInfo)
def draw_curves(info: CurvesInfo) -> Figure:
    """Loss and accuracy (train and val) against epoch, the best epoch marked by a vertical line."""
    panels = info.panels
    n = max(len(panels), 1)
    crowded = max((len(v) for v in panels.values()), default=0) > CROWDED
    fig = Figure(figsize=((7.0 if crowded else 5.0) * n, 3.8), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    if not panels:
        axes[0].text(
            0.5,
            0.5,
            "no loss or accuracy columns in history.csv",
            ha="center",
            va="center",
            transform=axes[0].transAxes,
        )
        axes[0].set_axis_off()
    few = len(info.epochs) <= 2
    for ax, (panel, series) in zip(axes, panels.items(), strict=False):
        for name, values in series.items():
            style = "-" if name in _PANELS[panel] else "--"
            ys = [_number(v) for v in values]
            ax.plot(info.epochs, ys, style, marker="o", markersize=7 if few else 3, label=name)
            if few:  # a point or two: write the values, the line says nothing
                for x, y in zip(info.epochs, ys, strict=False):
                    if math.isfinite(y):
                        ax.annotate(f"{y:.3g}", (x, y), textcoords="offset points", xytext=(6, 4))
        if info.best_epoch is not None:
            ax.axvline(
                float(info.best_epoch),
                color="0.4",
                linestyle=":",
                linewidth=1.2,
                label=f"best epoch ({info.best_epoch:g})",
            )
        _limits(ax, info.epochs, panel, [_number(v) for vs in series.values() for v in vs])
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel)
        ax.grid(alpha=0.3)
        if crowded:  # one line per task: the legend beside the panel, in two columns
            ax.legend(fontsize="x-small", ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        else:
            ax.legend(fontsize="small")
    if info.title:
        fig.suptitle(info.title)
    return fig


# ---------------------------------------------------------------------- mean ± std over seeds


def mean_std_curve(
    histories: Sequence[Sequence[Mapping[str, Any]]], column: str
) -> dict[str, list[Any]]:
    """Per epoch, mean and sample std (ddof=1; 0 for one run) of history column `column` over
    the runs that reached that epoch with a finite value, and how many did (`n`)."""
    by_epoch: dict[int, list[float]] = {}
    for rows in histories:
        for i, row in enumerate(rows):
            value, epoch = _number(row.get(column)), _number(row.get("epoch", i + 1))
            if math.isfinite(value) and math.isfinite(epoch):
                by_epoch.setdefault(int(epoch), []).append(value)
    epochs = sorted(by_epoch)
    values = [np.asarray(by_epoch[e]) for e in epochs]
    return {
        "epoch": epochs,
        "mean": [float(v.mean()) for v in values],
        "std": [float(v.std(ddof=1)) if len(v) > 1 else 0.0 for v in values],
        "n": [len(v) for v in values],
    }


@dataclass
class BandInfo:
    """Mean per epoch with a ±1 std band over seeds, one panel per entry of `panels`:
    {"title", "ylabel", "series": {label: {"epoch", "mean", "std"}}} (mean_std_curve's dict)."""

    panels: list[dict[str, Any]]
    xlabel: str = "epoch"
    title: str = ""


@register_drawer("band", BandInfo)
def draw_band(info: BandInfo) -> Figure:
    """Mean ± 1 std curves, two panels a row. A lone epoch is a marker with an error bar (a band
    one point wide is invisible) and its value written beside it."""
    n = max(len(info.panels), 1)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.2 * cols, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[len(info.panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes, info.panels, strict=False):
        xs: list[float] = []
        ys: list[float] = []
        series = panel.get("series") or {}
        for i, (label, curve) in enumerate(series.items()):
            x = np.asarray([_number(e) for e in curve.get("epoch") or []], dtype=float)
            m = np.asarray([_number(v) for v in curve.get("mean") or []], dtype=float)
            s = np.nan_to_num(np.asarray([_number(v) for v in curve.get("std") or []], dtype=float))
            if not len(x) or len(m) != len(x) or len(s) != len(x):
                continue
            few = len(x) < 4
            (line,) = ax.plot(
                x, m, marker="o" if few else None, markersize=7 if len(x) == 1 else 4, label=label
            )
            if len(x) == 1:  # side by side around the epoch, so bars of several series show
                dodge = min(0.1, 0.8 / len(series)) * (i - (len(series) - 1) / 2)
                line.set_xdata(x + dodge)
                ax.errorbar(x + dodge, m, yerr=s, fmt="none", ecolor=line.get_color(), capsize=5)
                if len(series) == 1:
                    ax.annotate(
                        f"{m[0]:.3g} ± {s[0]:.1g}",
                        (x[0], m[0]),
                        textcoords="offset points",
                        xytext=(8, 4),
                    )
            else:
                ax.fill_between(x, m - s, m + s, alpha=0.2, color=line.get_color(), linewidth=0)
            xs += x.tolist()
            ys += (m - s).tolist() + (m + s).tolist()
        lone = epoch_axis(ax, xs)
        value_limits(ax, ys, rate=False, lone=lone)
        ax.set_xlabel(info.xlabel)
        ax.set_ylabel(str(panel.get("ylabel") or ""))
        ax.set_title(str(panel.get("title") or ""), fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    if info.title:
        fig.suptitle(info.title)
    return fig


# ----------------------------------------------------------------------------- confusion matrix


@dataclass
class ConfusionInfo:
    normalized: list[list[float]]  # (K, K) rows: true class, normalised to sum 1
    counts: list[list[int]]  # (K, K)
    class_names: list[str]


def class_names_of(test: Mapping[str, Any]) -> list[str]:
    names = test.get("class_names")
    if isinstance(names, list):
        return [str(n) for n in names]
    return [str(pc.get("class", i)) for i, pc in enumerate(test.get("per_class") or [])]


def confusion_info(test: Any) -> ConfusionInfo | None:
    """The confusion matrix of metrics.json's `test` section, None when it has none."""
    if not isinstance(test, Mapping) or not test.get("confusion"):
        return None
    if not test.get("confusion_normalized"):
        return None
    return ConfusionInfo(
        [[float(v) for v in row] for row in test["confusion_normalized"]],
        [[int(v) for v in row] for row in test["confusion"]],
        class_names_of(test),
    )


@register_drawer("confusion", ConfusionInfo)
def draw_confusion(info: ConfusionInfo) -> Figure:
    """Heat map of the row-normalised confusion matrix; counts (and row %) written in each cell."""
    norm = np.asarray(info.normalized, dtype=float)
    counts = np.asarray(info.counts)
    k = len(info.class_names)
    side = min(max(4.0, 0.55 * k + 2.0), 14.0)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ticks = np.arange(k)
    labels = list(info.class_names)
    ax.set_xticks(ticks, labels=labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= _MAX_ANNOTATED:
        size = "small" if k <= 8 else "x-small"
        for i in range(k):
            for j in range(k):
                color = "white" if norm[i, j] > 0.5 else "black"
                ax.text(
                    j,
                    i,
                    f"{int(counts[i, j])}\n{norm[i, j]:.0%}",
                    ha="center",
                    va="center",
                    color=color,
                    fontsize=size,
                )
    ax.set_title("confusion matrix (rows: true class, normalised)")
    return fig


# ----------------------------------------------------------------------------- ROC curves


@dataclass
class RocInfo:
    """One-vs-rest ROC per class: (fpr, tpr) lists, None where a class is absent or alone."""

    class_names: list[str]
    curves: list[dict[str, list[float]] | None]  # {"fpr": [...], "tpr": [...]}
    aucs: list[float | None] = field(default_factory=list)


def roc_curves(y_true: np.ndarray, proba: np.ndarray) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """One-vs-rest (fpr, tpr) per class by scikit-learn; None where a class is absent or alone."""
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(proba, dtype=np.float64)
    curves: list[tuple[np.ndarray, np.ndarray] | None] = []
    for c in range(p.shape[1]):
        positive = y == c
        if positive.all() or not positive.any():
            curves.append(None)
            continue
        fpr, tpr, _ = roc_curve(positive, p[:, c])
        curves.append((fpr, tpr))
    return curves


def roc_info(predictions: Mapping[str, np.ndarray] | None, test: Any) -> RocInfo | None:
    """ROC curves from predictions.npz and the per-class AUCs of metrics.json's `test`."""
    if predictions is None or not isinstance(test, Mapping):
        return None
    names = [str(n) for n in predictions["class_names"]]
    curves = roc_curves(predictions["y_true"], predictions["proba"])
    aucs = [pc.get("auc") for pc in test.get("per_class") or []]
    return RocInfo(
        names,
        [None if c is None else {"fpr": c[0].tolist(), "tpr": c[1].tolist()} for c in curves],
        aucs,
    )


@register_drawer("roc", RocInfo)
def draw_roc(info: RocInfo) -> Figure:
    """One-vs-rest ROC curve per class with its AUC (from metrics.json) in the legend."""
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.subplots()
    k = len(info.class_names)
    cmap = "tab10" if k <= 10 else "tab20"
    colors = [matplotlib.colormaps[cmap](i % 20) for i in range(k)]
    for c, name in enumerate(info.class_names):
        curve = info.curves[c] if c < len(info.curves) else None
        if curve is None:
            continue
        auc = info.aucs[c] if c < len(info.aucs) else None
        label = f"{name} (AUC {auc:.3f})" if auc is not None else f"{name} (AUC n/a)"
        ax.plot(curve["fpr"], curve["tpr"], color=colors[c], linewidth=1.4, label=label)
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, one class vs the rest")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small" if k <= 10 else "x-small", loc="lower right")
    return fig


# ----------------------------------------------------------------------------- generic kinds


@dataclass
class LinesInfo:
    """Named y series over a shared x (a recipe's curve, profile or sweep)."""

    x: list[float]
    series: dict[str, list[float]]
    xlabel: str = ""
    ylabel: str = ""
    title: str = ""
    logx: bool = False
    logy: bool = False


def _plot_lines(ax: Any, x: Sequence[float], series: Mapping[str, Sequence[Any]]) -> None:
    """One line per series (NaN cells are gaps); big markers when there are few points."""
    few = len(x) <= 2
    for name, ys in series.items():
        values = [_number(y) for y in ys]
        if not all(math.isnan(v) for v in values):
            ax.plot(x, values, marker="o", markersize=6 if few else 3, label=name)
    if len(set(x)) == 1:
        ax.set_xlim(x[0] - 0.5, x[0] + 0.5)
        ax.set_xticks([x[0]])
        value_limits(ax, [v for ys in series.values() for v in ys], rate=False, lone=True)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


@register_drawer("lines", LinesInfo)
def draw_lines(info: LinesInfo) -> Figure:
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    _plot_lines(ax, info.x, info.series)
    if info.logx:
        ax.set_xscale("log")
    if info.logy:
        ax.set_yscale("log")
    ax.set_xlabel(info.xlabel)
    ax.set_ylabel(info.ylabel)
    if info.title:
        ax.set_title(info.title)
    return fig


@dataclass
class PanelsInfo:
    """Side-by-side line panels over one x: [{"title", "series": {name: values}}, ...]."""

    x: list[float]
    panels: list[dict[str, Any]]
    xlabel: str = "epoch"


def history_panels(
    history: Sequence[Mapping[str, Any]], panels: Sequence[tuple[str, Sequence[str]]]
) -> PanelsInfo:
    """Per-epoch curves of history columns: one panel per (title, columns); absent ones skipped."""
    x = [_number(row.get("epoch", i + 1)) for i, row in enumerate(history)]
    return PanelsInfo(
        x,
        [
            {
                "title": title,
                "series": {c: [_number(r.get(c)) for r in history] for c in columns},
            }
            for title, columns in panels
        ],
    )


@register_drawer("panels", PanelsInfo)
def draw_panels(info: PanelsInfo) -> Figure:
    n = max(len(info.panels), 1)
    fig = Figure(figsize=(4.6 * n, 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, panel in zip(axes, info.panels, strict=False):
        _plot_lines(ax, info.x, panel["series"])
        if info.xlabel == "epoch":
            epoch_axis(ax, info.x)
        ax.set_xlabel(info.xlabel)
        ax.set_title(panel["title"], fontsize=10)
    return fig


@dataclass
class BarsInfo:
    """One value per label (optionally ± an error), e.g. a metric per class or per variant."""

    labels: list[str]
    values: list[float]
    errors: list[float] | None = None
    ylabel: str = ""
    title: str = ""


@register_drawer("bars", BarsInfo)
def draw_bars(info: BarsInfo) -> Figure:
    fig = Figure(figsize=(max(4.0, 0.5 * len(info.labels) + 2.0), 4.0), layout="constrained")
    ax = fig.subplots()
    xs = np.arange(len(info.labels))
    ax.bar(xs, [_number(v) for v in info.values], yerr=info.errors, capsize=3, color="tab:blue")
    ax.set_xticks(xs, labels=info.labels, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_ylabel(info.ylabel)
    if info.title:
        ax.set_title(info.title)
    ax.grid(alpha=0.3, axis="y")
    return fig
