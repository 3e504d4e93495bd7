"""Runs that are interrupted (Ctrl-C) or killed (-9) resume to exactly the same final numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch

from tamrin import runner
from tamrin.errors import RunDirError, RunInterrupted

# LeNet at full width on the tiny CIFAR-10 fixture, enough epochs to interrupt in the middle.
OVERRIDES = {
    "train.epochs": 12,
    "train.max_batches": None,
    "train.batch_size": 16,
    "model.width": 0.5,
}


def _final_numbers(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "test": {k: metrics["test"][k] for k in ("accuracy", "log_loss", "macro_f1")},
        "best": metrics["best"],
        "history": [
            (r["epoch"], r["train_loss"], r["val_loss"])
            for r in runner.load_result(run_dir).history
        ],
    }


def _weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def _wait_for_checkpoint(run_root: Path, timeout: float = 60) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list(run_root.rglob("checkpoints/last.pt"))
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


def test_ctrl_c_saves_and_resume_matches(tiny_data: Path, tmp_path: Path) -> None:
    ref = runner.run("cifar10-lenet", OVERRIDES, smoke=True, out=tmp_path / "ref", quiet=True)
    out = tmp_path / "cut"
    threading.Thread(
        target=lambda: (_wait_for_checkpoint(out), os.kill(os.getpid(), signal.SIGINT)), daemon=True
    ).start()
    with pytest.raises(RunInterrupted, match="tamrin resume"):
        runner.run("cifar10-lenet", OVERRIDES, smoke=True, out=out, quiet=True)
    run_dir = next(out.glob("cifar10-lenet/*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    assert (run_dir / "report.html").exists()  # even an interrupted run has a report
    resumed = runner.resume(run_dir, quiet=True)
    assert resumed.metrics["status"] == "completed"
    assert _final_numbers(run_dir) == _final_numbers(ref.run_dir)
    for a, b in zip(_weights(run_dir).values(), _weights(ref.run_dir).values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(RunDirError, match="already finished"):
        runner.resume(run_dir, quiet=True)


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_matches(tiny_cli: list[str], tmp_path: Path) -> None:
    ref = runner.run("cifar10-lenet", OVERRIDES, smoke=True, out=tmp_path / "ref", quiet=True)
    out = tmp_path / "killed"
    sets = [a for k, v in OVERRIDES.items() for a in ("--set", f"{k}={v}")]
    tamrin_cli = tiny_cli  # the child process uses the tiny data's catalog, as this one does
    cmd = [*tamrin_cli, "run", "cifar10-lenet", "--smoke", "--quiet", "--out", str(out), *sets]
    proc = subprocess.Popen(cmd, env=os.environ.copy())
    try:
        _wait_for_checkpoint(out)
        time.sleep(0.3)  # somewhere in a later epoch
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_dir = next(out.glob("cifar10-lenet/*"))
    assert not (run_dir / "metrics.json").exists(), "the run finished before it was killed"
    done = subprocess.run(
        [*tamrin_cli, "resume", str(run_dir), "--quiet"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert _final_numbers(run_dir) == _final_numbers(ref.run_dir)


def test_resume_of_a_non_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not a tamrin run folder"):
        runner.resume(tmp_path)


def test_damaged_checkpoint_is_a_clear_error(tiny_data: Path, tmp_path: Path) -> None:
    from tamrin.train import checkpoint

    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RunDirError, match="damaged"):
        checkpoint.load(bad)


def test_seeds_give_mean_and_std(tiny_data: Path, tmp_path: Path) -> None:
    group = runner.run("cifar10-lenet", smoke=True, seeds=2, out=tmp_path, quiet=True)
    assert isinstance(group, runner.GroupResult)
    accs = [r.metric("test.accuracy") for r in group.runs]
    stats = group.summary["headline"]["test.accuracy"]
    assert stats["values"] == accs
    assert stats["mean"] == pytest.approx(sum(accs) / 2)
    assert group.report_html.exists()
    assert [r.run_dir.name.split("-")[-1] for r in group.runs] == ["s0", "s1"]
