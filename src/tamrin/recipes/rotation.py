"""Rotation self-supervision with few labels (course HW6, HW13).

With 200 labelled CIFAR-10 images, HW13 reached ~10 % test accuracy supervised (its evaluation
had a bug: `x_test = x_train / 255.0`), 32 % after pretraining a core to predict the rotation of
the unlabelled images, and HW6 16 %; HW6's joint two-head training stayed at 0.100 val accuracy
for every loss weighting. RotNet (Gidaris et al. 2018) reports 64.6 % with 20 labels per class
against 33.7 % supervised.

    rotation-ssl        supervised baseline, rotation pretraining, linear probe, k-NN probe and
                        fine-tuning, in one report (the pretrained core is cached by settings)
    rotation-multitask  one core, a class head and a rotation head trained jointly on batches of
                        labelled + unlabelled images; the class loss masked to labelled images
                        (or HW6's zero-filled targets, `class_targets=zero-filled`)
    label-efficiency    accuracy against the number of labels, from scratch and fine-tuned from
                        the cached core, and the utility U(n) = n̂/n − 1 (Newell & Deng 2020)

    tamrin run rotation-ssl --seeds 3
    tamrin run study-rotation-weights

References: Gidaris, Singh & Komodakis 2018, "Unsupervised representation learning by predicting
image rotations"; Newell & Deng 2020, "How useful is self-supervised pretraining for visual
tasks?"; Kumar et al. 2022, "Fine-tuning can distort pretrained features" (probe, then tune).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from tamrin.config import require
from tamrin.data.augment import for_dataset, image_augment
from tamrin.data.batches import Batches, MixSampler
from tamrin.data.rotation import RotationBatches
from tamrin.eval.figures import BarsInfo, LinesInfo, history_panels
from tamrin.eval.metrics import classification_metrics
from tamrin.eval.utility import utility
from tamrin.registry import HomeworkFigure, RunContext, StudySpec, Variant, recipe, register_study
from tamrin.tasks.classification import load_splits, outputs, record_model
from tamrin.tasks.few_labels import (
    FewLabelConfig,
    FewLabels,
    KnnProbe,
    build_core,
    core_config,
    few_label_split,
    pretrain_rotation,
    rotation_validator,
    throughput,
    train_stage,
)
from tamrin.tasks.training import log_model, precision_dtype, train
from tamrin.train.fit import classification_validator
from tamrin.train.freeze import freeze, unfreeze
from tamrin.train.objectives import Head, MultiTask
from tamrin.train.optim import TrainConfig

_DATA = ("cifar10", "fashion-mnist", "mnist")
CACHED = " — the core came from the cache, trained by an earlier run with the same settings"
CACHED_TIME = " (core from the cache: its time is the earlier run's)"
SELECTION_NOTE = (
    "Nothing is selected on val: each few-label stage keeps its last epoch under fixed settings "
    "(a 200-label experiment has no 5,000-image labelled val split to choose with); val only "
    "draws the curves."
)
SHARED_CORE_NOTE = (
    "The rotation-pretrained core depends on pretrain_seed ({seed}), not on the run's seed: the "
    "seeds of one experiment share one cached core, so their spread is the labelled sample's "
    "and the downstream training's, not the pretraining's."
)
HOMEWORK_NOTE = (
    "HW13 evaluated on `x_test = x_train / 255.0` (the training images, relabelled with the test "
    "labels), so its ~10 % supervised figure measured nothing; here the test split is scored "
    "once, at the end, for every stage."
)


def _stage_train(epochs: int, lr: float, weight_decay: float = 5e-4) -> TrainConfig:
    # few-label stages keep the last epoch: nothing is selected on val (see tasks.few_labels).
    # Fine-tuning is short and gentle (6 epochs, peak lr 0.005): with 20 epochs at 0.01 the val
    # accuracy of two CIFAR-10 seeds peaked within 5 epochs and then fell by 1.5-2.5 points.
    return TrainConfig(
        epochs=epochs, batch_size=128, lr=lr, weight_decay=weight_decay, restore_best=False
    )


@dataclass
class RotationSSLConfig(FewLabelConfig):
    """Five stages on one labelled subset: scratch, pretrain, linear probe, k-NN, fine-tune."""

    supervised: TrainConfig = field(default_factory=lambda: _stage_train(20, 0.05))
    probe: TrainConfig = field(default_factory=lambda: _stage_train(10, 0.05))
    finetune: TrainConfig = field(default_factory=lambda: _stage_train(6, 0.005))
    knn_k: int = 10  # neighbours of the k-NN probe (capped at the number of labels)

    def validate(self) -> None:
        super().validate()
        require(self.knn_k >= 1, f"knn_k must be >= 1; got {self.knn_k}")


def few_label_smoke(cfg: Any) -> Any:
    """Seconds: 512 train images, 20 labels, 1-2 epochs of a few batches, an 8-wide core."""
    cfg.train_subset, cfg.test_subset, cfg.labels = 512, 256, 20
    cfg.model.width, cfg.model.dense = 8, 32
    cfg.batches_per_epoch = 3
    if hasattr(cfg, "labelled_per_batch"):
        cfg.labelled_per_batch = 8
    if hasattr(cfg, "counts"):
        cfg.counts = [20, 50, 0]
    for f in dataclasses.fields(cfg):  # every stage: pretrain, scratch, probe, finetune, train
        stage = getattr(cfg, f.name)
        if isinstance(stage, TrainConfig):
            stage.epochs, stage.max_batches, stage.batch_size = 2, 3, 32
    return cfg


def _pretrain_report(ctx: RunContext, info: dict[str, Any]) -> None:
    """The pretraining's numbers and curves (also for a core taken from the cache)."""
    history = info.get("history") or []
    ctx.log_metrics(
        "pretrain",
        {k: info.get(k) for k in ("cached", "key", "train_time_s", "images_per_s", "epochs_run")}
        | {"rotation_val_acc": info.get("rotation_val_acc")},
    )
    if history:
        ctx.log_plot(
            "pretrain_curves",
            "panels",
            history_panels(
                history,
                [
                    ("rotation loss", ["train_loss", "val_loss"]),
                    ("rotation accuracy", ["train_rotation_acc", "val_acc"]),
                ],
            ),
            "Rotation pretraining: 4-way rotation loss and accuracy (val: every val image in "
            "all four rotations)"
            + (" — from the cache, trained by an earlier run" if info.get("cached") else ""),
        )


