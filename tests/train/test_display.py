"""The training display: one plain line per epoch off a terminal, a live bar in one, nothing
when quiet; the study progress; the fit loop reads its running sums only per refresh."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import torch
from rich.console import Console
from torch import nn

from tamrin.data.batches import Batches, ShuffleSampler
from tamrin.train.display import StudyProgress, TrainDisplay, epoch_fields
from tamrin.train.fit import classification_validator, fit
from tamrin.train.optim import TrainConfig

ESC = "\x1b"
EPOCH_LINE = re.compile(
    r"^epoch (\d+)/3  loss \d+\.\d{4}  acc \d\.\d{4}  val_loss \d+\.\d{4}  val_acc \d\.\d{4}"
    r"  lr [0-9.e-]+  \d+\.\ds  [\d,]+ img/s$"
)


def _fit(display: TrainDisplay | None, epochs: int = 3) -> Any:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 4, 4, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    batches = Batches({"x": x, "y": y}, ShuffleSampler(len(y), 16, seed=0))
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    cfg = TrainConfig(epochs=epochs, lr=0.05, optimizer="sgd")
    validate = classification_validator(x, y)
    return fit(model, batches, cfg, device=torch.device("cpu"), validate=validate, display=display)


def _plain_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=80)


def test_plain_mode_prints_one_line_per_epoch() -> None:
    console = _plain_console()
    result = _fit(TrainDisplay(console))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert ESC not in out
    lines = out.splitlines()
    assert len(lines) == 3, out
    for i, (line, row) in enumerate(zip(lines, result.history, strict=True), start=1):
        m = EPOCH_LINE.match(line)
        assert m is not None, line
        assert int(m.group(1)) == i
        assert f"loss {row['train_loss']:.4f}" in line  # the history's numbers, not others
        assert f"val_acc {row['val_acc']:.4f}" in line


def test_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    console = _plain_console()
    _fit(TrainDisplay(console, quiet=True))
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    terminal = Console(file=io.StringIO(), force_terminal=True, width=80)
    _fit(TrainDisplay(terminal, quiet=True))
    assert terminal.file.getvalue() == ""  # type: ignore[attr-defined]
    _fit(None)
    assert capsys.readouterr().out == ""


def test_terminal_mode_shows_a_batch_bar_and_keeps_the_epoch_lines() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    display = TrainDisplay(console, refresh_s=0.0)  # refresh on every batch
    assert display.live
    _fit(display)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert ESC in out  # the live bar
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    # the bar's running numbers: batch count of the epoch, mean loss and acc so far, img/s
    assert re.search(r"epoch 1/3 .* \d/4 .*loss \d\.\d{4} acc \d\.\d{4} [\d,]+ img/s", plain)
    lines = re.split(r"[\r\n]", plain)
    kept = [
        ln + (" " + lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1][:1] == " " else "")
        for i, ln in enumerate(lines)
        if re.match(r"^epoch \d/3 +loss", ln)
    ]  # an epoch line too wide for 80 columns goes on under its first field
    assert [ln.split()[1] for ln in kept] == ["1/3", "2/3", "3/3"]
    assert all("val_acc" in ln and "img/s" in ln for ln in kept)
    assert max(len(ln) for ln in lines) <= 80


class _CountingSums(Mapping[str, Any]):
    """Running sums that count how often the display reads them (each read is a sync)."""

    def __init__(self) -> None:
        self.data = {"loss": torch.tensor(2.0), "count": 4, "acc": torch.tensor(1.0)}
        self.reads = 0

    def __getitem__(self, key: str) -> Any:
        self.reads += 1
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_batch_end_reads_the_sums_only_per_refresh() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    slow = TrainDisplay(console, refresh_s=3600.0)
    sums = _CountingSums()
    with slow.fitting(epochs=1, steps=500):
        slow.epoch_start(0)
        for b in range(500):
            slow.batch_end(b + 1, sums)
    assert sums.reads == 0  # no host sync per batch
    eager = TrainDisplay(console, refresh_s=0.0)
    with eager.fitting(epochs=1, steps=5):
        eager.epoch_start(0)
        for b in range(5):
            eager.batch_end(b + 1, sums)
    assert sums.reads >= 5


def test_epoch_fields_take_every_val_key_and_train_accuracies() -> None:
    row = {
        "epoch": 2,
        "train_loss": 0.5,
        "train_acc": 0.75,
        "train_loss_ce": 0.5,
        "rotation_acc": 0.1,
        "val_loss": 0.6,
        "val_accuracy": 0.7,
        "val_auc": 0.8,
        "lr": 1e-3,
        "seconds": 2.25,
    }
    fields = epoch_fields(row, 5, samples=1000, train_seconds=2.0, unit="img")
    assert fields == [
        "epoch 2/5",
        "loss 0.5000",
        "acc 0.7500",
        "val_loss 0.6000",
        "val_accuracy 0.7000",
        "val_auc 0.8000",
        "lr 0.001",
        "2.2s",
        "500 img/s",
    ]


def test_study_progress_plain_lines() -> None:
    console = _plain_console()
    with StudyProgress("study-x cells", 3, console) as shown:
        shown.cell_done("relu-s0", "completed")
        shown.cell_done("relu-s1", "stopped_nonfinite")
        shown.cell_done("tanh-s0", "completed")
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert ESC not in out
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("study-x cells: 1/3 done, 0 failed - relu-s0 completed - ")
    assert lines[1].startswith("study-x cells: 2/3 done, 1 failed - relu-s1 stopped_nonfinite")
    assert lines[2].startswith("study-x cells: 3/3 done, 1 failed - tanh-s0 completed")
    assert all(re.search(r"\d+:\d\d elapsed, ETA \d+:\d\d$", ln) for ln in lines)
    assert lines[2].endswith("ETA 0:00")
    assert (shown.done, shown.failed) == (3, 1)


def test_study_progress_quiet_and_terminal() -> None:
    console = _plain_console()
    with StudyProgress("s cells", 2, console, quiet=True) as shown:
        shown.cell_done("a-s0", "completed")
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    terminal = Console(file=io.StringIO(), force_terminal=True, width=80)
    with StudyProgress("s cells", 2, terminal) as shown:
        shown.cell_done("a-s0", "stopped_nonfinite")
        shown.cell_done("b-s0", "completed")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.file.getvalue())  # type: ignore[attr-defined]
    assert "2/2" in plain and "1 failed" in plain and "ETA" in plain
    assert "a-s0: stopped_nonfinite" in plain


def test_fit_line_breaks_between_fields_to_fit_the_terminal() -> None:
    from tamrin.train.display import fit_line

    fields = ["epoch 1/10", "loss 2.3172", "acc 0.0820", "val_loss 2.3084", "val_acc 0.0938"]
    fields += ["lr 0.0415", "1.0s", "288 img/s"]
    assert fit_line(fields) == "  ".join(fields)  # plain logs: one line, whatever its length
    wide = fit_line(fields, 200)
    assert wide == "  ".join(fields)
    lines = fit_line(fields, 60).splitlines()
    assert len(lines) == 2 and all(len(line) <= 60 for line in lines)
    assert lines[1].startswith(" " * 11)  # continuation under the first field
    joined = " ".join(line.strip() for line in lines)
    assert joined == " ".join(fields)  # no field is cut
