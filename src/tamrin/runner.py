"""The one path from a recipe name to a finished run folder (CLI, API, studies, tests all use it).

runs/<recipe>/<YYYYmmdd-HHMMSS>-s<seed>/ holds config.json, history.csv, metrics.json,
checkpoints/, predictions.npz, figures/, report.html, report.md. The recipe only logs through its
`Run` context (tamrin.run_context); the runner and that context write every file.

Under torchrun (`tamrin run RECIPE --nproc N`) every rank runs the recipe; rank 0 makes and
writes the run folder, the others run in a private copy of it (made from rank 0's folder, so a
resumed run starts from the same checkpoint everywhere) that is deleted at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from tamrin import config as C
from tamrin import registry, rundir
from tamrin._version import __version__
from tamrin.config import lookup
from tamrin.errors import ConfigError, RunDirError, RunInterrupted, UserError
from tamrin.registry import Recipe
from tamrin.run_context import Run
from tamrin.tensorboard import require as require_tensorboard
from tamrin.train import distributed
from tamrin.train.distributed import session
from tamrin.train.distributed import world_from_env as distributed_env

DEFAULT_OUT = Path("runs")


_MISSING: Any = object()


@dataclass(repr=False)
class RunResult:
    """What a finished run left behind: its folder, numbers and report paths, and its model.

    >>> result = tamrin.load("runs/cifar10-lenet/20250131-140501-s0")  # doctest: +SKIP
    >>> result.predict(images_uint8).argmax(1)  # the run's own normalization  # doctest: +SKIP
    >>> result.classes, result.history  # class names; the epochs as a table  # doctest: +SKIP
    """

    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, float]]  # a HistoryTable: one dict per epoch, prints as a table
    config: dict[str, Any]
    _predictor: Any = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        from tamrin.inference import HistoryTable

        if not isinstance(self.history, HistoryTable):
            self.history = HistoryTable(self.history)

    def __repr__(self) -> str:
        parts = [repr(self.config.get("recipe", "?")), f"seed {self.config.get('seed', '?')}"]
        parts.append(str(self.metrics.get("status", "unfinished")))
        for key in self.config.get("headline", []):
            value = lookup(self.metrics, key)
            if value is not None:
                parts.append(f"{key}={_fmt(value)}")
                break
        return f"RunResult({', '.join(parts)}, {self.run_dir})"

    @property
    def report_html(self) -> Path:
        return self.run_dir / "report.html"

    @property
    def report_md(self) -> Path:
        return self.run_dir / "report.md"

    @property
    def figures(self) -> list[Path]:
        return sorted((self.run_dir / "figures").glob("*.png"))

    def metric(self, dotted: str, default: Any = _MISSING) -> Any:
        """A value of metrics.json by dotted key, e.g. 'test.accuracy'.

        An absent key raises ConfigError naming the closest key (or returns `default`).
        """
        from tamrin.errors import did_you_mean

        value = lookup(self.metrics, dotted)
        if value is not None or default is not _MISSING:
            return default if value is None else value
        keys = list(C.flatten(self.metrics))
        if dotted in keys:  # recorded as null (e.g. a metric undefined for this run)
            return None
        hint = did_you_mean(dotted, keys)
        if not hint:
            tops = sorted({k.split(".")[0] for k in keys})
            hint = f"; sections: {', '.join(tops)}"
        raise ConfigError(
            f"run {self.run_dir.name} ({self.config.get('recipe')}) has no metric {dotted!r}"
            f"{hint} (metrics.json lists them all)"
        )

    # --- the trained model (tamrin.inference) -------------------------------------------------
    def model(self, device: str = "cpu", *, preprocessing: bool = False) -> Any:
        """The trained network (best.pt, else last.pt) in eval mode on `device`.

        It takes normalized tensors as in training; `preprocessing=True` gives it with the
        run's normalization in front and softmax behind (float pixels in [0, 1] in), as
        `tamrin export` writes it. RunDirError for a run that trains no single model.
        """
        from tamrin.inference import Preprocessed, load_model, read_spec

        net = load_model(self.run_dir, device)
        if not preprocessing:
            return net
        return Preprocessed(net, read_spec(self.run_dir)).to(device).eval()

    def predictor(self) -> Any:
        """The model with its preprocessing, loaded once (`.predict`, `.top_k(images, k)`)."""
        from tamrin.inference import Predictor

        if self._predictor is None:
            self._predictor = Predictor(self.run_dir)
        return self._predictor

    def predict(self, images: Any, batch_size: int = 256) -> Any:
        """(N, K) class probabilities (numpy float32) of `images` with the run's own
        preprocessing: uint8 (or float in [0, 1]) images (N, C, H, W), (N, H, W), (N, H, W, C)
        or one image; an embedding run (triplet-mnist) gives its (N, D) embeddings."""
        return self.predictor().predict(images, batch_size=batch_size)

    @property
    def classes(self) -> list[str]:
        """The class names, in the order of `predict`'s columns."""
        from tamrin.inference import read_spec

        return read_spec(self.run_dir).classes

    def history_frame(self) -> Any:
        """history.csv as a pandas DataFrame (pandas is optional; `.history` is a list)."""
        return self.history.to_frame()  # type: ignore[attr-defined]

    def export(self, fmt: str = "onnx", out: str | Path | None = None) -> Path:
        """Write the model with its preprocessing as ONNX or TorchScript (tamrin export)."""
        from tamrin.inference import export

        return export(self.run_dir, fmt, out).path

    def _repr_html_(self) -> str:  # notebooks: headline numbers and every figure inline
        import base64

        rows = "".join(
            f"<tr><td>{k}</td><td>{_fmt(self.metric(k, None))}</td></tr>"
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


@dataclass(repr=False)
class GroupResult:
    """Several seeds of one recipe, with mean ± std of the headline metrics."""

    group_dir: Path
    runs: list[RunResult]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def report_html(self) -> Path:
        return self.group_dir / "report.html"

    def __repr__(self) -> str:
        parts = [repr(self.summary.get("recipe", "?")), f"{len(self.runs)} seeds"]
        for key, v in (self.summary.get("headline") or {}).items():
            if isinstance(v, Mapping) and isinstance(v.get("mean"), float):
                parts.append(f"{key}={v['mean']:.4f} ± {v.get('std') or 0.0:.4f}")
                break
        return f"GroupResult({', '.join(parts)}, {self.group_dir})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{k}</td><td>{v['mean']:.4f} ± {v['std']:.4f}</td></tr>"
            for k, v in self.summary.get("headline", {}).items()
        )
        return f"<b>{self.summary.get('recipe')}</b> × {len(self.runs)} seeds<table>{rows}</table>"


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def git_commit() -> str | None:
    """The checkout's commit (None outside git): recorded with every run and benchmark."""
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