def _test_split(splits: Any, ctx: RunContext) -> tuple[torch.Tensor, torch.Tensor] | None:
    if ctx.tuning_trial:
        return None
    return splits.take_test()


def _proba(model: Any, x: torch.Tensor, train_cfg: TrainConfig, ctx: RunContext) -> np.ndarray:
    """Class probabilities (N, K) of `model` on `x` (eval mode, the run's precision)."""
    return torch.softmax(outputs(model, x, train_cfg, ctx), 1).numpy()


def _score(y: torch.Tensor, proba: np.ndarray, classes: list[str]) -> dict[str, float]:
    m = classification_metrics(y.cpu().numpy(), proba, classes)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


STAGES = {  # name: (what the report calls it, what trains)
    "supervised": ("supervised only", "the whole net from random weights, labels only"),
    "linear_probe": ("linear probe", "the class head on the frozen pretrained core"),
    "knn": ("k-NN probe", "nothing: cosine k-NN on the frozen pretrained features"),
    "finetuned": ("fine-tuned", "the whole net, from the pretrained core and the probe's head"),
}


@recipe(
    "rotation-ssl",
    course="HW13",
    summary="Rotation pretraining (RotNet), probes and fine-tuning with 200 labels (HW6/HW13)",
    config=RotationSSLConfig,
    data=_DATA,
    smoke=few_label_smoke,
    homework=HomeworkFigure(
        "32% test accuracy with 200 labels after rotation pretraining (HW13; HW6: 16%)",
        0.32,
        "test.accuracy",
    ),
)
def rotation_ssl(cfg: RotationSSLConfig, ctx: RunContext) -> None:
    """Scratch baseline, rotation pretraining (cached), linear probe, k-NN, fine-tuning."""
    splits = load_splits(cfg, ctx)
    labels = few_label_split(splits, cfg.labels, ctx.seed)
    k = len(splits.classes)
    stages: dict[str, dict[str, Any]] = {}

    scratch = build_core(cfg, splits)
    log_model(ctx, scratch, arch=cfg.core, labels=cfg.labels)
    stages["supervised"] = train_stage(
        scratch, labels, splits, cfg, cfg.supervised, ctx, "supervised"
    )

    net, info = pretrain_rotation(cfg, splits, ctx)
    _pretrain_report(ctx, info)
    knn = KnnProbe(
        net, labels, cfg.knn_k, k, batch_size=cfg.probe.eval_batch_size,
        amp=precision_dtype(cfg.probe, ctx),
    )  # fmt: skip
    stages["knn"] = {"val_acc": knn.accuracy(net, splits.val_x, splits.val_y), "train_time_s": 0.0}

    freeze(net.core)
    stages["linear_probe"] = train_stage(net, labels, splits, cfg, cfg.probe, ctx, "linear-probe")
    probe = build_core(cfg, splits)
    probe.load_state_dict(net.state_dict())  # the linear probe, kept for the test pass
    unfreeze(net.core)
    stages["finetuned"] = train_stage(net, labels, splits, cfg, cfg.finetune, ctx, "")
    record_model(ctx, cfg.core, core_config(cfg), splits, cfg.finetune)

    scored = _test_split(splits, ctx)
    if scored is not None:
        test_x, test_y = scored
        proba = {
            "supervised": _proba(scratch, test_x, cfg.supervised, ctx),
            "linear_probe": _proba(probe, test_x, cfg.probe, ctx),
            "knn": knn.proba(probe, test_x),
            "finetuned": _proba(net, test_x, cfg.finetune, ctx),
        }
        for name, p in proba.items():
            stages[name].update(
                {f"test_{m}": v for m, v in _score(test_y, p, splits.classes).items()}
            )
        ctx.log_predictions(test_y, proba["finetuned"], splits.classes)
    _stages_report(ctx, cfg, stages, info)


