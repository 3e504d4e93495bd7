"""The one path from a recipe name to a finished run folder (CLI, API, studies, tests all use it).

runs/<recipe>/<YYYYmmdd-HHMMSS>-s<seed>/ holds config.json, history.csv, metrics.json,
checkpoints/, predictions.npz, figures/, report.html, report.md. The recipe only logs through its
`Run` context; this module writes every file.
"""

from __future__ import annotations

import csv
import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tamrin import config as C
from tamrin import registry
from tamrin._version import __version__
from tamrin.config import lookup
from tamrin.errors import ConfigError, RunDirError, RunInterrupted
from tamrin.registry import Recipe

DEFAULT_OUT = Path("runs")


@dataclass
class RunResult:
    """What a finished run left behind: its folder, numbers and report paths."""

    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    config: dict[str, Any]

    @property
    def report_html(self) -> Path:
        return self.run_dir / "report.html"

    @property
    def report_md(self) -> Path:
        return self.run_dir / "report.md"

    @property
    def figures(self) -> list[Path]:
        return sorted((self.run_dir / "figures").glob("*.png"))

    def metric(self, dotted: str) -> Any:
        """A value of metrics.json by dotted key, e.g. 'test.accuracy'."""
        return lookup(self.metrics, dotted)

    def _repr_html_(self) -> str:  # notebooks: headline numbers and every figure inline
        import base64

        rows = "".join(
            f"<tr><td>{k}</td><td>{_fmt(self.metric(k))}</td></tr>"
            for k in self.config.get("headline", [])
        )
        imgs = "".join(
            f'<img style="max-width:48%" src="data:image/png;base64,'
            f'{base64.b64encode(p.read_bytes()).decode()}">'
            for p in self.figures
        )
        return (
            f"<b>{self.config.get('recipe')}</b> — {self.metrics.get('status')} — "
            f"<code>{self.run_dir}</code><table>{rows}</table>{imgs}"
        )


@dataclass
class GroupResult:
    """Several seeds of one recipe, with mean ± std of the headline metrics."""

    group_dir: Path
    runs: list[RunResult]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def report_html(self) -> Path:
        return self.group_dir / "report.html"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{k}</td><td>{v['mean']:.4f} ± {v['std']:.4f}</td></tr>"
            for k, v in self.summary.get("headline", {}).items()
        )
        return f"<b>{self.summary.get('recipe')}</b> × {len(self.runs)} seeds<table>{rows}</table>"


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
        return (out.stdout.strip() or None) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (tmp file + rename): a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
    tmp.replace(path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic | torch.Tensor):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