write_json = rundir.write_json  # the one atomic JSON writer (kept here under its old name)


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


def check_data_dir(data_dir: str | None) -> None:
    """A given --data-dir must name existing folders (':'-separated); '' is a mistake."""
    if data_dir is None:
        return
    parts = [p.strip() for p in str(data_dir).split(os.pathsep)]
    if not any(parts):
        raise ConfigError(
            "--data-dir is empty; give the folder that holds the data sets, "
            "or leave it out to use $TAMRIN_DATA"
        )
    for part in parts:
        if part and not Path(part).expanduser().is_dir():
            raise ConfigError(
                f"--data-dir {part} is not a folder; fix: pass the folder holding the data sets "
                f"(DIR/mnist/...), or create it for downloads"
            )


def check_inputs(recipe: Recipe, cfg: Any, *, device: str, data_dir: str | None) -> None:
    """Everything a run needs, checked before its folder exists: the device, the data root and
    the data sets the config reads (found, verified, or downloaded now through the store)."""
    from tamrin.data.store import DataStore
    from tamrin.train.device import resolve_device

    resolve_device(device)
    check_data_dir(data_dir)
    needs = recipe.data_needs(cfg)
    if needs:
        store = DataStore(data_dir)
        for data in dict.fromkeys(needs):
            store.locate(data)


