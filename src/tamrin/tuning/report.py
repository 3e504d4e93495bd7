"""The report of a `tamrin tune` study: best trial, top trials, the space and Optuna's own plots.

`write_tune_report(study_dir, study)` reads tune.json (recipe, metric, space, ...) and the
Optuna study itself and writes report.html + report.md (through `tamrin.eval.report`), the
figures drawn by `optuna.visualization.matplotlib` into figures/*.png, and trials.csv, one row
per trial. Everything in it comes from the storage and tune.json, so rerunning it after more
trials (or from another worker) reports the study as it stands.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shlex
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import optuna
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial, TrialState

from tamrin import rundir
from tamrin.eval.report import document as R
from tamrin.eval.report.output import save_figure, write_document
from tamrin.tuning.storage import SESSION_PREFIX, TUNE

TRIALS_CSV = "trials.csv"
TOP = 10  # rows of the top-trials table
LEGEND_MAX = 12  # trials named in the intermediate-values legend; more: no legend

# Optuna's plots, in report order: (figure name, caption).
PLOTS = (
    (
        "optimization_history",
        "Objective value of every complete trial in order, with the best value so far.",
    ),
    (
        "param_importances",
        "How much of the variation of the objective each parameter explains (Optuna's default "
        "importance evaluator, fit on the complete trials).",
    ),
    ("slice", "Objective value against each parameter; colour: trial number."),
    (
        "parallel_coordinate",
        "Each complete trial as a line through its parameter values and objective value.",
    ),
    (
        "intermediate_values",
        "The metric reported after each epoch, one line per trial: lines that stop early are "
        f"trials the pruner stopped (the legend names them up to {LEGEND_MAX} trials).",
    ),
)


# ----------------------------------------------------------------------------- reading the study


def _trials_by_state(study: optuna.Study) -> dict[TrialState, list[FrozenTrial]]:
    out: dict[TrialState, list[FrozenTrial]] = {state: [] for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state].append(trial)
    return out


def _sessions(study: optuna.Study) -> list[Mapping[str, Any]]:
    """The study's session-* user attrs (one per `tamrin tune` run), by start time."""
    found = [
        v
        for k, v in study.user_attrs.items()
        if k.startswith(SESSION_PREFIX) and isinstance(v, Mapping)
    ]
    return sorted(found, key=lambda s: str(s.get("started", "")))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _wall_time_s(study: optuna.Study, sessions: Sequence[Mapping[str, Any]]) -> float | None:
    """Seconds the study ran: the union of its sessions' [started, ended] intervals (parallel
    workers overlap; they are not added up), else first trial start to last completion."""
    intervals = []
    for s in sessions:
        wall = _number(s.get("wall_s"))
        try:
            start = datetime.fromisoformat(str(s.get("started")))
        except ValueError:
            continue
        if wall is not None:
            intervals.append((start.timestamp(), start.timestamp() + wall))
    if intervals:
        total, end = 0.0, -math.inf
        for a, b in sorted(intervals):
            if b > end:
                total += b - max(a, end)
                end = b
        return total
    trials = study.get_trials(deepcopy=False)
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    if not starts or not ends:
        return None
    return max(0.0, (max(ends) - min(starts)).total_seconds())


