"""A study's cells claimed through one Optuna storage (`tamrin run STUDY --storage URL`): each
cell runs once however the workers race, and failed cells are taken up again. SQLite stands in
for the shared database here; tests/tuning/test_postgres.py runs two real workers on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("optuna")

from tamrin.tuning.cells import OptunaCellClaims

CELLS = ["cells/a-s0", "cells/a-s1", "cells/b-s0"]


def _claims(tmp_path: Path) -> OptunaCellClaims:
    return OptunaCellClaims(f"sqlite:///{tmp_path / 'study.db'}", "study-x-123", poll_s=0.01)


def test_each_cell_is_claimed_once_even_when_enqueued_twice(tmp_path: Path) -> None:
    first, second = _claims(tmp_path), _claims(tmp_path)
    first.study.enqueue_trial({}, user_attrs={"cell": CELLS[0]})  # two workers raced to enqueue:
    first.study.enqueue_trial({}, user_attrs={"cell": CELLS[0]})  # the cell has a twin trial
    ran = []
    for cell in first.claim(CELLS):
        ran.append(cell)
        first.publish(cell, {"metrics.json": f'{{"cell": "{cell}"}}'})
    assert sorted(ran) == sorted(CELLS)  # the twin was dropped, not run
    assert list(second.claim(CELLS)) == []  # a later worker finds every cell finished
    got = second.collect(CELLS)
    assert {c: f["metrics.json"] for c, f in got.items()} == {
        c: f'{{"cell": "{c}"}}' for c in CELLS
    }
    twins = [t for t in first.study.get_trials() if "duplicate_of" in t.user_attrs]
    assert len(twins) == 1 and twins[0].state.name == "FAIL"


def test_a_failed_cell_is_run_again_then_given_up(tmp_path: Path) -> None:
    claims = _claims(tmp_path)
    ran = []
    for cell in claims.claim(CELLS):
        ran.append(cell)
        claims.publish(cell, {"metrics.json": "{}"}, failed=cell == CELLS[1])  # it always fails
    assert sorted(ran) == sorted([*CELLS, CELLS[1]])  # tried MAX_ATTEMPTS = 2 times
    assert set(claims.collect(CELLS)) == {CELLS[0], CELLS[2]}  # its report entry: "not run"


def test_the_first_workers_decision_is_everyones(tmp_path: Path) -> None:
    first, second = _claims(tmp_path), _claims(tmp_path)
    assert first.agree("precision", {"name": "bf16"}) == {"name": "bf16"}
    assert second.agree("precision", {"name": "fp32"}) == {"name": "bf16"}