class Run:
    """The run context a recipe receives (implements `registry.RunContext`)."""

    def __init__(
        self,
        recipe: Recipe,
        cfg: Any,
        seed: int,
        run_dir: Path,
        device: torch.device,
        *,
        smoke: bool,
        data_dir: str | None,
        quiet: bool,
    ) -> None:
        self.recipe, self.cfg, self.seed, self.run_dir = recipe, cfg, seed, run_dir
        self.device, self.smoke, self.data_dir, self.quiet = device, smoke, data_dir, quiet
        self.checkpoint_dir = run_dir / "checkpoints"
        self.history: list[dict[str, float]] = _read_history(run_dir / "history.csv")
        self.metrics: dict[str, Any] = {}
        self._progress: Any = None
        self._predicted = False

    # --- what recipes call -------------------------------------------------------------------
    def data_store(self) -> Any:
        from tamrin.data.store import DataStore

        return DataStore(self.data_dir)

    def log_epoch(self, row: Mapping[str, float]) -> None:
        """Append one epoch's row to history.csv (rewritten whole, so it is always complete)."""
        self.history = [r for r in self.history if r.get("epoch") != row.get("epoch")]
        self.history.append(dict(row))
        _write_history(self.run_dir / "history.csv", self.history)

    def log_fit(self, result: Any, name: str = "") -> None:
        """Record a FitResult: the whole history, best epoch and how training ended."""
        summary = {
            "best": result.best,
            "status": result.status,
            "message": result.message,
            "epochs_run": result.epochs_run,
            "train_time_s": result.train_time_s,
        }
        if name:
            self.metrics.setdefault("fits", {})[name] = summary
            return
        self.history = list(result.history)
        _write_history(self.run_dir / "history.csv", self.history)
        self.metrics.update(
            best=result.best,
            epochs_run=result.epochs_run,
            train_time_s=result.train_time_s,
            final=result.history[-1] if result.history else {},
        )
        if result.status != "completed":
            self.metrics["status"] = result.status
            self.metrics["status_message"] = result.message

    def log_metrics(self, section: str, values: Mapping[str, Any]) -> None:
        self.metrics.setdefault(section, {}).update(values)

    def log_table(
        self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = ""
    ) -> None:
        self.metrics.setdefault("tables", {})[name] = {
            "columns": list(columns),
            "rows": [list(r) for r in rows],
            "caption": caption,
        }

    def log_note(self, text: str) -> None:
        self.metrics.setdefault("notes", []).append(text)

    def log_figure(self, fig: Any, name: str, caption: str = "") -> None:
        """Save a matplotlib figure as figures/<name>.png and list it for the report."""
        path = self.run_dir / "figures" / f"{name}.png"
        path.parent.mkdir(exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        figures = [f for f in self.metrics.get("figures", []) if f["file"] != f"figures/{name}.png"]
        self.metrics["figures"] = [*figures, {"file": f"figures/{name}.png", "caption": caption}]

    def log_predictions(self, y_true: Any, proba: Any, class_names: Sequence[str]) -> None:
        """The test split's predictions: saved, and scored with the classification metrics.

        Allowed once per run: the test split is touched once, at the end.
        """
        from tamrin.eval.metrics import classification_metrics

        if self._predicted:
            raise RuntimeError("test predictions were already logged: the test split is used once")
        self._predicted = True
        y = np.asarray(torch.as_tensor(y_true).cpu(), dtype=np.int64)
        p = np.asarray(torch.as_tensor(proba).float().cpu(), dtype=np.float32)
        np.savez_compressed(
            self.run_dir / "predictions.npz",
            y_true=y,
            proba=p,
            class_names=np.array(list(class_names)),
        )
        self.metrics["test"] = classification_metrics(y, p, list(class_names))

    def progress(self) -> Any:
        return self._progress


def _read_history(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def _write_history(path: Path, rows: list[dict[str, float]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns or ["epoch"])
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def resolve_config(
    recipe: Recipe,
    overrides: Mapping[str, Any] | None = None,
    *,
    smoke: bool = False,
    config_file: str | Path | None = None,
) -> Any:
    """defaults < smoke preset < --config file < overrides, validated."""
    cfg = recipe.default_config()
    if smoke:
        cfg = recipe.smoke(cfg)
    if config_file is not None:
        cfg = C.apply_overrides(cfg, C.load_file(recipe.config_cls, config_file))
    return C.apply_overrides(cfg, dict(overrides or {}))


def _new_run_dir(out: Path, recipe: str, seed: int, stamp: str) -> Path:
    base = out / recipe / f"{stamp}-s{seed}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def run(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    seeds: int = 1,
    smoke: bool = False,
    data_dir: str | None = None,
    out: str | Path = DEFAULT_OUT,
    device: str = "auto",
    config_file: str | Path | None = None,
    quiet: bool = False,
) -> RunResult | GroupResult:
    """Run recipe `name` for `seeds` consecutive seeds from `seed`; one seed gives a RunResult."""
    recipe = registry.get(name)
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1; got {seeds}")
    cfg = resolve_config(recipe, overrides, smoke=smoke, config_file=config_file)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(out)
    results = []
    for s in range(seed, seed + seeds):
        run_dir = _new_run_dir(out, name, s, stamp)
        _write_config(run_dir, recipe, cfg, s, device, smoke, data_dir)
        results.append(execute(run_dir, quiet=quiet))
    if seeds == 1:
        return results[0]
    return _write_group(
        out / name / f"{stamp}-seeds{seed}-{seed + seeds - 1}", recipe, results, quiet=quiet
    )


def _write_config(
    run_dir: Path,
    recipe: Recipe,
    cfg: Any,
    seed: int,
    device: str,
    smoke: bool,
    data_dir: str | None,
) -> None:
    from tamrin.train.device import cpu_cores

    write_json(
        run_dir / "config.json",
        {
            "recipe": recipe.name,
            "summary": recipe.summary,
            "seed": seed,
            "config": C.to_dict(cfg),
            "smoke": smoke,
            "device_request": device,
            "data_dir": data_dir,
            "tamrin_version": __version__,
            "torch_version": torch.__version__,
            "threads": cpu_cores(),
            "git_commit": _git_commit(),
            "started": datetime.now().isoformat(timespec="seconds"),
            "seed_figure": recipe.seed_figure.__dict__ if recipe.seed_figure else None,
            "headline": list(recipe.headline),
        },
    )


def create_run(
    run_dir: Path,
    name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    smoke: bool = False,
    data_dir: str | None = None,
    device: str = "auto",
) -> Path:
    """Make `run_dir` a run folder of recipe `name` (config resolved and saved), not yet run.

    Studies place their cells with it; `execute` then runs (or continues) the folder.
    """
    recipe = registry.get(name)
    cfg = resolve_config(recipe, overrides, smoke=smoke)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_config(run_dir, recipe, cfg, seed, device, smoke, data_dir)
    return run_dir


def is_finished(run_dir: Path) -> bool:
    """True when the run ended on its own (completed, stopped early or on a non-finite loss)."""
    return _read_metrics(Path(run_dir)).get("status") in FINISHED


FINISHED = ("completed", "stopped_early", "stopped_nonfinite")


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"not a tamrin run folder: {run_dir} has no config.json") from None
    except json.JSONDecodeError:
        raise RunDirError(f"{path} is damaged (not valid JSON)") from None


def execute(run_dir: Path, *, quiet: bool = False, report: bool = True) -> RunResult:
    """Run (or continue) the recipe recorded in run_dir/config.json; write metrics and report.

    `report=False` skips report.html/md (a study writes one report over all its cells;
    `tamrin report RUN_DIR` still builds a cell's own).
    """
    from tamrin.eval.report import write_report
    from tamrin.train.device import resolve_device

    meta = read_run_config(run_dir)
    recipe = registry.get(meta["recipe"])
    cfg: Any = C.from_dict(recipe.config_cls, meta["config"])
    dev = resolve_device(meta.get("device_request", "auto"))
    meta["device"] = str(dev)
    write_json(run_dir / "config.json", meta)
    C.seed_everything(meta["seed"])
    ctx = Run(
        recipe,
        cfg,
        meta["seed"],
        run_dir,
        dev,
        smoke=meta.get("smoke", False),
        data_dir=meta.get("data_dir"),
        quiet=quiet,
    )
    previous = _read_metrics(run_dir)
    wall_before = float(previous.get("wall_time_s", 0.0)) if previous else 0.0
    t0 = time.perf_counter()
    status, message = "completed", ""
    try:
        with _progress(quiet) as progress:
            ctx._progress = progress
            recipe.fn(cfg, ctx)
    except RunInterrupted as exc:
        status = "interrupted"
        message = f"{exc}; continue with: tamrin resume {run_dir}"
    if not (run_dir / "history.csv").exists():
        _write_history(run_dir / "history.csv", ctx.history)
    metrics = {"status": status, "status_message": message, **ctx.metrics}
    if status == "interrupted":
        metrics["status"], metrics["status_message"] = status, message
    metrics["wall_time_s"] = wall_before + time.perf_counter() - t0
    metrics.setdefault("seed", meta["seed"])
    write_json(run_dir / "metrics.json", metrics)
    if report:
        write_report(run_dir)
    result = RunResult(run_dir, metrics, ctx.history, meta)
    if not quiet:
        _print_summary(result)
    if status == "interrupted":
        raise RunInterrupted(message)
    return result


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def resume(run_dir: str | Path, *, quiet: bool = False) -> RunResult:
    """Continue a killed or interrupted run from its last checkpoint, in the same folder."""
    run_dir = Path(run_dir)
    read_run_config(run_dir)
    done = _read_metrics(run_dir)
    if done.get("status") in ("completed", "stopped_early"):
        raise RunDirError(
            f"run {run_dir} already finished ({done['status']}); tamrin report rebuilds its report"
        )
    return execute(run_dir, quiet=quiet)


def load_result(run_dir: str | Path) -> RunResult:
    """A finished run folder as a RunResult (no training)."""
    run_dir = Path(run_dir)
    meta = read_run_config(run_dir)
    metrics = _read_metrics(run_dir)
    if not metrics:
        raise RunDirError(
            f"run {run_dir} has no metrics.json: it never finished (tamrin resume {run_dir})"
        )
    return RunResult(run_dir, metrics, _read_history(run_dir / "history.csv"), meta)


def _write_group(
    group_dir: Path, recipe: Recipe, results: list[RunResult], *, quiet: bool
) -> GroupResult:
    from tamrin.eval.report import summarize_runs, write_group_report

    group_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize_runs([r.run_dir for r in results], relative_to=group_dir)
    write_json(group_dir / "summary.json", summary)
    write_group_report(group_dir)
    group = GroupResult(group_dir, results, summary)
    if not quiet:
        _print_group(group)
    return group


def list_runs(out: str | Path = DEFAULT_OUT) -> list[dict[str, Any]]:
    """Every run folder under `out` with its recipe, seed, status and headline numbers."""
    rows = []
    for cfg_path in sorted(Path(out).glob("*/*/config.json")):
        run_dir = cfg_path.parent
        try:
            meta = json.loads(cfg_path.read_text())
        except json.JSONDecodeError:
            continue
        metrics = _read_metrics(run_dir)
        rows.append(
            {
                "run_dir": str(run_dir),
                "recipe": meta.get("recipe"),
                "seed": meta.get("seed"),
                "smoke": meta.get("smoke", False),
                "status": metrics.get("status", "unfinished"),
                "accuracy": lookup(metrics, "test.accuracy"),
                "wall_time_s": metrics.get("wall_time_s"),
            }
        )
    return rows


class _progress:
    """A rich Progress shown while the run trains (nothing when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def __enter__(self) -> Any:
        if self.quiet:
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self.bar.start()
        return self.bar

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_summary(result: RunResult) -> None:
    from rich.console import Console
    from rich.table import Table

    m, meta = result.metrics, result.config
    table = Table(title=f"{meta['recipe']} (seed {meta['seed']}) — {m.get('status')}")
    table.add_column("metric")
    table.add_column("ours", justify="right")
    table.add_column("seed's", justify="right")
    fig = meta.get("seed_figure") or {}
    for key in meta.get("headline", []):
        seed_val = fig.get("value") if fig.get("metric") == key else None
        table.add_row(key, _fmt(result.metric(key)), _fmt(seed_val) if seed_val is not None else "")
    console = Console()
    console.print(table)
    best = m.get("best") or {}
    if best.get("epoch"):
        console.print(
            f"best {best['metric']} {best['value']:.4f} at epoch {best['epoch']} of "
            f"{m.get('epochs_run')}; wall time {m['wall_time_s']:.1f} s"
        )
    if m.get("status_message"):
        console.print(f"[yellow]{m['status_message']}[/yellow]")
    console.print(f"report: {result.report_html}")


def _print_group(group: GroupResult) -> None:
    from rich.console import Console
    from rich.table import Table

    s = group.summary
    table = Table(title=f"{s.get('recipe')} — {len(group.runs)} seeds")
    table.add_column("metric")
    table.add_column("mean ± std", justify="right")
    for key, v in s.get("headline", {}).items():
        table.add_row(key, f"{v['mean']:.4f} ± {v['std']:.4f}")
    console = Console()
    console.print(table)
    console.print(f"report: {group.report_html}")
