"""The pretrained-weights cache: an entry is used only for exactly the settings it was made with.

A rotation-pretrained core is reused across runs, so a stale entry (other settings, a damaged
file, a half-written folder) must never be loaded: each of those reads as absent, and the caller
retrains. `pretrain_settings` decides what the key covers: every pretraining setting changes
it, while the downstream few-label settings (labels, stage batches) must not, or no two runs of
one experiment would share a core.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from tamrin.tasks.few_labels import FewLabelConfig, pretrain_settings
from tamrin.train.pretrained import META, WEIGHTS, PretrainedCache, cache_key

SETTINGS: dict[str, Any] = {"task": "rotation-pretraining", "model": {"width": 8}, "seed": 0}


def _state() -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    return {"model": {"w": torch.randn(3, 2, generator=g), "n": torch.tensor(7)}}


def _saved(tmp_path: Path) -> tuple[PretrainedCache, Path]:
    cache = PretrainedCache(tmp_path)
    folder = cache.save(SETTINGS, _state(), info={"rotation_val_acc": 0.5, "history": [1, 2]})
    assert folder == tmp_path / cache_key(SETTINGS)
    return cache, folder


def test_empty_cache_loads_nothing(tmp_path: Path) -> None:
    assert PretrainedCache(tmp_path).load(SETTINGS) is None
    assert PretrainedCache(tmp_path / "not-there").load(SETTINGS) is None


def test_save_then_load_gives_the_same_tensors_and_meta(tmp_path: Path) -> None:
    cache, folder = _saved(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [META, WEIGHTS]  # no temporary files left
    kept = cache.load(dict(SETTINGS))  # an equal dict, not the same object
    assert kept is not None
    state, meta = kept
    assert set(state["model"]) == {"w", "n"}
    for name, value in _state()["model"].items():
        assert torch.equal(state["model"][name], value)
    assert meta == {"settings": SETTINGS, "info": {"rotation_val_acc": 0.5, "history": [1, 2]}}


def test_the_default_root_follows_tamrin_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAMRIN_CACHE", str(tmp_path / "cache"))
    assert PretrainedCache().root == tmp_path / "cache" / "pretrained"


def test_a_changed_setting_is_another_key(tmp_path: Path) -> None:
    cache, _ = _saved(tmp_path)
    other = {**SETTINGS, "model": {"width": 16}}
    assert cache_key(other) != cache_key(SETTINGS)
    assert cache_key({**SETTINGS, "seed": 1}) != cache_key(SETTINGS)
    assert cache_key(dict(reversed(SETTINGS.items()))) == cache_key(SETTINGS)  # order-free
    assert len(cache_key(SETTINGS)) == 20
    assert cache.load(other) is None  # retrain
    assert cache.load(SETTINGS) is not None


def test_an_entry_for_other_settings_is_not_used(tmp_path: Path) -> None:
    # a hash collision or a hand-edited entry: the folder of SETTINGS holds another's meta
    cache, folder = _saved(tmp_path)
    record = json.loads((folder / META).read_text())
    record["settings"]["seed"] = 1
    (folder / META).write_text(json.dumps(record))
    assert cache.load(SETTINGS) is None


def test_missing_meta_is_a_half_entry(tmp_path: Path) -> None:
    cache, folder = _saved(tmp_path)
    (folder / META).unlink()  # weights written, meta.json (written last) not: a killed run
    assert cache.load(SETTINGS) is None


def test_unreadable_meta_is_absent(tmp_path: Path) -> None:
    cache, folder = _saved(tmp_path)
    (folder / META).write_text('{"settings": ')
    assert cache.load(SETTINGS) is None


def test_corrupt_weights_are_absent(tmp_path: Path) -> None:
    # checkpoint.load wraps every read error in RunDirError: the cache must treat it as absent
    cache, folder = _saved(tmp_path)
    (folder / WEIGHTS).write_bytes(b"not a checkpoint")
    assert cache.load(SETTINGS) is None


def test_missing_weights_are_absent(tmp_path: Path) -> None:
    cache, folder = _saved(tmp_path)
    (folder / WEIGHTS).unlink()
    assert cache.load(SETTINGS) is None


def test_an_unwritable_cache_saves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    assert PretrainedCache(blocker).save(SETTINGS, _state()) is None


# ----------------------------------------------------------------------------- what the key covers

SPLITS = SimpleNamespace(train_x=torch.zeros(100, 3, 32, 32))  # pretrain_settings reads its size


def _key(cfg: FewLabelConfig, splits: Any = SPLITS) -> str:
    return cache_key(pretrain_settings(cfg, splits))


def _changed(path: str, value: Any) -> FewLabelConfig:
    cfg = FewLabelConfig()
    *outer, last = path.split(".")
    target: Any = cfg
    for name in outer:
        target = getattr(target, name)
    setattr(target, last, value)
    return cfg


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("pretrain.epochs", 13),
        ("pretrain.lr", 0.05),
        ("pretrain.batch_size", 64),
        ("pretrain_seed", 1),
        ("model.width", 16),
        ("model.convs", 2),
        ("core", "hw13-core"),
        ("pretrain_augment.crop_padding", 4),
        ("data", "fashion-mnist"),
        ("split_seed", 1),
        ("val_fraction", 0.2),
        ("train_subset", 5000),
    ],
)
def test_every_pretraining_setting_changes_the_key(path: str, value: Any) -> None:
    assert _key(_changed(path, value)) != _key(FewLabelConfig())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("labels", 500),
        ("batches_per_epoch", 7),
        ("augment.crop_padding", 0),
        ("test_subset", 1000),
        ("model.rotation_head", False),  # the pretrained core always has the rotation head
        ("model.arch", "hw13"),  # pinned by core=conv-core
    ],
)
def test_downstream_settings_keep_the_key(path: str, value: Any) -> None:
    assert _key(_changed(path, value)) == _key(FewLabelConfig())


def test_the_number_of_train_images_changes_the_key() -> None:
    other = SimpleNamespace(train_x=torch.zeros(99, 3, 32, 32))
    assert _key(FewLabelConfig(), other) != _key(FewLabelConfig())
    settings = pretrain_settings(FewLabelConfig(), SPLITS)
    assert settings["train_images"] == 100 and settings["seed"] == 0
    assert settings["model"]["arch"] == "conv" and settings["model"]["rotation_head"] is True
    assert settings["augment"]["hflip"] is True  # cifar10's default resolved into the key
