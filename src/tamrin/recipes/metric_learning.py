"""Metric learning with the triplet loss on MNIST / Fashion-MNIST (course HW14).

The homework trained a siamese CNN (three 32-filter convs, max pooling, dense 128 ReLU, a dense
embedding) on MNIST with L(A, P, N) = max(‖f(A)−f(P)‖² − ‖f(A)−f(N)‖² + α, 0), α = 0.4, Adam,
batch 128, 5 epochs, every triplet built up front and drawn at random. It judged the result by a
falling loss and a t-SNE picture only, and remarked (without doing it) that hard triplets would
help because most random triplets have zero loss.

Here the batches are P×K (P classes × K images), the triplets are mined inside each batch
(random as the homework, batch-all, batch-hard, semi-hard), the fraction of active (non-zero-loss)
triplets is measured every epoch, and the embedding is judged as a retrieval system: every test
image queries the training images (exact search), scored by precision@1, R-precision, MAP@R,
recall@k and kNN accuracy, plus the silhouette of the test embeddings. Figures: t-SNE of train and
test embeddings before and after training, a nearest-neighbour gallery, and distance histograms
of positive vs negative pairs. `study-miners` compares the four miners over 3 seeds. Measured
numbers: the README (3 seeds); pytorch-metric-learning's MNIST example reports precision@1 0.979
after one epoch with semi-hard mining.

The default is semi-hard mining on L2-normalized embeddings with the homework's squared distance and
α = 0.4, 2 epochs of P×K = 8×16 batches. Batch-hard in that same setting collapses early (every
embedding to nearly one point: the loss sits at the margin and every triplet stays active); the
study shows it, and Hermans et al.'s remedies (plain distances, soft margin, unnormalized
embeddings, a lower learning rate) are left as `--set` experiments.

    tamrin run triplet-mnist
    tamrin run triplet-mnist --set data=fashion-mnist --seeds 3
    tamrin run triplet-mnist --set miner=random --set model.arch=homework
    tamrin run study-miners

References: Schroff, Kalenichenko & Philbin 2015 (FaceNet, semi-hard mining); Hermans, Beyer &
Leibe 2017 ("In Defense of the Triplet Loss": P×K batches, batch-hard / batch-all); Musgrave,
Belongie & Lim 2020 ("A Metric Learning Reality Check": MAP@R).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tamrin.config import require
from tamrin.data.augment import AugmentConfig
from tamrin.data.prepare import ImageSplits
from tamrin.data.splits import stratified_holdout
from tamrin.eval import embedding_figures as figs
from tamrin.eval.figures import history_panels
from tamrin.eval.retrieval import knn, pair_distances, retrieval_metrics, silhouette
from tamrin.models.embedding import EmbeddingConfig, build_embedding_net
from tamrin.registry import RunContext, StudySpec, Variant, recipe, register_study
from tamrin.tasks.classification import (
    ImageData,
    SplitConfig,
    load_splits,
    outputs,
    pk_batches,
    record_model,
)
from tamrin.tasks.training import log_model, run_precision, train
from tamrin.train.objectives import Triplet
from tamrin.train.optim import TrainConfig
from tamrin.train.triplet import MINERS, Distance, Miner, TripletObjective

KS = (1, 2, 4, 8)  # recall@k cut-offs


@dataclass
class TripletConfig(SplitConfig):
    """A triplet-loss embedding: data, network, mining, training budget, evaluation and figures.

    `split_seed` also seeds the reference subsets (the same for every seed).
    """

    data: ImageData = "mnist"  # mnist | fashion-mnist | cifar10
    model: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    miner: Miner = "semi-hard"  # random (the homework) | batch-all | batch-hard | semi-hard
    margin: float = 0.4  # α of the triplet loss (the homework's 0.4), in distance units
    distance: Distance = "squared"  # squared (the homework's ‖·‖²) | euclidean
    k: int = 16  # images per class in a batch (K); P = train.batch_size // K classes
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=2,
            batch_size=128,
            optimizer="adam",
            lr=3e-3,
            weight_decay=0.0,
            scheduler="onecycle",
            warmup=0.15,
            select="val_map_at_r",
        )
    )
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    val_refs: int = 10000  # train images used as references for per-epoch validation
    knn_k: int = 10  # neighbours voting in the kNN accuracy
    track_all_triplets: bool = True  # also measure the active fraction of all batch triplets
    # t-SNE pictures subsample (class-stratified): 4 panels, 30,000 points in all, took 178 s of a
    # 285 s run that trained 49 s; 3,000 + 2,000 keep the clusters' shapes at a third of that
    tsne_test: int = 3000  # test embeddings in each t-SNE picture (0 = no t-SNE)
    tsne_train: int = 2000  # train embeddings in each t-SNE picture (0 = none)
    before: bool = True  # also score and draw the untrained network (retrieval, histograms, t-SNE)
    gallery_queries: int = 8  # rows of the nearest-neighbour gallery (half random, half misses)
    hist_pairs: int = 20000  # positive and negative pairs in the distance histograms

    def validate(self) -> None:
        super().validate()
        require(self.miner in MINERS, f"miner must be one of {MINERS}; got {self.miner!r}")
        require(self.margin > 0, f"margin must be > 0; got {self.margin}")
        require(self.k >= 2, f"k (images per class) must be >= 2; got {self.k}")
        require(
            self.train.batch_size % self.k == 0 and self.train.batch_size // self.k >= 2,
            f"train.batch_size must be a multiple of k with at least 2 classes per batch; "
            f"got batch_size {self.train.batch_size}, k {self.k}",
        )
        require(self.model.dim >= 2, f"model.dim must be >= 2; got {self.model.dim}")
        require(self.val_refs >= 10, f"val_refs must be >= 10; got {self.val_refs}")
        require(self.knn_k >= 1, f"knn_k must be >= 1; got {self.knn_k}")
        require(self.tsne_test >= 0, f"tsne_test must be >= 0; got {self.tsne_test}")
        require(self.tsne_train >= 0, f"tsne_train must be >= 0; got {self.tsne_train}")


def smoke_shrink(cfg: TripletConfig) -> TripletConfig:
    """The same code path in seconds: tiny slices, 2 epochs of 4 batches, narrow network."""
    cfg.train_subset = 512
    cfg.test_subset = 256
    cfg.train.epochs = 2
    cfg.train.max_batches = 4
    cfg.k = 4
    cfg.train.batch_size = 32
    cfg.model.width = 0.25
    cfg.model.dim = 16
    cfg.model.hidden = 32
    cfg.val_refs = 100
    cfg.tsne_test = 100
    cfg.tsne_train = 100
    cfg.hist_pairs = 500
    cfg.gallery_queries = 4
    return cfg


# ----------------------------------------------------------------------------- helpers


def _subset(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of a stratified random subset of size n (all when n >= len(y))."""
    if n >= len(y):
        return torch.arange(len(y))
    keep, _ = stratified_holdout(y.cpu().numpy(), 1 - n / len(y), seed)
    return torch.as_tensor(keep)


