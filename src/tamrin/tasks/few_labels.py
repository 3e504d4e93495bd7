"""Few-label image classification with rotation self-supervision (course HW6, HW13).

The pieces the three recipes share (`tamrin.recipes.rotation`):

- `few_label_split`: n labels (stratified, seeded by the run's seed) and the rest of train;
- `pretrain_rotation`: a core trained to tell 0/90/180/270° apart on every train image in all
  four rotations (labels unused), kept in `PretrainedCache` under a key of its settings and the
  pretraining seed — not the run's seed, so the seeds of one experiment, and every label count
  of `label-efficiency`, reuse one pretrained core;
- `train_stage`: one few-label stage (from scratch, linear probe, fine-tuning) on a fixed number
  of batches per epoch (`CycleSampler`) with the last epoch's weights — nothing is selected on
  the 5,000-image val split, which a 200-label experiment would not have (val only draws curves);
- `knn_probe`: cosine k-nearest neighbours on the frozen features of the labelled images;
- `throughput`: what each stage cost, in training images per second.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tamrin.config import require, to_dict
from tamrin.data.augment import AugmentConfig, for_dataset, image_augment
from tamrin.data.batches import Batches, CycleSampler, ShuffleSampler
from tamrin.data.prepare import ImageSplits
from tamrin.data.rotation import RotationBatches, all_rotations
from tamrin.data.splits import labelled_subset
from tamrin.errors import ConfigError
from tamrin.models import build_model, get_model_spec
from tamrin.models.rotnet import CoreConfig, RotationNet
from tamrin.registry import RunContext
from tamrin.tasks.classification import SplitConfig
from tamrin.tasks.training import precision_dtype, train
from tamrin.train.checkpoint import seeded
from tamrin.train.fit import FitResult, Validator, classification_validator
from tamrin.train.inference import classification_loss_acc, predict_logits
from tamrin.train.objectives import Head, MultiTask
from tamrin.train.optim import TrainConfig
from tamrin.train.pretrained import PretrainedCache, cache_key

CORES = ("conv-core", "hw13-core")


def _pretrain_defaults() -> TrainConfig:
    # 128 images -> 512 rotated per step; last epoch kept (val rotation accuracy only plotted)
    return TrainConfig(epochs=12, batch_size=128, lr=0.1, restore_best=False)


@dataclass
class FewLabelConfig(SplitConfig):
    """n labels, a rotation-pretrained core, and how each few-label stage trains."""

    labels: int = 200  # labelled training images (stratified; the run's seed draws them)
    core: str = "conv-core"  # the registered core network: conv-core | hw13-core
    model: CoreConfig = field(default_factory=lambda: CoreConfig(rotation_head=True))
    pretrain: TrainConfig = field(default_factory=_pretrain_defaults)
    pretrain_seed: int = 0  # seed of the pretraining (kept across run seeds: one cached core)
    pretrain_augment: AugmentConfig = field(default_factory=AugmentConfig)  # flips (photos)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(crop_padding=4))
    batches_per_epoch: int = 30  # few-label stages: batches per epoch (cycling the labels)

    def validate(self) -> None:
        super().validate()
        require(self.labels >= 10, f"labels must be >= 10 (one per class); got {self.labels}")
        require(self.core in CORES, f"core must be one of {', '.join(CORES)}; got {self.core!r}")
        require(
            not self.pretrain_augment.rot90,
            "pretrain_augment.rot90 must be false: a random turn before the rotation task "
            "would make its labels meaningless",
        )
        require(
            self.batches_per_epoch >= 1,
            f"batches_per_epoch must be >= 1; got {self.batches_per_epoch}",
        )


@dataclass
class FewLabels:
    """The labelled images of one run (tensors on the device) and the unlabelled indices."""

    x: torch.Tensor  # (n, C, H, W) normalized
    y: torch.Tensor  # (n,)
    labelled: np.ndarray  # indices into splits.train_x
    unlabelled: np.ndarray  # the rest of train


def few_label_split(splits: ImageSplits, n: int, seed: int) -> FewLabels:
    """n stratified labels of `splits.train_*` (seeded) and the rest as unlabelled."""
    y = splits.train_y.cpu().numpy()
    if n > len(y):
        raise ConfigError(f"labels={n} is more than the {len(y)} training images")
    lab, unl = labelled_subset(y, n, seed)
    idx = torch.from_numpy(lab).to(splits.train_x.device)
    return FewLabels(splits.train_x[idx], splits.train_y[idx], lab, unl)


# ----------------------------------------------------------------------------- pretraining


class _MethodView(nn.Module):
    """A view of `net` whose forward is one of its methods (for `predict_logits`)."""

    def __init__(self, net: nn.Module, method: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.net, self.method = net, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.method(x)


def rotation_validator(
    x: torch.Tensor, batch_size: int = 1024, amp: torch.dtype | None = None
) -> Validator:
    """Rotation loss and accuracy on every image of `x` in all four rotations."""

    def run(model: nn.Module) -> dict[str, float]:
        logits, labels = [], []
        view = _MethodView(model, lambda xb: model.heads(xb)["rotation"])  # type: ignore[operator]
        for i in range(0, x.shape[0], batch_size):
            turned, rot = all_rotations(x[i : i + batch_size])
            logits.append(predict_logits(view, turned, batch_size, amp))
            labels.append(rot)
        stats = classification_loss_acc(torch.cat(logits), torch.cat(labels))
        return {"val_loss": stats["loss"], "val_acc": stats["acc"]}

    return run


def rotation_objective(weight: float = 1.0) -> MultiTask:
    """Cross-entropy of the rotation head against the `rot` field."""
    return MultiTask({"rotation": Head("rot", weight=weight)}, method="heads")


def pretrain_settings(cfg: FewLabelConfig, splits: ImageSplits) -> dict[str, Any]:
    """Everything that determines the pretrained weights (the cache key covers exactly this)."""
    return {
        "task": "rotation-pretraining",
        "data": cfg.data,
        "val_fraction": cfg.val_fraction,
        "split_seed": cfg.split_seed,
        "train_subset": cfg.train_subset,
        "train_images": int(splits.train_x.shape[0]),
        "core": cfg.core,
        "model": to_dict(core_config(cfg)),
        "pretrain": to_dict(cfg.pretrain),
        "augment": to_dict(for_dataset(cfg.pretrain_augment, cfg.data)),
        "seed": cfg.pretrain_seed,
    }


def core_config(cfg: FewLabelConfig) -> CoreConfig:
    """`cfg.model` for `cfg.core`: its arch pinned by the name, with the rotation head."""
    fixed = get_model_spec(cfg.core).fixed
    return CoreConfig(**{**to_dict(cfg.model), **fixed, "rotation_head": True})


def build_core(cfg: FewLabelConfig, splits: ImageSplits, *, seed: int | None = None) -> RotationNet:
    """A fresh core with both heads; its weights drawn from `seed` (None: the run's RNG)."""
    with seeded(seed) if seed is not None else contextlib.nullcontext():
        net = build_model(
            cfg.core, core_config(cfg), in_shape=splits.in_shape, out_dim=len(splits.classes)
        )
    assert isinstance(net, RotationNet)
    return net


def pretrain_rotation(
    cfg: FewLabelConfig,
    splits: ImageSplits,
    ctx: RunContext,
    *,
    cache: PretrainedCache | None = None,
) -> tuple[RotationNet, dict[str, Any]]:
    """A rotation-pretrained core: from the cache when these settings were trained before.

    Returns the net (its class head untrained) and what the report shows: cached or not, the
    key, the pretraining history, its wall time and images/s. The fit is a named one
    (checkpoints/pretrain/), so a killed run resumes it; its history is kept with the weights,
    so a cached core's curves are still in the report.
    """
    cache = cache or PretrainedCache()
    settings = pretrain_settings(cfg, splits)
    key = cache_key(settings)
    net = build_core(cfg, splits, seed=cfg.pretrain_seed)
    kept = cache.load(settings)
    if kept is not None:
        state, meta = kept
        net.load_state_dict(state["model"])
        info = {**meta.get("info", {}), "cached": True, "key": key}
        return net, info
    augment = image_augment(for_dataset(cfg.pretrain_augment, cfg.data))
    images = Batches(
        {"x": splits.train_x},
        ShuffleSampler(splits.train_x.shape[0], cfg.pretrain.batch_size, seed=cfg.pretrain_seed),
        augment={"x": augment},
    )
    batches = RotationBatches(images)
    amp = precision_dtype(cfg.pretrain, ctx)
    with seeded(cfg.pretrain_seed):
        result = train(
            net,
            batches,  # type: ignore[arg-type]
            cfg.pretrain,
            ctx,
            objective=rotation_objective(),
            validate=rotation_validator(splits.val_x, cfg.pretrain.eval_batch_size, amp),
            name="pretrain",
            log_history=False,
        )
    info = {
        "cached": False,
        "key": key,
        "history": result.history,
        "status": result.status,
        "epochs_run": result.epochs_run,
        "train_time_s": result.train_time_s,
        "images_per_s": throughput(batches, cfg.pretrain, result),
        "rotation_val_acc": result.history[-1].get("val_acc") if result.history else None,
    }
    if result.status == "completed":
        cache.save(settings, {"model": net.state_dict()}, info=info)
    return net, info


# ----------------------------------------------------------------------------- few-label stages


def throughput(batches: Any, train_cfg: TrainConfig, result: FitResult) -> float | None:
    """Training images per second of a fit over `batches` (capped by `max_batches`; validation
    excluded)."""
    steps = min(len(batches), train_cfg.max_batches or len(batches))
    images = steps * batches.batch_size * result.epochs_run
    return images / result.train_time_s if result.train_time_s else None


def stage_batches(
    labels: FewLabels,
    cfg: FewLabelConfig,
    train_cfg: TrainConfig,
    seed: int,
    batches_per_epoch: int | None = None,
) -> Batches:
    """Augmented batches cycling the labelled images, `cfg.batches_per_epoch` per epoch unless
    `batches_per_epoch` says otherwise."""
    per_epoch = batches_per_epoch or cfg.batches_per_epoch
    sampler = CycleSampler(labels.x.shape[0], train_cfg.batch_size, per_epoch, seed=seed)
    return Batches(
        {"x": labels.x, "y": labels.y},
        sampler,
        augment={"x": image_augment(for_dataset(cfg.augment, cfg.data))},
    )


def train_stage(
    model: nn.Module,
    labels: FewLabels,
    splits: ImageSplits,
    cfg: FewLabelConfig,
    train_cfg: TrainConfig,
    ctx: RunContext,
    name: str,
    *,
    batches_per_epoch: int | None = None,
) -> dict[str, Any]:
    """Fit one few-label stage; returns its summary for the report.

    `name` makes it a named fit (checkpoints/<name>/); the unnamed one (the run's headline
    model) writes history.csv. `batches_per_epoch` replaces `cfg.batches_per_epoch`.
    """
    batches = stage_batches(labels, cfg, train_cfg, ctx.seed, batches_per_epoch)
    amp = precision_dtype(train_cfg, ctx)
    result = train(
        model,
        batches,
        train_cfg,
        ctx,
        validate=classification_validator(
            splits.val_x, splits.val_y, train_cfg.eval_batch_size, amp
        ),
        name=name,
        log_history=not name,
    )
    last = result.history[-1] if result.history else {}
    return {
        "history": result.history,
        "status": result.status,
        "train_time_s": result.train_time_s,
        "images_per_s": throughput(batches, train_cfg, result),
        "val_acc": last.get("val_acc"),
        "train_acc": last.get("train_acc"),
    }


def probe_features(
    net: RotationNet, x: torch.Tensor, batch_size: int, amp: torch.dtype | None
) -> torch.Tensor:
    """Frozen features (N, D) of `x` in eval mode, float32 on the CPU."""
    return predict_logits(_MethodView(net, net.features), x, batch_size, amp).cpu()


class KnnProbe:
    """Cosine, distance-weighted k-NN (scikit-learn) on a frozen net's L2-normalized features.

    Nothing trains: the labelled images' features are the memory, `proba` the vote.
    """

    def __init__(
        self,
        net: RotationNet,
        labels: FewLabels,
        k: int,
        num_classes: int,
        *,
        batch_size: int = 1024,
        amp: torch.dtype | None = None,
    ) -> None:
        from sklearn.neighbors import KNeighborsClassifier

        self.batch_size, self.amp, self.num_classes = batch_size, amp, num_classes
        memory = self._normalized(net, labels.x)
        self.knn = KNeighborsClassifier(
            n_neighbors=min(k, len(memory)), metric="cosine", weights="distance"
        ).fit(memory, labels.y.cpu().numpy())

    def _normalized(self, net: RotationNet, x: torch.Tensor) -> np.ndarray:
        feats = probe_features(net, x, self.batch_size, self.amp)
        return torch.nn.functional.normalize(feats, dim=1).numpy()

    def proba(self, net: RotationNet, x: torch.Tensor) -> np.ndarray:
        """(N, K) class probabilities of `x` under `net`'s features (unseen classes get 0)."""
        out = np.zeros((x.shape[0], self.num_classes), dtype=np.float32)
        out[:, self.knn.classes_] = self.knn.predict_proba(self._normalized(net, x))
        return out

    def accuracy(self, net: RotationNet, x: torch.Tensor, y: torch.Tensor) -> float:
        return float((self.proba(net, x).argmax(1) == y.cpu().numpy()).mean())
