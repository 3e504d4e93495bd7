"""Run a registered study: every variant × seed of its recipe, the same data and budget, then
one report with mean ± std, Welch t-tests against each group's baseline and generated verdicts.

runs/<study>/<YYYYmmdd-HHMMSS>/
  study.json     the spec, seeds, overrides and the list of cells (variant, seed, folder)
  cells/<variant>-s<seed>/   an ordinary run folder per cell (config, history, metrics, ckpts)
  summary.json   per-variant values and comparisons (what the report reads)
  figures/*.png, report.html, report.md

Cells run in worker processes, one core each, when the machine has more than one core; a
finished cell is never rerun, so `tamrin resume STUDY_DIR` continues a killed study.

Across machines (`tamrin run STUDY --storage URL` on each), the cells are shared through
`CellClaims` (`tamrin.tuning.cells`: enqueued trials of one Optuna study in a database): each
worker runs the cells it claims, each cell is run by exactly one worker, and every worker then
collects the others' run files into its own study folder and writes the same report.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tamrin import registry, rundir, runner
from tamrin.errors import RunInterrupted
from tamrin.registry import StudySpec, Variant


class CellClaims(Protocol):
    """Cells shared with workers on other machines: each is run by exactly one of them."""

    def agree(self, key: str, value: Any) -> Any:
        """The first worker's `value` for `key` (this one's when it is the first)."""
        ...

    def claim(self, cells: Sequence[str]) -> Iterator[str]:
        """The cells this worker is to run, one at a time, until none is left unclaimed."""
        ...

    def publish(self, cell: str, files: Mapping[str, str], *, failed: bool = False) -> None:
        """The claimed cell is done here: its run files (or that it failed) for the others."""
        ...

    def collect(self, cells: Sequence[str]) -> dict[str, Mapping[str, str]]:
        """Every cell's run files, once each is finished wherever it ran (waits)."""
        ...


SHARED_FILES = (rundir.CONFIG, rundir.METRICS, rundir.HISTORY)  # what the study report reads


@dataclass(repr=False)
class StudyResult:
    """A finished (or partly finished) study folder and its summary."""

    study_dir: Path
    summary: dict[str, Any]

    def __repr__(self) -> str:  # one line, not the whole summary
        s = self.summary
        variants, seeds = s.get("variants") or [], s.get("seeds") or []
        parts = [repr(s.get("study", "?")), f"{len(variants)} variants × {len(seeds)} seeds"]
        if s.get("metric"):
            parts.append(f"metric {s['metric']}")
        return f"StudyResult({', '.join(parts)}, {self.study_dir})"

    @property
    def report_html(self) -> Path:
        return self.study_dir / "report.html"

    @property
    def report_md(self) -> Path:
        return self.study_dir / "report.md"

    def _repr_html_(self) -> str:
        return self.report_html.read_text() if self.report_html.exists() else str(self.study_dir)


def slug(label: str) -> str:
    """A folder-safe name for a variant label ("MLP · LeakyReLU(0.01)" -> "mlp-leakyrelu-0.01")."""
    return re.sub(r"[^a-z0-9.]+", "-", label.lower()).strip("-") or "variant"


def _cells(spec: StudySpec, seeds: list[int]) -> list[dict[str, Any]]:
    return [
        {"variant": v.label, "seed": s, "dir": f"cells/{slug(v.label)}-s{s}"}
        for v in spec.variants
        for s in seeds
    ]


def _spec_dict(spec: StudySpec) -> dict[str, Any]:
    d = asdict(spec)
    d["variants"] = [{**asdict(v), "label": v.label} for v in spec.variants]
    return d


def spec_from_dict(d: Mapping[str, Any]) -> StudySpec:
    """The spec saved in study.json (so a study reports and resumes as it was run)."""
    fields = dict(d)
    fields["variants"] = tuple(
        Variant(v["name"], dict(v.get("overrides") or {}), v.get("group", ""))
        for v in d["variants"]
    )
    for key in ("metrics", "curves", "profiles", "data"):
        if key in fields:
            fields[key] = tuple(fields[key])
    known = StudySpec.__dataclass_fields__
    return StudySpec(**{k: v for k, v in fields.items() if k in known})


