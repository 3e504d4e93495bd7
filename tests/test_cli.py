"""The `tamrin` command: list, run, report, runs, data; user errors are one or two lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tamrin import registry
from tamrin.cli import main


def test_list_shows_every_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for r in registry.all_recipes():
        assert r.name in out
    for st in registry.all_studies():
        assert st.name in out
    from tamrin.models import list_models

    for name in list_models():
        assert f"│ {name} " in out
    assert "embed-seed" in out and "resnet" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "cifar-lenet"], "unknown recipe 'cifar-lenet'; did you mean 'cifar10-lenet'?"),
        (["run", "cifar10-lenet", "--set", "train.lr=-0.1"], "train.lr must be > 0; got -0.1"),
        (["run", "cifar10-lenet", "--set", "data=svhn"], "data must be one of"),
        (["run", "cifar10-lenet", "--set", "lr"], "--set expects key=value; got 'lr'"),
        (["report", "/nonexistent/run"], "not a tamrin run folder"),
        (["resume", "/nonexistent/run"], "not a tamrin run folder"),
        (["data", "verify", "mnistt"], "did you mean 'mnist'"),
        (["run", "study-inti"], "did you mean 'study-init'?"),
        (["run", "study-loss", "--seeds", "1"], "a study needs --seeds >= 2"),
        (["run", "study-loss", "--set", "model.activaton=relu"], "unknown config key"),
        (["run", "study-loss", "--seeds", "0"], "a study needs --seeds >= 2"),
        (["run", "cifar10-lenet", "--seeds", "0"], "a run needs --seeds >= 1; got 0"),
        (["run", "cifar10-lenet", "--data-dir", ""], "--data-dir is empty"),
        (["run", "cifar10-lenet", "--data-dir", "/nonexistent/data"], "is not a folder"),
        (["run", "study-loss", "--data-dir", "/nonexistent/data"], "is not a folder"),
        (["run", "study-loss", "--config", "x.json"], "its cells take --set overrides"),
    ],
)
def test_user_errors_are_short(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # the default --out is ./runs: nothing may appear here
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2
    assert list(tmp_path.iterdir()) == [], "an input error made a folder"


def test_missing_data_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tamrin.data.store as store

    # an unreachable address stands in for "no network"
    spec = store.CATALOG["mnist"]
    layout = spec.layouts[0]
    files = tuple(
        type(f)(f.name, f.md5, "http://127.0.0.1:9/" + f.name, f.payload_md5) for f in layout.files
    )
    catalog = dict(store.CATALOG)
    catalog["mnist"] = type(spec)("mnist", (type(layout)(files),), classes=spec.classes)
    monkeypatch.setattr(store, "CATALOG", catalog)
    monkeypatch.setenv("TAMRIN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    code = main(
        [
            "run",
            "cifar10-lenet",
            "--smoke",
            "--quiet",
            "--set",
            "data=mnist",
            "--data-dir",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "train-images-idx3-ubyte.gz" in err and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in err
    assert "TAMRIN_DATA" in err or "--data-dir" in err
    assert not (tmp_path / "runs").exists(), "a missing data set left a run folder"


def test_run_report_runs(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    assert main(["run", "cifar10-lenet", "--smoke", "--out", str(out), "--set", "epochs=1"]) == 0
    printed = capsys.readouterr().out
    assert "override: epochs = 1" in printed and "report:" in printed
    run_dir = next(out.glob("cifar10-lenet/*"))
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").exists()
    assert main(["runs", "--out", str(out)]) == 0
    listing = capsys.readouterr().out
    assert "cifar10-lenet" in listing and "CIFAR-10" in listing and "completed" in listing


def test_help_config_lists_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "cifar10-lenet", "--help-config"]) == 0
    out = capsys.readouterr().out
    assert "train.lr = 0.05    # peak learning rate" in out


def test_study_run_report_resume(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    argv = ["run", "study-loss", "--smoke", "--seeds", "2", "--workers", "1", "--out", str(out)]
    assert main([*argv, "--set", "train.epochs=1"]) == 0
    printed = capsys.readouterr().out
    assert "override (every cell): train.epochs = 1" in printed
    assert "MSE on softmax vs cross-entropy:" in printed and "report:" in printed
    study_dir = next(out.glob("study-loss/*"))
    (study_dir / "report.html").unlink()
    assert main(["report", str(study_dir)]) == 0
    assert (study_dir / "report.html").exists()
    assert main(["resume", str(study_dir)]) == 0  # nothing left to run: only the report again
