"""What a person watching training sees: a Keras `fit`-style display, and a study's progress.

In a terminal, while an epoch trains, a bar with the running (mean so far) train loss, the
running accuracy where the objective reports one, and images/s; when the epoch ends, one line
that stays on screen:

    epoch 3/10  loss 0.4123  acc 0.8712  val_loss 0.3981  val_acc 0.8804  lr 0.01  4.1s  9,120 img/s

When stdout is not a terminal (CI logs, pipes) the same line is written once per epoch as plain
text: no bar, no escape codes. Quiet shows nothing. The bar's numbers are read from the fit
loop's running sums at most every `REFRESH_S` seconds (one host sync per refresh, none per
batch), so the display costs the hot loop one clock read per batch.

`StudyProgress` is the same idea for a study: cells done / failed / total, elapsed time and an
ETA, as a bar in a terminal and one plain line per finished cell otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

REFRESH_S = 0.2  # seconds between two reads of the running sums (each read is a host sync)
_TOTALS = ("loss", "count")  # the fit loop's accumulators that are not named parts
SUCCEEDED = ("completed", "stopped_early", "pruned")  # a study cell that gave a value


def _num(value: float) -> str:
    """A loss or metric in 6-7 characters: 4 decimals in the usual range, else 4 digits."""
    if value == 0 or (1e-3 <= abs(value) < 1e3):
        return f"{value:.4f}"
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _rate(samples: float, seconds: float, unit: str) -> str:
    return f"{samples / seconds:,.0f} {unit}/s" if seconds > 0 else f"- {unit}/s"


def _clock(seconds: float) -> str:
    """1:05 or 1:02:05."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _is_accuracy(part: str) -> bool:
    return part == "acc" or part.endswith(("_acc", "accuracy"))


def epoch_fields(
    row: Mapping[str, float], epochs: int, *, samples: float, train_seconds: float, unit: str
) -> list[str]:
    """The epoch line's fields: epoch i/N, train loss and accuracies (`train_` dropped, as
    Keras names them), every val_* key of the row, lr, seconds and throughput."""
    fields = [f"epoch {int(row['epoch'])}/{epochs}"]
    if "train_loss" in row:
        fields.append(f"loss {_num(row['train_loss'])}")
    fields += [
        f"{k.removeprefix('train_')} {_num(v)}"
        for k, v in row.items()
        if k.startswith("train_") and _is_accuracy(k.removeprefix("train_"))
    ]
    fields += [f"{k} {_num(v)}" for k, v in row.items() if k.startswith("val_")]
    if "lr" in row:
        fields.append(f"lr {row['lr']:.3g}")
    if "seconds" in row:
        fields.append(f"{row['seconds']:.1f}s")
    fields.append(_rate(samples, train_seconds, unit))
    return fields


