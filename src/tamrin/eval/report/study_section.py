"""The study section: summary and report of a study folder (layout: `tamrin.studies.grid`).

`summarize_study` reads study.json and every cell's metrics.json / history.csv and computes,
per variant, mean ± std of the compared metric and the extra metrics, the Welch t-test against
its group's baseline, Benjamini–Hochberg q-values and the verdict sentences. The report is
drawn from that summary alone, so every number in it traces to a cell's run files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tamrin import rundir
from tamrin.config import lookup
from tamrin.errors import RunDirError
from tamrin.eval.figures import mean_std_curve
from tamrin.eval.metrics import mean_std
from tamrin.eval.report import document as R
from tamrin.eval.report.output import save_figure, write_document
from tamrin.eval.stats import bh_qvalues, verdict, welch
from tamrin.eval.study_figures import band_figure, bar_figure, forest_figure, profile_figure


def _cell_files(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A cell's metrics and history rows; a cell not run yet has neither, a damaged one says so
    in its status (one bad cell must not hide the study's other results)."""
    try:
        metrics = rundir.read_metrics(folder, missing_ok=True)
    except RunDirError:
        metrics = {"status": "damaged metrics.json"}
    try:
        history = rundir.read_history(folder).rows
    except RunDirError:
        history = []
    return metrics, history


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _label(v: Mapping[str, Any]) -> str:
    return f"{v['group']} · {v['name']}" if v.get("group") else v["name"]


def _baseline_label(spec: Mapping[str, Any], group: str) -> str:
    members = [v for v in spec["variants"] if v.get("group", "") == group]
    for v in members:
        if v["name"] == spec.get("baseline"):
            return _label(v)
    return _label(members[0])


def _curves(histories: Sequence[list[dict[str, Any]]], column: str) -> dict[str, list[Any]]:
    """Per epoch, mean and std over the seeds that reached it (`figures.mean_std_curve`)."""
    return mean_std_curve(histories, column)


def _profile(values: Sequence[Any]) -> dict[str, Any] | None:
    """Mean over seeds of list-valued (x = index) or {"x", "y"} metric values."""
    ys, x, xlabel = [], None, "layer"
    for v in values:
        if isinstance(v, Mapping) and "y" in v:
            x, xlabel = v.get("x"), v.get("xlabel", "x")
            v = v["y"]
        if isinstance(v, list) and v and all(_number(e) is not None for e in v):
            ys.append([float(e) for e in v])
    if not ys or len({len(y) for y in ys}) != 1:
        return None
    arr = np.asarray(ys)
    return {
        "x": list(x) if x is not None else list(range(1, arr.shape[1] + 1)),
        "xlabel": xlabel,
        "mean": arr.mean(0).tolist(),
    }


def summarize_study(study_dir: Path) -> dict[str, Any]:
    """Everything the study report shows, computed from the cells' run files."""
    study_dir = Path(study_dir)
    meta = rundir.read_json(study_dir / rundir.STUDY, "study")
    spec = meta["spec"]
    metric, keys = spec["metric"], list(spec.get("metrics") or [])
    cells: dict[str, list[dict[str, Any]]] = {}
    for cell in meta["cells"]:
        folder = study_dir / cell["dir"]
        metrics, history = _cell_files(folder)
        cells.setdefault(cell["variant"], []).append(
            {
                **cell,
                "status": metrics.get("status", "not run"),
                "metrics": metrics,
                "history": history,
            }
        )
    variants = []
    for v in spec["variants"]:
        label, group = _label(v), v.get("group", "")
        runs = cells.get(label, [])
        values = [_number(lookup(r["metrics"], metric)) for r in runs]
        variants.append(
            {
                "label": label,
                "name": v["name"],
                "group": group,
                "overrides": v.get("overrides") or {},
                "baseline": label == _baseline_label(spec, group),
                "seeds": [r["seed"] for r in runs],
                "status": [r["status"] for r in runs],
                "dirs": [r["dir"] for r in runs],
                "wall_time_s": mean_std(_number(r["metrics"].get("wall_time_s")) for r in runs),
                "metric": mean_std(values),
                "metrics": {
                    k: mean_std(_number(lookup(r["metrics"], k)) for r in runs) for k in keys
                },
                "curves": {
                    c: _curves([r["history"] for r in runs], c) for c in spec.get("curves") or []
                },
                "profiles": {
                    p: _profile([lookup(r["metrics"], p) for r in runs])
                    for p in spec.get("profiles") or []
                },
            }
        )
    _compare(variants, spec)
    return {
        "study": meta["study"],
        "summary": spec.get("summary", ""),
        "question": spec.get("question", ""),
        "recipe": spec["recipe"],
        "metric": metric,
        "metrics": keys,
        "higher_is_better": spec.get("higher_is_better", True),
        "seeds": meta["seeds"],
        "smoke": meta.get("smoke", False),
        "base": spec.get("base") or {},
        "overrides": meta.get("overrides") or {},
        "wall_time_s": meta.get("wall_time_s"),
        "workers": meta.get("workers"),
        "variants": variants,
        "verdicts": [v["verdict"] for v in variants if v.get("verdict")],
    }


