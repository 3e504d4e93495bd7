"""Retrieval metrics: hand-computed small cases and pytorch-metric-learning's AccuracyCalculator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tamrin.eval.retrieval import knn, pair_distances, retrieval_metrics, silhouette


def _line(xs: list[float]) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float32)[:, None]


def test_hand_computed_case() -> None:
    # references on a line: class 0 at 0, 1, 2; class 1 at 10, 11
    refs, ref_y = _line([0, 1, 2, 10, 11]), torch.tensor([0, 0, 0, 1, 1])
    # query A (class 0) at 1.4: ranking 1, 2, 0, 10, 11 -> rel 1 1 1 0 0; R = 3
    # query B (class 1) at 5.9: distances 2:3.9, 10:4.1, 1:4.9, 11:5.1, 0:5.9
    #   -> order 2, 10, 1, 11, 0 -> rel 0 1 0 1 0; R = 2
    q, q_y = _line([1.4, 5.9]), torch.tensor([0, 1])
    m = retrieval_metrics(q, q_y, refs, ref_y, ks=(1, 2, 4), knn_k=3)
    assert m["precision_at_1"] == pytest.approx(0.5)  # A right, B wrong
    # R-precision: A 3/3, B: top-2 = (2, 10) -> 1/2
    assert m["r_precision"] == pytest.approx((1 + 0.5) / 2)
    # MAP@R: A = (1 + 1 + 1)/3 = 1; B = (0 + 1/2)/2 = 0.25
    assert m["map_at_r"] == pytest.approx((1 + 0.25) / 2)
    # recall@1: A yes, B no; recall@2: both; recall@4: both
    assert m["recall_at_1"] == pytest.approx(0.5)
    assert m["recall_at_2"] == pytest.approx(1.0)
    assert m["recall_at_4"] == pytest.approx(1.0)
    # kNN (k=3): A votes 0,0,0 -> 0 right; B votes 0,1,0 -> 0 wrong
    assert m["knn_accuracy"] == pytest.approx(0.5)


def test_knn_tie_goes_to_the_nearest_neighbours_class() -> None:
    refs, ref_y = _line([0, 1, 5, 6]), torch.tensor([1, 0, 0, 1])
    m = retrieval_metrics(_line([0.1]), torch.tensor([1]), refs, ref_y, ks=(1,), knn_k=2)
    assert m["knn_accuracy"] == 1.0  # votes 1:1, 0:1 -> the nearest (class 1) wins


def test_leave_one_out_never_retrieves_itself() -> None:
    x = _line([0, 0.1, 5, 5.1, 5.2])
    y = torch.tensor([0, 0, 1, 1, 0])
    m = retrieval_metrics(x, y, x, y, ks=(1,), knn_k=1, ref_includes_query=True)
    # 0 -> 0.1 right; 0.1 -> 0 right; 5 -> 5.1 right; 5.1 -> 5 or 5.2 (5.0 at 0.1, 5.2 at 0.1)
    # tie; 5.2 -> 5.1 wrong. With self excluded P@1 is at most 4/5, never 1.
    assert m["precision_at_1"] <= 0.8
    _, idx = knn(x, x, 1, exclude_self=True)
    assert (idx[:, 0] != torch.arange(5)).all()


def test_chunking_does_not_change_the_result() -> None:
    gen = torch.Generator().manual_seed(0)
    q, r = torch.randn(37, 4, generator=gen), torch.randn(50, 4, generator=gen)
    qy, ry = torch.randint(0, 3, (37,), generator=gen), torch.randint(0, 3, (50,), generator=gen)
    a = retrieval_metrics(q, qy, r, ry, chunk=5)
    b = retrieval_metrics(q, qy, r, ry, chunk=1000)
    assert a == pytest.approx(b)
    d, i = knn(q, r, 6, chunk=4)
    ref = torch.cdist(q, r).topk(6, largest=False)
    assert torch.allclose(d, ref.values, atol=1e-5) and torch.equal(i, ref.indices)


def test_perfect_embedding_scores_one() -> None:
    y = torch.arange(40) % 4
    emb = torch.nn.functional.one_hot(y, 4).float() * 10 + torch.randn(40, 4) * 0.01
    m = retrieval_metrics(emb, y, emb, y, ref_includes_query=True)
    for key in ("precision_at_1", "r_precision", "map_at_r", "recall_at_8", "knn_accuracy"):
        assert m[key] == pytest.approx(1.0)
    assert silhouette(emb, y) > 0.9


def test_pair_distances_are_positive_and_negative_pairs() -> None:
    y = torch.arange(100) % 10
    emb = y[:, None].float().repeat(1, 2)  # same class -> same point
    pos, neg = pair_distances(emb, y, 200)
    assert len(pos) == 200 and np.allclose(pos, 0)
    assert len(neg) > 0 and (neg > 0).all()


@pytest.mark.parametrize("includes_query", [False, True])
def test_matches_pytorch_metric_learning(includes_query: bool) -> None:
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    gen = torch.Generator().manual_seed(1)
    centres = torch.randn(5, 8, generator=gen) * 1.5
    ry = torch.randint(0, 5, (400,), generator=gen)
    qy = torch.randint(0, 5, (150,), generator=gen)
    r = centres[ry] + torch.randn(400, 8, generator=gen)
    q = centres[qy] + torch.randn(150, 8, generator=gen)
    if includes_query:
        q, qy = r, ry
    calc = AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
        knn_func=CustomKNN(LpDistance(normalize_embeddings=False)),
        device=torch.device("cpu"),
    )
    ref = calc.get_accuracy(q, qy, r, ry, ref_includes_query=includes_query)
    got = retrieval_metrics(q, qy, r, ry, ref_includes_query=includes_query)
    assert got["precision_at_1"] == pytest.approx(ref["precision_at_1"], abs=1e-6)
    assert got["r_precision"] == pytest.approx(ref["r_precision"], abs=1e-6)
    assert got["map_at_r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-6)
