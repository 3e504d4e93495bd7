"""`tamrin runs --html`: one page of every run, seed group and study, the homework's figure vs
ours read from each folder, links that open each folder's report."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tamrin import runner
from tamrin.cli import main
from tamrin.errors import RunDirError
from tamrin.eval.report import write_runs_index

MakeRunsFolder = Callable[[Path], dict[str, Path]]


def _rows(html: str) -> list[list[str]]:
    """Cell texts of every body row of the page's table."""
    body = html.split("<tbody>", 1)[1]
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    ]


def test_index_lists_every_folder_with_both_figures(
    tmp_path: Path, make_runs_folder: MakeRunsFolder
) -> None:
    out = tmp_path / "runs"
    folders = make_runs_folder(out)
    rows = runner.list_runs(out)
    path = write_runs_index(rows, out)
    assert path == out / "index.html"
    html = path.read_text()

    table = _rows(html)
    assert len(table) == len(rows) == 6  # 1 run + 3 seeds' runs + their group + 1 study
    by_kind = {(r[1], r[8]): r for r in table}  # (kind, seeds)
    # name, kind, metric, homework's figure, ours, ours − homework, data, date, seeds, status
    assert by_kind["run", "7"] == [
        "cifar10-lenet", "run", "test.accuracy", "0.6200", "0.6234", "+0.0034",
        "CIFAR-10", "2026-11-24 09:00", "7", "completed",
    ]  # fmt: skip
    assert by_kind["seed group", "0-2"][2:6] == [
        "test.accuracy",
        "0.6200",
        "0.630 ± 0.020",
        "+0.0100",
    ]
    assert by_kind["study", "0-1"][2:6] == ["test.accuracy (best: B)", "—", "0.1250 ± 0.0071", "—"]
    assert by_kind["study", "0-1"][9] == "completed, smoke"
    assert "4 runs, 1 seed group and 1 study under" in html

    hrefs = re.findall(r'<a href="([^"]+)"', html)
    assert len(hrefs) == 6
    for href in hrefs:
        assert (out / href).resolve().is_file() and href.endswith("report.html"), href
    for folder in folders.values():
        assert (folder / "report.html").relative_to(out).as_posix() in hrefs
    assert not re.search(r"https?://", html) and "<script" not in html


def test_index_of_a_damaged_folder_and_of_nothing(
    tmp_path: Path, make_runs_folder: MakeRunsFolder
) -> None:
    out = tmp_path / "runs"
    folders = make_runs_folder(out)
    (folders["run"] / "config.json").write_text("{not json")
    (folders["study"] / "report.html").unlink()
    html = write_runs_index(runner.list_runs(out), out).read_text()
    statuses = {r[0]: r[9] for r in _rows(html)}
    assert statuses["study-toy (no report)"] == "completed, smoke"
    assert "damaged" in [r[9] for r in _rows(html)]

    (tmp_path / "empty").mkdir()
    html = write_runs_index([], tmp_path / "empty").read_text()
    assert "No runs under" in html
    with pytest.raises(RunDirError, match=r"no runs folder at .*nowhere"):
        write_runs_index([], tmp_path / "nowhere")


def test_cli_runs_html(
    tmp_path: Path, make_runs_folder: MakeRunsFolder, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    make_runs_folder(out)
    assert main(["runs", "--html", "--out", str(out)]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    assert "study-toy" in (out / "index.html").read_text()
    assert main(["runs", "--html", "--out", str(tmp_path / "nowhere")]) == 2
    assert "no runs folder at" in capsys.readouterr().err
