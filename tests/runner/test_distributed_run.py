"""`tamrin run RECIPE --nproc 2` end to end on CPU (gloo on 127.0.0.1, through torchrun): the
same numbers as one process, only rank 0 writes, and a killed 2-process run resumes.

Weights agree to float32 all-reduce rounding (see tests/train/test_distributed.py); LeNet has no
BatchNorm or dropout, whose per-rank statistics and masks one process cannot reproduce. How close
is close enough is measured, not assumed: oneDNN's float32 reductions depend on the thread count
and the rows per kernel call, so one process at 1 and at 2 threads already differ (on this tiny
LeNet after 6 epochs, measured: 5e-4 relative in the losses, 0.035 in the weights, chaos
amplifying rounding; on real CIFAR-10 5e-5 in the weights after 40 steps, where DDP vs one
process at equal threads differs by 4e-8: benchmarks/bench_ddp.py). The 2-process run must lie
within twice that spread of a 1-process run; here it matches the 2-thread run to 2e-8 (losses)
and 6e-8 (weights), whose kernels split the batch as the two ranks do. Resume must give the
uninterrupted 2-process run's weights bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tamrin import cli, launch, runner
from tamrin.errors import ConfigError
from tamrin.train import device

OVERRIDES = {
    "train.epochs": 6,
    "train.max_batches": None,
    "train.batch_size": 16,
    "train.precision": "fp32",
    "model.width": 0.5,
}
SETS = [a for k, v in OVERRIDES.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture
def workers_see_tiny_data(
    tiny_cli: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """torchrun's workers load the tiny data's catalog (`tiny_cli`'s script, started instead of
    `-m tamrin`), and keep their private run copies under a temp folder the test can inspect."""
    monkeypatch.setattr(launch, "ENTRY", tuple(tiny_cli[1:]))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    return tiny_cli


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children first."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _numbers(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = runner.load_result(run_dir).history
    return {
        "test": {k: metrics["test"][k] for k in ("accuracy", "log_loss")},
        "best_epoch": metrics["best"]["epoch"],
        "train_loss": [r["train_loss"] for r in history],
        "val_loss": [r["val_loss"] for r in history],
    }


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def _gap(a_dir: Path, b_dir: Path) -> dict[str, float]:
    """The largest relative loss difference and absolute weight difference of two runs."""
    a, b = _numbers(a_dir), _numbers(b_dir)
    pairs = [*zip(a["train_loss"], b["train_loss"], strict=True)]
    pairs += [*zip(a["val_loss"], b["val_loss"], strict=True)]
    pairs += [(a["test"]["log_loss"], b["test"]["log_loss"])]
    wa, wb = _weights(a_dir), _weights(b_dir)
    return {
        "loss": max(abs(x - y) / abs(y) for x, y in pairs),
        "weights": max(float((wa[k] - wb[k]).abs().max()) for k in wb),
    }


def _reference(tmp_path: Path, threads: int, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The recipe in this one process, on `threads` intra-op threads."""
    monkeypatch.setattr(device, "cpu_cores", lambda: threads)
    out = tmp_path / f"ref-{threads}"
    return runner.run(
        "cifar10-lenet", OVERRIDES, smoke=True, out=out, quiet=True, device="cpu"
    ).run_dir