def run_study(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    seeds: int | None = None,
    smoke: bool = False,
    data_dir: str | None = None,
    out: str | Path = runner.DEFAULT_OUT,
    device: str = "auto",
    workers: int | None = None,
    quiet: bool = False,
    tensorboard: bool = False,
    claims: Callable[[str], CellClaims] | None = None,
) -> StudyResult:
    """Run study `name` (`seeds` per variant, default the spec's) and write its report.

    `claims(identity)` shares the cells with workers on other machines (see the module
    docstring); `identity` names this study, the same for the same command on every machine.

    `overrides` apply to every cell on top of the study's own budget (e.g. `train.epochs=3`).
    Every input (seeds, each variant's resolved config, device, data) is checked before the
    study folder is made. `tensorboard=True`: every cell writes its own TensorBoard event files
    (STUDY_DIR/cells/<cell>/tensorboard/), so `tensorboard --logdir STUDY_DIR` compares them.
    """
    if tensorboard:
        from tamrin.tensorboard import require

        require()  # before any folder: a clear line when the package is missing
    spec = registry.get_study(name)
    n_seeds = spec.seeds if seeds is None else seeds
    runner.check_seeds(n_seeds, 2, "a study", " for its t-tests")
    seed_list = list(range(seed, seed + n_seeds))
    meta: dict[str, Any] = {
        "study": name,
        "spec": _spec_dict(spec),
        "seeds": seed_list,
        "smoke": smoke,
        "overrides": dict(overrides or {}),
        "data_dir": data_dir,
        "device": device,
        "tensorboard": tensorboard,
        "started": datetime.now().isoformat(timespec="seconds"),
        "cells": _cells(spec, seed_list),
    }
    identity = study_identity(meta)
    shared = claims(identity) if claims is not None else None  # opened before any folder
    if shared is not None:
        meta["shared"] = {"identity": identity}
    recipe = registry.get(spec.recipe)
    requests = set()
    for v in spec.variants:  # every variant's config, device and data now: a bad input fails here
        cfg = runner.resolve_config(recipe, _cell_overrides(spec, v, meta), smoke=smoke)
        runner.check_inputs(recipe, cfg, device=device, data_dir=data_dir)
        requests.add(getattr(getattr(cfg, "train", None), "precision", None))
    if requests == {"auto"}:
        # One precision for every cell, or the comparison would mix fp32 and bf16 cells: `auto`
        # becomes the machine's answer here (cells then skip the per-model probe).
        from tamrin.train.device import resolve_device, resolve_precision

        chosen = resolve_precision("auto", resolve_device(device)).record()
        if shared is not None:  # the first machine's answer, on every machine
            chosen = shared.agree("precision", chosen)
        meta["overrides"]["train.precision"] = chosen["name"]
        meta["precision"] = chosen
    study_dir = Path(out) / name / datetime.now().strftime("%Y%m%d-%H%M%S")
    n = 1
    while study_dir.exists():
        n += 1
        study_dir = study_dir.with_name(f"{study_dir.name.split('-n')[0]}-n{n}")
    study_dir.mkdir(parents=True)
    rundir.write_json(study_dir / rundir.STUDY, meta)
    return _execute(study_dir, workers=workers, quiet=quiet, claims=shared)


def study_identity(meta: Mapping[str, Any]) -> str:
    """`<study>-<hash>`: the same for the same study, seeds, smoke and overrides anywhere."""
    keys = ("study", "spec", "seeds", "smoke", "overrides")
    text = json.dumps({k: meta.get(k) for k in keys}, sort_keys=True, default=str)
    return f"{meta['study']}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def resume_study(
    study_dir: str | Path, *, workers: int | None = None, quiet: bool = False
) -> StudyResult:
    """Continue a killed or interrupted study: finished cells are kept, the rest run."""
    return _execute(Path(study_dir), workers=workers, quiet=quiet)


def read_study(study_dir: Path) -> dict[str, Any]:
    return rundir.read_json(Path(study_dir) / rundir.STUDY, "study")


def is_study_dir(path: str | Path) -> bool:
    return rundir.is_study_dir(Path(path))


def _cell_overrides(spec: StudySpec, variant: Variant, meta: Mapping[str, Any]) -> dict[str, Any]:
    """study budget < smoke budget < the variant's change < the user's --set (in that order)."""
    merged = dict(spec.base)
    if meta.get("smoke"):
        merged.update(spec.smoke_base)
    merged.update(variant.overrides)
    merged.update(meta.get("overrides") or {})
    return merged


