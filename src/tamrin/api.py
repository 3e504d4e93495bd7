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
    from_study: str | Path | None = None,
    **overrides: Any,
) -> Any:
    """Run a recipe or a study; keyword overrides are config keys (`epochs=3`,
    `**{"train.lr": 0.1}`).

    Returns a RunResult (one seed), a GroupResult (several seeds of a recipe) or a StudyResult
    (a study: every variant × seeds); all display inline in notebooks. `tensorboard=True` also
    writes TensorBoard event files into each run folder (`tensorboard --logdir runs/`).
    `from_study=STUDY_DIR` trains the best trial of a `tamrin.tune` study (overrides on top).

    >>> tamrin.run("cifar10-lenet", smoke=True, epochs=1)  # doctest: +SKIP
    >>> tamrin.run("study-loss", smoke=True)  # doctest: +SKIP
    """
    origin = None
    if from_study is not None:  # the best trial of a tamrin tune study; overrides on top
        from tamrin.tuning.search import best_trial_overrides

        recipe = registry.get_study(name).recipe if registry.is_study(name) else name
        best, origin = best_trial_overrides(from_study, recipe)
        overrides = {**best, **overrides}
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
        origin=origin,
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


def tune(
    recipe: str,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    sampler: str = "tpe",
    pruner: str = "hyperband",
    storage: str | None = None,
    study: str | None = None,
    workers: int = 1,
    smoke: bool = False,
    seed: int = 0,
    out: str | Path = runner.DEFAULT_OUT,
    data_dir: str | None = None,
    device: str = "auto",
    quiet: bool = False,
    **overrides: Any,
) -> Path:
    """Search `recipe`'s hyperparameters with Optuna (`tamrin tune`); returns the study folder.

    Keyword overrides are config keys fixed in every trial. Retrain the best configuration
    with `tamrin.run(recipe, from_study=STUDY_DIR, seeds=3)`.

    >>> study_dir = tamrin.tune("fashion-mlp", smoke=True, trials=4)  # doctest: +SKIP
    """
    from tamrin.tuning.search import TuneRequest
    from tamrin.tuning.search import tune as run_tune

    return run_tune(
        TuneRequest(
            recipe=recipe,
            trials=trials,
            timeout_s=timeout,
            sampler=sampler,
            pruner=pruner,
            storage=storage,
            study=study,
            workers=workers,
            overrides=overrides,
            smoke=smoke,
            seed=seed,
            out=out,
            data_dir=data_dir,
            device=device,
            quiet=quiet,
        )
    )