def _stages_report(
    ctx: RunContext, cfg: RotationSSLConfig, stages: dict[str, dict[str, Any]], pre: dict[str, Any]
) -> None:
    """metrics.json `stages`, the stage table, bars of test accuracy, val curves."""
    ctx.log_metrics(
        "stages",
        {n: {k: v for k, v in s.items() if k != "history"} for n, s in stages.items()},
    )
    rows = [
        [
            "rotation pretraining",
            "core + rotation head, every train image × 4 rotations, no labels",
            pre.get("rotation_val_acc"),
            None,
            None,
            pre.get("train_time_s"),
            pre.get("images_per_s"),
        ]
    ]
    for name, (title, what) in STAGES.items():
        s = stages[name]
        rows.append(
            [
                title,
                what,
                s.get("val_acc"),
                s.get("test_accuracy"),
                s.get("test_macro_f1"),
                s.get("train_time_s"),
                s.get("images_per_s"),
            ]
        )
    ctx.log_table(
        "stages",
        ["stage", "what trains", "val accuracy (last epoch)", "test accuracy", "test macro F1",
         "train time (s)", "train images/s"],
        rows,
        f"{cfg.labels} labels on {cfg.data}; the pretraining row's val accuracy is rotation "
        f"accuracy{CACHED_TIME if pre.get('cached') else ''}",
    )  # fmt: skip
    if all("test_accuracy" in stages[n] for n in STAGES):
        ctx.log_plot(
            "stage_accuracy",
            "bars",
            BarsInfo(
                [STAGES[n][0] for n in STAGES],
                [stages[n]["test_accuracy"] for n in STAGES],
                ylabel="test accuracy",
                title=f"{cfg.labels} labels, {cfg.data}",
            ),
            "Test accuracy of each stage (one test pass at the end of the run)",
        )
    curves = {STAGES[n][0]: s["history"] for n, s in stages.items() if s.get("history")}
    if curves:
        longest = max(len(h) for h in curves.values())
        ctx.log_plot(
            "stage_curves",
            "lines",
            LinesInfo(
                list(range(1, longest + 1)),
                {
                    t: [r.get("val_acc") for r in h] + [None] * (longest - len(h))
                    for t, h in curves.items()
                },
                xlabel=f"epoch ({cfg.batches_per_epoch} batches)",
                ylabel="val accuracy",
            ),
            "Val accuracy per epoch of each few-label stage (curves only: the last epoch is kept)",
        )
    ctx.log_note(SELECTION_NOTE)
    ctx.log_note(SHARED_CORE_NOTE.format(seed=cfg.pretrain_seed))
    ctx.log_note(HOMEWORK_NOTE)


