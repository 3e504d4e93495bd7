"""Plot data apart from drawing: the standard figures and `log_plot` figures are redrawn from the
run folder alone; a one-epoch curve gets sensible axes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tamrin import registry, rundir
from tamrin.errors import ConfigError
from tamrin.eval import figures as F
from tamrin.eval.report import load_run, standard_plots, write_folder_report, write_report
from tamrin.eval.study_figures import band_figure
from tamrin.runner import Run

MakeRun = Callable[..., Path]


def test_plot_data_is_plain_and_computed_from_the_folder(tmp_path: Path, make_run: MakeRun) -> None:
    run = load_run(make_run(tmp_path / "run"))
    plots = standard_plots(run)
    assert sorted(plots) == ["confusion", "curves", "roc"]
    curves = plots["curves"][1]
    assert curves.epochs == [float(r["epoch"]) for r in run.history]
    assert curves.panels["accuracy"]["val_acc"] == [r["val_acc"] for r in run.history]
    assert curves.best_epoch == run.metrics["best"]["epoch"]
    roc = plots["roc"][1]
    assert len(roc.curves) == 3 and roc.curves[0]["fpr"][0] == 0.0
    for kind, info in plots.values():  # JSON round trip, then drawn from the plain data
        data = json.loads(json.dumps(F.to_data(info)))
        assert F.draw(kind, data).axes


def test_one_epoch_curve_has_sensible_axes() -> None:
    info = F.curves_info([{"epoch": 1, "train_loss": 2.1, "val_loss": 2.0, "val_acc": 0.3}], None)
    assert info is not None
    fig = F.draw_curves(info)
    loss, acc = fig.axes
    assert loss.get_xlim() == (0.5, 1.5) and list(loss.get_xticks()) == [1.0]
    assert acc.get_ylim() == (0.0, 1.02)  # accuracy on its whole range, not 0.3 ± 0.015
    assert loss.get_ylim()[0] == 0.0
    assert loss.lines[0].get_marker() == "o" and loss.lines[0].get_markersize() >= 6
    assert any(t.get_text() == "0.3" for t in acc.texts)  # the lone value is written beside it


def test_one_epoch_band_is_a_marker_with_an_error_bar_on_sane_axes() -> None:
    """A one-epoch seed group or study: not a lone dot on an axis from 0.945 to 1.055."""
    curve = F.mean_std_curve(
        [[{"epoch": 1, "val_acc": 0.30}], [{"epoch": 1, "val_acc": 0.34}]], "val_acc"
    )
    assert curve == {
        "epoch": [1],
        "mean": [pytest.approx(0.32)],
        "std": [pytest.approx(0.02828, abs=1e-5)],
        "n": [2],
    }
    loss = F.mean_std_curve([[{"epoch": 1, "train_loss": 2.0}]], "train_loss")
    info = F.BandInfo([
        {"title": "val_acc", "ylabel": "val_acc", "series": {"val_acc": curve}},
        {"title": "loss", "ylabel": "loss", "series": {"train_loss": loss}},
    ])  # fmt: skip
    fig = F.draw("band", json.loads(json.dumps(F.to_data(info))))
    acc_ax, loss_ax = fig.axes[:2]
    for ax in (acc_ax, loss_ax):
        assert ax.get_xlim() == (0.5, 1.5) and list(ax.get_xticks()) == [1.0]
        assert ax.lines[0].get_marker() == "o" and ax.lines[0].get_markersize() >= 6
    assert acc_ax.get_ylim() == (0.0, 1.02)  # a rate on its whole range
    assert loss_ax.get_ylim() == (0.0, pytest.approx(2.16))  # a loss from 0
    assert acc_ax.containers, "the ±1 std of a lone epoch is drawn as an error bar"
    assert any(t.get_text() == "0.32 ± 0.03" for t in acc_ax.texts)


def test_study_curves_of_one_epoch_have_sane_axes() -> None:
    variants = [
        {"name": n, "group": "", "curves": {"val_acc": {"epoch": [1], "mean": [m], "std": [0.01]}}}
        for n, m in (("A", 0.97), ("B", 0.98))
    ]
    ax = band_figure(variants, "val_acc").axes[0]
    assert ax.get_xlim() == (0.5, 1.5) and list(ax.get_xticks()) == [1.0]
    assert ax.get_ylim() == (0.0, 1.02)
    xs = [line.get_xdata()[0] for line in ax.lines if line.get_label() in ("A", "B")]
    assert xs[0] < 1.0 < xs[1], "the two variants' markers sit side by side, not on each other"


def test_epoch_ticks_are_whole_numbers() -> None:
    rows = [{"epoch": e, "train_loss": 2.0 / e, "val_acc": 0.1 * e} for e in (1, 2, 3)]
    band = F.BandInfo([{"title": "t", "series": {"val_acc": F.mean_std_curve([rows], "val_acc")}}])
    curves = F.curves_info(rows, None)
    assert curves is not None
    for fig in (F.draw_curves(curves), F.draw_band(band)):
        fig.canvas.draw()
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_report_redraws_every_standard_figure(tmp_path: Path, make_run: MakeRun) -> None:
    run = make_run(tmp_path / "run")
    for name in ("curves", "confusion", "roc"):
        (run / "figures" / f"{name}.png").unlink(missing_ok=True)
    write_folder_report(run)  # what `tamrin report RUN_DIR` calls
    for name in ("curves", "confusion", "roc"):
        assert (run / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_log_plot_stores_data_and_the_report_redraws_it(tmp_path: Path, make_run: MakeRun) -> None:
    run_dir = make_run(tmp_path / "run")
    recipe = registry.get("cifar10-lenet")
    ctx = Run(
        recipe,
        recipe.default_config(),
        0,
        run_dir,
        torch.device("cpu"),
        smoke=True,
        data_dir=None,
        quiet=True,
    )
    info = F.LinesInfo([1, 2, 3], {"width 0.5": [0.4, 0.5, 0.55]}, "epoch", "val acc")
    ctx.log_plot("sweep", "lines", info, "val accuracy per epoch")
    stored = json.loads((run_dir / "figures" / "sweep.json").read_text())
    assert stored["kind"] == "lines" and stored["data"]["series"] == {"width 0.5": [0.4, 0.5, 0.55]}
    entry = ctx.metrics["figures"][-1]
    assert entry == {
        "file": "figures/sweep.png",
        "caption": "val accuracy per epoch",
        "data": "figures/sweep.json",
        "kind": "lines",
    }
    with pytest.raises(ConfigError, match="unknown plot kind 'line'; did you mean 'lines'"):
        ctx.log_plot("bad", "line", info)

    metrics = rundir.read_metrics(run_dir)
    rundir.add_figure(metrics, entry)
    rundir.write_metrics(run_dir, metrics)
    (run_dir / "figures" / "sweep.png").unlink()
    html = write_report(run_dir)[0].read_text()
    assert (run_dir / "figures" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert 'src="figures/sweep.png"' in html and "val accuracy per epoch" in html


def test_a_fresh_report_process_redraws_plots_of_every_kind_module(
    tmp_path: Path, make_run: MakeRun
) -> None:
    """`tamrin report` in a new process finds drawers of modules it never imported itself."""
    run_dir = make_run(tmp_path / "run")
    metrics = rundir.read_metrics(run_dir)
    plots = {
        "tsne": {
            "panels": [{"title": "t", "xy": [[0, 1], [2, 3]], "labels": [0, 1]}],
            "class_names": ["a", "b"],
        },
        "word_pairs": {"panels": [{"title": "p", "pairs": [["a", "b"]], "xy": [[0, 0], [1, 1]]}]},
    }
    for kind, data in plots.items():
        ref = rundir.write_plot_data(run_dir, kind, kind, data, "")
        rundir.add_figure(metrics, {"file": f"figures/{kind}.png", "data": ref, "kind": kind})
    rundir.write_metrics(run_dir, metrics)
    code = (
        "import sys; from pathlib import Path; from tamrin.eval.report import write_report; "
        "assert 'tamrin.eval.word_figures' not in sys.modules; write_report(Path(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for kind in plots:
        assert (run_dir / "figures" / f"{kind}.png").read_bytes()[:4] == b"\x89PNG"
