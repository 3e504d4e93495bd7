"""The notebook API: thin wrappers over the runner (no logic of their own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tamrin import registry, runner


def run(
    name: str,
    *,
    seed: int = 0,
    seeds: int = 1,
    smoke: bool = False,
    data_dir: str | None = None,
    out: str | Path = runner.DEFAULT_OUT,
    device: str = "auto",
    quiet: bool = False,
    **overrides: Any,
) -> runner.RunResult | runner.GroupResult:
    """Run a recipe; keyword overrides are config keys (`epochs=3`, `**{"train.lr": 0.1}`).

    Returns a RunResult (one seed) or GroupResult (several); both display inline in notebooks.
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
    )


def resume(run_dir: str | Path, *, quiet: bool = False) -> runner.RunResult:
    """Continue an interrupted or killed run from its last checkpoint."""
    return runner.resume(run_dir, quiet=quiet)


def report(run_dir: str | Path) -> Path:
    """Rebuild report.html / report.md (and figures) from a run folder alone."""
    from tamrin.eval.report import write_report

    html, _ = write_report(Path(run_dir))
    return html


def load(run_dir: str | Path) -> runner.RunResult:
    """Open a finished run folder as a RunResult."""
    return runner.load_result(run_dir)


def list_recipes() -> list[str]:
    """Names of every registered recipe."""
    return [r.name for r in registry.all_recipes()]
