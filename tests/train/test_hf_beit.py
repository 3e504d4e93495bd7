"""A Hugging Face BEiT segmenter loaded from a local folder gives transformers' own masks.

`tiny_beit_folder` writes a tiny random checkpoint laid out as `save_pretrained` does, so the
loader and `predict` are tested without the network: the masks must equal the model run by hand
on the same preprocessing (resize, [0, 1], mean/std from preprocessor_config.json) with the
logits upsampled bilinearly — and a wrong preprocessing or upsampling must not pass.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tamrin.errors import DataCorruptError, DataNotFoundError
from tamrin.train.hf_segmentation import (
    BEIT_MEAN,
    BEIT_STD,
    TINY_MEAN,
    TINY_STD,
    HfSegmenter,
    load_segmenter,
    tiny_beit_folder,
)

pytest.importorskip("transformers")

LABELS = 5


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_beit_folder(tmp_path_factory.mktemp("beit") / "tiny", num_labels=LABELS)


@pytest.fixture(scope="module")
def seg(folder: Path) -> HfSegmenter:
    return load_segmenter(str(folder))


def _images(b: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, h, w), generator=g, dtype=torch.uint8)


def _by_hand(
    seg: HfSegmenter, images: torch.Tensor, *, mean: tuple[float, ...], mode: str = "bilinear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' model on pixels preprocessed here: (ids (B, H, W), top-2 margin (B, H, W))."""
    x = images.float()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    s = seg.image_size
    x = F.interpolate(x, size=(s, s), mode="bilinear", antialias=True) / 255.0
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(TINY_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        logits = seg.model(pixel_values=x).logits  # (B, K, s/4, s/4)
    up = F.interpolate(logits, size=images.shape[-2:], mode=mode)
    top2 = up.topk(2, dim=1).values
    return up.argmax(1), top2[:, 0] - top2[:, 1]


def test_loads_labels_and_normalisation(seg: HfSegmenter) -> None:
    assert seg.image_size == 32
    assert seg.labels == [f"class-{i}" for i in range(LABELS)]
    assert seg.mean == pytest.approx(TINY_MEAN) and seg.std == pytest.approx(TINY_STD)
    assert not seg.model.training


@pytest.mark.parametrize("channels", [1, 3])
def test_predict_matches_the_model_run_by_hand(seg: HfSegmenter, channels: int) -> None:
    images = _images(3, channels, 20, 28, seed=channels)  # not the model's 32 x 32
    ids = seg.predict(images, batch_size=2)  # batches of 2 and 1
    assert ids.shape == (3, 20, 28) and ids.dtype == torch.int64
    assert int(ids.min()) >= 0 and int(ids.max()) < LABELS
    expected, margin = _by_hand(seg, images, mean=TINY_MEAN)
    clear = margin > 1e-4  # where rounding cannot flip the argmax
    assert clear.float().mean() > 0.95
    assert torch.equal(ids[clear], expected[clear])
    assert len(expected.unique()) > 1  # the masks are not one class: the check has teeth
    # a preprocessing that ignored preprocessor_config.json, or upsampled by nearest, differs
    wrong_norm, _ = _by_hand(seg, images, mean=BEIT_MEAN)
    wrong_up, _ = _by_hand(seg, images, mean=TINY_MEAN, mode="nearest")
    assert not torch.equal(ids, wrong_norm) and not torch.equal(ids, wrong_up)


def test_predict_takes_float_pixels_and_empty_batches(seg: HfSegmenter) -> None:
    images = _images(2, 3, 32, 32)
    assert torch.equal(seg.predict(images.float()), seg.predict(images))
    assert seg.predict(images[:0]).shape == (0, 32, 32)


def test_same_seed_same_weights(tmp_path: Path, folder: Path) -> None:
    from safetensors.torch import load_file

    again = load_file(str(tiny_beit_folder(tmp_path / "a") / "model.safetensors"))
    first = load_file(str(folder / "model.safetensors"))
    assert again.keys() == first.keys()
    assert all(torch.equal(again[k], first[k]) for k in first)
    other = load_file(str(tiny_beit_folder(tmp_path / "b", seed=1) / "model.safetensors"))
    assert not all(torch.equal(other[k], first[k]) for k in first)


def test_labels_in_id_order_and_default_normalisation(tmp_path: Path) -> None:
    path = tiny_beit_folder(tmp_path / "t", num_labels=3)
    config = json.loads((path / "config.json").read_text())
    config["id2label"] = {"2": "sky", "0": "wall", "1": "floor"}  # keys out of order
    config["label2id"] = {"sky": 2, "wall": 0, "floor": 1}
    (path / "config.json").write_text(json.dumps(config))
    (path / "preprocessor_config.json").unlink()
    seg = load_segmenter(str(path))
    assert seg.labels == ["wall", "floor", "sky"]
    assert seg.mean == BEIT_MEAN and seg.std == BEIT_STD


def test_missing_folder_and_weights(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no BEiT checkpoint folder"):
        load_segmenter(str(tmp_path / "nothing-here"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match=r"no config\.json"):
        load_segmenter(str(tmp_path / "empty"))
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(DataNotFoundError, match="save_pretrained"):
        load_segmenter(str(no_weights))


def test_a_backbone_without_segmentation_head(tmp_path: Path, folder: Path) -> None:
    import transformers

    config = transformers.BeitConfig.from_pretrained(folder)
    transformers.BeitModel(config).save_pretrained(tmp_path / "backbone")
    with pytest.raises(DataCorruptError, match="no trained segmentation head"):
        load_segmenter(str(tmp_path / "backbone"))


def test_hub_id_without_network_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import
    monkeypatch.chdir(tmp_path)  # so the id is no relative folder
    start = time.perf_counter()
    with pytest.raises(DataNotFoundError, match="network access, or pass a local folder"):
        load_segmenter("no-such-org/no-such-model", cache_dir=str(tmp_path / "hub"))
    assert time.perf_counter() - start < 10


def test_not_a_beit_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "bert"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(DataCorruptError, match="'bert' checkpoint, not BEiT"):
        load_segmenter(str(path))
    (path / "config.json").write_text("{not json")
    with pytest.raises(DataCorruptError, match="cannot be read"):
        load_segmenter(str(path))


def test_bad_images_are_refused(seg: HfSegmenter) -> None:
    from tamrin.errors import ConfigError

    with pytest.raises(ConfigError, match="C 1 or 3"):
        seg.predict(torch.zeros(1, 2, 8, 8, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="uint8 or float"):
        seg.predict(torch.zeros(1, 3, 8, 8, dtype=torch.int32))