def _ranked(study: optuna.Study, complete: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Complete trials from best to worst in the study's direction, Optuna's best trial first
    (on a tie it may not be the lowest number: a journal keeps the first to finish)."""
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    ranked = sorted(complete, key=lambda t: (sign * float(t.values[0]), t.number))
    if ranked:
        best = study.best_trial
        ranked = [best, *(t for t in ranked if t.number != best.number)]
    return ranked


def _epochs(trial: FrozenTrial) -> int | None:
    """Epochs the trial trained: its epochs_run attr, else how many values it reported."""
    epochs = trial.user_attrs.get("epochs_run")
    if isinstance(epochs, int) and not isinstance(epochs, bool):
        return epochs
    return len(trial.intermediate_values) or None


def _duration_s(trial: FrozenTrial) -> float | None:
    return trial.duration.total_seconds() if trial.duration is not None else None


def _param_keys(spec: Mapping[str, Any], trials: Sequence[FrozenTrial]) -> list[str]:
    """Parameter names in the order of the space in tune.json, then any others (sorted)."""
    keys = [str(p["key"]) for p in spec.get("space") or [] if isinstance(p, Mapping)]
    seen = {k for t in trials for k in t.params}
    return [k for k in keys if k in seen] + sorted(seen - set(keys))


def _varying_params(complete: Sequence[FrozenTrial]) -> list[str]:
    """Parameters that take more than one value over the complete trials."""
    values: dict[str, set[str]] = {}
    for t in complete:
        for k, v in t.params.items():
            values.setdefault(k, set()).add(repr(v))
    return sorted(k for k, vs in values.items() if len(vs) > 1)


def _safe_storage(storage: str) -> str:
    """A storage URL with its password masked (the report is meant to be passed around)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", storage)


def _run_link(study_dir: Path, trial: FrozenTrial, text: str) -> R.Cell:
    """A link to the trial's run report (or its folder), relative to the study folder."""
    run_dir = trial.user_attrs.get("run_dir")
    if not isinstance(run_dir, str) or not run_dir:
        return text
    folder = Path(run_dir)
    target = folder / "report.html" if (study_dir / folder / "report.html").is_file() else folder
    return R.Link(text, target.as_posix())


# ----------------------------------------------------------------------------- trials.csv


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return value


def write_trials_csv(study_dir: Path, study: optuna.Study) -> Path:
    """study_dir/trials.csv: one row per trial, columns named as `Study.trials_dataframe()`
    names them (number, value, params_*, user_attrs_*, state), duration in seconds.

    Written with the csv module because trials_dataframe needs pandas, which tamrin does not
    depend on.
    """
    trials = study.get_trials(deepcopy=False)
    params = sorted({k for t in trials for k in t.params})
    attrs = sorted({k for t in trials for k in t.user_attrs})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "number",
            "value",
            "datetime_start",
            "datetime_complete",
            "duration_s",
            *(f"params_{k}" for k in params),
            *(f"user_attrs_{k}" for k in attrs),
            "state",
        ]
    )
    for t in trials:
        writer.writerow(
            [
                t.number,
                _csv_cell(t.value),
                _csv_cell(t.datetime_start and t.datetime_start.isoformat()),
                _csv_cell(t.datetime_complete and t.datetime_complete.isoformat()),
                _csv_cell(_duration_s(t)),
                *(_csv_cell(t.params.get(k)) for k in params),
                *(_csv_cell(t.user_attrs.get(k)) for k in attrs),
                t.state.name,
            ]
        )
    path = Path(study_dir) / TRIALS_CSV
    rundir.write_text(path, buffer.getvalue())
    return path


# ----------------------------------------------------------------------------- figures


def _use_agg() -> None:
    """Draw off-screen: Optuna's plots go through pyplot, which would pick a GUI backend where
    there is a display. A process that already imported pyplot (a notebook) keeps its own."""
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


def _root_figure(drawn: Any) -> Figure:
    """The Figure of the Axes (or ndarray of Axes, plot_slice) an Optuna plot returns."""
    axes = drawn.flat[0] if isinstance(drawn, np.ndarray) else drawn
    fig = axes.get_figure()
    while fig is not None and not isinstance(fig, Figure):
        fig = fig.get_figure()  # a SubFigure: climb to the root Figure
    if fig is None:
        raise ValueError("an Optuna plot returned Axes without a figure")
    return fig


def _tidy(name: str, fig: Figure) -> Figure:
    """Optuna's intermediate-values plot has a legend entry per trial, beside the axes: past
    `LEGEND_MAX` trials it is cut off and squeezes the plot, so it is dropped."""
    if name == "intermediate_values":
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is not None and len(legend.get_texts()) > LEGEND_MAX:
                legend.remove()
                fig.tight_layout()
    return fig


def _plot_functions(metric: str) -> dict[str, Callable[[optuna.Study], Any]]:
    from optuna.visualization import matplotlib as plots  # imports pyplot: after _use_agg

    return {
        "optimization_history": lambda s: plots.plot_optimization_history(s, target_name=metric),
        "param_importances": lambda s: plots.plot_param_importances(s, target_name=metric),
        "slice": lambda s: plots.plot_slice(s, target_name=metric),
        "parallel_coordinate": lambda s: plots.plot_parallel_coordinate(s, target_name=metric),
        "intermediate_values": plots.plot_intermediate_values,
    }


