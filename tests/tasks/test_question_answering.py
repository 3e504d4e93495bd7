"""bAbI question answering as a task: task lists, linear start, validation that never selects a
linear epoch, task 3's 1k fallback (and the clear error without it), several tasks and joint
training through the runner, and a memory network that really learns a generated task."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from tamrin import runner
from tamrin.data import babi
from tamrin.errors import ConfigError, DataNotFoundError
from tamrin.models.memnet import MemN2N, MemN2NConfig
from tamrin.tasks.question_answering import LinearStart, parse_tasks, qa_validator


@pytest.mark.parametrize(
    ("tasks", "want"),
    [(3, [3]), ([5, 1, 5], [1, 5]), ("all", list(range(1, 21))), ("ALL", list(range(1, 21)))],
)
def test_parse_tasks(tasks: object, want: list[int]) -> None:
    assert parse_tasks(tasks) == want  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tasks", "match"),
    [
        (0, r"1\.\.20; got 0"),
        ([1, 21], "got \\[1, 21\\]"),
        ("some", "must be 'all'"),
        ([], "got \\[\\]"),
    ],
)
def test_bad_task_lists_are_config_errors(tasks: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_tasks(tasks)  # type: ignore[arg-type]


def test_linear_start_ends_when_val_loss_stops_falling_and_resumes_its_state() -> None:
    net = MemN2N(MemN2NConfig(dim=4, hops=1), 10)
    ls = LinearStart(patience=2, max_epochs=10)
    ls.on_train_start(net, torch.optim.SGD(net.parameters(), 0.1))
    assert net.linear
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.85], start=1):
        ls.on_epoch_end(net, {"epoch": epoch, "val_loss": loss})
    assert not net.linear and ls.ended_after == 4
    again, fresh = LinearStart(), MemN2N(MemN2NConfig(dim=4, hops=1), 10)
    again.load_state_dict(ls.state_dict())
    again.on_train_start(fresh, torch.optim.SGD(fresh.parameters(), 0.1))
    assert not fresh.linear  # a resumed run keeps the softmax it had re-inserted


def test_linear_start_ends_after_max_epochs_while_loss_still_falls() -> None:
    net = MemN2N(MemN2NConfig(dim=4, hops=1), 10)
    ls = LinearStart(patience=2, max_epochs=3)
    ls.on_train_start(net, torch.optim.SGD(net.parameters(), 0.1))
    for epoch in (1, 2, 3):
        ls.on_epoch_end(net, {"epoch": epoch, "val_loss": 1.0 / epoch})
    assert not net.linear and ls.ended_after == 3


def test_validation_reports_no_val_acc_for_a_linear_model(generated_babi: Callable) -> None:
    qs = generated_babi(5, 0)
    vocab, shape = babi.Vocabulary.build(qs), babi.Shape.fit(qs, 50)
    val = babi.encode(qs, vocab, shape, task=1)
    net = MemN2N(MemN2NConfig(dim=4), len(vocab))
    net.linear = True
    row = qa_validator(val, 64, by_task=True)(net)
    assert np.isnan(row["val_acc"]) and 0 <= row["val_acc_linear"] <= 1
    assert "val_acc_task1" in row
    net.linear = False
    row = qa_validator(val, 64)(net)
    assert 0 <= row["val_acc"] <= 1 and "val_acc_linear" not in row


def test_a_memory_network_really_learns_a_generated_task(generated_babi: Callable) -> None:
    """'Where is X?' with distractors: a 2-hop MemN2N answers held-out stories after a few
    epochs (the fixture's task is the shape of bAbI task 1)."""
    torch.manual_seed(0)
    train_q, test_q = generated_babi(200, 1), generated_babi(60, 2)
    vocab = babi.Vocabulary.build(train_q)
    shape = babi.Shape.fit(train_q + test_q, 50)
    train, test = (babi.encode(q, vocab, shape) for q in (train_q, test_q))
    net = MemN2N(MemN2NConfig(dim=20, hops=2), len(vocab))
    opt = torch.optim.Adam(net.parameters(), 0.01)
    n = train["answer"].shape[0]
    for _ in range(12):
        for idx in torch.randperm(n).split(32):
            loss = torch.nn.functional.cross_entropy(
                net(train["story"][idx], train["question"][idx]), train["answer"][idx]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(test["story"], test["question"]).argmax(1) == test["answer"]).float().mean()
    chance = 1 / 5  # five places
    assert acc > 0.9 > chance


def _run(tmp_path: Path, **overrides: object) -> tuple[Path, dict]:
    result = runner.run(
        "babi-memn2n", smoke=True, out=tmp_path / "runs", quiet=True, overrides=overrides
    )
    return result.run_dir, json.loads((result.run_dir / "metrics.json").read_text())


def test_task_3_at_10k_falls_back_to_1k_and_says_so(tiny_data: Path, tmp_path: Path) -> None:
    run_dir, metrics = _run(tmp_path, tasks=3)
    assert metrics["tasks"]["3"]["size"] == "1k"
    assert "en-10k/qa3 train is missing here" in (run_dir / "report.md").read_text()


def test_task_3_at_10k_without_fallback_is_a_clear_error(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"task 3 at 10k is missing .*en-10k/qa3_three"):
        _run(tmp_path, tasks=3, fallback_1k=False)
    assert not list((tmp_path / "runs").rglob("config.json"))  # no half-made run is left


def test_several_tasks_train_one_model_each_with_a_table_and_curves(
    tiny_data: Path, tmp_path: Path
) -> None:
    run_dir, metrics = _run(tmp_path, tasks=[1, 2])
    assert set(metrics["tasks"]) == {"1", "2"} and metrics["tasks_summary"]["tasks"] == 2
    assert {"task1", "task2"} <= set(metrics["fits"])  # and task1-try2 ... where restarted
    for t in ("1", "2"):
        facts = metrics["tasks"][t]
        assert 1 <= facts["chosen_try"] <= facts["tries"] <= 2  # smoke: restarts=2
        assert facts["val_acc"] == max(facts["val_acc_tries"])
    header = (run_dir / "history.csv").read_text().splitlines()[0].split(",")
    assert {"val_acc_task1", "val_acc_task2", "train_loss_task2"} <= set(header)
    rows = [int(r.split(",")[0]) for r in (run_dir / "history.csv").read_text().splitlines()[1:]]
    assert rows == sorted(rows)  # one row per epoch, in order, both tasks' columns in it
    assert (run_dir / "figures" / "attention.png").exists()
    for t in ("1", "2"):
        assert 0 <= metrics["tasks"][t]["support_top1_hop1"] <= 1


def test_joint_training_is_one_model_with_per_task_validation(
    tiny_data: Path, tmp_path: Path
) -> None:
    run_dir, metrics = _run(tmp_path, tasks=[1, 2], joint=True)
    assert "fits" not in metrics  # one unnamed fit
    header = (run_dir / "history.csv").read_text().splitlines()[0].split(",")
    assert {"val_acc_task1", "val_acc_task2"} <= set(header)
    assert metrics["tasks"]["1"]["epochs"] == metrics["tasks"]["2"]["epochs"]
    assert metrics["tasks_summary"]["train_time_s"] == pytest.approx(metrics["train_time_s"])
    spec = json.loads((run_dir / "model.json").read_text())
    assert spec["task"] == "qa" and spec["out_dim"] == len(spec["classes"])


def test_the_homework_model_runs_several_tasks_like_memn2n(tiny_data: Path, tmp_path: Path) -> None:
    result = runner.run(
        "babi-seed", smoke=True, out=tmp_path / "runs", quiet=True, overrides={"tasks": [1, 2]}
    )
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert set(metrics["tasks"]) == {"1", "2"} and set(metrics["fits"]) == {"task1", "task2"}
    assert "relu" not in metrics  # the relu curves are a one-task comparison
    assert "support_top1_hop1" not in metrics["tasks"]["1"]  # no memory attention to score


def test_a_resumed_multi_task_run_keeps_every_task_in_its_history(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted while training task 2, resumed: task 1 is not retrained (its fit is
    complete in its checkpoint) and its columns are still in history.csv."""
    from tamrin.errors import RunInterrupted
    from tamrin.recipes import babi as recipe
    from tamrin.tasks import question_answering as qa

    overrides = {"tasks": [1, 2], "restarts": 1}
    train_qa = qa.train_qa

    def interrupt_task2(*args: object, name: str = "", **kw: object) -> object:
        if name == "task2":
            raise RunInterrupted("interrupted at task 2 (test)")
        return train_qa(*args, name=name, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(recipe, "train_qa", interrupt_task2)
    with pytest.raises(RunInterrupted):
        runner.run("babi-memn2n", overrides, smoke=True, out=tmp_path / "runs", quiet=True)
    run_dir = next((tmp_path / "runs" / "babi-memn2n").glob("*-s0"))
    monkeypatch.setattr(recipe, "train_qa", train_qa)
    trained: list[str] = []
    monkeypatch.setattr(
        recipe,
        "train_qa",
        lambda *a, name="", **k: trained.append(name) or train_qa(*a, name=name, **k),
    )
    runner.resume(run_dir, quiet=True)
    header = (run_dir / "history.csv").read_text().splitlines()[0].split(",")
    assert {"val_acc_task1", "val_acc_task2"} <= set(header)
    assert trained == ["task1", "task2"]  # task 1's fit only reloads its finished checkpoint
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and set(metrics["tasks"]) == {"1", "2"}