def _embed(model: nn.Module, x: torch.Tensor, cfg: TripletConfig, ctx: Any) -> torch.Tensor:
    """(N, D) float32 embeddings on the CPU, in eval mode."""
    return outputs(model, x, cfg.train, ctx)


def _display(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) normalized -> (N, H, W) grey or (N, H, W, 3) in [0, 1] for imshow."""
    x = images.float().cpu()
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    x = (x - lo) / (hi - lo).clamp_min(1e-6)
    return (x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)).numpy()


def _validator(model_cfg: TripletConfig, ctx: Any, splits: ImageSplits) -> Any:
    """Per epoch: val queries against a fixed subset of train references."""
    refs = _subset(splits.train_y.cpu(), model_cfg.val_refs, model_cfg.split_seed)
    ref_x, ref_y = splits.train_x[refs.to(splits.train_x.device)], splits.train_y.cpu()[refs]

    def run(model: nn.Module) -> dict[str, float]:
        r_emb = _embed(model, ref_x, model_cfg, ctx)
        q_emb = _embed(model, splits.val_x, model_cfg, ctx)
        m = retrieval_metrics(q_emb, splits.val_y.cpu(), r_emb, ref_y, ks=(1,), knn_k=1)
        return {
            "val_p_at_1": m["precision_at_1"],
            "val_map_at_r": m["map_at_r"],
            "val_r_precision": m["r_precision"],
        }

    return run


@dataclass
class _TsneLog:
    """t-SNE panels (before, then after training) and the time spent drawing them."""

    panels: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    seconds: float = 0.0
    points: int = 0
    test_s: float = 0.0  # the last test panel's seconds

    def add(self, stage: str, sets: Any, seed: int) -> None:
        """One panel per (name, embeddings, labels, subset) set; a None subset is skipped."""
        for name, emb, y, sel in sets:
            if sel is None:
                continue
            t1 = time.perf_counter()
            xy = figs.tsne_2d(emb[sel].numpy(), seed=seed)
            elapsed = time.perf_counter() - t1
            self.seconds, self.points = self.seconds + elapsed, self.points + len(sel)
            if name == "test":
                self.test_s = elapsed
            self.panels.append((f"{name}, {stage} training ({len(sel)})", xy, y[sel].numpy()))


def _gallery(
    q_emb: torch.Tensor,
    q_y: torch.Tensor,
    q_x: torch.Tensor,
    r_emb: torch.Tensor,
    r_y: torch.Tensor,
    r_x: torch.Tensor,
    first_hit: torch.Tensor,
    n: int,
    seed: int,
    classes: list[str],
) -> figs.GalleryInfo:
    """Half random queries, half queries whose nearest reference is of another class."""
    gen = torch.Generator().manual_seed(seed)
    misses = (~first_hit).nonzero().flatten()
    misses = misses[torch.randperm(len(misses), generator=gen)][: n // 2]
    rest = torch.randperm(len(q_y), generator=gen)[: n - len(misses)]
    chosen = torch.cat([rest, misses])
    titles = ["random"] * len(rest) + ["miss"] * len(misses)
    _, idx = knn(q_emb[chosen], r_emb, 8)  # (n, 8)
    return figs.gallery_info(
        _display(q_x[chosen.to(q_x.device)]),
        q_y[chosen].numpy(),
        _display(r_x[idx.flatten().to(r_x.device)]).reshape(*idx.shape, *q_x.shape[2:])
        if q_x.shape[1] == 1
        else _display(r_x[idx.flatten().to(r_x.device)]).reshape(*idx.shape, *q_x.shape[2:], 3),
        r_y[idx].numpy(),
        classes,
        titles,
    )


# ----------------------------------------------------------------------------- the recipe


def train_triplet(cfg: TripletConfig, ctx: RunContext) -> None:
    """Load, embed before training, train with the chosen miner, evaluate retrieval, draw."""
    cfg.validate()
    splits = load_splits(cfg, ctx)
    classes = splits.classes
    test_x, test_y_dev = splits.take_test()
    test_y, train_y = test_y_dev.cpu(), splits.train_y.cpu()
    model = build_embedding_net(cfg.model, splits.in_shape)
    log_model(ctx, model, arch=cfg.model.arch, dim=cfg.model.dim, normalize=cfg.model.normalize)
    embed = f"embed-{cfg.model.arch}"  # the registered network (build_embedding_net)
    record_model(ctx, embed, cfg.model, splits, cfg.train, task="embed", out_dim=cfg.model.dim)
    miner = TripletObjective(cfg.miner, cfg.margin, cfg.distance, track_all=cfg.track_all_triplets)
    objective = Triplet(miner)
    batches = pk_batches(
        splits, cfg.train.batch_size // cfg.k, cfg.k, ctx.seed, augment=cfg.augment
    )
    run_precision(ctx, cfg.train, model, batches, objective)  # before and after: one precision

    # --- the untrained network: a baseline for every number and picture --------------------
    t0 = time.perf_counter()
    tsne_tr = _subset(train_y, cfg.tsne_train, cfg.split_seed) if cfg.tsne_train else None
    tsne_te = _subset(test_y, cfg.tsne_test, cfg.split_seed) if cfg.tsne_test else None
    tsne = _TsneLog()
    before: dict[str, Any] = {}
    hist_panels = []
    if cfg.before:
        before_train = _embed(model, splits.train_x, cfg, ctx)
        before_test = _embed(model, test_x, cfg, ctx)
        before = retrieval_metrics(
            before_test, test_y, before_train, train_y, ks=KS, knn_k=cfg.knn_k
        )
        before["silhouette"] = silhouette(before_test, test_y, seed=cfg.split_seed)
        ctx.log_metrics("retrieval_before_training", before)
        pairs = pair_distances(before_test, test_y, cfg.hist_pairs, cfg.split_seed)
        hist_panels.append(("test pairs, before training", *pairs))
        tsne.add(
            "before",
            (("train", before_train, train_y, tsne_tr), ("test", before_test, test_y, tsne_te)),
            ctx.seed,
        )
        del before_train, before_test
    eval_before_s = time.perf_counter() - t0 - tsne.seconds

    # --- training -----------------------------------------------------------------------------
    result = train(
        model, batches, cfg.train, ctx, objective=objective, validate=_validator(cfg, ctx, splits)
    )

    # --- the test split, once: test queries against every train image -------------------------
    t0 = time.perf_counter()
    r_emb = _embed(model, splits.train_x, cfg, ctx)
    q_emb = _embed(model, test_x, cfg, ctx)
    if not (torch.isfinite(r_emb).all() and torch.isfinite(q_emb).all()):
        ctx.log_note("The test split was not scored: the embeddings are not finite.")
        return
    after = retrieval_metrics(q_emb, test_y, r_emb, train_y, ks=KS, knn_k=cfg.knn_k)
    after["silhouette"] = silhouette(q_emb, test_y, seed=cfg.split_seed)
    ctx.log_metrics("retrieval", after)
    eval_s = time.perf_counter() - t0
    pairs = pair_distances(q_emb, test_y, cfg.hist_pairs, cfg.split_seed)
    hist_panels.append(("test pairs, after training", *pairs))

    # --- pictures -------------------------------------------------------------------------------
    if tsne_te is not None or tsne_tr is not None:
        tsne.add(
            "after",
            (("train", r_emb, train_y, tsne_tr), ("test", q_emb, test_y, tsne_te)),
            ctx.seed,
        )
        if tsne_te is not None:
            ctx.log_metrics(
                "timing", {"tsne_test_after_s": tsne.test_s, "tsne_test_points": len(tsne_te)}
            )
        ctx.log_plot(
            "tsne",
            "tsne",
            figs.tsne_info(tsne.panels, classes),
            f"t-SNE ({figs.tsne_backend()}) of embeddings coloured by class: train and test, "
            "before and after training.",
        )
    first_hit = torch.as_tensor(train_y[knn(q_emb, r_emb, 1)[1][:, 0]] == test_y)
    ctx.log_plot(
        "gallery",
        "neighbour_gallery",
        _gallery(
            q_emb,
            test_y,
            test_x,
            r_emb,
            train_y,
            splits.train_x,
            first_hit,
            cfg.gallery_queries,
            cfg.split_seed,
            classes,
        ),
        "Test queries (left, blue) and their 8 nearest training images; wrong classes outlined "
        "in red. Top rows: random queries; bottom rows: queries whose nearest image is wrong.",
    )
    ctx.log_plot(
        "distances",
        "distance_histogram",
        figs.distance_histogram_info(hist_panels),
        "Euclidean distances of random positive (same class) and negative test pairs.",
    )
    ctx.log_plot(
        "retrieval_curves",
        "panels",
        history_panels(
            result.history,
            [
                ("validation retrieval", ("val_p_at_1", "val_map_at_r", "val_r_precision")),
                ("active triplets (loss > 0)", ("active_fraction", "active_fraction_all")),
                ("triplet loss", ("train_loss",)),
            ],
        ),
        "Per epoch: validation retrieval (val queries vs train references), the fraction of the "
        "miner's triplets with non-zero loss and of all valid triplets in the batch, the loss.",
    )
    keys = ("precision_at_1", "r_precision", "map_at_r", *(f"recall_at_{k}" for k in KS))
    keys += ("knn_accuracy", "silhouette")
    ctx.log_table(
        "retrieval",
        ["metric", *(["before training"] if before else []), "after training"],
        [[k, *([before[k]] if before else []), after[k]] for k in keys],
        f"{after['queries']} test queries against {after['references']} train references "
        f"(exact Euclidean search); kNN accuracy with k = {cfg.knn_k}.",
    )
    ctx.log_metrics(
        "timing",
        {
            "train_s": result.train_time_s,
            "eval_before_s": eval_before_s,
            "eval_s": eval_s,
            "tsne_s": tsne.seconds,
            "tsne_points": tsne.points,
            "tsne_backend": figs.tsne_backend(),
        },
    )
    last = result.history[-1] if result.history else {}
    if "active_fraction_all" in last:
        ctx.log_note(
            f"Active triplets in the last epoch: {last['active_fraction']:.3f} of the "
            f"{cfg.miner} miner's triplets and {last['active_fraction_all']:.3f} of all valid "
            f"triplets in the batch have a non-zero loss (margin {cfg.margin})."
        )


@recipe(
    "triplet-mnist",
    course="HW14",
    summary="Triplet-loss embedding on MNIST: P×K batches, mining, retrieval metrics (HW14)",
    config=TripletConfig,
    data=("mnist", "fashion-mnist", "cifar10"),
    smoke=smoke_shrink,
    headline=(
        "retrieval.precision_at_1",
        "retrieval.map_at_r",
        "retrieval.r_precision",
        "retrieval.recall_at_8",
        "retrieval.knn_accuracy",
        "retrieval.silhouette",
    ),
)
def triplet_mnist(cfg: TripletConfig, ctx: RunContext) -> None:
    """Siamese CNN embedding trained with the triplet loss; evaluated by retrieval on test."""
    train_triplet(cfg, ctx)


register_study(
    StudySpec(
        name="study-miners",
        summary="Triplet miners compared: random vs batch-all vs batch-hard vs semi-hard (HW14)",
        recipe="triplet-mnist",
        variants=tuple(Variant(m, {"miner": m}) for m in MINERS),
        question=(
            "The homework drew triplets at random and remarked that most have zero loss, so hard "
            "triplets should help: does mining inside P×K batches beat random triplets?"
        ),
        base={
            "tsne_test": 0,
            "tsne_train": 0,
            "before": False,
            "train.epochs": 1,
            "val_refs": 5000,
        },
        smoke_base={},
        baseline="random",
        metric="retrieval.precision_at_1",
        metrics=(
            "retrieval.map_at_r",
            "retrieval.r_precision",
            "retrieval.knn_accuracy",
            "retrieval.silhouette",
            "final.active_fraction",  # of the miner's triplets, last epoch (history row)
            "final.active_fraction_all",  # of all valid triplets in the batch, last epoch
            "train_time_s",
        ),
        curves=("val_p_at_1", "val_map_at_r", "active_fraction", "active_fraction_all"),
        seeds=3,
        data=("mnist",),
        module=__name__,
    )
)
