"""triplet-mnist end to end on tiny data, its config checks, and the study-miners spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tamrin import config as C
from tamrin import registry, runner
from tamrin.errors import ConfigError
from tamrin.train.triplet import MINERS

RETRIEVAL = ("precision_at_1", "r_precision", "map_at_r", "recall_at_1", "recall_at_8")


@pytest.mark.parametrize("miner", MINERS)
def test_smoke_run_logs_retrieval_miner_stats_and_figures(
    miner: str, tiny_data: Path, tmp_path: Path
) -> None:
    result = runner.run(
        "triplet-mnist", {"miner": miner}, smoke=True, out=tmp_path / "runs", quiet=True
    )
    assert isinstance(result, runner.RunResult)
    m = json.loads((result.run_dir / "metrics.json").read_text())
    assert m["status"] == "completed"
    for key in (*RETRIEVAL, "knn_accuracy"):
        assert 0.0 <= m["retrieval"][key] <= 1.0
        assert 0.0 <= m["retrieval_before_training"][key] <= 1.0
    assert m["retrieval"]["recall_at_1"] == pytest.approx(m["retrieval"]["precision_at_1"])
    assert m["retrieval"]["recall_at_8"] >= m["retrieval"]["recall_at_4"]
    assert -1.0 <= m["retrieval"]["silhouette"] <= 1.0
    assert m["retrieval"]["queries"] == 100  # every tiny test image queried the train images
    row = result.history[-1]
    assert "train_acc" not in row  # embeddings are not logits
    for key in ("val_p_at_1", "val_map_at_r", "active_fraction", "active_fraction_all"):
        assert key in row
    assert 0.0 <= row["active_fraction"] <= 1.0
    figures = {p.stem for p in result.figures}
    assert {"tsne", "gallery", "distances", "retrieval_curves"} <= figures
    assert m["timing"]["tsne_points"] == 4 * 100
    assert "retrieval" in m["tables"]
    html = result.report_html.read_text()
    assert f"{m['retrieval']['precision_at_1']:.4f}" in html


def test_report_redraws_every_figure_from_the_folder(tiny_data: Path, tmp_path: Path) -> None:
    from tamrin.eval.report import write_report

    result = runner.run("triplet-mnist", smoke=True, out=tmp_path, quiet=True)
    metrics_file = result.run_dir / "metrics.json"
    before = metrics_file.read_text()
    listed = json.loads(before)["figures"]
    assert {"tsne", "gallery", "distances"} <= {Path(f["file"]).stem for f in listed}
    assert all(f.get("data") and f.get("kind") for f in listed)  # every figure has its data
    for png in (result.run_dir / "figures").glob("*.png"):
        png.unlink()
    write_report(result.run_dir)  # what `tamrin report RUN_DIR` does for a run folder
    for f in listed:
        assert (result.run_dir / f["file"]).read_bytes()[:4] == b"\x89PNG", f["file"]
    assert metrics_file.read_text() == before  # redrawing changes no number


def test_fashion_mnist_and_no_tsne(tiny_data: Path, tmp_path: Path) -> None:
    over = {"data": "fashion-mnist", "tsne_test": 0, "tsne_train": 0, "model.arch": "homework"}
    result = runner.run("triplet-mnist", over, smoke=True, out=tmp_path / "runs", quiet=True)
    assert isinstance(result, runner.RunResult)
    assert "tsne" not in {p.stem for p in result.figures}
    assert result.metric("timing.tsne_points") == 0
    assert result.metric("retrieval.precision_at_1") is not None


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"train.batch_size": 30, "k": 4}, "multiple of k"),
        ({"miner": "hardest"}, "miner"),
        ({"margin": 0.0}, "margin must be > 0"),
    ],
)
def test_bad_settings_are_config_errors(overrides: dict, match: str) -> None:
    recipe = registry.get("triplet-mnist")
    with pytest.raises(ConfigError, match=match):
        cfg = runner.resolve_config(recipe, overrides)
        cfg.validate()


def test_study_miners_cells_resolve() -> None:
    spec = registry.get_study("study-miners")
    assert spec.recipe == "triplet-mnist" and spec.baseline == "random"
    assert {v.name for v in spec.variants} == set(MINERS)
    recipe = registry.get(spec.recipe)
    for v in spec.variants:
        cfg = runner.resolve_config(recipe, {**spec.base, **v.overrides})
        assert cfg.miner == v.overrides["miner"]
    keys = set(C.leaf_keys(recipe.default_config()))
    assert set(spec.base) <= keys


def test_study_miners_runs_on_tiny_data(tiny_data: Path, tmp_path: Path) -> None:
    from tamrin.studies import run_study

    result = run_study(
        "study-miners", seeds=2, smoke=True, out=tmp_path / "studies", workers=1, quiet=True
    )
    assert result.report_html.exists()
    cells = list(result.study_dir.rglob("metrics.json"))
    assert len(cells) == 4 * 2
    for path in cells:
        m = json.loads(path.read_text())
        assert m["status"] == "completed" and 0 <= m["retrieval"]["precision_at_1"] <= 1
