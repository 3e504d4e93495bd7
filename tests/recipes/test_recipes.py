"""Generated from the registry: every recipe gets these tests without anyone writing them."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tamrin import config as C
from tamrin import registry, runner
from tamrin.errors import ConfigError, RunDirError, UnknownRecipeError

RECIPES = [r.name for r in registry.all_recipes()]


def _finite_numbers(node: object) -> list[float]:
    if isinstance(node, dict):
        return [v for x in node.values() for v in _finite_numbers(x)]
    if isinstance(node, list):
        return [v for x in node for v in _finite_numbers(x)]
    return [node] if isinstance(node, float) else []


@pytest.mark.parametrize("name", RECIPES)
def test_config_round_trip(name: str) -> None:
    recipe = registry.get(name)
    cfg = recipe.default_config()
    assert C.from_dict(recipe.config_cls, json.loads(json.dumps(C.to_dict(cfg)))) == cfg
    smoke = recipe.smoke(recipe.default_config())
    assert C.from_dict(recipe.config_cls, C.to_dict(smoke)) == smoke


@pytest.mark.parametrize("name", RECIPES)
def test_every_config_field_is_documented(name: str) -> None:
    docs = C.field_docs(registry.get(name).config_cls)
    undocumented = [k for k, v in docs.items() if not v]
    assert not undocumented, f"fields without a one-line comment: {undocumented}"


@pytest.mark.parametrize("name", RECIPES)
def test_unknown_key_is_rejected(name: str) -> None:
    recipe = registry.get(name)
    keys = list(C.leaf_keys(recipe.default_config()))
    bad = "train.lrr" if "train.lr" in keys else keys[0] + "x"  # recipes that do not train
    with pytest.raises(ConfigError, match=rf"unknown config key '{re.escape(bad)}'; did you mean"):
        runner.resolve_config(recipe, {bad: 0.1})


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_contract(name: str) -> None:
    recipe = registry.get(name)
    assert recipe.summary and recipe.doc, "a recipe needs a summary and a docstring"
    assert recipe.data, "a recipe names the data it needs"
    module_doc = __import__(recipe.module, fromlist=["_"]).__doc__ or ""
    assert "tamrin run" in module_doc, "the module docstring shows a working `tamrin run` line"


NO_SINGLE_MODEL = {
    "norm-lab",
    "word-vectors",
    "word2vec-train",
    "label-efficiency",
    "bert-mlm",
}  # says why not


def _check_model(name: str, run_dir: Path) -> None:
    """A recipe that trains one network records it: tamrin.load(RUN) rebuilds and runs it."""
    loaded = runner.load_result(run_dir)
    if name in NO_SINGLE_MODEL:
        with pytest.raises(RunDirError, match="has no single model"):
            loaded.model()
        return
    assert not loaded.model().training
    spec = json.loads((run_dir / "model.json").read_text())
    if spec["task"] == "qa":  # (story, question) word ids in, answer logits out
        memories, words, question_words = spec["in_shape"]
        story = torch.zeros(1, memories, words, dtype=torch.int64)
        story[0, 0, 0] = 2
        out = loaded.model()(story, torch.full((1, question_words), 2)).detach()
        assert out.shape == (1, spec["out_dim"]) and torch.isfinite(out).all()
        assert len(spec["classes"]) == spec["out_dim"]  # the vocabulary, by word id
        with pytest.raises(ConfigError, match="answers questions, not images"):
            loaded.predict(np.zeros((1, 1, 1), np.uint8))
        return
    if spec["task"] == "text":  # texts in, class probabilities and attention pages out
        from tamrin.text_inference import TextPredictor

        predictor = TextPredictor(run_dir)
        proba = predictor.predict(["a fine film", "dull"])
        assert proba.shape == (2, spec["out_dim"]) and np.allclose(proba.sum(1), 1, atol=1e-5)
        page = predictor.attention_page("a fine film", run_dir.parent / "page.html")
        assert "attentionViewer" in page.read_text()
        with pytest.raises(ConfigError, match="classifies texts"):
            loaded.predict(np.zeros((1, 1, 1), np.uint8))
        return
    out = loaded.predict(np.zeros(spec["in_shape"], np.uint8))  # one image, (C, H, W)
    per_pixel = tuple(spec["in_shape"][1:]) if spec["task"] == "segment" else ()
    assert out.shape == (1, spec["out_dim"], *per_pixel) and np.isfinite(out).all()


@pytest.mark.parametrize("name", RECIPES)
def test_smoke_run_writes_the_whole_run_folder(name: str, tiny_data: Path, tmp_path: Path) -> None:
    result = runner.run(name, smoke=True, out=tmp_path / "runs", quiet=True)
    assert isinstance(result, runner.RunResult)
    run_dir = result.run_dir
    assert run_dir.parent.name == name and run_dir.name.endswith("-s0")
    for f in ("config.json", "history.csv", "metrics.json", "report.html", "report.md"):
        assert (run_dir / f).exists(), f"{f} missing"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    numbers = _finite_numbers(metrics)
    assert numbers and all(math.isfinite(v) for v in numbers)
    assert list((run_dir / "figures").glob("*.png"))
    _check_model(name, run_dir)
    if "test.accuracy" not in registry.get(name).headline:
        return  # not a classifier (word vectors): no test predictions, no .pt checkpoints
    assert (run_dir / "predictions.npz").exists(), "predictions.npz missing"
    assert list((run_dir / "checkpoints").rglob("last.pt"))
    assert list((run_dir / "checkpoints").rglob("best.pt"))
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert metrics["test"]["n"] > 0
    assert len(result.history) >= 1
    html = (run_dir / "report.html").read_text()
    assert f"{metrics['test']['accuracy']:.4f}" in html


def test_unknown_recipe_suggests() -> None:
    with pytest.raises(UnknownRecipeError, match="did you mean 'cifar10-lenet'"):
        registry.get("cifar-lenet")


def test_duplicate_name_fails_at_registration() -> None:
    from dataclasses import dataclass

    @dataclass
    class Cfg:
        x: int = 1  # a value

    with pytest.raises(ValueError, match="registered twice"):
        registry.recipe("cifar10-lenet", summary="dup", config=Cfg)(lambda cfg, ctx: None)
    with pytest.raises(ValueError, match="kebab-case"):
        registry.recipe("Bad_Name", summary="bad", config=Cfg)
