"""A study's progress: cells done / failed / total with elapsed time and an ETA, one plain
line per finished cell when stdout is not a terminal, nothing when quiet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tamrin.studies import grid


def _cell(folder: Path, status: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"status": status}))
    return folder


def test_cells_are_counted_with_failures_and_an_eta(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = [
        _cell(tmp_path / "relu-s0", "completed"),
        _cell(tmp_path / "relu-s1", "stopped_nonfinite"),
        _cell(tmp_path / "tanh-s0", "stopped_early"),
    ]
    with grid._bar(False, "study-x", len(cells)) as advance:
        for cell in cells:
            advance(cell)
    out = capsys.readouterr().out
    assert "\x1b" not in out
    lines = out.splitlines()
    assert [ln.split(" - ")[0] for ln in lines] == [
        "study-x cells: 1/3 done, 0 failed",
        "study-x cells: 2/3 done, 1 failed",
        "study-x cells: 3/3 done, 1 failed",
    ]
    assert "relu-s1 stopped_nonfinite" in lines[1]
    assert all(re.search(r" - \d+:\d\d elapsed, ETA \d+:\d\d$", ln) for ln in lines)


def test_quiet_study_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cell = _cell(tmp_path / "a-s0", "completed")
    with grid._bar(True, "study-x", 1) as advance:
        advance(cell)
    assert capsys.readouterr().out == ""
