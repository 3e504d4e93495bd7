"""`--tensorboard`: event files in every run folder, read back with TensorBoard's own reader.

Scalars per epoch equal history.csv (step = epoch), the test metrics come at the end, the
figures are images; a study writes one TensorBoard run per cell; a resumed run appends without
duplicated steps; a missing package is one clean line before any folder exists.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import (
    IMAGES,
    SCALARS,
    EventAccumulator,
)
from tensorboard.backend.event_processing.event_file_loader import (
    EventFileLoader,
)

from tamrin import api, cli, rundir, runner
from tamrin.errors import MissingDependencyError, RunInterrupted
from tamrin.tensorboard import LOGDIR, RunLog, event_file_name, png_size, scalar_tag

TINY = {"train.epochs": 2}


def _read(logdir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(logdir), size_guidance={SCALARS: 0, IMAGES: 0})
    acc.Reload()
    return acc


def _scalars(acc: EventAccumulator) -> dict[str, list[tuple[int, float]]]:
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()[SCALARS]}


def _raw_steps(logdir: Path) -> dict[str, list[int]]:
    """Every (tag, step) as it lies in the event files, before TensorBoard's purge logic."""
    found: dict[str, list[int]] = {}
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(event.step)
    return found


def _check_matches_history(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every numeric history column is a scalar tag whose (step, value)s are history's rows."""
    acc = _read(run_dir / LOGDIR)
    scalars = _scalars(acc)
    history = rundir.read_history(run_dir)
    epochs = [int(r["epoch"]) for r in history.rows]
    assert epochs == list(range(1, len(epochs) + 1)) and epochs
    columns = [c for c in history.columns if c != "epoch"]
    assert {"train_loss", "val_loss", "val_acc", "lr", "seconds"} <= set(columns)
    for col in columns:
        tag = scalar_tag(col)
        want = [(int(r["epoch"]), np.float32(r[col])) for r in history.rows if col in r]
        got = scalars.get(tag)
        assert got is not None, f"history column {col} has no tag {tag}: {sorted(scalars)}"
        assert [s for s, _ in got] == [s for s, _ in want], tag
        assert all(np.float32(v) == w for (_, v), (_, w) in zip(got, want, strict=True)), tag
    return scalars


def test_run_writes_history_test_metrics_and_figures(tiny_data: Path, tmp_path: Path) -> None:
    result = runner.run(
        "cifar10-lenet", TINY, smoke=True, out=tmp_path, quiet=True, tensorboard=True
    )
    run_dir = result.run_dir
    assert json.loads((run_dir / "config.json").read_text())["tensorboard"] is True
    scalars = _check_matches_history(run_dir)
    assert {"train/loss", "val/loss", "val/acc", "lr", "seconds"} <= set(scalars)
    last = len(result.history)
    for key in ("accuracy", "log_loss", "macro_f1"):
        assert scalars[f"test/{key}"] == [(last, np.float32(result.metrics["test"][key]))]
    acc = _read(run_dir / LOGDIR)
    figures = sorted((run_dir / "figures").glob("*.png"))
    assert {"curves", "confusion"} <= {p.stem for p in figures}
    assert set(acc.Tags()[IMAGES]) == {f"figures/{p.stem}" for p in figures}
    for path in figures:
        (image,) = acc.Images(f"figures/{path.stem}")
        assert image.step == last
        assert image.encoded_image_string == path.read_bytes()
        assert (image.height, image.width) == png_size(path.read_bytes())[:2]


def test_without_the_flag_nothing_is_written(tiny_data: Path, tmp_path: Path) -> None:
    result = api.run("cifar10-lenet", smoke=True, out=tmp_path, quiet=True, **TINY)
    assert not (result.run_dir / LOGDIR).exists()
    assert json.loads((result.run_dir / "config.json").read_text())["tensorboard"] is False


def test_study_writes_one_tensorboard_run_per_cell(tiny_data: Path, tmp_path: Path) -> None:
    study = api.run(
        "study-loss", smoke=True, seeds=2, workers=1, out=tmp_path, quiet=True, tensorboard=True
    )
    cells = json.loads((study.study_dir / "study.json").read_text())["cells"]
    assert len(cells) >= 4
    logdirs = {p.parent for p in study.study_dir.rglob("events.out.tfevents.*")}
    assert logdirs == {study.study_dir / c["dir"] / LOGDIR for c in cells}
    for cell in cells:
        scalars = _check_matches_history(study.study_dir / cell["dir"])
        assert any(t.startswith("test/") for t in scalars)
        images = _read(study.study_dir / cell["dir"] / LOGDIR).Tags()[IMAGES]
        assert "figures/curves" in images  # drawn for TensorBoard though cells write no report


def _wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} did not appear")