def check_seeds(seeds: int, least: int = 1, what: str = "a run", why: str = "") -> None:
    """ConfigError unless `seeds` is an integer >= `least` (`--seeds 0` must not start a run)."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < least:
        raise ConfigError(f"{what} needs --seeds >= {least}{why}; got {seeds!r}")


def _discard_unstarted(run_dir: Path) -> None:
    """Remove a run folder that holds nothing but its config (the recipe failed on an input
    before training), so a user error leaves no 'unfinished' run behind."""
    if not run_dir.is_dir() or any(p.name != rundir.CONFIG for p in run_dir.iterdir()):
        return
    shutil.rmtree(run_dir)
    with contextlib.suppress(OSError):
        run_dir.parent.rmdir()  # the recipe's folder, if this was its only run


def run(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    seeds: int | None = None,
    smoke: bool = False,
    data_dir: str | None = None,
    out: str | Path = DEFAULT_OUT,
    device: str = "auto",
    config_file: str | Path | None = None,
    quiet: bool = False,
    workers: int | None = None,
    tensorboard: bool = False,
    origin: Mapping[str, Any] | None = None,
    claims: Callable[[str], Any] | None = None,
) -> Any:
    """Run `name`, a recipe or a study: the one dispatch the CLI, the API and tests call.

    `claims` (studies only) shares the study's cells with workers on other machines
    (`tamrin.studies.grid.CellClaims`; the CLI's `--storage URL` makes Optuna's).

    `origin` says where the overrides came from (`--from-study`: the study and its best trial)
    and is recorded in each run's config.json.

    A recipe runs `seeds` (default 1) consecutive seeds from `seed`: one seed gives a RunResult,
    several a GroupResult. A study runs every variant × `seeds` (default: the study's) and gives
    a StudyResult. Every input (name, seeds, --set values, device, data root, data sets) is
    checked before any folder is made. `tensorboard=True` writes TensorBoard event files into
    every run folder (RUN_DIR/tensorboard/; a study: one per cell), kept on resume.
    """
    if tensorboard:
        require_tensorboard()
    if registry.is_study(name):
        if config_file is not None:
            study = registry.get_study(name)
            raise ConfigError(
                f"{name} is a study of recipe {study.recipe}: its cells take --set overrides, "
                f"not --config (tamrin run {study.recipe} --help-config lists the keys)"
            )
        # The runner reaches up to tamrin.studies only here (see tests/test_layers.py): a study
        # is a grid of runner runs, and this is the one name -> result dispatch.
        from tamrin.studies.grid import run_study

        if distributed_env().distributed:
            raise ConfigError(
                f"{name} is a study: it runs its cells as separate processes (--workers); "
                f"--nproc and torchrun apply to a recipe's run"
            )
        return run_study(
            name,
            overrides,
            seed=seed,
            seeds=seeds,
            smoke=smoke,
            data_dir=data_dir,
            out=out,
            device=device,
            workers=workers,
            quiet=quiet,
            tensorboard=tensorboard,
            claims=claims,
        )
    if claims is not None:
        raise ConfigError(
            f"{name} is a recipe: --storage shares a study's cells between machines "
            f"(tamrin tune takes its own --storage)"
        )
    recipe = registry.get(name)
    n_seeds = 1 if seeds is None else seeds
    check_seeds(n_seeds)
    cfg = resolve_config(recipe, overrides, smoke=smoke, config_file=config_file)
    check_inputs(recipe, cfg, device=device, data_dir=data_dir)
    with session(_device_type(device)) as world:
        stamp = distributed.broadcast_object(datetime.now().strftime("%Y%m%d-%H%M%S"))
        out = Path(out)
        results = []
        for s in range(seed, seed + n_seeds):
            run_dir = None
            if world.is_main:
                run_dir = _new_run_dir(out, name, s, stamp)
                _write_config(
                    run_dir, recipe, cfg, s, device, smoke, data_dir, tensorboard, origin=origin
                )
            try:
                results.append(_execute_on_every_rank(run_dir, quiet=quiet))
            except UserError:
                if run_dir is not None:
                    _discard_unstarted(run_dir)
                raise
        if not world.is_main:
            return None  # rank 0 holds the result; this rank's copy of the run is gone
        if n_seeds == 1:
            return results[0]
        kept = [r for r in results if r is not None]  # rank 0: every seed's result
        return _write_group(
            out / name / f"{stamp}-seeds{seed}-{seed + n_seeds - 1}", recipe, kept, quiet=quiet
        )


def _device_type(device: str) -> str:
    """'cuda' or 'cpu': what a --device request resolves to (picks the process group's backend)."""
    from tamrin.train.device import resolve_device

    return resolve_device(device).type


def _execute_on_every_rank(run_dir: Path | None, *, quiet: bool) -> RunResult | None:
    """`execute(run_dir)` on rank 0 (or a plain process); on other ranks, the same run in a
    private temporary copy of rank 0's folder, without report or output (None returned)."""
    world = distributed.active()
    if not world.distributed:
        assert run_dir is not None
        return execute(run_dir, quiet=quiet)
    files = distributed.broadcast_object(_folder_files(run_dir) if world.is_main else {})
    if world.is_main:
        assert run_dir is not None
        return execute(run_dir, quiet=quiet)
    with tempfile.TemporaryDirectory(prefix=f"tamrin-rank{world.rank}-") as tmp:
        copy = Path(tmp) / "run"
        for rel, data in files.items():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy / rel).write_bytes(data)
        with contextlib.suppress(RunInterrupted):  # rank 0 says how to resume
            execute(copy, quiet=True, report=False)
    return None


def _folder_files(run_dir: Path | None) -> dict[str, bytes]:
    """Every file under `run_dir` (config, history, checkpoints …) by relative path."""
    if run_dir is None:
        return {}
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }


