"""TensorBoard event files of a run (`--tensorboard`), written into RUN_DIR/tensorboard/.

`tensorboard --logdir runs/` then shows every run; a study's cells and a seed group's seeds are
one TensorBoard run each (`tensorboard --logdir STUDY_DIR` compares the cells). What is written:

    every numeric column of a history row   a scalar at step = the row's epoch; `train_x` and
                                            `val_x` as `train/x`, `val/x`, others as named
                                            (`lr`, `seconds`): `scalar_tag`
    the test metrics, at the end            `test/<key>` (nested sections as `test/a/b`)
    every figure of the run (figures/*.png) an image `figures/<name>`, the PNG as it is

Writes happen once per epoch (never per batch) and are flushed at once, so a live TensorBoard
follows the run and a killed run keeps every logged epoch. A resumed run appends: the steps
already in the folder are read back first and not written again; an epoch that a run redoes
(one already written) opens a new event file that starts with a purge (SessionLog START at that
step), so TensorBoard shows the new values. TensorBoard reads a folder's event files in name
order, so every new file is named to sort after the ones already there (`event_file_name`):
torch's SummaryWriter names (`<second>.<host>.<pid>.<counter>`) sort a resumed run's file
before the killed run's when both open in the same second and the counter goes from 9 to 10
(or the pids compare so), and TensorBoard then shows epochs out of order. For the same
reason an epoch missing from the history holds the later ones back until it comes.
The `tensorboard` package is optional (`pip install 'tamrin[tensorboard]'`): `require` checks it.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tamrin import rundir
from tamrin.errors import MissingDependencyError

LOGDIR = "tensorboard"  # RUN_DIR/tensorboard/ holds the run's event files
EVENTS = "events.out.tfevents."  # TensorBoard reads the files whose names hold "tfevents"
SPLITS = ("train", "val")  # history columns `<split>_<name>` become tags `<split>/<name>`
_PNG_COLORS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # PNG colour type -> channels (palette shows as RGB)


def require() -> None:
    """MissingDependencyError (one line) unless the `tensorboard` package can be imported.

    Called before any folder is made, so `--tensorboard` without the package leaves nothing.
    """
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "--tensorboard needs the tensorboard package, which is not installed; "
            "fix: pip install 'tamrin[tensorboard]' (or pip install tensorboard)"
        ) from None


def scalar_tag(column: str) -> str:
    """The TensorBoard tag of a history column: 'train_loss' -> 'train/loss', 'lr' -> 'lr'."""
    split, sep, rest = column.partition("_")
    return f"{split}/{rest}" if sep and rest and split in SPLITS else column


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def epoch_scalars(row: Mapping[str, Any]) -> dict[str, float]:
    """{tag: value} of a history row's numeric columns (its `epoch` is the step, not a scalar)."""
    out = {}
    for key, value in row.items():
        number = _number(value)
        if key != "epoch" and number is not None:
            out[scalar_tag(key)] = number
    return out