def test_resume_appends_without_duplicated_steps(tiny_data: Path, tmp_path: Path) -> None:
    overrides = {"train.epochs": 8, "train.max_batches": None, "train.batch_size": 16}
    out = tmp_path / "cut"
    folder = out / "cifar10-lenet"

    def interrupt() -> None:  # Ctrl-C once an epoch is in the event files
        _wait_for(folder)
        run_dir = next(folder.iterdir())
        _wait_for(run_dir / rundir.HISTORY)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(RunInterrupted):
        runner.run("cifar10-lenet", overrides, smoke=True, out=out, quiet=True, tensorboard=True)
    run_dir = next(folder.iterdir())
    before = _raw_steps(run_dir / LOGDIR)
    assert before["train/loss"] and max(before["train/loss"]) < 8  # interrupted mid-run
    assert not any(t.startswith(("test/", "figures/")) for t in before)
    result = runner.resume(run_dir, quiet=True)  # the flag comes from config.json
    assert [int(r["epoch"]) for r in result.history] == list(range(1, 9))
    _check_matches_history(run_dir)
    raw = _raw_steps(run_dir / LOGDIR)
    for tag in ("train/loss", "val/acc", "lr"):
        assert raw[tag] == list(range(1, 9)), tag  # every epoch once, in the files themselves
    assert raw["test/accuracy"] == [8]


def _row(epoch: int, loss: float) -> dict[str, float]:
    return {"epoch": epoch, "train_loss": loss, "val_acc": loss / 10, "lr": 0.1}


def test_a_resumed_log_catches_up_and_purges_redone_epochs(tmp_path: Path) -> None:
    first = RunLog(tmp_path)
    for e in (1, 2):
        first.write_epochs([_row(i, i) for i in range(1, e + 1)], fresh=_row(e, e))
    first.close()
    # killed after history.csv got epoch 3 but before TensorBoard did: the next process
    # writes 3 (from the history it loaded) before its own epoch 4
    second = RunLog(tmp_path)
    second.write_epochs([_row(i, i) for i in range(1, 5)], fresh=_row(4, 4))
    second.close()
    assert _raw_steps(tmp_path / LOGDIR)["train/loss"] == [1, 2, 3, 4]
    # a run that redoes epoch 2 (it restarted): TensorBoard then shows the new 2, not 3 and 4
    third = RunLog(tmp_path)
    third.write_epochs([_row(1, 1), _row(3, 3), _row(4, 4), _row(2, 20)], fresh=_row(2, 20))
    third.close()
    got = _scalars(_read(tmp_path / LOGDIR))
    assert got["train/loss"] == [(1, 1.0), (2, 20.0)]
    assert got["val/acc"] == [(1, np.float32(0.1)), (2, 2.0)]


def test_an_epoch_missing_from_history_holds_back_the_later_ones(tmp_path: Path) -> None:
    """Killed after last.pt got epoch 2 but before history.csv did: the resumed run's rows
    skip 2 until log_fit brings fit's whole history, and step 2 must not land after 3 and 4."""
    first = RunLog(tmp_path)
    first.write_epochs([_row(1, 1)], fresh=_row(1, 1))
    first.close()
    resumed = RunLog(tmp_path)
    for epoch in (3, 4):  # Run.log_epoch: history.csv's rows plus the fresh one
        rows = [_row(1, 1), *(_row(e, e) for e in range(3, epoch + 1))]
        resumed.write_epochs(rows, fresh=rows[-1])
    resumed.write_epochs([_row(e, e) for e in range(1, 5)])  # Run.log_fit
    resumed.close()
    assert _raw_steps(tmp_path / LOGDIR)["train/loss"] == [1, 2, 3, 4]
    gap = RunLog(tmp_path / "gap")  # the end of a run writes whatever it has, gaps included
    gap.finish([_row(1, 1), _row(3, 3)], {"test": {"accuracy": 0.5}})
    assert _raw_steps(tmp_path / "gap" / LOGDIR)["train/loss"] == [1, 3]