def _write_config(
    run_dir: Path,
    recipe: Recipe,
    cfg: Any,
    seed: int,
    device: str,
    smoke: bool,
    data_dir: str | None,
    tensorboard: bool = False,
    tuning: Mapping[str, Any] | None = None,
    *,
    origin: Mapping[str, Any] | None = None,
) -> None:
    from tamrin.train.device import cpu_cores, machine

    write_json(
        run_dir / "config.json",
        {
            "recipe": recipe.name,
            "summary": recipe.summary,
            "title": rundir.run_title(
                recipe.summary, recipe.data_set(cfg), recipe.data[0] if recipe.data else ""
            ),
            "data": recipe.data_set(cfg),
            "seed": seed,
            "config": C.to_dict(cfg),
            "smoke": smoke,
            "device_request": device,
            "data_dir": data_dir,
            "tamrin_version": __version__,
            "torch_version": torch.__version__,
            "threads": cpu_cores(),
            "machine": machine(),
            "git_commit": git_commit(),
            "started": datetime.now().isoformat(timespec="seconds"),
            "homework_figure": recipe.homework_figure.__dict__ if recipe.homework_figure else None,
            "headline": list(recipe.headline),
            "tensorboard": tensorboard,  # event files in RUN_DIR/tensorboard/ (kept on resume)
            **({"tuning": dict(tuning)} if tuning else {}),  # a trial of `tamrin tune`
            **({"from_study": dict(origin)} if origin else {}),  # tamrin run --from-study
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
    tensorboard: bool = False,
    tuning: Mapping[str, Any] | None = None,
) -> Path:
    """Make `run_dir` a run folder of recipe `name` (config resolved and saved), not yet run.

    Studies place their cells with it, `tamrin tune` its trials (`tuning`: the study and trial
    number, recorded in config.json; such a run never scores the test split); `execute` then
    runs (or continues) the folder.
    """
    recipe = registry.get(name)
    cfg = resolve_config(recipe, overrides, smoke=smoke)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_config(run_dir, recipe, cfg, seed, device, smoke, data_dir, tensorboard, tuning)
    return run_dir


is_finished = rundir.is_finished
FINISHED = rundir.FINISHED
read_run_config = rundir.read_config


def execute(
    run_dir: Path, *, quiet: bool = False, report: bool = True, callbacks: Sequence[Any] = ()
) -> RunResult:
    """Run (or continue) the recipe recorded in run_dir/config.json; write metrics and report.

    `report=False` skips report.html/md (a study writes one report over all its cells;
    `tamrin report RUN_DIR` still builds a cell's own). `callbacks` join every fit of the run
    (a tuning trial's pruning callback).
    """
    from tamrin.eval.report import write_report
    from tamrin.train.device import resolve_device, resolve_precision

    meta = read_run_config(run_dir)
    recipe = registry.get(meta["recipe"])
    cfg: Any = C.from_dict(recipe.config_cls, meta["config"])
    dev = resolve_device(meta.get("device_request", "auto"))
    if meta.get("tensorboard"):
        require_tensorboard()  # a resumed run keeps the flag: say so before training
    meta["device"] = str(dev)
    train_cfg = getattr(cfg, "train", None)
    recorded = meta.get("precision")
    run_scoped = isinstance(recorded, Mapping) and recorded.get("scope") == "run"
    requested = getattr(train_cfg, "precision", None)
    if isinstance(requested, str) and not run_scoped:
        # the machine's answer; training refines it per model (tasks.training.run_precision)
        # and records that with scope "run", which a resumed run then keeps
        meta["precision"] = distributed.on_main(
            lambda: {**resolve_precision(requested, dev).record(), "scope": "machine"}
        )
    world = distributed.active()
    if world.distributed:  # the latest launch's shape (a resumed run may use another)
        meta["distributed"] = {
            "world_size": world.size,
            "processes_per_machine": world.local_size,
            "backend": distributed.backend(dev.type),
            "threads_per_process": torch.get_num_threads(),
        }
    else:
        meta.pop("distributed", None)
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
        tensorboard=bool(meta.get("tensorboard", False)),
        callbacks=callbacks,
        tuning_trial=bool(meta.get("tuning")),
    )
    previous = rundir.read_metrics(run_dir, missing_ok=True)
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
    if not (run_dir / rundir.HISTORY).exists():
        rundir.write_history(run_dir, ctx.history)
    metrics = {"status": status, "status_message": message, **ctx.metrics}
    if status == "interrupted":
        metrics["status"], metrics["status_message"] = status, message
    metrics["wall_time_s"] = wall_before + time.perf_counter() - t0
    metrics.setdefault("seed", meta["seed"])
    rundir.write_metrics(run_dir, metrics)
    if report:
        write_report(run_dir)
    ctx.finish_tensorboard(metrics, drawn=report, done=status != "interrupted")
    result = RunResult(run_dir, metrics, ctx.history, meta)
    if not quiet:
        _print_summary(result)
    if status == "interrupted":
        raise RunInterrupted(message)
    return result