# ----------------------------------------------------------------------------- multi-task

ClassTargets = Literal["masked", "zero-filled"]


def _multitask_train() -> TrainConfig:
    return TrainConfig(epochs=2, batch_size=128, lr=0.05, restore_best=False)


@dataclass
class MultiTaskConfig(FewLabelConfig):
    """One core, two heads, trained jointly; each batch mixes labelled and unlabelled images."""

    core: str = "hw13-core"  # the homework's core (conv-core: the stronger one)
    class_weight: float = 1.0  # weight of the classification loss
    rotation_weight: float = 1.0  # weight of the rotation loss
    class_targets: ClassTargets = "masked"  # zero-filled: HW6's bug (unlabelled -> class 0)
    labelled_per_batch: int = 32  # labelled images per batch (the rest unlabelled)
    train: TrainConfig = field(default_factory=_multitask_train)

    def validate(self) -> None:
        super().validate()
        require(
            self.class_weight >= 0 and self.rotation_weight >= 0,
            f"loss weights must be >= 0; got {self.class_weight}, {self.rotation_weight}",
        )
        require(
            self.class_weight + self.rotation_weight > 0, "at least one loss weight must be > 0"
        )
        require(
            self.class_targets in ("masked", "zero-filled"),
            f"class_targets must be masked or zero-filled; got {self.class_targets!r}",
        )
        require(
            not self.augment.rot90,
            "augment.rot90 must be false: the rotation head's labels are the turns it applies",
        )
        require(
            1 <= self.labelled_per_batch < self.train.batch_size,
            f"labelled_per_batch must be in [1, train.batch_size); got {self.labelled_per_batch}",
        )


def multitask_batches(
    cfg: MultiTaskConfig, splits: Any, labels: FewLabels, seed: int
) -> RotationBatches:
    """Batches of labelled + unlabelled train images, each in all four rotations.

    Fields: `x`, `rot`, `y` and `labelled` — True only on the upright copy of a labelled image,
    so the class loss sees each labelled image once, the right way up. The unlabelled images'
    labels are replaced by -1 (a leak would fail loudly), or by 0 with `zero-filled`, where
    `labelled` is True for every upright image: HW6's bug, class 0 for every unlabelled image.
    """
    n = splits.train_x.shape[0]
    y = torch.full((n,), -1, dtype=torch.long, device=splits.train_y.device)
    mask = torch.zeros(n, dtype=torch.bool, device=splits.train_y.device)
    lab = torch.from_numpy(labels.labelled).to(y.device)
    y[lab], mask[lab] = splits.train_y[lab], True
    if cfg.class_targets == "zero-filled":
        y[y < 0], mask[:] = 0, True
    sampler = MixSampler(
        torch.from_numpy(labels.labelled),
        torch.from_numpy(labels.unlabelled),
        labelled_per_batch=cfg.labelled_per_batch,
        unlabelled_per_batch=cfg.train.batch_size - cfg.labelled_per_batch,
        seed=seed,
    )
    images = Batches(
        {"x": splits.train_x, "y": y, "labelled": mask},
        sampler,
        augment={"x": image_augment(for_dataset(cfg.augment, cfg.data))},
    )
    return RotationBatches(images, upright=("labelled",))