def test_event_files_are_read_in_the_order_they_were_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed and resumed (a new process) within one second, and reopened 12 times there:
    TensorBoard reads a folder's files in name order, and SummaryWriter's names
    (`<second>.<host>.<pid>.<counter>`) put pid 100000 before 99999 and counter 10 before 9,
    so a resumed run's epochs came first (the full-suite `[2, 3, ...] == [1, 2, ...]`)."""
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.25)
    monkeypatch.setattr(os, "getpid", lambda: 99999)
    rows = [_row(1, 1)]
    killed = RunLog(tmp_path)
    killed.write_epochs(rows, fresh=rows[-1])
    killed.close()
    monkeypatch.setattr(os, "getpid", lambda: 100000)
    for epoch in range(2, 14):
        rows.append(_row(epoch, epoch))
        resumed = RunLog(tmp_path)
        resumed.write_epochs(rows, fresh=rows[-1])
        resumed.close()
    redo = RunLog(tmp_path)  # redoes epoch 3: its purge must come after every older file
    redo.write_epochs([*rows[:2], *rows[3:], _row(3, 30)], fresh=_row(3, 30))
    redo.close()
    assert len(list((tmp_path / LOGDIR).iterdir())) == 14
    assert _raw_steps(tmp_path / LOGDIR)["train/loss"] == [*range(1, 14), 3]
    got = _scalars(_read(tmp_path / LOGDIR))
    assert got["train/loss"] == [(1, 1.0), (2, 2.0), (3, 30.0)]


def test_a_new_event_file_name_sorts_after_every_existing_one() -> None:
    now = 1_800_000_000.9
    tail = "host.7"
    first = event_file_name([], now, tail)
    assert first == "events.out.tfevents.1800000000.000000.host.7"
    names = [first]
    for _ in range(11):  # same second: the sequence counts up, 9 -> 10 included
        names.append(event_file_name(names, now, tail))
        assert names[-1] > max(names[:-1])
    assert names[-1] == "events.out.tfevents.1800000000.000011.host.7"
    later = "events.out.tfevents.1800000500.000004.other.1"  # clock set back since
    assert event_file_name([first, later], now, tail) == (
        "events.out.tfevents.1800000500.000005.host.7"
    )
    torch_style = "events.out.tfevents.1800000000.vm.99999.9"  # SummaryWriter's form
    assert event_file_name([torch_style], now, tail) == (
        "events.out.tfevents.1800000001.000000.host.7"
    )
    foreign = "events.out.tfevents.zz"
    assert event_file_name([first, foreign], now, tail) > foreign


@pytest.fixture
def no_tensorboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import tensorboard` fails, as where the package is not installed."""
    monkeypatch.setitem(sys.modules, "tensorboard", None)


def _folders(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


def test_missing_package_is_one_line_before_any_folder(
    tiny_data: Path, tmp_path: Path, no_tensorboard: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    for name in ("cifar10-lenet", "study-loss"):
        with pytest.raises(MissingDependencyError, match=r"pip install 'tamrin\[tensorboard\]'"):
            runner.run(name, smoke=True, seeds=2, out=out, quiet=True, tensorboard=True)
    code = cli.main(["run", "cifar10-lenet", "--smoke", "--tensorboard", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "tensorboard" in err
    assert _folders(out) == []


def test_resume_of_a_tensorboard_run_needs_the_package(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = runner.create_run(tmp_path / "r", "cifar10-lenet", smoke=True, tensorboard=True)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(MissingDependencyError, match="tensorboard"):
        runner.execute(run_dir, quiet=True)
    assert not (run_dir / rundir.HISTORY).exists()  # refused before training


def test_cli_flag_reaches_the_runner(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(runner, "run", lambda name, overrides, **kw: seen.update(kw))
    assert cli.main(["run", "cifar10-lenet", "--smoke", "--tensorboard"]) == 0
    assert seen["tensorboard"] is True
    assert cli.main(["run", "cifar10-lenet", "--smoke"]) == 0
    assert seen["tensorboard"] is False
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "RUN_DIR/tensorboard/" in text and "tensorboard --logdir runs/" in text