def _skip_reasons(
    by_state: Mapping[TrialState, Sequence[FrozenTrial]], varying: Sequence[str]
) -> dict[str, str]:
    """Plots that would be empty or meaningless for this study, with the reason."""
    complete = by_state[TrialState.COMPLETE]
    reasons = {}
    if not complete:
        for name in ("optimization_history", "slice", "parallel_coordinate"):
            reasons[name] = "no trial has completed yet"
    if len(complete) < 2 or len(varying) < 2:
        reasons["param_importances"] = (
            f"needs at least 2 complete trials and 2 parameters that vary; this study has "
            f"{len(complete)} complete trial(s) and {len(varying)} varying parameter(s)"
        )
    if not any(t.intermediate_values for ts in by_state.values() for t in ts):
        reasons["intermediate_values"] = "no trial reported a value per epoch"
    return reasons


def _draw_one(
    name: str, draw: Callable[[optuna.Study], Any], study: optuna.Study, file: Path
) -> tuple[bool, str | None]:
    """Draw one Optuna plot into `file`: (drawn, a note for the report: why it failed, or
    Optuna's warnings about importances)."""
    import matplotlib.pyplot as plt

    opened_before = set(plt.get_fignums())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the same notes on every call, not once per process
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            save_figure(_tidy(name, _root_figure(draw(study))), file)
        except Exception as e:  # any plot error: noted in the report, the others still drawn
            return False, f"failed ({type(e).__name__}: {e})"
        finally:  # every figure this plot opened, also when it failed half-way
            for number in set(plt.get_fignums()) - opened_before:
                plt.close(number)
    # Optuna's importance warnings say the bars mean little ("too few trials"): kept. The other
    # plots' warnings are matplotlib's (a parameter with a single value): dropped.
    said = dict.fromkeys(str(w.message).strip().rstrip(".") for w in caught)
    if said and name == "param_importances":
        return True, "drawn with warnings: " + "; ".join(said)
    return True, None


