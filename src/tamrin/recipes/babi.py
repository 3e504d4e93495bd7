"""Memory networks on bAbI question answering (course HW13).

HW13 trained the Keras `babi_memnn` model on task 1 ("Sandra travelled to the kitchen. … Where is
Sandra?") with `relu` where the example has a softmax over the match, reached 0.317 validation
accuracy after 20 epochs and concluded that the model underfits and needs longer training. The
Keras example itself (softmax) claims 98.6 % after 120 epochs; re-run faithfully it reaches
about 95 % (keras#13357).

    babi-seed     the homework's architecture with the softmax restored, beside the homework's
                  relu (`relu_baseline`), on task 1 (10k): both validation curves in one figure
    babi-memn2n   End-To-End Memory Network (Sukhbaatar et al. 2015): K hops, adjacent weight
                  tying, position and temporal encoding, linear start, random time noise; one
                  task, several, or all 20 — each separately, or one model jointly (`joint`)

    tamrin run babi-seed
    tamrin run babi-memn2n --set tasks=all --seeds 3
    tamrin run babi-memn2n --set tasks=all --set size=1k --set joint=true

Validation is a seeded 10 % of the training *stories*; the vocabulary comes from the training
split only; the test split is scored once, at the end. Answers are chosen among the words that
answer a training question. The shared copy of the release lacks the 10k training file of task
3: at 10k, task 3 trains on its 1k file (`fallback_1k`), and the report says so.

Reference: Sukhbaatar, Szlam, Weston & Fergus 2015, "End-To-End Memory Networks" (Table 1:
PE LS RN, 3 hops; 10k joint mean error 7.5 %, 1k joint 12.4 %); Weston et al. 2015, "Towards
AI-complete question answering: a set of prerequisite toy tasks" (bAbI; a task fails above 5 %).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tamrin.config import require, to_dict
from tamrin.data import babi
from tamrin.eval.figures import LinesInfo
from tamrin.eval.memory_figures import attention_examples
from tamrin.models import build_model
from tamrin.models.memnet import HomeworkMemNetConfig, MemN2NConfig
from tamrin.registry import HomeworkFigure, RunContext, recipe
from tamrin.tasks.question_answering import (
    BabiData,
    BabiTask,
    Fields,
    LinearStart,
    answer_logits,
    concat,
    load_babi,
    shrink,
    train_qa,
)
from tamrin.tasks.training import log_model
from tamrin.train.inference import predict_logits
from tamrin.train.optim import TrainConfig

FAILED = 0.05  # a task fails when its test error is above 5 % (Weston et al.)
# The paper's Table 1, MemN2N PE LS RN joint, 3 hops, test error (%) on 1k, tasks 1..20
PAPER_1K_ERROR = (
    0.0, 11.4, 21.9, 13.4, 14.4, 2.8, 18.3, 9.3, 1.9, 6.5,
    0.3, 0.1, 0.2, 6.9, 0.0, 2.7, 40.4, 9.4, 88.0, 0.0,
)  # fmt: skip
PAPER_MEAN = {"10k": (7.5, 6), "1k": (12.4, 11)}  # joint mean error (%), failed tasks
TASK_COLUMNS = ("train_loss", "val_acc", "seconds")  # history.csv columns per task (several)
HOMEWORK = HomeworkFigure(
    "0.317 validation accuracy on task 1 after 20 epochs (relu instead of softmax)",
    0.317,
    "test.accuracy",
)


# ------------------------------------------------------------------------------- configs


def _memn2n_train() -> TrainConfig:
    """Adam (the paper: SGD 0.01 halved every 25 epochs) with a cosine decay over 60 epochs,
    batch 32, the paper's gradient clipping; 20 epochs left most tasks still improving."""
    return TrainConfig(
        epochs=60,
        batch_size=32,
        optimizer="adam",
        lr=0.005,
        weight_decay=0.0,
        scheduler="cosine",
        patience=15,  # counts the linear-start epochs too (their val_acc is not selectable)
        grad_clip=40.0,  # the paper clips the gradient norm at 40
        channels_last=False,
        eval_batch_size=2048,
    )