def fit_line(fields: list[str], width: int | None = None) -> str:
    """Fields joined by two spaces, or by one where that is what fits in `width`; where even
    that is too wide, broken between fields (never inside one) with the continuation indented
    under the first field, so an 80-column terminal shows whole `name value` pairs."""
    line = "  ".join(fields)
    if width is None or len(line) <= width:
        return line
    if len(" ".join(fields)) <= width:
        return " ".join(fields)
    indent = " " * min(len(fields[0]) + 1, width // 4) if fields else ""
    rows, row = [], ""
    for f in fields:
        if row and len(row) + 1 + len(f) > width:
            rows.append(row)
            row = indent + f
        else:
            row = f"{row} {f}" if row else f
    rows.append(row)
    return "\n".join(rows)


def _plain(console: Console) -> bool:
    """True where no live bar can be drawn (not a terminal, or a dumb one)."""
    return not console.is_terminal or console.is_dumb_terminal


class TrainDisplay:
    """The fit loop's display; `fit(..., display=TrainDisplay())` calls it at these points:

    `fitting(epochs=, steps=)` around the whole fit, `epoch_start(epoch, batch=, samples=)`,
    `batch_end(batch, sums)` after every batch (cheap: a clock read, and the sums are read only
    every `refresh_s`), `epoch_end(row, samples=, train_seconds=)` after validation.
    `console` defaults to stdout with the terminal's real width; `quiet` shows nothing.
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        quiet: bool = False,
        unit: str = "img",
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.console = console or Console()
        self.quiet, self.unit, self.refresh_s = quiet, unit, refresh_s
        self.live = not quiet and not _plain(self.console)
        self._bar: Progress | None = None
        self._task: Any = None
        self._epochs = self._steps = 0
        self._t0 = self._next = 0.0
        self._samples0 = 0

    @contextmanager
    def fitting(self, *, epochs: int, steps: int) -> Iterator[TrainDisplay]:
        """Show the bar (in a terminal) while one fit runs; it is gone when the fit ends."""
        self._epochs, self._steps = epochs, steps
        if self.live:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=max(8, min(30, self.console.width - 62))),
                MofNCompleteColumn(),
                TimeRemainingColumn(compact=True),
                TextColumn("{task.fields[stats]}"),
                console=self.console,
                transient=True,
                refresh_per_second=5,
            )
            self._task = self._bar.add_task("", total=steps, stats="")
            self._bar.start()
        try:
            yield self
        finally:
            if self._bar is not None:
                self._bar.stop()
            self._bar = self._task = None

    def epoch_start(self, epoch: int, *, batch: int = 0, samples: int = 0) -> None:
        """Epoch `epoch` (0-based) starts at batch `batch` with `samples` already counted (a
        resumed epoch): images/s counts only what this process trains."""
        self._t0 = time.perf_counter()
        self._next = self._t0 + self.refresh_s
        self._samples0 = samples
        if self._bar is not None:
            self._bar.reset(
                self._task,
                total=self._steps,
                completed=batch,
                description=f"epoch {epoch + 1}/{self._epochs}",
                stats="",
            )

    def batch_end(self, batch: int, sums: Mapping[str, Any]) -> None:
        """`batch` batches of the epoch are done; `sums` are the fit loop's running sums
        ({"loss": Σ loss·n, "count": Σ n, part: Σ part·n}, tensors on the device)."""
        if self._bar is None:
            return
        now = time.perf_counter()
        if now < self._next:
            return
        self._next = now + self.refresh_s
        self._bar.update(self._task, completed=batch, stats=self._stats(sums, now), refresh=True)

    def _stats(self, sums: Mapping[str, Any], now: float) -> str:
        count = int(sums["count"])
        n = max(count, 1)
        shown = [f"loss {_num(float(sums['loss']) / n)}"]  # float(): the one sync per refresh
        accs = [k for k in sums if k not in _TOTALS and _is_accuracy(k)][:2]
        shown += [f"{k} {_num(float(sums[k]) / n)}" for k in accs]
        shown.append(_rate(count - self._samples0, now - self._t0, self.unit))
        return " ".join(shown)

    def epoch_end(self, row: Mapping[str, float], *, samples: int, train_seconds: float) -> None:
        """The epoch's history row is complete: print its one line (it stays on screen).

        `samples` counts the epoch's training samples so far, `train_seconds` the training
        time of this process (validation excluded), so images/s is the training throughput.
        """
        if self.quiet:
            return
        fields = epoch_fields(
            row,
            self._epochs,
            samples=samples - self._samples0,
            train_seconds=train_seconds,
            unit=self.unit,
        )
        if not self.live:
            file = self.console.file
            file.write(fit_line(fields) + "\n")
            file.flush()
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self._steps, stats="")
        line = fit_line(fields, self.console.width)
        self.console.print(Text(line), soft_wrap=True, highlight=False)


class _Eta(ProgressColumn):
    """Time left at the pace so far: elapsed / done × left (parallel workers included)."""

    def render(self, task: Task) -> Text:
        if not task.completed or task.total is None or task.elapsed is None:
            return Text("ETA -:--", style="progress.remaining")
        left = task.elapsed / task.completed * (task.total - task.completed)
        return Text(f"ETA {_clock(left)}", style="progress.remaining")


class StudyProgress:
    """Cells done / failed / total of a study, with elapsed time and an ETA.

    `with StudyProgress(title, total) as shown: ... shown.cell_done(name, status)` per finished
    cell. A cell fails when its run ended without a value (status not in `SUCCEEDED`, e.g. a
    loss that became NaN). A bar in a terminal; one plain line per cell otherwise.
    """

    def __init__(
        self, title: str, total: int, console: Console | None = None, *, quiet: bool = False
    ) -> None:
        self.title, self.total, self.quiet = title, total, quiet
        self.console = console or Console()
        self.live = not quiet and not _plain(self.console)
        self.done = self.failed = 0
        self._t0 = 0.0
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> StudyProgress:
        self._t0 = time.perf_counter()
        if self.live:
            self._bar = Progress(
                TextColumn(self.title),
                BarColumn(bar_width=max(8, min(30, self.console.width - 56))),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                _Eta(),
                console=self.console,
                refresh_per_second=2,
            )
            self._task = self._bar.add_task(self.title, total=self.total, failed=0)
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def line(self, name: str, status: str) -> str:
        """The plain line for a finished cell, e.g.
        'study-loss cells: 3/8 done, 1 failed - mse-s1 stopped_nonfinite - 0:42 elapsed, ETA 1:10'.
        """
        elapsed = time.perf_counter() - self._t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        return (
            f"{self.title}: {self.done}/{self.total} done, {self.failed} failed"
            f" - {name} {status} - {_clock(elapsed)} elapsed, ETA {_clock(eta)}"
        )

    def cell_done(self, name: str, status: str) -> None:
        """Cell `name` finished with run status `status`."""
        self.done += 1
        self.failed += status not in SUCCEEDED
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, failed=self.failed)
            if status not in SUCCEEDED:
                self._bar.console.print(Text(f"{name}: {status}"), highlight=False)
            return
        file = self.console.file
        file.write(self.line(name, status) + "\n")
        file.flush()
