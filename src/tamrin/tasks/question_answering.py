"""bAbI question answering as a task: load tasks, train a memory network, score the test once.

`load_babi` reads the tasks a run asks for from the store's copy of the release, holds out a
seeded fraction of the training *stories* for validation, builds the vocabulary from the
training split only and encodes every split (`tamrin.data.babi`). Separate tasks get their own
vocabulary and shape; joint training shares one across every task. `train_qa` fits any model
`forward(story, question) -> logits` with the shared fit loop (`Classify` over two input
fields) and selects on validation accuracy; `answer_logits` is the one pass over a test split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from tamrin.config import require
from tamrin.data import babi
from tamrin.data.batches import Batches, ShuffleSampler
from tamrin.errors import ConfigError, DataNotFoundError
from tamrin.registry import RunContext
from tamrin.tasks.training import precision_dtype, train
from tamrin.train.callbacks import Callback
from tamrin.train.fit import FitResult
from tamrin.train.inference import classification_loss_acc, predict_logits
from tamrin.train.objectives import Classify
from tamrin.train.optim import TrainConfig

Fields = dict[str, torch.Tensor]  # story, question, answer, support, task (tamrin.data.babi)
INPUTS = ("story", "question")
QA = Classify(input=INPUTS, target="answer")  # the objective: answer logits vs the answer id

BabiSize = Literal["10k", "1k"]


Tasks = int | list[int] | str  # 3, [1, 2, 5] (--set tasks=1,2,5) or "all"


def parse_tasks(tasks: Tasks | tuple[int, ...]) -> list[int]:
    """The task numbers `tasks` names, sorted: "all" -> 1..20, 3 -> [3], [5, 1] -> [1, 5]."""
    count = len(babi.TASKS)
    if isinstance(tasks, str):
        if tasks.strip().lower() != "all":
            raise ConfigError(f"tasks must be 'all', a task number or a list; got {tasks!r}")
        return list(range(1, count + 1))
    numbers = [tasks] if isinstance(tasks, int) else list(tasks)
    bad = [
        t for t in numbers if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= count
    ]
    if bad or not numbers:
        hint = (
            "; write several as a list: tasks=1,2,3"
            if any(isinstance(t, int) and t < 0 for t in bad)
            else ""
        )
        raise ConfigError(f"bAbI tasks are 1..{count}; got {tasks!r}{hint}")
    return sorted(set(numbers))


@dataclass
class BabiData:
    """Which bAbI tasks, which training size, and how they are split."""

    tasks: Tasks = 1  # a task number, a list (tasks=1,2,5) or 'all' (1..20)
    size: BabiSize = "10k"  # training questions per task: 10k or 1k (the test set is 1,000)
    fallback_1k: bool = True  # a task missing at 10k (task 3 here) trains on 1k, stated
    max_memories: int = 50  # most recent sentences kept per story (the paper's 50)
    val_fraction: float = 0.1  # training stories held out for selection, in (0, 1)
    split_seed: int = 0  # seed of the hold-out (the same for every seed)

    def validate(self) -> None:
        parse_tasks(self.tasks)
        require(self.max_memories >= 1, f"max_memories must be >= 1; got {self.max_memories}")
        require(
            0 < self.val_fraction < 1, f"val_fraction must be in (0, 1); got {self.val_fraction}"
        )


@dataclass(eq=False)
class BabiTask:
    """One task's encoded splits, with the vocabulary and shape they were encoded with."""

    task: int
    size: str  # the training size it really has (task 3 at 10k falls back to 1k here)
    vocab: babi.Vocabulary
    shape: babi.Shape
    train: Fields
    val: Fields
    test: Fields
    test_questions: list[babi.Question]  # for the attention figure's sentences

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return self.shape.memories, self.shape.words, self.shape.question_words


def babi_source(ctx: RunContext) -> Path:
    """The verified release: the tarball, or the folder holding an extracted tasks_1-20_v1-2/."""
    files = ctx.data_store().locate_files("babi")
    tarball = next((p for name, p in files.items() if name.endswith(".tar.gz")), None)
    if tarball is not None:
        return tarball
    marker = next(iter(files.values()))  # tasks_1-20_v1-2/en/qa1_..._train.txt
    return marker.parents[2]


def task_sizes(source: Path, tasks: Sequence[int], size: str, fallback_1k: bool) -> dict[int, str]:
    """The training size each task uses: `size`, or 1k where 10k is missing and allowed."""
    sizes = {}
    for t in tasks:
        if babi.has_task(source, t, size):
            sizes[t] = size
        elif size == "10k" and fallback_1k and babi.has_task(source, t, "1k"):
            sizes[t] = "1k"
        else:
            train_file = babi.task_file(t, size, "train")
            raise DataNotFoundError(
                f"bAbI task {t} at {size} is missing ({train_file} is not in {source.name}); "
                f"use --set size=1k or fallback_1k=true"
            )
    return sizes


