"""One dispatch (`runner.run` / `tamrin.run` run recipes, seed groups and studies), every input
checked before a folder is made, and the homework's figure tied to its data set."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

import tamrin
from tamrin import registry, runner
from tamrin.errors import ConfigError, DataNotFoundError, DeviceError, UserError
from tamrin.studies import StudyResult


def _folders(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_dir()) if root.exists() else []


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder: the default --out is ./runs, and nothing may appear there."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "message"),
    [
        ("cifar10-lenet", {"seeds": 0}, ConfigError, "a run needs --seeds >= 1; got 0"),
        ("cifar10-lenet", {"seeds": -2}, ConfigError, "--seeds >= 1"),
        ("study-loss", {"seeds": 0}, ConfigError, "a study needs --seeds >= 2"),
        ("cifar10-lenet", {"device": "tpu"}, DeviceError, "--device must be cpu, cuda or auto"),
        ("study-loss", {"device": "tpu"}, DeviceError, "--device must be"),
        ("cifar10-lenet", {"data_dir": ""}, ConfigError, "--data-dir is empty"),
        ("cifar10-lenet", {"data_dir": "/nonexistent/data"}, ConfigError, "is not a folder"),
        ("cifar10-lenet", {"overrides": {"train.lr": -1.0}}, ConfigError, "train.lr must be > 0"),
        ("study-loss", {"overrides": {"model.activaton": "relu"}}, ConfigError, "unknown config"),
        ("study-loss", {"config_file": "x.json"}, ConfigError, "its cells take --set"),
    ],
)
def test_input_errors_make_no_folder(
    name: str, kwargs: dict, error: type, message: str, cwd: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(error, match=message):
        runner.run(name, kwargs.pop("overrides", None), smoke=True, out=out, quiet=True, **kwargs)
    assert _folders(out) == [] and _folders(cwd) == []


def test_missing_data_set_makes_no_folder(
    tiny_data: Path, tmp_path: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty data root with no network: the data set is missing, for a run and a study."""
    from tamrin.data import store

    empty = tmp_path / "empty"
    empty.mkdir()
    catalog = dict(store.CATALOG)
    for name in (
        "mnist",
        "fashion-mnist",
    ):  # what cifar10-lenet --set data=mnist and study-loss read
        spec = catalog[name]
        unreachable = tuple(
            type(f)(f.name, f.md5, "http://127.0.0.1:9/" + f.name, f.payload_md5)
            for f in spec.layouts[0].files
        )
        catalog[name] = type(spec)(name, (type(spec.layouts[0])(unreachable),))
    monkeypatch.setattr(store, "CATALOG", catalog)
    monkeypatch.setattr(store, "SYSTEM_ROOT", tmp_path / "no-system-data")
    out = tmp_path / "out"
    with pytest.raises(DataNotFoundError, match="data set 'mnist' not found"):
        runner.run(
            "cifar10-lenet", {"data": "mnist"}, smoke=True, data_dir=str(empty), out=out, quiet=True
        )
    with pytest.raises(DataNotFoundError, match="data set 'fashion-mnist' not found"):
        runner.run("study-loss", smoke=True, seeds=2, data_dir=str(empty), out=out, quiet=True)
    # a recipe without a `data` field declares what it reads (`needs`): refused up front,
    # before a run folder is even made (not made and then cleaned up)
    made: list[Path] = []
    monkeypatch.setattr(runner, "_new_run_dir", lambda *a: made.append(a[0]) or a[0])
    with pytest.raises(DataNotFoundError, match="data set 'mnist' not found"):
        runner.run("mnist-imbalanced", smoke=True, data_dir=str(empty), out=out, quiet=True)
    assert made == []
    assert _folders(out) == [] and _folders(cwd) == []


def test_a_user_error_inside_a_recipe_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the up-front checks cannot see (a recipe's own input) still leaves nothing behind."""
    registry.all_recipes()  # fill the registry before swapping in a copy
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @dataclass
    class Cfg:
        words: str = "zebra"  # a word the recipe does not know

    @registry.recipe("lab-refuses", summary="raises a user error", config=Cfg)
    def _refuses(cfg: Cfg, ctx: registry.RunContext) -> None:
        raise UserError(f"word {cfg.words!r} is not in the vocabulary")

    out = tmp_path / "out"
    with pytest.raises(UserError, match="not in the vocabulary"):
        runner.run("lab-refuses", out=out, device="cpu", quiet=True)
    assert _folders(out) == []


def test_study_runs_through_the_one_dispatch(tiny_data: Path, tmp_path: Path, cwd: Path) -> None:
    """`tamrin.run("study-loss", smoke=True)` (today: "unknown recipe 'study-loss'")."""
    result = tamrin.run(
        "study-loss", smoke=True, seeds=2, workers=1, out=tmp_path / "out", quiet=True,
        **{"train.epochs": 1},
    )  # fmt: skip
    assert isinstance(result, StudyResult)
    assert result.report_html.is_file()
    spec = registry.get_study("study-loss")
    assert len(result.summary["variants"]) == len(spec.variants)
    assert _folders(cwd) == []
    rows = runner.list_runs(tmp_path / "out")
    assert [r["kind"] for r in rows] == ["study"] and rows[0]["status"] == "completed"


def test_other_data_set_is_titled_and_not_compared(tiny_data: Path, tmp_path: Path) -> None:
    """LeNet on MNIST is not compared with the homework's 62 % on CIFAR-10."""
    result = tamrin.run(
        "cifar10-lenet", smoke=True, out=tmp_path, quiet=True, data="mnist", epochs=1
    )
    assert isinstance(result, runner.RunResult)
    cfg = json.loads((result.run_dir / "config.json").read_text())
    assert cfg["data"] == "mnist" and cfg["title"] == "LeNet-5 on MNIST (HW2)"
    assert cfg["homework_figure"]["data"] == "cifar10"  # recorded, with the data set it belongs to
    html = result.report_html.read_text()
    assert "LeNet-5 on MNIST (HW2)" in html
    assert "was measured on CIFAR-10; this run is on MNIST" in html
    assert "<td>test.accuracy</td>" in html and "0.6200" not in html

    same = tamrin.run("cifar10-lenet", smoke=True, out=tmp_path, quiet=True, epochs=1)
    assert "0.6200" in same.report_html.read_text()  # on CIFAR-10 it is compared
    group = runner.run("cifar10-lenet", {"data": "mnist"}, smoke=True, seeds=2, out=tmp_path,
                       quiet=True)  # fmt: skip
    assert group.summary["homework_figure"] is None and group.summary["data"] == "mnist"
    assert "LeNet-5 on MNIST" in group.report_html.read_text()
