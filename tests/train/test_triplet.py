"""The hand-written triplet loss and miners vs brute force, torch and pytorch-metric-learning."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from tamrin.train.triplet import (
    MINERS,
    TripletObjective,
    active_fraction_all,
    all_triplets,
    mine,
    pairwise_distances,
    triplet_loss,
)

TOL = 1e-5


def _batch(seed: int, n: int = 24, classes: int = 4, dim: int = 5) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    labels = torch.arange(n) % classes
    labels = labels[torch.randperm(n, generator=gen)]
    return emb, labels


def _brute_force(emb: torch.Tensor, labels: torch.Tensor, margin: float, squared: bool) -> float:
    """Mean of max(d(a,p) - d(a,n) + margin, 0) over every valid triplet, by plain loops."""
    total, count = 0.0, 0
    e = emb.tolist()

    def d(i: int, j: int) -> float:
        s = sum((x - y) ** 2 for x, y in zip(e[i], e[j], strict=True))
        return s if squared else s**0.5

    for a, p, n in itertools.product(range(len(e)), repeat=3):
        if a != p and labels[a] == labels[p] and labels[n] != labels[a]:
            total += max(d(a, p) - d(a, n) + margin, 0.0)
            count += 1
    return total / count


@pytest.mark.parametrize("distance", ["squared", "euclidean"])
def test_pairwise_distances_match_cdist(distance: str) -> None:
    emb, _ = _batch(0)
    ref = torch.cdist(emb, emb)
    ref = ref**2 if distance == "squared" else ref
    got = pairwise_distances(emb, distance)  # type: ignore[arg-type]
    assert torch.allclose(got, ref, atol=1e-9)
    assert (got.diagonal() == 0).all()


@pytest.mark.parametrize("distance", ["squared", "euclidean"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_over_all_triplets_equals_brute_force(distance: str, seed: int) -> None:
    emb, labels = _batch(seed, n=12, classes=3)
    got = triplet_loss(emb, all_triplets(labels), 0.4, distance)  # type: ignore[arg-type]
    assert got.item() == pytest.approx(_brute_force(emb, labels, 0.4, distance == "squared"))


def test_euclidean_loss_equals_torch_triplet_margin_loss() -> None:
    emb, labels = _batch(3)
    a, p, n = all_triplets(labels)
    ref = nn.TripletMarginLoss(margin=0.5, p=2, eps=0.0)(emb[a], emb[p], emb[n])
    got = triplet_loss(emb, (a, p, n), 0.5, "euclidean")
    assert got.item() == pytest.approx(ref.item(), abs=1e-6)


def test_squared_loss_equals_torch_with_squared_distance() -> None:
    emb, labels = _batch(4)
    a, p, n = all_triplets(labels)
    ref = nn.TripletMarginWithDistanceLoss(
        distance_function=lambda x, y: ((x - y) ** 2).sum(1), margin=0.4
    )(emb[a], emb[p], emb[n])
    assert triplet_loss(emb, (a, p, n), 0.4, "squared").item() == pytest.approx(ref.item())


def test_empty_triplets_give_zero_loss_with_a_gradient() -> None:
    emb = torch.randn(4, 3, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    loss = triplet_loss(emb, (empty, empty, empty), 0.4)
    loss.backward()
    assert loss.item() == 0.0 and emb.grad is not None


@pytest.mark.parametrize("miner", MINERS)
@pytest.mark.parametrize("seed", range(5))
def test_every_miner_returns_only_valid_triplets(miner: str, seed: int) -> None:
    emb, labels = _batch(seed, n=20 + seed, classes=2 + seed)
    a, p, n = mine(miner, pairwise_distances(emb), labels)  # type: ignore[arg-type]
    assert len(a) > 0
    assert (labels[a] == labels[p]).all() and (a != p).all()
    assert (labels[a] != labels[n]).all()


def test_miners_skip_anchors_without_positive() -> None:
    emb = torch.randn(5, 3)
    labels = torch.tensor([0, 0, 1, 2, 2])  # the class-1 sample has no positive
    for miner in MINERS:
        a, _, _ = mine(miner, pairwise_distances(emb), labels)  # type: ignore[arg-type]
        assert 2 not in a.tolist()


def test_batch_all_returns_every_valid_triplet() -> None:
    _, labels = _batch(0, n=16, classes=4)
    a, p, n = mine("batch-all", torch.zeros(16, 16), labels)
    per_anchor = 3 * 12  # 3 positives × 12 negatives
    assert len(a) == 16 * per_anchor
    assert len(set(zip(a.tolist(), p.tolist(), n.tolist(), strict=True))) == len(a)


@pytest.mark.parametrize("seed", range(5))
def test_batch_hard_picks_the_hardest_positive_and_negative(seed: int) -> None:
    emb, labels = _batch(seed)
    dist = pairwise_distances(emb)
    a, p, n = mine("batch-hard", dist, labels)
    assert sorted(a.tolist()) == list(range(len(labels)))  # one triplet per anchor
    for ai, pi, ni in zip(a.tolist(), p.tolist(), n.tolist(), strict=True):
        pos = [dist[ai, j] for j in range(len(labels)) if j != ai and labels[j] == labels[ai]]
        neg = [dist[ai, j] for j in range(len(labels)) if labels[j] != labels[ai]]
        assert dist[ai, pi] == max(pos)
        assert dist[ai, ni] == min(neg)


@pytest.mark.parametrize("seed", range(5))
def test_semi_hard_picks_the_nearest_negative_beyond_the_positive(seed: int) -> None:
    emb, labels = _batch(seed)
    dist = pairwise_distances(emb)
    a, p, n = mine("semi-hard", dist, labels)
    pairs = {(i, j) for i in range(len(labels)) for j in range(len(labels))}
    expected_pairs = {(i, j) for i, j in pairs if i != j and labels[i] == labels[j]}
    assert set(zip(a.tolist(), p.tolist(), strict=True)) == expected_pairs
    for ai, pi, ni in zip(a.tolist(), p.tolist(), n.tolist(), strict=True):
        neg = [j for j in range(len(labels)) if labels[j] != labels[ai]]
        beyond = [dist[ai, j] for j in neg if dist[ai, j] > dist[ai, pi]]
        if beyond:
            assert dist[ai, ni] == min(beyond)
        else:
            assert dist[ai, ni] == max(dist[ai, j] for j in neg)


def test_random_miner_draws_every_positive_and_negative() -> None:
    _, labels = _batch(0, n=12, classes=3)
    dist = torch.zeros(12, 12)
    gen = torch.Generator().manual_seed(0)
    seen_p, seen_n = set(), set()
    for _ in range(300):
        a, p, n = mine("random", dist, labels, gen)
        assert sorted(a.tolist()) == list(range(12))
        seen_p |= {(x, y) for x, y in zip(a.tolist(), p.tolist(), strict=True) if x == 0}
        seen_n |= {(x, y) for x, y in zip(a.tolist(), n.tolist(), strict=True) if x == 0}
    assert len(seen_p) == 3 and len(seen_n) == 8  # anchor 0: all 3 positives, all 8 negatives


def test_active_fraction_all_equals_brute_force() -> None:
    emb, labels = _batch(1, n=12, classes=3)
    dist = pairwise_distances(emb)
    a, p, n = all_triplets(labels)
    losses = triplet_loss(emb, (a, p, n), 1.0, reduction="none")
    expected = (losses > 0).double().mean().item()
    assert active_fraction_all(dist, labels, 1.0).item() == pytest.approx(expected)


@pytest.mark.parametrize("miner", MINERS)
def test_objective_gives_gradients_and_counts_active_triplets(miner: str) -> None:
    emb, labels = _batch(2)
    emb = emb.float().requires_grad_()
    objective = TripletObjective(miner, 0.4)  # type: ignore[arg-type]
    loss = objective(emb, labels)
    loss.backward()
    assert torch.isfinite(loss) and emb.grad is not None and emb.grad.abs().sum() > 0
    objective(emb.detach(), labels)
    stats = objective.pop_stats()
    assert 0 < stats["active_fraction"] <= 1 and 0 < stats["active_fraction_all"] <= 1
    assert stats["triplets_per_batch"] > 0
    assert objective.pop_stats()["triplets_per_batch"] == 0  # reset after pop


def test_batch_all_objective_averages_over_active_triplets() -> None:
    emb, labels = _batch(5)
    emb = emb.float()
    losses = triplet_loss(emb, all_triplets(labels), 0.4, reduction="none")
    expected = losses.sum() / (losses > 0).sum()
    assert TripletObjective("batch-all", 0.4)(emb, labels).item() == pytest.approx(expected.item())


def test_unknown_miner_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown miner 'hardest'"):
        TripletObjective("hardest", 0.4)  # type: ignore[arg-type]


# --- pytorch-metric-learning as the library twin -------------------------------------------------


def test_batch_hard_matches_pytorch_metric_learning() -> None:
    pml = pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.miners import BatchHardMiner

    del pml
    emb, labels = _batch(7, n=32, classes=4)
    emb = emb.float()
    ref_a, ref_p, ref_n = BatchHardMiner(distance=LpDistance(normalize_embeddings=False))(
        emb, labels
    )
    a, p, n = mine("batch-hard", pairwise_distances(emb, "euclidean"), labels)
    order = torch.argsort(ref_a)
    dist = pairwise_distances(emb, "euclidean")
    assert torch.equal(a, ref_a[order])
    assert torch.allclose(dist[a, p], dist[ref_a, ref_p][order], atol=TOL)
    assert torch.allclose(dist[a, n], dist[ref_a, ref_n][order], atol=TOL)


def test_loss_matches_pytorch_metric_learning_on_all_triplets() -> None:
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.reducers import MeanReducer

    emb, labels = _batch(8, n=16, classes=4)
    emb = emb.float()
    ref = TripletMarginLoss(
        margin=0.3,
        distance=LpDistance(normalize_embeddings=False, power=2),
        reducer=MeanReducer(),
    )(emb, labels, all_triplets(labels))
    got = triplet_loss(emb, all_triplets(labels), 0.3, "squared")
    assert got.item() == pytest.approx(ref.item(), rel=1e-4)
