"""The `tamrin` command: list, run, report, runs, data; user errors are one or two lines."""

from __future__ import annotations

import os
import subprocess
import sys
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
        assert f" {name} " in out
    assert "embed-homework" in out and "resnet" in out


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
        # hints by meaning (the names users bring from Keras / PyTorch), inside the error
        (["run", "cifar10-lenet", "--set", "learning_rate=0.1"], "did you mean 'train.lr'?"),
        (["run", "cifar10-lenet", "--set", "train.learning_rate=0.1"], "did you mean 'train.lr'?"),
        (["run", "cifar10-lenet", "--set", "batch=64"], "did you mean 'train.batch_size'?"),
        (["run", "cifar10-lenet", "--set", "num_epochs=3"], "did you mean 'train.epochs'?"),
        (["run", "study-loss", "--set", "learning_rate=0.1"], "did you mean 'train.lr'?"),
        (["run", "cifar10-lenet", "--set", "seed=1"], "the random seed is --seed N"),
        (["run", "cifar10-lenet", "--config", "nope.yaml"], "config file not found: nope.yaml"),
        (["run", "cifar-lenet", "--print-config"], "did you mean 'cifar10-lenet'?"),
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


# --- CLI basics: python -m tamrin, --version, --debug anywhere, help, config files, completion


def _subprocess(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tamrin", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_python_m_tamrin_version() -> None:
    import platform

    import torch

    from tamrin import __version__

    out = _subprocess("--version")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"tamrin {__version__}"
    assert lines[1].startswith(f"torch {torch.__version__} (")
    assert lines[2].startswith(f"python {platform.python_version()} ")


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_anywhere_shows_the_traceback(
    where: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tamrin.errors import UnknownRecipeError

    monkeypatch.chdir(tmp_path)
    argv = (
        ["--debug", "run", "cifar-lenet"]
        if where == "before"
        else ["run", "cifar-lenet", "--debug"]
    )
    with pytest.raises(UnknownRecipeError, match="did you mean 'cifar10-lenet'"):
        main(argv)
    assert main(["run", "cifar-lenet"]) == 2  # without it: the short message, no traceback
    assert "Traceback" not in capsys.readouterr().err


def test_debug_after_the_command_in_a_subprocess_prints_a_traceback(tmp_path: Path) -> None:
    out = _subprocess("run", "cifar10-lenet", "--set", "learning_rate=0.1", "--debug")
    assert out.returncode != 0
    assert "Traceback (most recent call last)" in out.stderr
    assert "ConfigError: unknown config key 'learning_rate'; did you mean 'train.lr'?" in out.stderr


def test_help_is_for_users_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    top = capsys.readouterr().out
    for example in (
        "tamrin list",
        "tamrin run cifar10-lenet --smoke",
        "tamrin run cifar10-lenet --seeds 3",
        "tamrin run cifar10-lenet --set train.lr=0.05",
        "tamrin resume RUN",
        "tamrin report RUN",
        "tamrin runs",
    ):
        assert f"\n  {example}" in top, example  # one example per line (RawDescription)
    assert "argument parsing only" not in top  # not the developer docstring
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    run_help = capsys.readouterr().out
    assert "\n  tamrin run cifar10-lenet --print-config > my.yaml\n" in run_help
    assert "--config FILE" in run_help and "YAML" in run_help
    for command in ("resume", "report", "runs", "data", "list"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "examples:\n  tamrin " + command in capsys.readouterr().out


def test_a_flag_for_a_config_key_points_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "cifar10-lenet", "--epochs", "3"])
    assert info.value.code == 2
    assert "--set train.epochs=3" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "cifar10-lenet", "--learning-rate=0.1"])
    assert "--set train.lr=0.1" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_print_config_round_trip(
    fmt: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """print (--smoke < --set) -> save -> --config -> the same resolved config; nothing created."""
    from tamrin import config as C
    from tamrin import runner

    monkeypatch.chdir(tmp_path)
    argv = ["run", "cifar10-lenet", "--smoke", "--set", "train.lr=0.2", "--set", "hidden=[32]"]
    assert main([*argv, "--print-config", fmt]) == 0
    printed = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [], "--print-config made a folder"
    path = tmp_path / f"resolved.{fmt}"
    path.write_text(printed)
    recipe = registry.get("cifar10-lenet")
    expected = runner.resolve_config(recipe, {"train.lr": 0.2, "hidden": [32]}, smoke=True)
    assert runner.resolve_config(recipe, config_file=path) == expected
    assert expected.train.lr == 0.2 and expected.model.hidden == [32]
    # and the CLI reads it back: printing again from the file gives the same body
    assert main(["run", "cifar10-lenet", "--config", str(path), "--print-config", fmt]) == 0
    again = capsys.readouterr().out
    body = [ln for ln in printed.splitlines() if not ln.startswith("#")]
    assert [ln for ln in again.splitlines() if not ln.startswith("#")] == body
    assert C.to_dict(expected)["train"]["lr"] == 0.2
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_print_config_of_a_study(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study prints what its cells share; that file plus a variant's change is a cell."""
    from tamrin import runner

    monkeypatch.chdir(tmp_path)
    assert main(["run", "study-init", "--smoke", "--set", "train.epochs=1", "--print-config"]) == 0
    printed = capsys.readouterr().out
    spec = registry.get_study("study-init")
    for v in spec.variants:
        assert f"#   {v.label}: " in printed
    assert list(tmp_path.iterdir()) == [], "--print-config made a folder"
    path = tmp_path / "cells.yaml"
    path.write_text(printed)
    recipe = registry.get(spec.recipe)
    for v in spec.variants:
        cell = runner.resolve_config(
            recipe, {**spec.base, **spec.smoke_base, **v.overrides, "train.epochs": 1}, smoke=True
        )
        assert runner.resolve_config(recipe, v.overrides, config_file=path) == cell, v.label


def test_completion_of_recipe_names(tmp_path: Path) -> None:
    from tamrin.cli import complete_names

    assert "cifar10-lenet" in complete_names("cifar")
    assert "study-init" in complete_names("study-")
    assert all(n.startswith("cifar") for n in complete_names("cifar"))
    pytest.importorskip("argcomplete")
    line = "tamrin run cifar10-le"
    out_file = tmp_path / "completions"
    done = _subprocess(
        _ARGCOMPLETE="1",
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
        _ARGCOMPLETE_STDOUT_FILENAME=str(out_file),
    )
    assert done.returncode == 0, done.stderr
    words = out_file.read_text().split("\013")
    assert "cifar10-lenet" in [w.strip() for w in words]
    assert all(w.strip().startswith("cifar10-le") for w in words)