@dataclass
class MemN2NRunConfig(BabiData):
    """End-To-End Memory Networks on bAbI: tasks, model, linear start and training."""

    joint: bool = False  # one model (one vocabulary) for every task instead of one per task
    model: MemN2NConfig = field(default_factory=MemN2NConfig)
    linear_start: bool = True  # LS: no softmax over memories until val loss stops falling
    ls_patience: int = 2  # LS ends after this many epochs without a lower val loss
    ls_max_epochs: int = 10  # ... or after this many epochs
    restarts: int = 3  # tries per task (separate training) while val acc < restart_below
    restart_below: float = 0.95  # a try this good on validation ends the task's restarts
    examples: int = 3  # test questions whose attention per hop the report draws
    train: TrainConfig = field(default_factory=_memn2n_train)

    def validate(self) -> None:
        super().validate()
        require(self.ls_patience >= 1, f"ls_patience must be >= 1; got {self.ls_patience}")
        require(self.ls_max_epochs >= 1, f"ls_max_epochs must be >= 1; got {self.ls_max_epochs}")
        require(self.examples >= 0, f"examples must be >= 0; got {self.examples}")
        require(self.restarts >= 1, f"restarts must be >= 1; got {self.restarts}")
        require(
            0 < self.restart_below <= 1,
            f"restart_below must be in (0, 1]; got {self.restart_below}",
        )


def _homework_train() -> TrainConfig:
    """Adam at 0.01 with one cycle, batches of 64, 30 epochs (and dropout 0.1, not 0.3): in a
    short sweep on task 1's validation split these reached 0.99 in under 30 epochs, where the
    Keras example's RMSprop at 1e-3, batch 32, needs its 120 (see the README for the measured
    3-seed figures and benchmarks/bench_babi.py for the example itself)."""
    return TrainConfig(
        epochs=30,
        batch_size=64,
        optimizer="adam",
        lr=0.01,
        weight_decay=0.0,
        scheduler="onecycle",
        warmup=0.1,
        channels_last=False,
        eval_batch_size=2048,
    )


@dataclass
class BabiSeedConfig(BabiData):
    """HW13's Keras memory network with the softmax restored (and the relu run beside it)."""

    model: HomeworkMemNetConfig = field(default_factory=lambda: HomeworkMemNetConfig(dropout=0.1))
    relu_baseline: bool = True  # also train the homework's relu match, for the curves
    train: TrainConfig = field(default_factory=_homework_train)


def babi_smoke(cfg: Any) -> Any:
    """The same code path in seconds: 2 epochs of 4 batches, a narrow model."""
    cfg.train.epochs = 2
    cfg.train.max_batches = 4
    cfg.model = dataclasses.replace(cfg.model, dim=8)
    if isinstance(cfg, MemN2NRunConfig):
        cfg.ls_max_epochs, cfg.restarts = 1, 2
    return cfg


# ------------------------------------------------------------------------------- scoring


def answer_words(tasks: list[BabiTask]) -> list[str]:
    """Every word that answers a training question of these tasks (the candidate answers)."""
    return sorted({t.vocab.words[int(a)] for t in tasks for a in t.train["answer"].unique()})


def candidate_proba(logits: torch.Tensor, task: BabiTask, answers: list[str]) -> torch.Tensor:
    """(N, len(answers)) probabilities over the candidate answers (softmax over those columns)."""
    index = task.vocab.index
    cols = torch.tensor([index.get(a, babi.UNK) for a in answers])
    known = torch.tensor([a in index for a in answers])
    restricted = logits[:, cols].masked_fill(~known, float("-inf"))
    return restricted.softmax(1)


