"""The notebook API: thin wrappers over the runner (no logic of their own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tamrin import registry, rundir, runner


def run(
    name: str,
    *,
    seed: int = 0,
    seeds: int | None = None,
    smoke: bool = False,
    data_dir: str | None = None,
    out: str | Path = runner.DEFAULT_OUT,
    device: str = "auto",
    quiet: bool = False,
    workers: int | None = None,
    tensorboard: bool = False,
    **overrides: Any,
) -> Any:
    """Run a recipe or a study; keyword overrides are config keys (`epochs=3`,
    `**{"train.lr": 0.1}`).

    Returns a RunResult (one seed), a GroupResult (several seeds of a recipe) or a StudyResult
    (a study: every variant × seeds); all display inline in notebooks. `tensorboard=True` also
    writes TensorBoard event files into each run folder (`tensorboard --logdir runs/`).

    >>> tamrin.run("cifar10-lenet", smoke=True, epochs=1)  # doctest: +SKIP
    >>> tamrin.run("study-loss", smoke=True)  # doctest: +SKIP
    """
    return runner.run(
        name,
        overrides,
        seed=seed,
        seeds=seeds,
        smoke=smoke,
        data_dir=data_dir,
        out=out,
        device=device,
        quiet=quiet,
        workers=workers,
        tensorboard=tensorboard,
    )


def resume(run_dir: str | Path, *, quiet: bool = False) -> Any:
    """Continue an interrupted or killed run (or study) from where it stopped."""
    if rundir.is_study_dir(Path(run_dir)):
        from tamrin.studies.grid import resume_study

        return resume_study(run_dir, quiet=quiet)
    return runner.resume(run_dir, quiet=quiet)


def report(run_dir: str | Path) -> Path:
    """Rebuild report.html / report.md (and every figure) of a run, seed-group or study folder
    from the folder alone; returns the HTML path."""
    from tamrin.eval.report import write_folder_report

    html, _ = write_folder_report(Path(run_dir))
    return html


def load(run_dir: str | Path) -> runner.RunResult:
    """Open a finished run folder as a RunResult: its metrics (`.metric("test.accuracy")`),
    `.history` (a table), `.model()` (the trained network, eval mode, CPU) and
    `.predict(images)` (class probabilities with the run's own preprocessing).

    >>> result = tamrin.load("runs/cifar10-lenet/20250131-140501-s0")  # doctest: +SKIP
    >>> result.predict(uint8_images).argmax(1), result.classes  # doctest: +SKIP
    """
    return runner.load_result(run_dir)


def list_recipes() -> list[str]:
    """Names of every registered recipe."""
    return [r.name for r in registry.all_recipes()]
