"""vit-classify, beit-pretrain and segment beyond the generated smoke tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tamrin import runner


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_vit_classify_reports_speed_attention_and_the_mlp(tiny_data: Path, tmp_path: Path) -> None:
    run_dir = runner.run("vit-classify", smoke=True, out=tmp_path, quiet=True).run_dir
    metrics = _metrics(run_dir)
    speed = metrics["speed"]
    assert speed["train_images_per_s"] > 0 and speed["tokens"] == 65
    assert 0 < speed["forward_gflops_per_image"] < 0.01  # the smoke ViT: 32 wide, 2 blocks
    maps = json.loads((run_dir / "figures" / "attention_maps.json").read_text())
    assert len(maps["data"]["heads"][0]) == 2  # two heads at smoke width
    assert "mlp_comparison" in metrics.get("tables", {})


def test_beit_pretrain_pretrains_once_per_settings(tiny_data: Path, tmp_path: Path) -> None:
    first = _metrics(runner.run("beit-pretrain", smoke=True, out=tmp_path, quiet=True).run_dir)
    again = runner.run("beit-pretrain", seed=1, smoke=True, out=tmp_path, quiet=True)
    second = _metrics(again.run_dir)
    assert first["pretrain"]["cached"] is False and second["pretrain"]["cached"] is True
    assert first["pretrain"]["key"] == second["pretrain"]["key"]
    assert 0.3 < first["pretrain"]["mean_mask_ratio"] <= 0.5
    for m in (first, second):
        assert {"test_accuracy", "test_macro_f1"} <= set(m["scratch"])
        gain = m["test"]["accuracy"] - m["scratch"]["test_accuracy"]
        assert m["comparison"]["gain"] == pytest.approx(gain)
    assert (again.run_dir / "figures" / "mim_loss.png").exists()


def test_segment_scores_masks_and_draws_a_hugging_face_segmenter(
    tiny_data: Path, tmp_path: Path
) -> None:
    pytest.importorskip("transformers")
    from tamrin.train.hf_segmentation import tiny_beit_folder

    folder = tiny_beit_folder(tmp_path / "tiny-beit", num_labels=5, image_size=32)
    run_dir = runner.run(
        "segment", {"hf_checkpoint": str(folder)}, smoke=True, out=tmp_path / "runs", quiet=True
    ).run_dir
    metrics = _metrics(run_dir)
    test = metrics["test"]
    assert 0 <= test["miou"] <= 1 and 0 <= test["pixel_accuracy"] <= 1
    assert len(test["iou"]) == 11 and "background" in test["iou"]
    assert metrics["hf_checkpoint"]["labels"] == 5
    hf = json.loads((run_dir / "figures" / "hf_masks.json").read_text())["data"]
    assert len(hf["predicted_classes"]) == 5
    assert max(v for row in hf["predicted"] for line in row for v in line) < 5
    assert (run_dir / "figures" / "masks.png").exists()
