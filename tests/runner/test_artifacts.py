"""Artifacts go through the run: `Run.log_artifact` writes aside, renames into place, lists them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tamrin import registry, runner


def _run(run_dir: Path) -> runner.Run:
    """A real run context on a fresh run folder (no recipe is executed)."""
    run_dir.mkdir(parents=True)
    recipe = registry.get("word2vec-train")
    return runner.Run(
        recipe,
        recipe.default_config(),
        0,
        run_dir,
        torch.device("cpu"),
        smoke=True,
        data_dir=None,
        quiet=True,
    )


def _leftovers(run_dir: Path) -> list[str]:
    """Everything in artifacts/ that is not a finished artifact (temporary names start with '.')."""
    return sorted(p.name for p in (run_dir / "artifacts").iterdir() if p.name.startswith("."))


def test_file_artifact_is_written_aside_then_renamed_and_listed(tmp_path: Path) -> None:
    ctx = _run(tmp_path / "run")
    final = tmp_path / "run" / "artifacts" / "vectors.bin"
    seen: dict[str, object] = {}

    def save(path: Path) -> None:
        seen["path"], seen["final_exists_while_saving"] = path, final.exists()
        path.write_bytes(b"x" * 1000)

    got = ctx.log_artifact("vectors.bin", save, "some vectors")
    assert got == final and final.read_bytes() == b"x" * 1000
    tmp = Path(str(seen["path"]))
    assert tmp != final and (tmp_path / "run") in tmp.parents  # written inside the run folder
    assert seen["final_exists_while_saving"] is False
    assert not tmp.exists() and _leftovers(tmp_path / "run") == []
    assert ctx.metrics["artifacts"] == [
        {
            "name": "vectors.bin",
            "file": "artifacts/vectors.bin",
            "caption": "some vectors",
            "bytes": 1000,
        }
    ]


def test_failed_save_leaves_nothing_and_keeps_the_previous_artifact(tmp_path: Path) -> None:
    ctx = _run(tmp_path / "run")
    final = tmp_path / "run" / "artifacts" / "model.kv"

    def broken(path: Path) -> None:
        path.write_bytes(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        ctx.log_artifact("model.kv", broken)
    assert not final.exists() and _leftovers(tmp_path / "run") == []
    assert "artifacts" not in ctx.metrics

    ctx.log_artifact("model.kv", lambda p: p.write_bytes(b"old, complete"))
    with pytest.raises(OSError, match="disk full"):
        ctx.log_artifact("model.kv", broken)
    assert final.read_bytes() == b"old, complete"  # never half-replaced
    ctx.log_artifact("model.kv", lambda p: p.write_bytes(b"new"))
    assert final.read_bytes() == b"new"
    assert [a["bytes"] for a in ctx.metrics["artifacts"]] == [3]  # one entry per name


def test_folder_artifact_replaces_an_older_one_whole(tmp_path: Path) -> None:
    ctx = _run(tmp_path / "run")

    def folder(files: dict[str, bytes]) -> Callable[[Path], None]:
        def save(path: Path) -> None:
            path.mkdir()
            for name, data in files.items():
                (path / name).write_bytes(data)

        return save

    ctx.log_artifact("encoder", folder({"a.pt": b"12", "b.pt": b"345"}))
    got = ctx.log_artifact("encoder", folder({"c.pt": b"6789"}))
    assert sorted(p.name for p in got.iterdir()) == ["c.pt"]  # nothing of the old one is left
    assert ctx.metrics["artifacts"][0]["bytes"] == 4
    assert _leftovers(tmp_path / "run") == []


def test_bad_names_and_empty_saves_are_bugs(tmp_path: Path) -> None:
    ctx = _run(tmp_path / "run")
    for name in ("", "a/b", ".hidden", "../x"):
        with pytest.raises(ValueError, match="plain file name"):
            ctx.log_artifact(name, lambda p: p.write_bytes(b""))
    with pytest.raises(RuntimeError, match="wrote nothing"):
        ctx.log_artifact("nothing", lambda p: None)
    assert _leftovers(tmp_path / "run") == []