def _execute(
    study_dir: Path, *, workers: int | None, quiet: bool, claims: CellClaims | None = None
) -> StudyResult:
    from tamrin.eval.report import summarize_study, write_study_report
    from tamrin.train.device import cpu_cores

    meta = read_study(study_dir)
    spec = spec_from_dict(meta["spec"])
    variants = {v.label: v for v in spec.variants}
    cells = {cell["dir"]: cell for cell in meta["cells"]}

    def prepare(name: str) -> Path:
        run_dir = study_dir / name
        if not rundir.is_run_dir(run_dir):
            cell = cells[name]
            runner.create_run(
                run_dir,
                spec.recipe,
                _cell_overrides(spec, variants[cell["variant"]], meta),
                seed=cell["seed"],
                smoke=meta.get("smoke", False),
                data_dir=meta.get("data_dir"),
                device=meta.get("device", "auto"),
                tensorboard=bool(meta.get("tensorboard", False)),
            )
        return run_dir

    todo = [] if claims else [prepare(n) for n in cells if not runner.is_finished(study_dir / n)]
    cores = cpu_cores()
    n_workers = 1 if claims else max(1, min(workers or cores, cores, len(todo) or 1))
    t0 = time.perf_counter()
    interrupted = False
    try:
        if claims is not None:
            _run_shared(study_dir, list(cells), prepare, claims, quiet=quiet, title=meta["study"])
        else:
            _run_cells(todo, n_workers, quiet=quiet, title=meta["study"])
    except (KeyboardInterrupt, RunInterrupted):
        interrupted = True
    elapsed = time.perf_counter() - t0
    meta["wall_time_s"] = float(meta.get("wall_time_s", 0.0)) + elapsed
    meta["workers"] = n_workers
    rundir.write_json(study_dir / rundir.STUDY, meta)
    summary = summarize_study(study_dir)
    rundir.write_json(study_dir / rundir.SUMMARY, summary)
    write_study_report(study_dir)
    result = StudyResult(study_dir, summary)
    if interrupted:
        raise RunInterrupted(
            f"study interrupted; finished cells are kept; continue with: tamrin resume {study_dir}"
        )
    if not quiet:
        _print(result)
    return result


def _run_cells(todo: list[Path], n_workers: int, *, quiet: bool, title: str) -> None:
    with _bar(quiet, title, len(todo)) as advance:
        if n_workers == 1:
            for run_dir in todo:
                _cell(str(run_dir))
                advance(run_dir)
            return
        ctx = mp.get_context("spawn")  # a clean interpreter per worker: no forked torch threads
        cores: Any = ctx.Queue()
        for core in sorted(os.sched_getaffinity(0))[:n_workers]:
            cores.put(core)
        pool = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_pin, initargs=(cores,))
        try:
            pending: set[Future[str]] = {pool.submit(_cell, str(d)) for d in todo}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    # re-raise a cell's error (or its RunInterrupted) here
                    advance(Path(fut.result()))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # let running cells save, drop the rest


def _run_shared(
    study_dir: Path,
    names: list[str],
    prepare: Callable[[str], Path],
    claims: CellClaims,
    *,
    quiet: bool,
    title: str,
) -> None:
    """Run the cells this worker claims (one at a time), then gather every other worker's."""
    with _bar(quiet, f"{title} (shared)", len(names)) as advance:
        for name in claims.claim(names):
            run_dir = prepare(name)
            try:
                _cell(str(run_dir))
            except BaseException:
                claims.publish(name, {}, failed=True)  # another worker may take it up again
                raise
            claims.publish(
                name,
                {f: (run_dir / f).read_text() for f in SHARED_FILES if (run_dir / f).is_file()},
            )
            advance(run_dir)
    for name, files in claims.collect(names).items():
        run_dir = study_dir / name
        if runner.is_finished(run_dir):
            continue  # run here
        run_dir.mkdir(parents=True, exist_ok=True)
        for file, text in files.items():
            rundir.write_text(run_dir / file, text)


def _pin(cores: Any) -> None:
    """Worker initializer: one core per worker, so torch runs one thread and workers don't
    wait on each other's OpenMP barriers."""
    os.sched_setaffinity(0, {cores.get()})


def _cell(run_dir: str) -> str:
    """Run one cell (Ctrl-C: the cell saves its state and RunInterrupted stops the study)."""
    runner.execute(Path(run_dir), quiet=True, report=False)
    return run_dir


@contextmanager
def _bar(quiet: bool, title: str, total: int) -> Iterator[Callable[[Path], None]]:
    """`advance(cell_dir)` per finished cell: done / failed / total, elapsed and an ETA (a bar
    in a terminal, one plain line per cell otherwise; nothing when quiet)."""
    from tamrin.train.display import StudyProgress

    with StudyProgress(f"{title} cells", total, quiet=quiet or total == 0) as shown:
        yield lambda cell_dir: shown.cell_done(cell_dir.name, rundir.status(cell_dir))


def _print(result: StudyResult) -> None:
    from rich.console import Console

    console = Console()
    for line in result.summary.get("verdicts", []):
        console.print(f"• {line}")
    console.print(
        f"wall time {result.summary.get('wall_time_s', 0):.0f} s; report: {result.report_html}"
    )