def _compare(variants: list[dict[str, Any]], spec: Mapping[str, Any]) -> None:
    """Welch t-test of every non-baseline variant against its group's baseline (in place)."""
    by_label = {v["label"]: v for v in variants}
    values = [x for v in variants for x in v["metric"]["values"] if x is not None]
    rates = bool(values) and all(0.0 <= x <= 1.0 for x in values)
    metric_words = spec["metric"].replace("test.", "test ").replace("_", " ")
    tested = []
    for v in variants:
        base = by_label[_baseline_label(spec, v["group"])]
        if v["baseline"]:
            continue
        a = [x for x in v["metric"]["values"] if x is not None]
        b = [x for x in base["metric"]["values"] if x is not None]
        if len(a) < 2 or len(b) < 2:
            v["comparison"] = None
            v["verdict"] = (
                f"{v['label']} vs {base['label']}: not compared "
                f"({len(a)} and {len(b)} finished seeds; a t-test needs 2 each)"
            )
            continue
        c = welch(a, b)
        v["comparison"] = c.as_dict()
        v["verdict"] = verdict(
            v["label"],
            base["label"],
            metric_words,
            c,
            rates=rates,
            higher_is_better=spec.get("higher_is_better", True),
        ) + _missing_note(v, base)
        tested.append(v)
    for v, q in zip(tested, bh_qvalues([v["comparison"]["p"] for v in tested]), strict=True):
        v["comparison"]["q_bh"] = q


def _missing_note(*variants: Mapping[str, Any]) -> str:
    """' (2 of 5 seeds of X without a value: stopped_nonfinite, left out)' or ''."""
    notes = []
    for v in variants:
        missing = [
            st for st, x in zip(v["status"], v["metric"]["values"], strict=True) if x is None
        ]
        if missing:
            notes.append(
                f"{len(missing)} of {len(v['status'])} seeds of {v['label']} without a value: "
                f"{', '.join(sorted(set(missing)))}, left out"
            )
    return f" ({'; '.join(notes)})" if notes else ""


# ----------------------------------------------------------------------------- the report


def _result_table(summary: Mapping[str, Any]) -> R.Table:
    metric, keys = summary["metric"], summary["metrics"]
    rows: list[list[R.Cell]] = []
    for v in summary["variants"]:
        c = v.get("comparison") or {}
        done = sum(s in ("completed", "stopped_early") for s in v["status"])
        failed = len(v["status"]) - done
        rows.append(
            [
                v["label"] + (" (baseline)" if v["baseline"] else ""),
                R.mean_pm_std(v["metric"]),
                "" if v["baseline"] else R.fmt_diff(c.get("diff")),
                "" if v["baseline"] else R.fmt(c.get("p")),
                "" if v["baseline"] else R.fmt(c.get("q_bh")),
                *(R.mean_pm_std(v["metrics"][k]) for k in keys),
                f"{done}/{len(v['status'])}" + (f" ({failed} failed)" if failed else ""),
            ]
        )
    return R.Table(
        [
            "variant",
            f"{metric} (mean ± std)",
            "Δ vs baseline",
            "p (Welch)",
            "q (BH)",
            *keys,
            "runs",
        ],
        rows,
        "Mean and sample std (ddof=1) over seeds; Δ = mean(variant) − mean(baseline of its "
        "group); p: two-sided Welch t-test on the per-seed values; q: Benjamini–Hochberg "
        "adjusted over all comparisons of the study. Runs: completed / cells.",
        id="results",
    )


def _cells_table(study_dir: Path, summary: Mapping[str, Any]) -> R.Table:
    rows: list[list[R.Cell]] = []
    for v in summary["variants"]:
        values = v["metric"]["values"]
        for i, (seed, status, folder) in enumerate(
            zip(v["seeds"], v["status"], v["dirs"], strict=True)
        ):
            report = study_dir / folder / "report.html"
            link: R.Cell = (
                R.Link("report", Path(os.path.relpath(report, study_dir)).as_posix())
                if report.is_file()
                else folder
            )
            rows.append([v["label"], R.fmt(seed), R.fmt(values[i]), status, link])
    return R.Table(["variant", "seed", summary["metric"], "status", "run"], rows, id="cells")