def multitask_objective(cfg: MultiTaskConfig) -> MultiTask:
    return MultiTask(
        {
            "class": Head("y", weight=cfg.class_weight, mask="labelled"),
            "rotation": Head("rot", weight=cfg.rotation_weight),
        },
        method="heads",
    )


@recipe(
    "rotation-multitask",
    course="HW13",
    summary="Class + rotation heads trained jointly; class loss only on labelled images (HW6/HW13)",
    config=MultiTaskConfig,
    data=_DATA,
    smoke=few_label_smoke,
    homework=HomeworkFigure(
        "0.100 val accuracy for every loss weighting (HW6: unlabelled images with zero-filled "
        "class targets)",
        0.10,
        "test.accuracy",
    ),
)
def rotation_multitask(cfg: MultiTaskConfig, ctx: RunContext) -> None:
    """Joint training of the class head (labelled images) and the rotation head (all images)."""
    splits = load_splits(cfg, ctx)
    labels = few_label_split(splits, cfg.labels, ctx.seed)
    net = build_core(cfg, splits)
    log_model(ctx, net, arch=cfg.core, labels=cfg.labels)
    record_model(ctx, cfg.core, core_config(cfg), splits, cfg.train)
    batches = multitask_batches(cfg, splits, labels, ctx.seed)
    amp = precision_dtype(cfg.train, ctx)
    result = train(
        net,
        batches,  # type: ignore[arg-type]
        cfg.train,
        ctx,
        objective=multitask_objective(cfg),
        validate=classification_validator(
            splits.val_x, splits.val_y, cfg.train.eval_batch_size, amp
        ),
    )
    rotation = rotation_validator(splits.val_x, cfg.train.eval_batch_size, amp)(net)
    ctx.log_metrics(
        "multitask",
        {
            "class_weight": cfg.class_weight,
            "rotation_weight": cfg.rotation_weight,
            "class_targets": cfg.class_targets,
            "val_class_acc": result.history[-1].get("val_acc") if result.history else None,
            "val_rotation_acc": rotation["val_acc"],
            "images_per_s": throughput(batches, cfg.train, result),
        },
    )
    scored = _test_split(splits, ctx)
    if scored is not None:
        test_x, test_y = scored
        ctx.log_predictions(test_y, _proba(net, test_x, cfg.train, ctx), splits.classes)
    if cfg.class_targets == "zero-filled":
        ctx.log_note(
            "class_targets=zero-filled reproduces HW6: every unlabelled image enters the class "
            "loss with target 0, so ~99.6 % of the class targets say 'class 0' and the head "
            "learns to answer 0 for everything — val accuracy 1/K (0.100 on CIFAR-10)."
        )


_WEIGHTS = (  # classification : rotation, HW13's three then HW6's other two (1:1 is in both)
    ("10:1", 10.0, 1.0),
    ("1:10", 1.0, 10.0),
    ("1:1", 1.0, 1.0),
    ("1:5", 1.0, 5.0),
    ("4:1", 4.0, 1.0),
)

register_study(
    StudySpec(
        name="study-rotation-weights",
        summary="Loss weightings of joint class + rotation training with 200 labels (HW6/HW13)",
        recipe="rotation-multitask",
        variants=(
            *(
                Variant(f"{name} masked", {"class_weight": c, "rotation_weight": r})
                for name, c, r in _WEIGHTS
            ),
            Variant(
                "1:1 zero-filled (HW6's bug)",
                {"class_weight": 1.0, "rotation_weight": 1.0, "class_targets": "zero-filled"},
            ),
        ),
        question="HW13 and HW6 trained one core with a class head and a rotation head and "
        "weighted the losses 10:1, 1:10, 1:1 (HW13) and 1:5, 1:1, 4:1 (HW6); HW6's val accuracy "
        "stayed at 0.100 in all three. Which weighting helps the 200-label classifier, and is "
        "0.100 the weighting's fault or the zero-filled class targets'?",
        baseline="1:1 masked",
        metric="test.accuracy",
        metrics=("test.macro_f1", "multitask.val_rotation_acc", "multitask.val_class_acc"),
        curves=("val_acc", "train_class_acc", "train_rotation_acc"),
        seeds=3,
        data=("cifar10",),
    )
)