def resume(run_dir: str | Path, *, quiet: bool = False) -> RunResult | None:
    """Continue a killed or interrupted run from its last checkpoint, in the same folder
    (under torchrun: on every rank; ranks other than 0 get None)."""
    run_dir = Path(run_dir)
    main = distributed_env().is_main  # other ranks (other machines) may not see the folder
    meta = rundir.read_config(run_dir) if main or run_dir.is_dir() else {}
    done = rundir.read_metrics(run_dir, missing_ok=True) if main else {}
    if done.get("status") in ("completed", "stopped_early", "pruned"):
        raise RunDirError(
            f"run {run_dir} already finished ({done['status']}); tamrin report rebuilds its report"
        )
    with session(_device_type(meta.get("device_request", "auto"))) as world:
        return _execute_on_every_rank(run_dir if world.is_main else None, quiet=quiet)


def load_result(run_dir: str | Path) -> RunResult:
    """A finished run folder as a RunResult (no training)."""
    run_dir = Path(run_dir)
    meta = rundir.read_config(run_dir)
    metrics = rundir.read_metrics(run_dir, missing_ok=True)
    if not metrics:
        raise RunDirError(
            f"run {run_dir} has no metrics.json: it never finished (tamrin resume {run_dir})"
        )
    return RunResult(run_dir, metrics, rundir.read_history(run_dir).rows, meta)


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


def _stamp_date(folder: Path, started: Any = None) -> str:
    """'2025-01-31 14:05' from a folder named <YYYYmmdd-HHMMSS>..., else from `started`."""
    try:
        return datetime.strptime(folder.name[:15], "%Y%m%d-%H%M%S").strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(started or "")[:16].replace("T", " ")


