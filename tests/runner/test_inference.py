"""From a run to a usable model: `tamrin.load(RUN)` → `.model()` / `.predict()` / `.history` /
repr / `.metric()`, `tamrin predict` and `tamrin export` (ONNX checked by onnxruntime).

Two smoke runs on the tiny fixture data (fp32, so the recorded predictions are exact): LeNet on
1-channel MNIST, and DermaMNIST's ResNet with per-class logit offsets chosen on val (3 channels).
Embedding and no-model runs are folders written here, so no extra training is needed.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import tamrin
from tamrin import cli, inference, rundir
from tamrin.errors import ConfigError, MissingDependencyError, RunDirError
from tamrin.runner import GroupResult, RunResult
from tamrin.studies.grid import StudyResult

FP32 = {"train.precision": "fp32"}


@pytest.fixture(scope="module")
def env(
    tiny_data_root: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The tiny data root for every test of this module (as `tiny_data`, module-scoped)."""
    from tamrin.data import datasets, store

    root, catalog = tiny_data_root
    work = tmp_path_factory.mktemp("inference")
    mp = pytest.MonkeyPatch()
    mp.setattr(store, "CATALOG", catalog)
    mp.setenv("TAMRIN_DATA", str(root))
    mp.setenv("TAMRIN_CACHE", str(work / "cache"))
    mp.setenv("HOME", str(work / "home"))
    datasets.clear_loaded()
    yield work
    datasets.clear_loaded()
    mp.undo()


def _test_images(name: str) -> np.ndarray:
    """The raw uint8 test images (N, C, H, W) of a tiny data set, in the order runs score them."""
    from tamrin.data.datasets import load_images
    from tamrin.data.store import DataStore

    return load_images(name, DataStore(None)).test_x.numpy()


@pytest.fixture(scope="module")
def lenet(env: Path) -> RunResult:
    """cifar10-lenet --smoke on MNIST (1 channel); lr high enough that outputs differ by image."""
    return tamrin.run(
        "cifar10-lenet",
        smoke=True,
        out=env / "runs",
        quiet=True,
        device="cpu",
        **{**FP32, "data": "mnist", "train.lr": 0.2},
    )


@pytest.fixture(scope="module")
def derma(env: Path) -> RunResult:
    """dermamnist --smoke (ResNet, RGB) with remedy class-bias: its predictions add offsets."""
    return tamrin.run(
        "dermamnist",
        smoke=True,
        out=env / "runs",
        quiet=True,
        device="cpu",
        **{**FP32, "remedy": "class-bias"},
    )


def _recorded(run: RunResult) -> np.ndarray:
    pred = rundir.read_predictions(run.run_dir)
    assert pred is not None
    return pred["proba"]


# ----------------------------------------------------------------------------- load and predict


