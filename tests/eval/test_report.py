"""Reports rebuilt from a run folder show exactly the numbers in its files; group reports."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from matplotlib.image import imread

from tamrin.errors import RunDirError
from tamrin.eval.figures import best_title, curve_series
from tamrin.eval.report import (
    Table,
    fmt,
    fmt_pm,
    fmt_seconds,
    mean_pm_std,
    render_html,
    render_markdown,
    summarize_runs,
    write_folder_report,
    write_group_report,
    write_report,
)

MakeRun = Callable[..., Path]

# (what, formatted as the report must show it) for numbers in the fixture's files
NUMBERS = [
    ("test accuracy", "0.6234"),
    ("homework's figure", "0.6200"),
    ("macro F1", "0.6055"),
    ("balanced accuracy", "0.6111"),
    ("weighted F1", "0.6177"),
    ("macro AUC", "0.8123"),
    ("log loss", "1.0456"),
    ("cat precision", "0.5512"),
    ("dog recall", "0.4432"),
    ("ship F1", "0.7642"),
    ("ship AUC", "0.9013"),
    ("best value", "0.6400"),
    ("wall time", "118.2 s (1 min 58 s)"),
    ("train time", "110.0 s (1 min 50 s)"),
    ("extra table cell", "0.5432"),
    ("extra section", "61706"),
    ("nested extra", "0.6543"),
    ("final val_loss", "1.1200"),
    ("git commit", "abc123"),
    ("torch version", "2.13.0+cpu"),
]


def _png_ok(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    pixels = imread(path)  # decodes the whole file
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50


def _row(html: str, first_cell: str) -> list[str]:
    """The cell texts of the HTML table row whose first cell is `first_cell`."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row starting with {first_cell!r}")


def test_formatting() -> None:
    assert fmt(0.6234) == "0.6234"
    assert fmt(0.62) == "0.6200"
    assert fmt(118.25) == "118.25"
    assert fmt(61706) == "61706"
    assert fmt(0.0001) == "0.0001"
    assert fmt(None) == "—"
    assert fmt(float("nan")) == "NaN"
    assert fmt_seconds(42.0) == "42.0 s"
    assert fmt_seconds(3725.0) == "3725.0 s (1 h 02 min)"


@pytest.mark.parametrize(
    ("mean", "std", "shown"),
    [
        (0.1, 4.081e-09, "0.1000 ± 0.0000"),  # the study table's old '0.1000 ± 4.081e-09'
        (0.5, 0.0, "0.5000 ± 0.0000"),
        (0.63, 0.02, "0.630 ± 0.020"),  # std to 2 significant digits, mean to the same place
        (0.6312, 0.0157, "0.631 ± 0.016"),
        (0.98765, 0.00021, "0.9877 ± 0.0002"),  # never finer than 4 decimals
        (12.345, 1.3, "12.3 ± 1.3"),
        (1234.5, 15.2, "1234 ± 15"),
        (12345.6, 152.0, "12350 ± 150"),
        (-0.03, 0.0004, "-0.0300 ± 0.0004"),
        (2e-5, 3e-6, "2e-05 ± 3e-06"),  # tiny values keep their significant digits
        (0.5, None, "0.5000"),
        (None, 0.1, "—"),
        (0.5, float("nan"), "0.5000 ± NaN"),
    ],
)
def test_mean_pm_std_rounds_both_to_one_place(mean: float, std: float, shown: str) -> None:
    assert fmt_pm(mean, std) == shown


def test_mean_pm_std_of_stats() -> None:
    assert mean_pm_std({"mean": 0.63, "std": 0.02, "n": 3}) == "0.630 ± 0.020"
    assert mean_pm_std({"mean": 0.63, "std": 0.0, "n": 1}) == "0.6300"  # one run: no spread
    assert mean_pm_std({"mean": None, "std": None, "n": 0}) == "—"


def test_tables_scroll_in_their_box_and_long_names_wrap() -> None:
    table = Table(
        ["variant", "test.weighted_precision (mean ± std)", "version"],
        [["A", fmt_pm(0.1, 4.081e-09), "2.13.0+cpu"]],
        id="results",
    )
    html = render_html("t", [table])
    assert '<div class="table"><table id="results">' in html and "</table></div>" in html
    assert ".table{overflow-x:auto" in html
    # header names may break after '.' and '_' (never inside numbers); body cells stay verbatim
    assert '<th class="num">test.<wbr>weighted_<wbr>precision (mean ± std)</th>' in html
    assert '<td class="num">0.1000 ± 0.0000</td>' in html and "<td>2.13.0+cpu</td>" in html
    md = render_markdown([table])
    assert "| variant | test.weighted_precision (mean ± std) | version |" in md
    assert "| --- | ---: | --- |" in md and "| A | 0.1000 ± 0.0000 | 2.13.0+cpu |" in md