def _seed_range(seeds: Sequence[Any]) -> str:
    seeds = [s for s in seeds if isinstance(s, int)]
    if not seeds:
        return ""
    return str(seeds[0]) if len(seeds) == 1 else f"{min(seeds)}-{max(seeds)}"


def _run_row(run_dir: Path) -> dict[str, Any]:
    meta = rundir.read_config(run_dir)
    metrics = rundir.read_metrics(run_dir, missing_ok=True)
    return {
        "kind": "run",
        "name": meta.get("recipe"),
        "data": meta.get("data") or "",
        "date": _stamp_date(run_dir, meta.get("started")),
        "seeds": str(meta.get("seed", "")),
        "smoke": bool(meta.get("smoke", False)),
        "status": metrics.get("status", "unfinished"),
        "accuracy": lookup(metrics, "test.accuracy"),
        "wall_time_s": metrics.get("wall_time_s"),
        "seed": meta.get("seed"),
    }


def _group_row(group_dir: Path) -> dict[str, Any]:
    summary = rundir.read_json(group_dir / rundir.SUMMARY, "seed-group")
    runs = [group_dir / r for r in summary.get("runs") or []]
    statuses = []
    for r in runs:
        try:
            statuses.append(rundir.status(r))
        except RunDirError:
            statuses.append("damaged")
    done = sum(st in rundir.FINISHED for st in statuses)
    smoke = False
    if runs and rundir.is_run_dir(runs[0]):
        with contextlib.suppress(RunDirError):
            smoke = bool(rundir.read_config(runs[0]).get("smoke", False))
    acc = (summary.get("headline") or {}).get("test.accuracy") or {}
    return {
        "kind": "seeds",
        "name": summary.get("recipe"),
        "data": summary.get("data") or "",
        "date": _stamp_date(group_dir),
        "seeds": _seed_range(summary.get("seeds") or []),
        "smoke": smoke,
        "status": "completed" if done == len(statuses) else f"{done}/{len(statuses)} runs",
        "accuracy": acc.get("mean") if isinstance(acc, Mapping) else None,
        "wall_time_s": summary.get("wall_time_s"),
        "seed": None,
    }


def _study_row(study_dir: Path) -> dict[str, Any]:
    meta = rundir.read_json(study_dir / rundir.STUDY, "study")
    cells = meta.get("cells") or []
    done = 0
    for cell in cells:
        with contextlib.suppress(RunDirError):
            done += rundir.is_finished(study_dir / str(cell.get("dir")))
    data = (meta.get("overrides") or {}).get("data") or ", ".join(
        (meta.get("spec") or {}).get("data") or []
    )
    return {
        "kind": "study",
        "name": meta.get("study"),
        "data": str(data),
        "date": _stamp_date(study_dir, meta.get("started")),
        "seeds": _seed_range(meta.get("seeds") or []),
        "smoke": bool(meta.get("smoke", False)),
        "status": "completed" if cells and done == len(cells) else f"{done}/{len(cells)} cells",
        "accuracy": None,
        "wall_time_s": meta.get("wall_time_s"),
        "seed": None,
    }


def _tune_row(study_dir: Path) -> dict[str, Any]:
    """A `tamrin tune` study folder (OUT/tune/NAME): its trials counted from their run folders
    (the storage holds the rest; its report has the best trial)."""
    meta = rundir.read_json(study_dir / "tune.json", "tuning study")
    trials = [p for p in (study_dir / "trials").glob("*") if p.is_dir()]
    statuses = [rundir.read_metrics(p, missing_ok=True).get("status") for p in trials]
    counts = ", ".join(
        f"{statuses.count(s)} {s}" for s in ("completed", "pruned") if statuses.count(s)
    )
    return {
        "kind": "tune",
        "name": f"{meta.get('recipe')} · {meta.get('study')}",
        "data": str(meta.get("data", "")),
        "date": _stamp_date(study_dir, meta.get("created")),
        "seeds": "",
        "smoke": bool(meta.get("smoke", False)),
        "status": f"{len(trials)} trials" + (f": {counts}" if counts else ""),
        "accuracy": None,
        "wall_time_s": None,
        "seed": None,
    }