def _draw_figures(
    study_dir: Path, study: optuna.Study, metric: str, skip: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Draw Optuna's plots into figures/<name>.png: ({name: relative path}, {name: note}).

    A plot that fails is noted, not raised: one plot must not cost the study its report.
    """
    _use_agg()
    paths: dict[str, str] = {}
    notes: dict[str, str] = dict(skip)
    with matplotlib.rc_context():  # Optuna's plots switch pyplot to the ggplot style for good
        for name, draw in _plot_functions(metric).items():
            file = study_dir / rundir.FIGURES / f"{name}.png"
            drawn, note = (False, None) if name in skip else _draw_one(name, draw, study, file)
            if drawn:
                paths[name] = f"{rundir.FIGURES}/{file.name}"
            else:
                file.unlink(missing_ok=True)  # a previous report's figure would mislead
            if note:
                notes[name] = note
    return paths, notes


# ----------------------------------------------------------------------------- the report


def _summary_blocks(
    study_dir: Path,
    study: optuna.Study,
    spec: Mapping[str, Any],
    by_state: Mapping[TrialState, Sequence[FrozenTrial]],
) -> list[R.Block]:
    sessions = _sessions(study)
    counts = [
        f"{len(by_state[TrialState.COMPLETE])} complete",
        f"{len(by_state[TrialState.PRUNED])} pruned",
        f"{len(by_state[TrialState.FAIL])} failed",
        f"{len(by_state[TrialState.RUNNING])} running",
    ]
    if by_state[TrialState.WAITING]:
        counts.append(f"{len(by_state[TrialState.WAITING])} waiting")
    total = sum(len(ts) for ts in by_state.values())
    wall = R.fmt_seconds(_wall_time_s(study, sessions))
    if len(sessions) > 1:
        wall += f" over {len(sessions)} sessions (parallel ones counted once)"
    metric, direction = spec.get("metric", "value"), study.direction.name.lower()
    data = rundir.data_title(str(spec["data"])) if spec.get("data") else "the recipe's default"
    blocks: list[R.Block] = []
    if spec.get("smoke"):
        blocks.append(R.Text("**Smoke run**: shrunk budget; the numbers mean nothing.", "warn"))
    blocks.append(
        R.Text(
            f"{total} trial{'' if total == 1 else 's'}: {', '.join(counts)} · wall time {wall} · "
            f"objective `{metric}` ({direction}) on the validation split · "
            f"sampler `{spec.get('sampler', '—')}` · pruner `{spec.get('pruner', '—')}` · "
            f"data {data}"
        )
    )
    storage = str(spec.get("storage") or "")
    if storage:
        is_url = "://" in storage
        where = _safe_storage(storage) if is_url else str(study_dir / storage)
        kind = "database" if is_url else "journal file"
        blocks.append(
            R.Text(
                f"Storage: {kind} `{where}` (study `{study.study_name}`). optuna-dashboard "
                f"opens the same storage, live while trials run: `optuna-dashboard {where}`",
                "muted",
            )
        )
    return blocks


def _best_blocks(
    study_dir: Path, spec: Mapping[str, Any], ranked: Sequence[FrozenTrial]
) -> list[R.Block]:
    blocks: list[R.Block] = [R.Heading("Best trial")]
    if not ranked:
        blocks.append(R.Text("No trial has completed yet; there is no best trial.", "warn"))
        return blocks
    best, metric = ranked[0], spec.get("metric", "value")
    epochs = _epochs(best)
    blocks.append(
        R.Text(
            f"Trial **{best.number}**: `{metric}` = **{R.fmt(best.values[0])}** after "
            f"{R.fmt(epochs)} epoch(s), in {R.fmt_seconds(_duration_s(best))}."
        )
    )
    rows: list[list[R.Cell]] = [
        [k, R.fmt(best.params[k])] for k in _param_keys(spec, [best]) if k in best.params
    ]
    run_dir = best.user_attrs.get("run_dir")
    rows.append(["run folder", _run_link(study_dir, best, str(run_dir)) if run_dir else "—"])
    rows.append(["epochs run", R.fmt(epochs)])
    blocks.append(R.Table(["parameter", "value"], rows, "The best trial's parameters.", id="best"))
    return blocks


def _retrain_blocks(study_dir: Path, spec: Mapping[str, Any]) -> list[R.Block]:
    recipe = str(spec.get("recipe", "RECIPE"))
    metric = spec.get("metric", "value")
    return [
        R.Heading("Test accuracy: retrain the best configuration"),
        R.Text(
            f"The search never touches the test split: every trial is scored on the validation "
            f"split (`{metric}`), so the best value above is optimistic. The test number comes "
            f"from retraining the best trial's configuration on several seeds and scoring the "
            f"test split once:"
        ),
        R.Code(f"tamrin run {recipe} --from-study {shlex.quote(str(study_dir))} --seeds 3", "bash"),
        R.Text(
            "HW6 also reported micro precision, recall and F1: with one label per image each of "
            "them equals accuracy, so accuracy is the one number tuned and reported.",
            "muted",
        ),
    ]


def _top_table(study_dir: Path, spec: Mapping[str, Any], ranked: Sequence[FrozenTrial]) -> R.Table:
    shown = list(ranked[:TOP])
    keys = _param_keys(spec, shown)
    rows: list[list[R.Cell]] = []
    for rank, t in enumerate(shown, 1):
        duration = _duration_s(t)
        rows.append(
            [
                R.fmt(rank),
                _run_link(study_dir, t, str(t.number)),
                R.fmt(t.values[0]),
                *(R.fmt(t.params.get(k)) for k in keys),
                t.state.name.lower(),
                R.fmt(_epochs(t)),
                f"{duration:.1f}" if duration is not None else "—",
            ]
        )
    return R.Table(
        ["rank", "trial", str(spec.get("metric", "value")), *keys, "state", "epochs", "duration s"],
        rows,
        f"The {len(shown)} best complete trials in the study's direction (pruned trials stopped "
        "early and are not ranked; trials.csv lists every trial). The trial number links to "
        "its run.",
        id="top",
    )


def _range_text(param: Mapping[str, Any]) -> str:
    if "choices" in param:
        return R.fmt(list(param["choices"]))
    text = f"{R.fmt(param.get('low'))} … {R.fmt(param.get('high'))}"
    if param.get("step") is not None:
        text += f", step {R.fmt(param['step'])}"
    return text


def _space_blocks(spec: Mapping[str, Any]) -> list[R.Block]:
    space = [p for p in spec.get("space") or [] if isinstance(p, Mapping)]
    blocks: list[R.Block] = [R.Heading("Search space")]
    rows: list[list[R.Cell]] = [
        [
            str(p.get("key")),
            str(p.get("kind", "")),
            _range_text(p),
            "yes" if p.get("log") else "no",
            str(p.get("role", "")),
        ]
        for p in space
    ]
    blocks.append(
        R.Table(
            ["key", "kind", "range / choices", "log", "role"],
            rows,
            "Scientific: the hyperparameters the study is about; nuisance: tuned so that the "
            "scientific ones are compared at their best.",
            id="space",
        )
    )
    if spec.get("fixed"):
        blocks.append(R.kv_table(spec["fixed"], "Fixed for every trial.", id="fixed"))
    if spec.get("base"):
        blocks.append(
            R.kv_table(spec["base"], "Overrides given to `tamrin tune` (--set).", id="base")
        )
    return blocks


def _figure_blocks(paths: Mapping[str, str], notes: Mapping[str, str]) -> list[R.Block]:
    blocks: list[R.Block] = [R.Heading("Figures")]
    for name, caption in PLOTS:
        title = name.replace("_", " ")
        if name in paths:
            blocks.append(R.Image(paths[name], caption))
        if name in notes:
            verb = "" if name in paths else "not drawn: "
            blocks.append(R.Text(f"{title.capitalize()} {verb}{notes[name]}.", "muted"))
    return blocks


def tune_report_blocks(
    study_dir: Path,
    study: optuna.Study,
    spec: Mapping[str, Any],
    figures: Mapping[str, str],
    figure_notes: Mapping[str, str],
) -> list[R.Block]:
    """The tune report as blocks (`figures`, `figure_notes` from the drawing step)."""
    by_state = _trials_by_state(study)
    ranked = _ranked(study, by_state[TrialState.COMPLETE])
    recipe = spec.get("recipe", "?")
    blocks: list[R.Block] = [R.Heading(f"tune {recipe} — {study.study_name}", 1)]
    blocks += _summary_blocks(study_dir, study, spec, by_state)
    blocks += _best_blocks(study_dir, spec, ranked)
    blocks += _retrain_blocks(study_dir, spec)
    blocks.append(R.Heading(f"Top {TOP} trials"))
    if ranked:
        blocks.append(_top_table(study_dir, spec, ranked))
    else:
        blocks.append(R.Text("No complete trial to rank yet.", "muted"))
    blocks += _figure_blocks(figures, figure_notes)
    blocks += _space_blocks(spec)
    blocks.append(
        R.Text(
            f"Generated from the study's storage and {TUNE}; {TRIALS_CSV} holds every trial.",
            "muted",
        )
    )
    return blocks


def write_tune_report(study_dir: Path, study: optuna.Study) -> tuple[Path, Path]:
    """Write study_dir/report.html, report.md, figures/*.png and trials.csv; returns the
    (html, md) paths."""
    study_dir = Path(study_dir)
    spec = rundir.read_json(study_dir / TUNE, "tune study")
    by_state = _trials_by_state(study)
    varying = _varying_params(by_state[TrialState.COMPLETE])
    metric = str(spec.get("metric", "value"))
    figures, notes = _draw_figures(study_dir, study, metric, _skip_reasons(by_state, varying))
    write_trials_csv(study_dir, study)
    blocks = tune_report_blocks(study_dir, study, spec, figures, notes)
    title = f"tune {spec.get('recipe', '?')} — {study.study_name}"
    return write_document(study_dir, title, blocks)


__all__ = ["PLOTS", "tune_report_blocks", "write_trials_csv", "write_tune_report"]