def test_figure_data() -> None:
    best = {"metric": "val_loss", "mode": "min", "epoch": 7, "value": 0.8312}
    assert best_title(best) == "min val loss 0.8312 at epoch 7"
    assert best_title({}) == ""
    history = [{"epoch": 1, "train_loss": 2.0, "val_loss": 1.5, "train_loss_ce": 1.9, "lr": 0.1}]
    panels = curve_series(history)
    assert list(panels) == ["loss"]  # no accuracy columns: that panel is skipped
    assert list(panels["loss"]) == ["train_loss", "val_loss", "train_loss_ce"]


def test_report_shows_the_files_numbers(tmp_path: Path, make_run: MakeRun) -> None:
    run = make_run(tmp_path / "run")
    html_path, md_path = write_report(run)
    assert (html_path, md_path) == (run / "report.html", run / "report.md")
    html, md = html_path.read_text(), md_path.read_text()

    for what, text in NUMBERS:
        assert text in html, f"{what} {text!r} missing from report.html"
        assert text in md, f"{what} {text!r} missing from report.md"
    assert _row(html, "test.accuracy") == ["test.accuracy", "0.6234", "0.6200"]
    assert _row(html, "test.macro_f1") == ["test.macro_f1", "0.6055", "—"]
    assert "| test.accuracy | 0.6234 | 0.6200 |" in md
    assert _row(html, "cat") == ["cat", "0.5512", "0.6001", "0.5746", "100", "0.8011"]
    assert "| cat | 0.5512 | 0.6001 | 0.5746 | 100 | 0.8011 |" in md
    assert _row(html, "macro avg") == ["macro avg", "0.6012", "0.6111", "0.6055", "300", "0.8123"]
    assert _row(html, "weighted avg") == ["weighted avg", "0.6123", "0.6234", "0.6177", "300", "—"]
    assert (
        "Best epoch: <strong>3</strong> of 4, chosen by max val_acc = <strong>0.6400</strong>"
        in html
    )
    assert "Best epoch: **3** of 4" in md

    # notes: minimal markdown in HTML, verbatim in Markdown
    assert "<strong>best</strong>" in html and "<code>lr=0.01</code>" in html
    assert "The **best** model used `lr=0.01`." in md
    # config collapsed, the 62% seed text shown
    assert "<details><summary>Resolved config</summary>" in html
    assert '"batch_size": 64' in html and '"batch_size": 64' in md
    assert "62% test accuracy after 20 epochs" in html

    # figures: redrawn standard ones plus the recipe's own, all valid PNGs, referenced relatively
    for name in ("curves", "confusion", "roc", "norm_axes"):
        _png_ok(run / "figures" / f"{name}.png")
        assert f'src="figures/{name}.png"' in html
        assert f"](figures/{name}.png)" in md
    for src in re.findall(r'<img src="([^"]+)"', html):
        _png_ok(run / src)

    # self-contained: no external URLs, no scripts, no stylesheets from elsewhere
    assert not re.search(r"https?://", html)
    assert "<script" not in html and "<link" not in html
    assert "completed" in html and 'class="warn"' not in html


def test_report_of_a_stopped_run(tmp_path: Path, make_run: MakeRun) -> None:
    message = "The loss became NaN at epoch 3; the last good checkpoint is kept."
    run = make_run(
        tmp_path / "run",
        predictions=False,
        metrics={
            "status": "stopped_nonfinite",
            "status_message": message,
            "test": None,
            "tables": None,
            "notes": None,
            "figures": None,
            "extra": None,
            "final": {"epoch": 3, "train_loss": float("nan")},
        },
    )
    html_path, md_path = write_report(run)
    html, md = html_path.read_text(), md_path.read_text()
    assert 'class="warn"' in html and message in html
    assert "stopped_nonfinite" in md and message in md
    assert "NaN" in html
    assert "This run has no test evaluation." in html
    assert 'src="figures/roc.png"' not in html and 'src="figures/confusion.png"' not in html


def test_minimal_run_folder(tmp_path: Path, make_run: MakeRun) -> None:
    """An interrupted run: empty history, bare metrics, no headline — still a readable report."""
    run = make_run(
        tmp_path / "run",
        predictions=False,
        history=[],
        config={"headline": [], "homework_figure": None, "git_commit": None},
    )
    (run / "metrics.json").write_text(json.dumps({"status": "interrupted"}))
    html = write_report(run)[0].read_text()
    assert "interrupted" in html
    assert "history.csv has no epochs" in html


