"""A study's cells shared between machines through one Optuna storage (`tamrin run STUDY
--storage URL` on each): the `CellClaims` of `tamrin.studies.grid`.

Each cell is an enqueued trial (user attribute `cell`) of one Optuna study named by the tamrin
study's identity, so the same command on every machine meets in the same place. A worker claims
a cell by popping its waiting trial (`Study.ask`: the database's conditional update lets exactly
one of several racing workers move it to RUNNING), runs it while a heartbeat thread keeps the
trial alive, and stores the cell's run files in the trial before completing it. Two workers
enqueueing at the same moment can make two trials of one cell; the lowest-numbered trial that
has not failed owns the cell, and a worker that pops a higher one drops it, so each cell runs
once. A cell whose run failed, or whose worker died (no heartbeat for `grace` seconds: Optuna's
`fail_stale_trials`), is enqueued again, up to `MAX_ATTEMPTS` runs. The cells of a grid are
given, not sampled: an Optuna GridSampler lets two workers draw the same grid point (its
documented race), which the enqueued trials rule out.
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tamrin.errors import ConfigError
from tamrin.tuning.storage import open_storage, require_optuna

POLL_S = 2.0  # while other workers finish their cells
OPEN_ATTEMPTS = 4  # opening the database (its tables are made by the first to arrive)
MAX_ATTEMPTS = 2  # runs of one cell (a failure, a dead worker) before the study gives it up
CELL, FILES, DUPLICATE = "cell", "files", "duplicate_of"  # trial user attributes


class OptunaCellClaims:
    """`CellClaims` over the Optuna study `name` in the database at `url`."""

    def __init__(self, url: str, name: str, *, poll_s: float = POLL_S) -> None:
        self.optuna = require_optuna()
        self.states = self.optuna.trial.TrialState
        for attempt in range(OPEN_ATTEMPTS):
            try:  # workers starting together on a fresh database race to create its tables
                self.storage = open_storage(url, Path("."))  # a database URL: no folder touched
                break
            except ConfigError:
                if attempt == OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 + random.random())
        self.study = self.optuna.create_study(
            study_name=name, storage=self.storage, load_if_exists=True
        )
        self.poll_s = poll_s
        self._claimed: dict[str, tuple[Any, threading.Event]] = {}  # cell -> trial, heartbeat

    def agree(self, key: str, value: Any) -> Any:
        if key not in self.study.user_attrs:
            self.study.set_user_attr(key, value)
        return self.study.user_attrs[key]

    def _trials(self) -> list[Any]:
        return sorted(self.study.get_trials(deepcopy=False), key=lambda t: t.number)

    def _owners(self, trials: list[Any]) -> dict[str, Any]:
        """cell -> its owning trial: the lowest-numbered one that has not failed."""
        owners: dict[str, Any] = {}
        for t in trials:
            cell = t.user_attrs.get(CELL)
            if cell is not None and t.state != self.states.FAIL and cell not in owners:
                owners[cell] = t
        return owners

    def _enqueue_orphans(self, cells: Sequence[str], trials: list[Any]) -> None:
        """Enqueue the cells no live trial owns: never enqueued, or every run of them failed
        (fewer than MAX_ATTEMPTS times)."""
        owners = self._owners(trials)
        for cell in cells:
            runs = [
                t
                for t in trials
                if t.user_attrs.get(CELL) == cell and DUPLICATE not in t.user_attrs
            ]
            failed = sum(t.state == self.states.FAIL for t in runs)
            if cell not in owners and failed < MAX_ATTEMPTS:
                self.study.enqueue_trial({}, user_attrs={CELL: cell})

    def claim(self, cells: Sequence[str]) -> Iterator[str]:
        """Cells for this worker, until every cell is finished (or given up) by someone."""
        while True:
            with warnings.catch_warnings():  # experimental, and meant for Study.optimize
                warnings.simplefilter("ignore")
                self.optuna.storages.fail_stale_trials(self.study)  # dead workers' cells
            trials = self._trials()
            self._enqueue_orphans(cells, trials)
            if self.study.get_trials(deepcopy=False, states=(self.states.WAITING,)):
                with warnings.catch_warnings():  # "heartbeat is meant for Study.optimize"
                    warnings.simplefilter("ignore")
                    trial = self.study.ask()  # pops the oldest waiting trial, or a fresh one
                cell = trial.user_attrs.get(CELL)
                owner = self._owners(self._trials()).get(cell) if cell is not None else None
                if owner is None or owner.number != trial.number:  # taken meanwhile / a twin
                    if owner is not None:
                        trial.set_user_attr(DUPLICATE, owner.number)
                    self.study.tell(trial, state=self.states.FAIL)
                    continue
                self._claimed[cell] = (trial, self._heartbeat(trial))
                yield cell
                continue
            if all(t.state.is_finished() for t in self._owners(self._trials()).values()):
                return
            time.sleep(self.poll_s)  # other workers are still running cells

    def _heartbeat(self, trial: Any) -> threading.Event:
        """Record the trial's heartbeat until the returned event is set (the cell is done)."""
        stop = threading.Event()
        interval = self.storage.get_heartbeat_interval() or 0
        if interval:

            def beat() -> None:
                while not stop.wait(interval):
                    self.storage.record_heartbeat(trial._trial_id)  # Trial has no public id

            self.storage.record_heartbeat(trial._trial_id)
            threading.Thread(target=beat, daemon=True).start()
        return stop

    def publish(self, cell: str, files: Mapping[str, str], *, failed: bool = False) -> None:
        trial, heartbeat = self._claimed.pop(cell)
        heartbeat.set()
        if failed:
            self.study.tell(trial, state=self.states.FAIL)
            return
        trial.set_user_attr(FILES, dict(files))
        self.study.tell(trial, 0.0)  # the value is unused: the cell's metrics are in its files

    def collect(self, cells: Sequence[str]) -> dict[str, Mapping[str, str]]:
        """The run files of every finished cell (a cell given up is left out: its report entry
        says "not run")."""
        owners = self._owners(self._trials())
        done = self.states.COMPLETE
        return {
            c: owners[c].user_attrs.get(FILES, {})
            for c in cells
            if c in owners and owners[c].state == done
        }
