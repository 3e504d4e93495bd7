"""dermamnist / mnist-imbalanced: the test split is used once, operating points are chosen on val
only, the stand-in has DermaMNIST's proportions, and the report has every imbalance section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tamrin import runner
from tamrin.data.prepare import ImageSplits
from tamrin.errors import DataCorruptError, DataNotFoundError
from tamrin.recipes import imbalanced as recipe_module


def _metrics(result: runner.RunResult) -> dict:
    return json.loads((result.run_dir / "metrics.json").read_text())


@pytest.mark.parametrize("remedy", ["none", "class-bias"])
def test_test_split_once_and_operating_point_on_val_only(
    remedy: str, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    takes: list[int] = []
    seen: list[tuple[str, np.ndarray]] = []
    original_take = ImageSplits.take_test

    def take_test(self: ImageSplits) -> tuple[torch.Tensor, torch.Tensor]:
        takes.append(1)
        return original_take(self)

    def spy(name: str, fn):  # records the labels each chooser is given
        def wrapped(val_logits, val_y, *args, **kwargs):
            seen.append((name, np.asarray(torch.as_tensor(val_y).cpu())))
            return fn(val_logits, val_y, *args, **kwargs)

        return wrapped

    for name in ("choose_logit_adjustment", "fit_class_bias", "argmax_point"):
        monkeypatch.setattr(recipe_module, name, spy(name, getattr(recipe_module, name)))
    monkeypatch.setattr(ImageSplits, "take_test", take_test)
    val_labels: list[np.ndarray] = []
    original_split = recipe_module.split_images

    def split(*args, **kwargs):
        splits = original_split(*args, **kwargs)
        val_labels.append(splits.val_y.cpu().numpy().copy())
        return splits

    monkeypatch.setattr(recipe_module, "split_images", split)
    result = runner.run(
        "mnist-imbalanced", {"remedy": remedy}, smoke=True, out=tmp_path, quiet=True
    )
    assert takes == [1], "the test split is taken exactly once"
    assert seen, "an operating point was chosen"
    for _, labels in seen:
        np.testing.assert_array_equal(labels, val_labels[0])  # val labels, never test's
    m = _metrics(result)
    assert m["operating_point"]["method"] == ("class_bias" if remedy == "class-bias" else "argmax")
    with pytest.raises(RuntimeError, match="used once"):
        result_ctx = runner.Run.__new__(runner.Run)
        result_ctx._predicted = True
        result_ctx.log_predictions([0], [[1.0]], ["a"])


def test_stand_in_has_dermamnist_proportions(tiny_data: Path, tmp_path: Path) -> None:
    result = runner.run("mnist-imbalanced", smoke=True, out=tmp_path, quiet=True)
    m = _metrics(result)
    table = m["tables"]["data: images per class"]
    assert table["columns"] == ["class", "train", "val", "test", "train share"]
    train = [row[1] for row in table["rows"][:-1]]
    assert train.index(max(train)) == 5, "class 5 (nevi) is the majority, as in DermaMNIST"
    assert [row[0] for row in table["rows"][:7]][5] == "1 (nv)"


def test_full_report_sections(tiny_data: Path, tmp_path: Path) -> None:
    result = runner.run("dermamnist", {"remedy": "inverse"}, smoke=True, out=tmp_path, quiet=True)
    m = _metrics(result)
    for key in ("accuracy", "balanced_accuracy", "macro_recall", "macro_f1", "weighted_f1"):
        assert 0 <= m["test"][key] <= 1
    assert 0 <= m["calibration"]["ece"] <= 1
    assert m["pr"]["average_precision_macro"] is not None
    for name in ("class weights", "average precision per class", "confusion matrix (counts)"):
        assert name in m["tables"]
    assert "operating points (chosen on val, scored on test)" in m["tables"]
    figures = {p.stem for p in (result.run_dir / "figures").glob("*.png")}
    assert {"reliability", "precision_recall", "confusion_counts_normalized", "roc"} <= figures
    assert {"operating_point", "confusion", "curves"} <= figures
    html = (result.run_dir / "report.html").read_text()
    assert "reliability" in html and "average precision" in html


def test_dermamnist_from_a_given_file_checks_its_md5(tiny_data: Path, tmp_path: Path) -> None:
    npz = tiny_data / "dermamnist" / "dermamnist.npz"
    with pytest.raises(DataCorruptError, match="does not match the expected"):
        runner.run(
            "dermamnist",
            {"npz": str(npz), "npz_md5": "0" * 32},
            smoke=True,
            out=tmp_path,
            quiet=True,
        )
    with pytest.raises(DataNotFoundError, match="no such file"):
        runner.run("dermamnist", {"npz": str(tmp_path / "x.npz")}, smoke=True, out=tmp_path)