@pytest.mark.slow
def test_nproc_2_equals_one_process_and_only_rank_0_writes(
    workers_see_tiny_data: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ddp"
    argv = ["run", "cifar10-lenet", "--smoke", "--quiet", "--device", "cpu", "--out", str(out)]
    assert cli.main([*argv, *SETS, "--nproc", "2"]) == 0
    (run_dir,) = (out / "cifar10-lenet").iterdir()  # one run folder, written by rank 0
    refs = [_reference(tmp_path, threads, monkeypatch) for threads in (1, 2)]
    spread = _gap(*refs)  # one process against itself at another thread count
    gaps = [_gap(run_dir, ref) for ref in refs]
    assert min(g["loss"] for g in gaps) <= max(2 * spread["loss"], 1e-6), (gaps, spread)
    assert min(g["weights"] for g in gaps) <= max(2 * spread["weights"], 1e-6), (gaps, spread)
    test_accuracy = _numbers(run_dir)["test"]["accuracy"]
    assert test_accuracy in {_numbers(ref)["test"]["accuracy"] for ref in refs}
    history = _numbers(run_dir)["train_loss"]
    assert history[-1] < history[0]
    meta = json.loads((run_dir / "config.json").read_text())
    assert meta["distributed"]["world_size"] == 2 and meta["distributed"]["backend"] == "gloo"
    assert meta["distributed"]["threads_per_process"] >= 1
    assert (run_dir / "report.html").exists()
    leftovers = [p for p in (tmp_path / "tmp").rglob("*") if "tamrin-rank" in str(p)]
    assert leftovers == []  # rank 1's private copy of the run is gone


@pytest.mark.slow
def test_a_killed_2_process_run_resumes_to_the_same_numbers(
    workers_see_tiny_data: list, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    argv = ["run", "cifar10-lenet", "--smoke", "--quiet", "--device", "cpu"]
    assert cli.main([*argv, "--out", str(whole), *SETS, "--nproc", "2"]) == 0
    (ref,) = (whole / "cifar10-lenet").iterdir()
    out = tmp_path / "killed"
    argv += ["--out", str(out)]
    cmd = launch.torchrun_command([*argv, *SETS], 2)
    proc = subprocess.Popen(cmd, env=os.environ.copy())
    try:
        deadline = time.time() + 120
        while not list(out.rglob("checkpoints/last.pt")) and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # somewhere in a later epoch
    finally:
        for pid in [*_descendants(proc.pid), proc.pid]:  # the workers run in their own sessions
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
    (run_dir,) = (out / "cifar10-lenet").iterdir()
    assert (run_dir / "checkpoints" / "last.pt").exists()
    assert not (run_dir / "metrics.json").exists(), "the run finished before it was killed"
    assert cli.main(["resume", str(run_dir), "--quiet", "--nproc", "2"]) == 0
    for key, w in _weights(ref).items():  # the same processes and kernels: bit for bit
        assert torch.equal(_weights(run_dir)[key], w), key
    assert _gap(run_dir, ref)["loss"] < 1e-9  # epoch sums resumed mid-epoch add up differently
    assert _numbers(run_dir)["test"] == _numbers(ref)["test"]


def test_launch_flags_are_checked_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--nproc must be >= 1"):
        launch.check_launch(0, None, None)
    with pytest.raises(ConfigError, match="needs --rdzv-endpoint"):
        launch.check_launch(2, 2, None)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        launch.check_launch(2, 2, "host1")
    code = cli.main(["run", "study-init", "--smoke", "--nproc", "2", "--out", str(tmp_path)])
    assert code == 2 and not any(tmp_path.iterdir())  # a study refuses --nproc, makes nothing


def test_torchrun_command_passes_everything_but_the_launch_flags() -> None:
    argv = ["run", "cifar10-lenet", "--nproc=2", "--set", "train.lr=0.1", "--nnodes", "3"]
    assert launch.strip_launch_flags(argv) == ["run", "cifar10-lenet", "--set", "train.lr=0.1"]
    one = launch.torchrun_command(argv, 2)
    assert one[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    assert one[one.index("--nproc-per-node") + 1] == "2"
    assert one[-6:] == ["-m", "tamrin", "run", "cifar10-lenet", "--set", "train.lr=0.1"]
    many = launch.torchrun_command(argv, 4, 3, "host1:29400")
    assert "--standalone" not in many
    assert many[many.index("--rdzv-endpoint") + 1] == "host1:29400"
    assert many[many.index("--nnodes") + 1] == "3"
