"""`tamrin list`: every recipe with its homework, the homework's figure and tamrin's measured one,
readable at 80 columns; the measured figures come from the shipped results file."""

from __future__ import annotations

import json

import pytest

from tamrin import measured, registry
from tamrin.cli import describe_measured, main

HOMEWORKS = {"HW2", "HW5", "HW6", "HW13", "HW14"}


def test_every_recipe_names_the_homework_it_comes_from() -> None:
    for r in registry.all_recipes():
        assert r.course, f"{r.name} has no course= (which homework it comes from)"
        assert set(r.course.replace(" ", "").split(",")) <= HOMEWORKS, (r.name, r.course)


def test_shipped_results_are_real_rows_of_registered_recipes() -> None:
    rows = measured.measured_results()
    assert rows, "src/tamrin/measured.json is missing or empty (benchmarks/collect_recipes.py)"
    names = {r.name for r in registry.all_recipes()}
    for row in rows:
        assert row["recipe"] in names
        assert isinstance(row["mean"], float)
        assert row["seeds"] and row["source"] and row["machine"]["cpu"]
        if len(row["seeds"]) > 1:
            assert isinstance(row["std"], float) and row["std"] >= 0


def test_measured_entry_in_words() -> None:
    row = {"data": "mnist", "mean": 0.69311, "std": 0.00244, "seeds": [0, 1, 2]}
    assert describe_measured({**row, "train_time_s_min": 24.4}) == (
        "mnist: 0.6931 ± 0.0024 (3 seeds, 24 s)"
    )
    assert describe_measured({**row, "std": 4.08e-9}) == "mnist: 0.6931 ± 0.0000 (3 seeds)"
    assert describe_measured({**row, "seeds": [0], "std": None}) == "mnist: 0.6931 (1 seed)"


def test_list_fits_80_columns_and_shows_our_figure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {
        "recipe": "cifar10-lenet",
        "data": "cifar10",
        "metric": "test.accuracy",
        "mean": 0.71234,
        "std": 0.00321,
        "seeds": [0, 1, 2],
        "train_time_s_min": 31.2,
    }
    monkeypatch.setattr(measured, "measured_results", lambda: (row,))
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cifar10: 0.7123 ±" in out and "0.0032 (3 seeds, 31 s)" in out  # may wrap
    assert describe_measured(row) == "cifar10: 0.7123 ± 0.0032 (3 seeds, 31 s)"
    assert "62% test accuracy" in out  # the homework's figure beside it
    assert "not measured yet" in out  # recipes without a row say so
    widest = max(len(line) for line in out.splitlines())
    assert widest <= 80, f"a line of `tamrin list` is {widest} characters wide"


def test_results_file_is_package_data() -> None:
    from importlib import resources

    text = resources.files("tamrin").joinpath(measured.RESULTS_FILE).read_text()
    assert isinstance(json.loads(text), list)