def flat_scalars(values: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """{prefix/key: number} of a metrics section; nested mappings become prefix/a/b, lists
    (confusion matrices, per-class rows) are left to the report."""
    out: dict[str, float] = {}
    for key, value in values.items():
        tag = f"{prefix}/{key}"
        if isinstance(value, Mapping):
            out.update(flat_scalars(value, tag))
        elif (number := _number(value)) is not None:
            out[tag] = number
    return out


def png_size(data: bytes) -> tuple[int, int, int]:
    """(height, width, channels) from a PNG's header; ValueError when it is not a PNG."""
    if len(data) < 26 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return height, width, _PNG_COLORS.get(data[25], 3)


def event_file_name(existing: Iterable[str], now: float, tail: str) -> str:
    """A new event file's name, `events.out.tfevents.<second>.<sequence>.<tail>`, that sorts
    after every name in `existing` (TensorBoard reads a folder's files in name order).

    Within one second the 6-digit sequence counts up; a name already from a later second (a
    clock set back, a folder from another machine) lends its second; a name of another form
    (SummaryWriter's `<second>.<host>...`) is followed by the next second, or, sorting after
    any second, extended.
    """
    last = max(existing, default="")
    stamp, seq = int(now), 0
    parts = last[len(EVENTS) :].split(".") if last.startswith(EVENTS) else []
    if len(parts) > 1 and parts[0].isdigit():
        stamp = max(stamp, int(parts[0]))
        if stamp == int(parts[0]) and parts[1].isdigit():
            seq = int(parts[1]) + 1
    name = f"{EVENTS}{stamp:010d}.{seq:06d}.{tail}"
    if name <= last:
        name = f"{EVENTS}{stamp + 1:010d}.{0:06d}.{tail}"
    return name if name > last else f"{last}.{tail}"


class EventFile:
    """One event file, written synchronously (no writer thread like SummaryWriter's: a flushed
    epoch is in the file however the process ends afterwards)."""

    def __init__(self, logdir: Path, purge_step: int | None = None) -> None:
        """Create the file (named to sort after the files already in `logdir`); with
        `purge_step`, TensorBoard drops the older files' events at steps >= purge_step."""
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.summary.writer.record_writer import RecordWriter

        logdir.mkdir(parents=True, exist_ok=True)
        existing = [p.name for p in logdir.glob(f"{EVENTS}*")]
        tail = f"{socket.gethostname()}.{os.getpid()}"
        self.path = logdir / event_file_name(existing, time.time(), tail)
        self._records = RecordWriter(open(self.path, "xb"))  # noqa: SIM115 (closed in close)
        self._event = Event
        step = purge_step if purge_step is not None else 0
        self._write(Event(wall_time=time.time(), step=step, file_version="brain.Event:2"))
        if purge_step is not None:
            start = SessionLog(status=SessionLog.START)
            self._write(Event(wall_time=time.time(), step=purge_step, session_log=start))
        self.flush()

    def _write(self, event: Any) -> None:
        self._records.write(event.SerializeToString())

    def add_summary(self, summary: Any, step: int) -> None:
        """Append a `Summary` proto at `step`."""
        self._write(self._event(wall_time=time.time(), step=step, summary=summary))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        """Append one scalar (`simple_value`, as SummaryWriter.add_scalar writes it)."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        self.add_summary(Summary(value=[Summary.Value(tag=tag, simple_value=value)]), step)

    def flush(self) -> None:
        """Hand what was written to the OS (a live TensorBoard and a later resume see it)."""
        self._records.flush()

    def close(self) -> None:
        """Flush and close the file (again is harmless)."""
        if not self._records.closed:
            self._records.close()


def written_steps(logdir: Path) -> set[int]:
    """The epoch steps whose scalars the event files under `logdir` already hold, as
    TensorBoard reads them (its own reader, so purged steps do not count)."""
    if not logdir.is_dir() or not any(logdir.glob("events.out.tfevents.*")):
        return set()
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={SCALARS: 0})
    acc.Reload()
    steps: set[int] = set()
    for tag in acc.Tags()[SCALARS]:
        if not tag.startswith("test/"):
            steps.update(e.step for e in acc.Scalars(tag))
    return steps


class RunLog:
    """The event files of one run folder; the run context calls it once per epoch.

    The writer opens at the first write (a run that fails before training leaves no folder).
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.logdir = self.run_dir / LOGDIR
        self._writer: EventFile | None = None
        self._written: set[int] | None = None  # steps in the folder, read at the first write

    def _steps(self) -> set[int]:
        if self._written is None:
            self._written = written_steps(self.logdir)
        return self._written

    def _open(self, purge_step: int | None = None) -> EventFile:
        """The writer; with `purge_step`, a new file after which TensorBoard drops the older
        events at steps >= purge_step."""
        if purge_step is not None:
            self.close()
            self._written = {s for s in self._steps() if s < purge_step}
        if self._writer is None:
            self._writer = EventFile(self.logdir, purge_step=purge_step)
        return self._writer

    def write_epochs(
        self,
        rows: Iterable[Mapping[str, Any]],
        fresh: Mapping[str, Any] | None = None,
        *,
        gaps: bool = False,
    ) -> None:
        """Write every row of `rows` whose epoch is not in the folder yet, in epoch order.

        `fresh` is the row an epoch just produced (it is among `rows`): where its epoch is
        already written (the run redoes it), that step and later ones are purged first, and
        rows after it (stale until redone) wait. Rows after a missing epoch wait too (a run
        killed after last.pt got an epoch but before history.csv did resumes without that
        row until `log_fit` brings the whole history), since TensorBoard shows a step written
        later after the others; `gaps=True` (the end of the run) writes them anyway.
        """
        last = int(fresh["epoch"]) if fresh is not None and "epoch" in fresh else None
        redo = last is not None and last in self._steps()
        writer = self._open(purge_step=last if redo else None)
        written = self._steps()
        todo = {}
        for row in rows:
            if "epoch" not in row:
                continue
            step = int(row["epoch"])
            if step not in written and (last is None or step <= last):
                todo[step] = row
        if fresh is not None and last is not None:
            todo[last] = fresh
        first = min(written | todo.keys(), default=0)
        for step in sorted(todo):
            if not gaps and step != first and step - 1 not in written:
                break  # an earlier epoch is missing: write this one after it, not before
            for tag, value in epoch_scalars(todo[step]).items():
                writer.add_scalar(tag, value, step)
            written.add(step)
        writer.flush()

    def finish(self, history: Iterable[Mapping[str, Any]], metrics: Mapping[str, Any]) -> None:
        """The end of a run: every history row still missing, the test metrics as `test/...`
        and every figures/*.png as an image, at the last epoch's step; then close."""
        rows = list(history)
        self.write_epochs(rows, gaps=True)
        writer = self._open()
        step = max((int(r["epoch"]) for r in rows if "epoch" in r), default=0)
        test = metrics.get("test")
        if isinstance(test, Mapping):
            for tag, value in flat_scalars(test, "test").items():
                writer.add_scalar(tag, value, step)
        from tensorboard.compat.proto.summary_pb2 import Summary

        for path in sorted((self.run_dir / rundir.FIGURES).glob("*.png")):
            data = path.read_bytes()
            try:
                height, width, channels = png_size(data)
            except ValueError:
                continue  # not a PNG after all: nothing TensorBoard could show
            image = Summary.Image(
                height=height, width=width, colorspace=channels, encoded_image_string=data
            )
            summary = Summary(value=[Summary.Value(tag=f"figures/{path.stem}", image=image)])
            writer.add_summary(summary, step)
        self.close()

    def close(self) -> None:
        """Flush and close the event file (a later write opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