def test_not_a_run_folder(tmp_path: Path, make_run: MakeRun) -> None:
    with pytest.raises(RunDirError, match=r"not a tamrin run folder: .*empty has no metrics\.json"):
        (tmp_path / "empty").mkdir()
        write_report(tmp_path / "empty")
    with pytest.raises(RunDirError, match="does not exist"):
        write_report(tmp_path / "nowhere")
    run = make_run(tmp_path / "run")
    (run / "history.csv").unlink()
    with pytest.raises(RunDirError, match=r"has no history\.csv"):
        write_report(run)
    run = make_run(tmp_path / "run2")
    (run / "metrics.json").write_text('{"status": "compl')
    with pytest.raises(RunDirError, match=r"damaged run folder: .*metrics\.json is not valid JSON"):
        write_report(run)
    run = make_run(tmp_path / "run3")
    (run / "predictions.npz").write_bytes(b"not a zip")
    with pytest.raises(RunDirError, match=r"predictions\.npz"):
        write_report(run)


def test_group_report(tmp_path: Path, make_run: MakeRun) -> None:
    group = tmp_path / "group"
    runs = []
    for seed, acc in enumerate([0.61, 0.63, 0.65]):
        test = {"accuracy": acc, "macro_f1": 0.5 + seed / 100, "n": 300}
        run = make_run(
            group / f"s{seed}",
            config={"seed": seed},
            predictions=False,
            metrics={"test": test, "wall_time_s": 100.0 + seed},
        )
        write_report(run)
        runs.append(run)
    summary = summarize_runs(runs, relative_to=group)
    assert summary["recipe"] == "cifar10-lenet"
    assert summary["seeds"] == [0, 1, 2]
    assert summary["runs"] == ["s0", "s1", "s2"]
    acc = summary["headline"]["test.accuracy"]
    assert acc["n"] == 3
    assert acc["mean"] == pytest.approx(0.63)
    assert acc["std"] == pytest.approx(0.02)
    assert summary["wall_time_s"] == pytest.approx(303.0)
    assert summary["time"]["wall_time_s"]["mean"] == pytest.approx(101.0)
    (group / "summary.json").write_text(json.dumps(summary))

    html_path, md_path = write_group_report(group)
    html, md = html_path.read_text(), md_path.read_text()
    assert _row(html, "test.accuracy") == [
        "test.accuracy",
        "0.630 ± 0.020",
        "3",
        "0.6200",
        "+0.0100",
    ]
    assert "| test.accuracy | 0.630 ± 0.020 | 3 | 0.6200 | +0.0100 |" in md
    assert _row(html, "1") == ["1", "0.6300", "0.5100", "3", "110.0 s", "completed", "report"]
    for seed in range(3):
        assert f'href="s{seed}/report.html"' in html
        assert f"[report](s{seed}/report.html)" in md
    assert not re.search(r"https?://", html)

    with pytest.raises(RunDirError, match=r"has no summary\.json"):
        write_group_report(group / "s0")

    # a lost run shows in the table and a banner instead of failing the whole group report
    (group / "s2" / "metrics.json").unlink()
    html = write_group_report(group)[0].read_text()
    assert 'class="warn"' in html and "1 of 3 runs did not complete" in html
    assert _row(html, "2")[5] == "run folder missing or damaged"


def test_group_report_draws_curves_over_seeds(
    tmp_path: Path, make_group: Callable[..., Path]
) -> None:
    """Mean ± std per epoch of val_acc and train_loss across seeds, kept as plot data in the
    group folder; `tamrin report GROUP_DIR` redraws them even after the runs are gone."""
    group = make_group(tmp_path / "runs")
    # per seed: headline values, best epoch, train time, status, link to the seed's report
    html = (group / "report.html").read_text()
    assert _row(html, "2") == ["2", "0.6500", "0.5200", "3", "92.0 s", "completed", "report"]
    html, md = (group / "report.html").read_text(), (group / "report.md").read_text()
    assert 'src="figures/curves.png"' in html and "](figures/curves.png)" in md
    _png_ok(group / "figures" / "curves.png")
    plot = json.loads((group / "figures" / "curves.json").read_text())
    assert plot["kind"] == "band"
    panels = {p["title"]: p["series"] for p in plot["data"]["panels"]}
    assert list(panels) == ["val_acc", "train_loss and val_loss"]
    val = panels["val_acc"]["val_acc"]  # seeds 0, 1, 2 shift val_acc by 0.00, 0.01, 0.02
    assert val["epoch"] == [1, 2, 3, 4] and val["n"] == [3, 3, 3, 3]
    assert val["mean"] == pytest.approx([0.39, 0.53, 0.65, 0.64])
    assert val["std"] == pytest.approx([0.01] * 4)
    assert panels["train_loss and val_loss"]["train_loss"]["mean"][0] == pytest.approx(1.85)

    for run in group.parent.glob("*-s[0-9]"):  # the group folder alone
        shutil.rmtree(run)
    (group / "figures" / "curves.png").unlink()
    write_folder_report(group)
    _png_ok(group / "figures" / "curves.png")
    assert json.loads((group / "figures" / "curves.json").read_text()) == plot