def study_report_blocks(
    study_dir: Path, summary: Mapping[str, Any], figures: Mapping[str, str]
) -> list[R.Block]:
    n_seeds = len(summary["seeds"])
    blocks: list[R.Block] = [R.Heading(summary["study"], 1)]
    if summary.get("summary"):
        blocks.append(R.Text(summary["summary"]))
    if summary.get("smoke"):
        blocks.append(R.Text("**Smoke run**: shrunk budget; the numbers mean nothing.", "warn"))
    budget = {**summary.get("base", {}), **summary.get("overrides", {})}
    blocks.append(
        R.Text(
            f"Recipe `{summary['recipe']}` · {len(summary['variants'])} variants × {n_seeds} "
            f"seeds ({R.fmt(summary['seeds'])}) · shared settings "
            f"{', '.join(f'`{k}={v}`' for k, v in budget.items()) or 'the defaults'} · "
            f"wall time {R.fmt_seconds(summary.get('wall_time_s'))} on "
            f"{R.fmt(summary.get('workers'))} worker(s)",
            "muted",
        )
    )
    if summary.get("question"):
        blocks += [R.Heading("The question"), R.Text(summary["question"])]
    blocks.append(R.Heading("Verdicts"))
    lines = summary.get("verdicts") or ["(no comparisons: every group has one variant)"]
    blocks.append(R.Text("\n".join(f"- {line}" for line in lines)))
    blocks.append(
        R.Text(
            "Each verdict is generated from the table below: Δ ± its standard error, the "
            "two-sided Welch t-test p-value, significant at p < 0.05 (uncorrected; the q column "
            "corrects for the number of comparisons).",
            "muted",
        )
    )
    blocks += [R.Heading("Results"), _result_table(summary)]
    for name, caption in (
        ("bar", f"{summary['metric']}: mean ± std per variant, seeds as dots (grey: baseline)."),
        (
            "forest",
            f"Δ {summary['metric']} of each variant vs its group's baseline with the 95% "
            "confidence interval (Welch); red: p < 0.05. A variant far off the scale sits at "
            "the edge with its Δ written beside it.",
        ),
    ):
        if name in figures:
            blocks.append(R.Image(figures[name], caption))
    curve_figs = [k for k in figures if k.startswith("curve-")]
    if curve_figs:
        blocks.append(R.Heading("Curves"))
        blocks += [
            R.Image(figures[k], f"{k.removeprefix('curve-')}: mean over seeds, band ±1 std.")
            for k in curve_figs
        ]
    prof_figs = [k for k in figures if k.startswith("profile-")]
    if prof_figs:
        blocks.append(R.Heading("Profiles"))
        blocks += [
            R.Image(figures[k], f"{k.removeprefix('profile-')}: mean over seeds.")
            for k in prof_figs
        ]
    blocks += [
        R.Heading("Cells"),
        R.Collapsed("every variant × seed", [_cells_table(study_dir, summary)]),
        R.Text(
            "Generated from summary.json, which is computed from each cell's metrics.json and "
            "history.csv (`tamrin report STUDY_DIR` rebuilds it).",
            "muted",
        ),
    ]
    return blocks


def _figures(study_dir: Path, summary: Mapping[str, Any]) -> dict[str, str]:
    folder = study_dir / "figures"
    folder.mkdir(exist_ok=True)
    values = [x for v in summary["variants"] for x in v["metric"]["values"] if x is not None]
    scale = 100.0 if values and all(0 <= x <= 1 for x in values) else 1.0
    made: dict[str, Any] = {
        "bar": bar_figure(summary["variants"], summary["metric"]),
        "forest": forest_figure(summary["variants"], summary["metric"], scale),
    }
    columns = {c for v in summary["variants"] for c in v["curves"]}
    for c in sorted(columns):
        made[f"curve-{c}"] = band_figure(summary["variants"], c)
    keys = {p for v in summary["variants"] for p in v["profiles"]}
    for p in sorted(keys):
        made[f"profile-{p}"] = profile_figure(summary["variants"], p)
    out = {}
    for name, fig in made.items():
        if fig is None:
            continue
        file = folder / f"{name.replace('.', '_')}.png"
        save_figure(fig, file)
        out[name] = f"figures/{file.name}"
    return out


def write_study_report(study_dir: Path) -> tuple[Path, Path]:
    """Write summary-based report.html / report.md (and figures) of a study folder."""
    study_dir = Path(study_dir)
    path = study_dir / rundir.SUMMARY
    summary = rundir.read_json(path, "study") if path.is_file() else summarize_study(study_dir)
    figures = _figures(study_dir, summary)
    blocks = study_report_blocks(study_dir, summary, figures)
    return write_document(study_dir, summary["study"], blocks)
