"""Every registered study (from the registry): its spec resolves, a smoke run writes the whole
study folder; the summary's mean ± std and t-tests come from the cells' own numbers; a killed
study resumes without rerunning finished cells."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tamrin import registry, runner
from tamrin.config import lookup
from tamrin.eval.stats import welch
from tamrin.eval.study_report import summarize_study
from tamrin.studies import resume_study, run_study

STUDIES = [s.name for s in registry.all_studies()]


@pytest.mark.parametrize("name", STUDIES)
def test_study_spec_is_valid(name: str) -> None:
    spec = registry.get_study(name)
    recipe = registry.get(spec.recipe)
    assert spec.summary and spec.question and spec.data
    for v in spec.variants:
        runner.resolve_config(recipe, {**spec.base, **v.overrides})
    for group in {v.group for v in spec.variants}:
        assert spec.baseline_of(group).group == group
        if spec.baseline:
            assert spec.baseline_of(group).name == spec.baseline, f"no baseline in {group!r}"


@pytest.mark.parametrize("name", STUDIES)
def test_study_smoke_run(name: str, tiny_data: Path, tmp_path: Path) -> None:
    result = run_study(
        name, seeds=2, smoke=True, data_dir=str(tiny_data), out=tmp_path, workers=1, quiet=True
    )
    spec = registry.get_study(name)
    folder = result.study_dir
    for f in ("study.json", "summary.json", "report.html", "report.md", "figures/forest.png"):
        assert (folder / f).is_file(), f
    cells = json.loads((folder / "study.json").read_text())["cells"]
    assert len(cells) == 2 * len(spec.variants)
    assert all(runner.is_finished(folder / c["dir"]) for c in cells)
    summary = result.summary
    assert len(summary["verdicts"]) == len(spec.variants) - len({v.group for v in spec.variants})
    html = result.report_html.read_text()
    assert all(v.label in html for v in spec.variants)


def _fake_cell(folder: Path, value: float, seed: int) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(
        json.dumps({"status": "completed", "test": {"accuracy": value}, "wall_time_s": 1.0})
    )
    (folder / "history.csv").write_text(f"epoch,val_acc\n1,{value}\n")


def test_summary_is_computed_from_the_per_seed_results(tmp_path: Path) -> None:
    values = {"A": [0.90, 0.92, 0.94], "B": [0.80, 0.81, 0.85]}
    cells = [{"variant": k, "seed": s, "dir": f"cells/{k}-s{s}"} for k in values for s in range(3)]
    spec = {
        "name": "toy", "summary": "", "recipe": "lab-net", "metric": "test.accuracy",
        "metrics": [], "curves": ["val_acc"], "profiles": [], "baseline": "A",
        "variants": [{"name": "A", "group": ""}, {"name": "B", "group": ""}],
    }  # fmt: skip
    (tmp_path / "study.json").write_text(
        json.dumps({"study": "toy", "spec": spec, "seeds": [0, 1, 2], "cells": cells})
    )
    for c in cells:
        _fake_cell(tmp_path / c["dir"], values[c["variant"]][c["seed"]], c["seed"])
    summary = summarize_study(tmp_path)
    a, b = summary["variants"]
    assert a["metric"]["mean"] == pytest.approx(0.92) and a["metric"]["std"] == pytest.approx(0.02)
    assert b["metric"]["mean"] == pytest.approx(0.82) and b["metric"]["std"] == pytest.approx(
        (((0.02**2) + (0.01**2) + (0.03**2)) / 2) ** 0.5
    )
    assert a["baseline"] and "comparison" not in a
    assert b["comparison"]["p"] == pytest.approx(welch(values["B"], values["A"]).p)
    assert summary["verdicts"][0].startswith("B vs A: -10.00 ± ")
    assert summary["verdicts"][0].endswith("significantly worse than A")
    assert a["curves"]["val_acc"]["mean"] == pytest.approx([0.92])


def test_killed_study_resumes_only_unfinished_cells(tiny_data: Path, tmp_path: Path) -> None:
    first = run_study(
        "study-loss",
        seeds=2,
        smoke=True,
        data_dir=str(tiny_data),
        out=tmp_path,
        workers=1,
        quiet=True,
    )
    cells = json.loads((first.study_dir / "study.json").read_text())["cells"]
    lost = first.study_dir / cells[0]["dir"]
    (lost / "metrics.json").unlink()  # as if killed before it finished
    kept = first.study_dir / cells[-1]["dir"] / "metrics.json"
    stamp = kept.stat().st_mtime_ns
    again = resume_study(first.study_dir, workers=1, quiet=True)
    assert runner.is_finished(lost)
    assert kept.stat().st_mtime_ns == stamp  # a finished cell is not rerun
    before = [v["metric"]["values"] for v in first.summary["variants"]]
    after = [v["metric"]["values"] for v in again.summary["variants"]]
    assert after == before  # the resumed cell reproduces its numbers


@pytest.mark.data
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores for 2 workers")
def test_parallel_workers_on_real_data(tmp_path: Path) -> None:
    """Two worker processes (one core each) on real Fashion-MNIST, smoke budget."""
    data = os.environ.get("TAMRIN_DATA")
    if not data or not (Path(data.split(":")[0]) / "fashion-mnist").exists():
        pytest.skip("real Fashion-MNIST not found under $TAMRIN_DATA")
    result = run_study("study-loss", seeds=2, smoke=True, out=tmp_path, workers=2, quiet=True)
    assert result.summary["workers"] == 2
    assert all(
        lookup(json.loads((result.study_dir / d / "metrics.json").read_text()), "test.accuracy")
        for v in result.summary["variants"]
        for d in v["dirs"]
    )