# ----------------------------------------------------------------------------- label efficiency


COUNTS = (20, 50, 100, 200, 500, 1000, 5000, 0)  # 0: every training label


@dataclass
class LabelEfficiencyConfig(FewLabelConfig):
    """From scratch vs fine-tuned from the cached core, at each label count."""

    counts: list[int] = field(default_factory=lambda: list(COUNTS))  # label counts; 0 = all
    scratch: TrainConfig = field(default_factory=lambda: _stage_train(20, 0.05))
    probe: TrainConfig = field(default_factory=lambda: _stage_train(10, 0.05))
    finetune: TrainConfig = field(default_factory=lambda: _stage_train(6, 0.005))
    min_passes: int = 10  # at least this many passes over the labels (large counts: more batches)
    utility_at: int = 200  # the n whose U(n) is the headline

    def validate(self) -> None:
        super().validate()
        require(
            len(self.counts) >= 2 and all(n == 0 or n >= 10 for n in self.counts),
            f"counts needs >= 2 label counts, each >= 10 (0 = all); got {self.counts}",
        )
        require(self.min_passes >= 1, f"min_passes must be >= 1; got {self.min_passes}")


def _batches_for(cfg: LabelEfficiencyConfig, n: int, train_cfg: TrainConfig) -> int:
    """Batches per epoch at n labels: the configured number, more when n needs more passes."""
    per_epoch = -(-cfg.min_passes * n // (min(train_cfg.batch_size, n) * train_cfg.epochs))
    return max(cfg.batches_per_epoch, per_epoch)


def _count_run(
    cfg: LabelEfficiencyConfig,
    splits: Any,
    n: int,
    pretrained: dict[str, torch.Tensor],
    ctx: RunContext,
) -> dict[str, dict[str, Any]]:
    """Scratch and probe-then-fine-tune at n labels: (model, summary) per arm."""
    labels = few_label_split(splits, n, ctx.seed)
    arms: dict[str, dict[str, Any]] = {}
    scratch = build_core(cfg, splits)
    arms["scratch"] = {
        "model": scratch,
        **train_stage(
            scratch, labels, splits, cfg, cfg.scratch, ctx, f"scratch-{n}",
            batches_per_epoch=_batches_for(cfg, n, cfg.scratch),
        ),
    }  # fmt: skip
    net = build_core(cfg, splits)
    net.load_state_dict(pretrained)
    freeze(net.core)
    probe = train_stage(
        net, labels, splits, cfg, cfg.probe, ctx, f"probe-{n}",
        batches_per_epoch=_batches_for(cfg, n, cfg.probe),
    )  # fmt: skip
    unfreeze(net.core)
    tuned = train_stage(
        net, labels, splits, cfg, cfg.finetune, ctx, f"finetune-{n}",
        batches_per_epoch=_batches_for(cfg, n, cfg.finetune),
    )  # fmt: skip
    tuned["train_time_s"] += probe["train_time_s"]
    arms["pretrained"] = {"model": net, **tuned}
    return arms


@recipe(
    "label-efficiency",
    course="HW13",
    summary="Accuracy vs labels, scratch vs rotation-pretrained, and the utility U(n) (HW13)",
    config=LabelEfficiencyConfig,
    data=_DATA,
    smoke=few_label_smoke,
    headline=("utility.at_n.utility", "utility.at_n.n_hat"),
)
def label_efficiency(cfg: LabelEfficiencyConfig, ctx: RunContext) -> None:
    """Both arms at every label count, one test pass at the end, then U(n) from test accuracy."""
    splits = load_splits(cfg, ctx)
    total = int(splits.train_x.shape[0])
    counts = sorted({total if n == 0 else min(n, total) for n in cfg.counts})
    net, info = pretrain_rotation(cfg, splits, ctx)
    _pretrain_report(ctx, info)
    for epoch_row in info.get("history") or []:  # history.csv: the pretraining (the one core)
        ctx.log_epoch(epoch_row)
    pretrained = {k: v.clone() for k, v in net.state_dict().items()}
    runs = {n: _count_run(cfg, splits, n, pretrained, ctx) for n in counts}
    scored = _test_split(splits, ctx)
    if scored is None:
        return
    test_x, test_y = scored
    acc: dict[str, list[float]] = {"scratch": [], "pretrained": []}
    rows = []
    for n in counts:
        row: list[Any] = [n]
        for arm in ("scratch", "pretrained"):
            r = runs[n][arm]
            p = _proba(r["model"], test_x, cfg.finetune, ctx)
            score = _score(test_y, p, splits.classes)
            acc[arm].append(score["accuracy"])
            row += [score["accuracy"], r["val_acc"], r["train_time_s"]]
        rows.append(row)
    _utility_report(ctx, cfg, counts, acc, rows)


def _utility_report(
    ctx: RunContext,
    cfg: LabelEfficiencyConfig,
    counts: list[int],
    acc: dict[str, list[float]],
    rows: list[list[Any]],
) -> None:
    """The accuracy-by-labels table and figure, and U(n) with its table, figure and note."""
    ctx.log_metrics(
        "curve",
        {
            "counts": counts,
            "scratch_test_accuracy": acc["scratch"],
            "pretrained_test_accuracy": acc["pretrained"],
        },
    )
    utilities = [
        utility(n, a, counts, acc["scratch"])
        for n, a in zip(counts, acc["pretrained"], strict=True)
    ]
    at = min(counts, key=lambda n: abs(n - cfg.utility_at))
    ctx.log_metrics(
        "utility",
        {"at_n": utilities[counts.index(at)].as_dict(), "all": [u.as_dict() for u in utilities]},
    )
    ctx.log_table(
        "accuracy_by_labels",
        ["labels", "scratch test acc", "scratch val acc", "scratch train s",
         "pretrained test acc", "pretrained val acc", "pretrained train s"],
        rows,
        f"{cfg.data}: from scratch vs rotation-pretrained core (linear probe, then fine-tuned); "
        "last epoch of each, one test pass at the end",
    )  # fmt: skip
    ctx.log_table(
        "utility",
        [
            "labels n",
            "pretrained test acc",
            "n̂ (labels from scratch needs)",
            "U(n) = n̂/n − 1",
            "how",
        ],
        [[u.n, u.target, u.n_hat, u.utility, u.describe()] for u in utilities],
        "Newell & Deng 2020: n̂ read off the from-scratch curve by linear interpolation of "
        "accuracy in log n; a bound where the curve never reaches (or already starts above) "
        "the pretrained accuracy",
    )
    ctx.log_plot(
        "accuracy_vs_labels",
        "lines",
        LinesInfo(
            [float(n) for n in counts],
            {"from scratch": acc["scratch"], "rotation-pretrained + fine-tuned": acc["pretrained"]},
            xlabel="labelled training images (log scale)",
            ylabel="test accuracy",
            logx=True,
        ),
        "Test accuracy against the number of labels",
    )
    exact = [u for u in utilities if u.kind == "interpolated"]
    if exact:
        ctx.log_plot(
            "utility",
            "lines",
            LinesInfo(
                [float(u.n) for u in exact],
                {"U(n)": [u.utility for u in exact]},
                xlabel="labels n (log scale)",
                ylabel="U(n) = n̂/n − 1",
                logx=True,
            ),
            "Utility of rotation pretraining where it could be interpolated (bounds in the table)",
        )
    ctx.log_note(utilities[counts.index(at)].describe())