def answer_targets(task: BabiTask, answers: list[str], fields: Fields) -> torch.Tensor:
    """The index in `answers` of each question's answer (-1 for one no training question had)."""
    pos = {a: i for i, a in enumerate(answers)}
    return torch.tensor([pos.get(task.vocab.words[int(a)], -1) for a in fields["answer"]])


def test_answers(
    model: nn.Module, task: BabiTask, answers: list[str], train_cfg: TrainConfig, ctx: RunContext
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The test split's (probabilities over `answers`, answer indices, accuracy)."""
    p = candidate_proba(answer_logits(model, task.test, train_cfg, ctx), task, answers)
    y = answer_targets(task, answers, task.test)
    return p, y, (p.argmax(1) == y).float().mean().item()


def support_hit_rate(attention: torch.Tensor, support: torch.Tensor) -> float:
    """Fraction of questions (with a supporting fact in memory) whose most-attended sentence
    in the first hop is a supporting fact."""
    has = support.any(1)
    if not has.any():
        return float("nan")
    top = attention[:, 0].argmax(1)
    return support[torch.arange(len(top)), top][has].float().mean().item()


def hop_attention(model: nn.Module, fields: Fields, batch_size: int = 2048) -> torch.Tensor:
    """(N, K, M) attention per hop over every question of `fields`."""
    stories = [fields["story"], fields["question"]]
    return predict_logits(model, stories, batch_size, method="attention")


# --------------------------------------------------------------------------------- recipes


def _memn2n_model(cfg: MemN2NRunConfig, task: BabiTask) -> nn.Module:
    return build_model("memn2n", cfg.model, in_shape=task.in_shape, out_dim=len(task.vocab))


def _callbacks(cfg: MemN2NRunConfig) -> list[LinearStart]:
    return [LinearStart(cfg.ls_patience, cfg.ls_max_epochs)] if cfg.linear_start else []


def _record(
    ctx: RunContext, name: str, model_cfg: Any, task: BabiTask, cfg: Any, fit: str = ""
) -> None:
    """model.json: how `tamrin.load(RUN).model()` rebuilds the network, and its vocabulary."""
    ctx.log_inference(
        {
            "format": 1,
            "model": name,
            "model_config": to_dict(model_cfg),
            "task": "qa",  # forward(story (N, M, W), question (N, Q)) -> (N, V) answer logits
            "in_shape": list(task.in_shape),
            "out_dim": len(task.vocab),
            "classes": list(task.vocab.words),
            "checkpoints": f"checkpoints/{fit}" if fit else "checkpoints",
            "weights": "best" if cfg.train.restore_best else "last",
        }
    )


def _smoke_data(tasks: list[BabiTask], ctx: RunContext) -> None:
    if ctx.smoke:
        for t in tasks:
            t.val, t.test = shrink(t.val, 64), shrink(t.test, 64)


@recipe(
    "babi-memn2n",
    course="HW13",
    summary="End-To-End Memory Networks on bAbI: 1 or all 20 tasks, separately or jointly (HW13)",
    config=MemN2NRunConfig,
    data=("babi",),
    needs=lambda cfg: ("babi",),  # the release is found and verified before the run folder
    homework=HOMEWORK,
    smoke=babi_smoke,
    headline=("test.accuracy", "tasks_summary.mean_error", "tasks_summary.failed"),
)
def babi_memn2n(cfg: MemN2NRunConfig, ctx: RunContext) -> None:
    """Train (one model per task, or one joint model), select on val, score each test once."""
    tasks = load_babi(cfg, ctx, joint=cfg.joint)
    _smoke_data(tasks, ctx)
    models: dict[int, nn.Module] = {}
    fits: dict[int, dict[str, Any]] = {}
    if cfg.joint or len(tasks) == 1:
        model = _memn2n_model(cfg, tasks[0])
        log_model(ctx, model, arch="memn2n", hops=cfg.model.hops, joint=cfg.joint)
        _record(ctx, "memn2n", cfg.model, tasks[0], cfg)
        ls = _callbacks(cfg)
        result = train_qa(
            model,
            concat([t.train for t in tasks]),
            concat([t.val for t in tasks]),
            cfg.train,
            ctx,
            callbacks=ls,
            by_task=cfg.joint,
        )
        facts = _fit_facts(result, ls)  # one object: the tasks share this fit
        for t in tasks:
            models[t.task], fits[t.task] = model, facts
    else:
        merged: dict[int, dict[str, float]] = {}
        for t in tasks:
            models[t.task], fits[t.task] = _train_task(
                ctx,
                t,
                cfg.train,
                merged,
                functools.partial(_memn2n_model, cfg, t),
                functools.partial(_callbacks, cfg),
                restarts=cfg.restarts,
                restart_below=cfg.restart_below,
            )
        log_model(ctx, models[tasks[0].task], arch="memn2n", hops=cfg.model.hops, joint=False)
    _score_tasks(cfg, ctx, tasks, models, fits)


def _train_task(
    ctx: RunContext,
    task: BabiTask,
    train_cfg: TrainConfig,
    merged: dict[int, dict[str, float]],
    make_model: Callable[[], nn.Module],
    make_callbacks: Callable[[], list[LinearStart]] = list,
    *,
    restarts: int = 1,
    restart_below: float = 1.0,
) -> tuple[nn.Module, dict[str, Any]]:
    """One task's model, one of several in a run: up to `restarts` fresh initializations while
    the best validation accuracy stays below `restart_below`, the best on validation kept (the
    paper restarts 10 times and keeps the lowest training error). Each try is a named fit
    (resumable); its columns join the run's one history.csv row per epoch."""
    best: tuple[float, nn.Module, dict[str, Any]] | None = None
    tries = []
    for attempt in range(restarts):
        suffix = f"_try{attempt + 1}" if attempt else ""
        model, callbacks = make_model(), make_callbacks()

        column = f"task{task.task}{suffix}"

        def log_row(row: dict[str, float], column: str = column) -> None:
            ctx.log_epoch(_merge(merged, row, column))

        result = train_qa(
            model,
            task.train,
            task.val,
            train_cfg,
            ctx,
            callbacks=callbacks,
            name=f"task{task.task}{suffix.replace('_', '-')}",
            after_epoch=log_row,
        )
        for row in result.history:  # all of it: a resumed run's earlier tasks log no epochs
            ctx.log_epoch(_merge(merged, row, column))
        facts = _fit_facts(result, callbacks)
        tries.append(facts)
        value = facts["val_acc"] if facts["val_acc"] is not None else float("nan")
        if best is None or value > best[0]:
            best = (value, model, facts)
        if best[0] >= restart_below:
            break
    assert best is not None
    chosen = tries.index(best[2])
    return best[1], {
        **best[2],
        "tries": len(tries),
        "chosen_try": chosen + 1,
        "train_time_s": sum(f["train_time_s"] for f in tries),  # every try is the task's cost
        "val_acc_tries": [f["val_acc"] for f in tries],
    }


def _merge(merged: dict[int, dict[str, float]], row: dict[str, float], column: str) -> dict:
    """The run's history row of `row`'s epoch with this fit's columns (`val_acc_task7`) added."""
    epoch = int(row["epoch"])
    merged.setdefault(epoch, {"epoch": epoch}).update(
        {f"{k}_{column}": row[k] for k in TASK_COLUMNS if k in row}
    )
    return merged[epoch]


def _fit_facts(result: Any, ls: list[LinearStart]) -> dict[str, Any]:
    return {
        "epochs": result.epochs_run,
        "best_epoch": result.best["epoch"],
        "val_acc": result.best["value"],
        "train_time_s": result.train_time_s,
        "linear_start_epochs": ls[0].ended_after if ls else 0,
    }


def _score_tasks(
    cfg: Any,
    ctx: RunContext,
    tasks: list[BabiTask],
    models: dict[int, nn.Module],
    fits: dict[int, dict[str, Any]],
) -> None:
    """The one test pass: per-task accuracy, support hits, predictions, table, figures."""
    if ctx.tuning_trial:
        return
    answers = answer_words(tasks)
    proba: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
    per_task: dict[str, dict[str, Any]] = {}
    examples: list[dict[str, Any]] = []
    for t in tasks:
        model = models[t.task]
        p, y, acc = test_answers(model, t, answers, cfg.train, ctx)
        proba.append(p)
        targets.append(y)
        facts: dict[str, Any] = {
            "name": babi.TASKS[t.task - 1],
            "size": t.size,
            "accuracy": acc,
            "error": 1 - acc,
            **fits[t.task],
        }
        if hasattr(model, "attention") and isinstance(cfg, MemN2NRunConfig):
            att = hop_attention(model, t.test)
            facts["support_top1_hop1"] = support_hit_rate(att, t.test["support"])
            if len(examples) < cfg.examples:  # one per task for several tasks
                take = cfg.examples if len(tasks) == 1 else 1
                examples += attention_examples(t, att, p.argmax(1), answers, take)
        per_task[str(t.task)] = facts
    y_all = torch.cat(targets)
    if (y_all < 0).any():
        answers = [*answers, "<unseen>"]
        proba = [torch.cat([p, torch.zeros(len(p), 1)], 1) for p in proba]
        y_all = torch.where(y_all < 0, len(answers) - 1, y_all)
    ctx.log_predictions(y_all, torch.cat(proba), answers)
    # a joint model's one fit is every task's: its time counts once
    train_time = sum({id(f): f["train_time_s"] for f in fits.values()}.values())
    _tasks_report(cfg, ctx, tasks, per_task, train_time)
    if examples:
        ctx.log_plot(
            "attention",
            "memory-attention",
            {"examples": examples},
            "Attention over the memory sentences per hop for test questions (oldest sentence "
            "on top; ★ marks the supporting facts).",
        )


def _tasks_report(
    cfg: Any,
    ctx: RunContext,
    tasks: list[BabiTask],
    per_task: dict[str, dict[str, Any]],
    train_time_s: float,
) -> None:
    errors = [per_task[str(t.task)]["error"] for t in tasks]
    failed = sum(e > FAILED for e in errors)
    summary: dict[str, Any] = {
        "tasks": len(tasks),
        "mean_error": float(np.mean(errors)),
        "failed": int(failed),
        "train_time_s": float(train_time_s),
    }
    hits = [v["support_top1_hop1"] for v in per_task.values() if "support_top1_hop1" in v]
    if hits:
        summary["support_top1_hop1"] = float(np.nanmean(hits))
    ctx.log_metrics("tasks", per_task)
    ctx.log_metrics("tasks_summary", summary)
    rows = []
    for t in tasks:
        f = per_task[str(t.task)]
        hit = f.get("support_top1_hop1")
        rows.append(
            [
                t.task,
                f["name"],
                f["size"],
                f["val_acc"],
                f["accuracy"],
                f"{100 * f['error']:.1f}",
                f"{PAPER_1K_ERROR[t.task - 1]:.1f}",
                f"{hit:.3f}" if hit is not None else "—",
            ]
        )
    ctx.log_table(
        "tasks",
        [
            "task",
            "name",
            "train",
            "val acc",
            "test acc",
            "test error %",
            "paper 1k joint error %",
            "hop-1 on support",
        ],
        rows,
        "Per task: validation accuracy of the selected epoch, test accuracy and error (scored "
        "once), the paper's error (MemN2N PE LS RN joint, 3 hops, 1k; Table 1) and the "
        "fraction of test questions whose most-attended sentence in the first hop is a "
        "supporting fact.",
    )
    mean, fails = PAPER_MEAN[cfg.size]
    ctx.log_note(
        f"Mean test error {100 * summary['mean_error']:.1f} % over {len(tasks)} task(s), "
        f"{failed} failed (error > 5 %); the paper: {mean} % and {fails} failed over 20 tasks "
        f"({cfg.size}, joint)."
    )
    fallback = [t.task for t in tasks if t.size != cfg.size]
    if fallback:
        ctx.log_note(
            f"Task(s) {', '.join(map(str, fallback))} trained on the 1k set: the 10k training "
            f"file is not in this copy of the release (en-10k/qa3 train is missing here)."
        )


@recipe(
    "babi-seed",
    course="HW13",
    summary="HW13's Keras memory network on bAbI task 1: softmax restored vs the homework's relu",
    config=BabiSeedConfig,
    data=("babi",),
    needs=lambda cfg: ("babi",),  # the release is found and verified before the run folder
    homework=HOMEWORK,
    smoke=babi_smoke,
)
def babi_seed(cfg: BabiSeedConfig, ctx: RunContext) -> None:
    """One task: the softmax model is the run's model and the relu one trains beside it for the
    curves. Several tasks: one softmax model per task (a named fit each), scored as babi-memn2n."""
    tasks = load_babi(cfg, ctx)
    _smoke_data(tasks, ctx)

    def homework(task: BabiTask, model_cfg: HomeworkMemNetConfig) -> nn.Module:
        return build_model(
            "memnet-homework", model_cfg, in_shape=task.in_shape, out_dim=len(task.vocab)
        )

    if len(tasks) > 1:
        merged: dict[int, dict[str, float]] = {}
        models, fits = {}, {}
        for t in tasks:
            models[t.task], fits[t.task] = _train_task(
                ctx, t, cfg.train, merged, functools.partial(homework, t, cfg.model)
            )
        log_model(ctx, models[tasks[0].task], arch="memnet-homework", match=cfg.model.match)
        _score_tasks(cfg, ctx, tasks, models, fits)
        return
    task = tasks[0]
    variants = {"softmax": cfg.model}
    if cfg.relu_baseline:
        variants["relu"] = dataclasses.replace(cfg.model, match="relu")
    curves: dict[str, list[float]] = {}
    trained: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
    for variant, model_cfg in variants.items():
        model = homework(task, model_cfg)
        name = "" if variant == "softmax" else variant
        if not name:
            log_model(ctx, model, arch="memnet-homework", match=model_cfg.match)
            _record(ctx, "memnet-homework", model_cfg, task, cfg)
        result = train_qa(model, task.train, task.val, cfg.train, ctx, name=name)
        trained[variant] = (model, _fit_facts(result, []))
        curves[variant] = [r.get("val_acc", float("nan")) for r in result.history]
    epochs = max(len(c) for c in curves.values())
    ctx.log_plot(
        "match",
        "lines",
        LinesInfo(
            list(range(1, epochs + 1)),
            {
                f"val acc, match = {k}": v + [float("nan")] * (epochs - len(v))
                for k, v in curves.items()
            },
            xlabel="epoch",
            ylabel="validation accuracy",
            title=f"task {task.task} ({task.size}): softmax vs the homework's relu",
        ),
        "Validation accuracy per epoch of the homework's architecture with the Keras example's "
        "softmax over the match and with the homework's relu.",
    )
    softmax, softmax_fit = trained["softmax"]
    _score_tasks(cfg, ctx, tasks, {task.task: softmax}, {task.task: softmax_fit})
    if "relu" in trained:
        relu, relu_fit = trained["relu"]
        _, _, acc = test_answers(relu, task, answer_words(tasks), cfg.train, ctx)
        ctx.log_metrics("relu", {"test_accuracy": acc, **relu_fit})
        ctx.log_note(
            f"The homework's relu match: test accuracy {acc:.3f} "
            f"(best val {relu_fit['val_acc']:.3f}); with the softmax: see the test metrics."
        )