def list_runs(out: str | Path = DEFAULT_OUT) -> list[dict[str, Any]]:
    """Every run, seed group, study and tuning study under `out` (out/<name>/<stamp>...): its
    kind ('run', 'seeds', 'study', 'tune'), name, data set, date, seeds, status and test
    accuracy (a group's mean). A damaged folder is listed with its status, not skipped."""
    rows = []
    read: Callable[[Path], dict[str, Any]]
    for folder in sorted(p for p in Path(out).glob("*/*") if p.is_dir()):
        if folder.parent.name == "tune" and (folder / "tune.json").is_file():
            read, kind = _tune_row, "tune"
        elif rundir.is_study_dir(folder):
            read, kind = _study_row, "study"
        elif rundir.is_run_dir(folder):
            read, kind = _run_row, "run"
        elif rundir.is_group_dir(folder):
            read, kind = _group_row, "seeds"
        else:
            continue
        try:
            row = read(folder)
        except RunDirError as exc:
            row = {"kind": kind, "name": folder.parent.name, "status": "damaged", "error": str(exc)}
            row.update(data="", date=_stamp_date(folder), seeds="", smoke=False, seed=None)
            row.update(accuracy=None, wall_time_s=None)
        row["run_dir"] = str(folder)
        row["recipe"] = row["name"]
        rows.append(row)
    return rows


class _progress:
    """The run's training display (`tamrin.train.display.TrainDisplay`; None when quiet): a
    batch bar and one line per epoch in a terminal, plain lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __enter__(self) -> Any:
        if self.quiet:
            return None
        from tamrin.train.display import TrainDisplay

        return TrainDisplay()  # its bar lives only while a fit runs (`TrainDisplay.fitting`)

    def __exit__(self, *exc: object) -> None:
        return None


def _print_summary(result: RunResult) -> None:
    """The run's headline numbers beside the homework's figure, at the terminal's own width
    (rich's Console: the real width in a terminal, $COLUMNS or 80 otherwise)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    m, meta = result.metrics, result.config
    title = meta.get("title") or meta["recipe"]
    console = Console()
    console.print(
        Text(f"{meta['recipe']}: {title} (seed {meta['seed']}) — {m.get('status')}", style="bold")
    )
    table = Table()
    table.add_column("metric", overflow="fold")
    table.add_column("ours", justify="right", no_wrap=True)
    table.add_column("homework's", justify="right", no_wrap=True)
    fig = rundir.homework_figure(meta) or {}
    for key in meta.get("headline", []):
        seed_val = fig.get("value") if fig.get("metric") == key else None
        value = result.metric(key, None)  # a run that scored no test split has none
        table.add_row(key, _fmt(value), _fmt(seed_val) if seed_val is not None else "")
    console.print(table)
    best = m.get("best") or {}
    if best.get("epoch"):
        console.print(
            f"best {best['metric']} {best['value']:.4f} at epoch {best['epoch']} of "
            f"{m.get('epochs_run')}; wall time {m['wall_time_s']:.1f} s",
            highlight=False,
        )
    if m.get("status_message"):
        console.print(Text(str(m["status_message"]), style="yellow"))
    _print_path(console, "report", result.report_html)


def _print_path(console: Any, label: str, path: Path) -> None:
    """'label: PATH' on one line, never broken inside the path (the terminal wraps it, so it
    stays one piece to copy)."""
    from rich.text import Text

    console.print(Text(f"{label}: {path}"), soft_wrap=True, highlight=False)


def _print_group(group: GroupResult) -> None:
    """Mean ± std of the headline metrics over the seeds, at the terminal's own width."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    s = group.summary
    console = Console()
    console.print(Text(f"{s.get('recipe')} — {len(group.runs)} seeds", style="bold"))
    table = Table()
    table.add_column("metric", overflow="fold")
    table.add_column("mean ± std", justify="right", no_wrap=True)
    for key, v in s.get("headline", {}).items():
        table.add_row(key, f"{v['mean']:.4f} ± {v['std']:.4f}")
    console.print(table)
    _print_path(console, "report", group.report_html)
