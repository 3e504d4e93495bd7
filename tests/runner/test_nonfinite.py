"""A run whose loss turns NaN/inf stops with a clear status, keeps the last good weights, and its
report says so."""

from __future__ import annotations

from pathlib import Path

from tamrin import runner


def test_diverging_run_is_reported(tiny_data: Path, tmp_path: Path) -> None:
    result = runner.run(
        "cifar10-lenet",
        {"train.lr": 1e12, "train.scheduler": "none", "train.epochs": 3},
        smoke=True,
        out=tmp_path,
        quiet=True,
    )
    assert isinstance(result, runner.RunResult)
    assert result.metrics["status"] == "stopped_nonfinite"
    assert "loss became" in result.metrics["status_message"]
    assert "test" not in result.metrics  # no good weights were ever saved: nothing to score
    html = result.report_html.read_text()
    assert "stopped_nonfinite" in html or "loss became" in html