def test_model_reproduces_the_recorded_test_predictions(lenet: RunResult) -> None:
    loaded = tamrin.load(lenet.run_dir)
    net = loaded.model()
    assert isinstance(net, torch.nn.Module) and not net.training
    assert all(p.device.type == "cpu" for p in net.parameters())
    spec = json.loads((lenet.run_dir / "model.json").read_text())
    assert spec["model"] == "lenet" and spec["in_shape"] == [1, 28, 28] and spec["out_dim"] == 10
    x = torch.from_numpy(_test_images("mnist")).float()
    mean = torch.tensor(spec["normalizer"]["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(spec["normalizer"]["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        proba = torch.softmax(net((x - mean) / std), dim=1).numpy()
        unnormalized = torch.softmax(net(x / 255), dim=1).numpy()
    np.testing.assert_allclose(proba, _recorded(lenet), atol=1e-5)
    assert np.abs(unnormalized - _recorded(lenet)).max() > 1e-4  # the check can tell them apart


def test_predict_applies_the_runs_preprocessing(lenet: RunResult) -> None:
    loaded = tamrin.load(lenet.run_dir)
    raw = _test_images("mnist")  # uint8 (N, 1, 28, 28)
    want = _recorded(lenet)
    got = loaded.predict(raw)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(loaded.predict(raw[:, 0]), want, atol=1e-5)  # (N, H, W)
    np.testing.assert_allclose(loaded.predict(raw / 255.0), want, atol=1e-5)  # floats in [0, 1]
    np.testing.assert_allclose(loaded.predict(torch.from_numpy(raw)), want, atol=1e-5)
    np.testing.assert_allclose(loaded.predict(raw[3, 0]), want[3:4], atol=1e-5)  # one (H, W)
    assert loaded.classes == [str(c) for c in rundir.read_predictions(lenet.run_dir)["class_names"]]
    top = loaded.predictor().top_k(raw[:2], k=3)
    assert top[0][0][0] == loaded.classes[int(want[0].argmax())]


def test_predict_adds_the_logit_offsets_chosen_on_val(derma: RunResult) -> None:
    spec = json.loads((derma.run_dir / "model.json").read_text())
    assert spec["model"] == "resnet" and spec["in_shape"] == [3, 28, 28]
    assert spec["operating_point"] == "class_bias" and any(b != 0 for b in spec["logit_bias"])
    loaded = tamrin.load(derma.run_dir)
    raw = _test_images("dermamnist")
    np.testing.assert_allclose(loaded.predict(raw), _recorded(derma), atol=1e-5)
    np.testing.assert_allclose(  # channels last (N, H, W, C), as images are usually stored
        loaded.predict(raw.transpose(0, 2, 3, 1)), _recorded(derma), atol=1e-5
    )


def test_bad_inputs_name_the_shapes_and_ranges(lenet: RunResult) -> None:
    loaded = tamrin.load(lenet.run_dir)
    with pytest.raises(ConfigError, match=r"\(5, 3, 32, 32\) do not fit .*\(N, 28, 28\)"):
        loaded.predict(np.zeros((5, 3, 32, 32), np.uint8))
    with pytest.raises(ConfigError, match=r"\[0, 1\]; got values in \[0, 255\].*divide by 255"):
        loaded.predict(np.linspace(0, 255, 2 * 28 * 28).reshape(2, 28, 28))
    with pytest.raises(ConfigError, match=r"0\.\.255"):
        loaded.predict(np.full((2, 28, 28), 300))


# ------------------------------------------------------------------------- repr, metric, history


def test_reprs_are_one_short_line(lenet: RunResult) -> None:
    loaded = tamrin.load(lenet.run_dir)
    text = repr(loaded)
    assert len(text) < 200 and "\n" not in text, text
    assert text.startswith("RunResult('cifar10-lenet', seed 0, completed, test.accuracy=0.")
    assert str(lenet.run_dir) in text
    group = GroupResult(
        Path("runs/cifar10-lenet/x-seeds0-2"),
        [loaded] * 3,
        {"recipe": "cifar10-lenet", "headline": {"test.accuracy": {"mean": 0.61, "std": 0.012}}},
    )
    assert repr(group) == (
        "GroupResult('cifar10-lenet', 3 seeds, test.accuracy=0.6100 ± 0.0120, "
        "runs/cifar10-lenet/x-seeds0-2)"
    )
    study = StudyResult(
        Path("runs/study-init/x"),
        {"study": "study-init", "variants": [{}] * 6, "seeds": [0, 1], "metric": "test.accuracy"},
    )
    assert repr(study) == (
        "StudyResult('study-init', 6 variants × 2 seeds, metric test.accuracy, runs/study-init/x)"
    )


def test_unknown_metric_raises_with_a_hint(lenet: RunResult) -> None:
    loaded = tamrin.load(lenet.run_dir)
    assert 0 <= loaded.metric("test.accuracy") <= 1
    with pytest.raises(ConfigError, match=r"no metric 'test.acc'; did you mean 'test.accuracy'"):
        loaded.metric("test.acc")
    with pytest.raises(ConfigError, match=r"no metric 'zzz'; sections: .*test"):
        loaded.metric("zzz")
    assert loaded.metric("zzz", None) is None


def test_history_is_a_list_of_dicts_that_prints_as_a_table(lenet: RunResult) -> None:
    history = tamrin.load(lenet.run_dir).history
    assert isinstance(history, list) and len(history) == 2
    assert history[-1]["epoch"] == 2 and isinstance(history[0]["val_loss"], float)
    assert history.column("epoch") == [1, 2]
    lines = repr(history).splitlines()
    assert lines[0].split()[:2] == ["epoch", "train_loss"] and len(lines) == 4
    assert lines[-1] == f"[2 epochs × {len(history.columns)} columns]"
    with pytest.raises(ConfigError, match="did you mean 'val_acc'"):
        history.column("val_accuracy")


# ----------------------------------------------------------------------------- tamrin predict


def test_cli_predict_prints_top_k_per_image(
    lenet: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    raw = _test_images("mnist")
    exact = tmp_path / "digit.png"
    Image.fromarray(raw[0, 0]).save(exact)  # 28x28 gray: read back unchanged
    rgb = tmp_path / "big.jpg"
    Image.fromarray(np.repeat(raw[1, 0], 2, axis=0).repeat(2, axis=1)).convert("RGB").save(rgb)
    assert cli.main(["predict", str(lenet.run_dir), str(exact), str(rgb), "--top-k", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{exact} (28x28 L)" and out[4] == f"{rgb} (56x56 RGB -> 28x28 L)"
    assert len(out) == 8 and [line.split(".")[0].strip() for line in out[1:4]] == ["1", "2", "3"]
    proba = tamrin.load(lenet.run_dir).predict(raw[:1])[0]
    best = int(proba.argmax())
    _, name, value = out[1].split()
    assert name == str(tamrin.load(lenet.run_dir).classes[best])
    assert value == f"{proba[best]:.4f}"


# ----------------------------------------------------------------------------- tamrin export


def test_onnx_export_matches_onnxruntime(
    derma: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "derma.onnx"
    assert cli.main(["export", str(derma.run_dir), "--format", "onnx", "--out", str(path)]) == 0
    assert "checked with onnxruntime" in capsys.readouterr().out
    raw = _test_images("dermamnist")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"pixels": (raw / 255.0).astype(np.float32)})
    np.testing.assert_allclose(got, _recorded(derma), atol=1e-4)  # any batch size: 28 here
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["classes"]) == tamrin.load(derma.run_dir).classes
    assert "[0, 1]" in meta["input"]


def test_torchscript_export_matches_the_eager_model(lenet: RunResult, tmp_path: Path) -> None:
    loaded = tamrin.load(lenet.run_dir)
    path = loaded.export("torchscript", tmp_path / "lenet.pt")
    extra = {"tamrin.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in 2.13
        scripted = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["tamrin.json"])["classes"] == loaded.classes
    x = torch.from_numpy(_test_images("mnist")).float() / 255
    eager = loaded.model(preprocessing=True)
    with torch.no_grad():
        np.testing.assert_allclose(scripted(x).numpy(), eager(x).numpy(), atol=1e-6)
        np.testing.assert_allclose(eager(x).numpy(), _recorded(lenet), atol=1e-5)


def test_export_without_the_extra_names_it(
    lenet: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"tamrin\[export\]"):
        inference.export(lenet.run_dir, "onnx", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


# ----------------------------------------------------------------------------- other runs, errors


def _fake_run(folder: Path, recipe: str) -> Path:
    """A finished run folder of `recipe` with no training (config.json and metrics.json)."""
    folder.mkdir(parents=True)
    rundir.write_config(folder, {"recipe": recipe, "seed": 0, "config": {}, "headline": []})
    rundir.write_metrics(folder, {"status": "completed", "wall_time_s": 1.0})
    return folder


def test_an_embedding_run_predicts_embeddings(tmp_path: Path) -> None:
    from tamrin.models import build_model
    from tamrin.models.embedding import EmbeddingConfig
    from tamrin.train.checkpoint import atomic_save

    run = _fake_run(tmp_path / "triplet-mnist" / "s0", "triplet-mnist")
    cfg = EmbeddingConfig(arch="bn", dim=8, hidden=16, width=0.25)
    net = build_model("embed-bn", cfg, in_shape=(1, 28, 28), out_dim=8).eval()
    atomic_save({"model": net.state_dict(), "epoch": 1}, run / "checkpoints" / "best.pt")
    rundir.write_model_spec(
        run,
        {
            "model": "embed-bn",
            "model_config": {"arch": "bn", "dim": 8, "hidden": 16, "width": 0.25},
            "task": "embed",
            "in_shape": [1, 28, 28],
            "out_dim": 8,
            "classes": [str(i) for i in range(10)],
            "normalizer": {"mean": [33.0], "std": [78.0]},
        },
    )
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    emb = tamrin.load(run).predict(images)
    with torch.no_grad():
        want = net((torch.from_numpy(images).float()[:, None] - 33.0) / 78.0).numpy()
    assert emb.shape == (4, 8)
    np.testing.assert_allclose(emb, want, atol=1e-6)
    with pytest.raises(ConfigError, match="8-d embeddings, not classes"):
        tamrin.load(run).predictor().top_k(images)


def test_runs_without_a_model_or_weights_give_one_line_errors(
    lenet: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words = _fake_run(tmp_path / "word2vec-train" / "s0", "word2vec-train")
    with pytest.raises(RunDirError, match=r"\(word2vec-train\) has no single model.*no network"):
        tamrin.load(words).model()
    lab = _fake_run(tmp_path / "norm-lab" / "s0", "norm-lab")
    for fit in ("batch", "layer"):
        (lab / "checkpoints" / fit).mkdir(parents=True)
    with pytest.raises(RunDirError, match=r"trains several models \(batch, layer\)"):
        tamrin.load(lab).predict(np.zeros((1, 28, 28), np.uint8))
    no_weights = tmp_path / "copy"
    shutil.copytree(lenet.run_dir, no_weights, ignore=shutil.ignore_patterns("*.pt"))
    with pytest.raises(RunDirError, match=r"has no weights: .*neither best\.pt nor last\.pt"):
        tamrin.load(no_weights).model()

    cases = [
        (["predict", str(tmp_path / "missing"), "x.png"], "does not exist"),
        (["predict", str(words), "x.png"], "has no single model"),
        (["predict", str(lenet.run_dir), str(tmp_path / "x.png")], "image not found"),
        (["export", str(lenet.run_dir), "--format", "keras"], "allowed: onnx, torchscript"),
        (["export", str(words)], "has no single model"),
    ]
    for argv, expected in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