def load_babi(cfg: BabiData, ctx: RunContext, *, joint: bool = False) -> list[BabiTask]:
    """Every task of `cfg.tasks`, split and encoded; one vocabulary and shape when `joint`."""
    source = babi_source(ctx)
    tasks = parse_tasks(cfg.tasks)
    sizes = task_sizes(source, tasks, cfg.size, cfg.fallback_1k)
    raw = {}
    for t in tasks:
        read = babi.read_task(source, t, sizes[t])
        train_q, val_q = babi.story_holdout(read["train"], cfg.val_fraction, cfg.split_seed)
        raw[t] = (train_q, val_q, read["test"])
    vocab: babi.Vocabulary | None = None
    shape: babi.Shape | None = None
    if joint:
        vocab = babi.Vocabulary.build(q for train_q, _, _ in raw.values() for q in train_q)
        shape = _shape([q for parts in raw.values() for split in parts for q in split], cfg)
    out = []
    for t, (train_q, val_q, test_q) in raw.items():
        v = vocab or babi.Vocabulary.build(train_q)
        s = shape or _shape([*train_q, *val_q, *test_q], cfg)
        train, val, test = (babi.encode(qs, v, s, task=t) for qs in (train_q, val_q, test_q))
        out.append(BabiTask(t, sizes[t], v, s, train, val, test, test_q))
    return out


def _shape(questions: Sequence[babi.Question], cfg: BabiData) -> babi.Shape:
    return babi.Shape.fit(questions, cfg.max_memories)


def concat(parts: Sequence[Fields]) -> Fields:
    """The fields of several tasks as one split (joint training)."""
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def shrink(fields: Fields, n: int) -> Fields:
    """The first `n` questions (smoke runs)."""
    return {k: v[:n] for k, v in fields.items()}


class LinearStart(Callback):
    """Linear start (Sukhbaatar et al. 2015): train with `model.linear = True` (no softmax over
    the memories) until validation loss stops falling for `patience` epochs, or for at most
    `max_epochs`; then re-insert the softmax for the rest of training."""

    def __init__(self, patience: int = 2, max_epochs: int = 20) -> None:
        self.patience, self.max_epochs = patience, max_epochs
        self.active, self.best, self.bad, self.ended_after = True, float("inf"), 0, 0

    def on_train_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        setattr(model, "linear", self.active)  # noqa: B010 (a plain attribute, not a Module)

    def on_epoch_end(self, model: nn.Module, row: Mapping[str, float]) -> str | None:
        if not self.active:
            return None
        loss = float(row.get("val_loss", float("nan")))
        if loss < self.best:
            self.best, self.bad = loss, 0
        else:
            self.bad += 1
        if self.bad >= self.patience or int(row["epoch"]) >= self.max_epochs:
            self.active, self.ended_after = False, int(row["epoch"])
            setattr(model, "linear", False)  # noqa: B010
        return None

    def state_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "best": self.best,
            "bad": self.bad,
            "ended": self.ended_after,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.active, self.best, self.bad = state["active"], state["best"], state["bad"]
        self.ended_after = state["ended"]


def qa_validator(
    val: Fields, batch_size: int, *, by_task: bool = False
) -> Callable[[nn.Module], dict[str, float]]:
    """val_loss and val_acc (per task too when `by_task`, for joint training).

    While a model trains without its softmax (`linear` start) the accuracy is logged as
    `val_acc_linear` and `val_acc` is NaN, so the best epoch is only chosen among epochs of
    the model that will be tested.
    """

    def run(model: nn.Module) -> dict[str, float]:
        logits = predict_logits(model, [val[k] for k in INPUTS], batch_size)
        stats = classification_loss_acc(logits, val["answer"])
        linear = bool(getattr(model, "linear", False))
        row = {"val_loss": stats["loss"], "val_acc_linear" if linear else "val_acc": stats["acc"]}
        if linear:
            row["val_acc"] = float("nan")
        if by_task:
            hits = logits.argmax(1) == val["answer"]
            for t in val["task"].unique().tolist():
                row[f"val_acc_task{t}"] = hits[val["task"] == t].float().mean().item()
        return row

    return run


def train_qa(
    model: nn.Module,
    train_fields: Fields,
    val_fields: Fields,
    train_cfg: TrainConfig,
    ctx: RunContext,
    *,
    callbacks: Sequence[Callback] = (),
    name: str = "",
    by_task: bool = False,
    after_epoch: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Fit `model` on shuffled batches of `train_fields`, selecting on `val_fields`."""
    fields = {k: train_fields[k] for k in (*INPUTS, "answer")}
    sampler = ShuffleSampler(int(fields["answer"].shape[0]), train_cfg.batch_size, seed=ctx.seed)
    return train(
        model,
        Batches(fields, sampler),
        train_cfg,
        ctx,
        objective=QA,
        validate=qa_validator(val_fields, train_cfg.eval_batch_size, by_task=by_task),
        callbacks=callbacks,
        name=name,
        log_history=not name,
        after_epoch=after_epoch,
        unit="q",
    )


def answer_logits(
    model: nn.Module, fields: Fields, train_cfg: TrainConfig, ctx: RunContext
) -> torch.Tensor:
    """Answer logits (N, V) of every question in `fields` (eval mode, the run's precision)."""
    amp = precision_dtype(train_cfg, ctx)
    return predict_logits(model, [fields[k] for k in INPUTS], train_cfg.eval_batch_size, amp)
