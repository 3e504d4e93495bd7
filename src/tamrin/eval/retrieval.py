"""Retrieval metrics of an embedding: queries searched against a labelled reference set.

Exact search with `torch.cdist` in chunks of queries, then a top-k per chunk: no Python loop over
queries. For each query with R references of its own class (R counted in the reference set):

- precision@1     the nearest reference has the query's class;
- R-precision     the fraction of the R nearest references of the query's class;
- MAP@R           mean over ranks i ≤ R of precision@i at the ranks that are correct, divided by R
                  (Musgrave, Belongie & Lim 2020, "A Metric Learning Reality Check");
- recall@k        at least one of the k nearest references has the query's class (the "Recall@K"
                  of the metric-learning literature, e.g. Oh Song et al. 2016);
- kNN accuracy    majority vote of the k nearest references' labels (ties: nearest's class).

These match pytorch-metric-learning's `AccuracyCalculator` (tests check it where it installs).
`ref_includes_query=True` treats queries and references as one set and never lets a point
retrieve itself (leave-one-out).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def knn(
    queries: torch.Tensor,
    refs: torch.Tensor,
    k: int,
    *,
    chunk: int = 512,
    exclude_self: bool = False,
    first_query: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances, indices), both (Q, k): the k nearest references of each query, nearest first.

    Euclidean distance (ranking by it equals ranking by its square). `exclude_self` means query
    i is reference `first_query + i` and removes it from its own neighbours.
    """
    k = min(k, refs.shape[0] - int(exclude_self))
    dists, idxs = [], []
    for start in range(0, queries.shape[0], chunk):
        q = queries[start : start + chunk]
        d = torch.cdist(q.float(), refs.float())  # (c, N); peak memory c * N floats
        if exclude_self:
            rows = torch.arange(q.shape[0], device=d.device)
            d[rows, rows + first_query + start] = torch.inf
        dist, idx = torch.topk(d, k, dim=1, largest=False, sorted=True)
        dists.append(dist)
        idxs.append(idx)
    return torch.cat(dists), torch.cat(idxs)


def retrieval_metrics(
    q_emb: torch.Tensor,
    q_y: torch.Tensor,
    r_emb: torch.Tensor,
    r_y: torch.Tensor,
    *,
    ks: Sequence[int] = (1, 2, 4, 8),
    knn_k: int = 10,
    ref_includes_query: bool = False,
    chunk: int = 512,
) -> dict[str, Any]:
    """precision@1, R-precision, MAP@R, recall@k, kNN accuracy of queries against references."""
    q_y, r_y = q_y.long().cpu(), r_y.long().cpu()
    q_emb, r_emb = q_emb.float().cpu(), r_emb.float().cpu()
    num_classes = int(max(q_y.max(), r_y.max())) + 1
    ref_counts = torch.bincount(r_y, minlength=num_classes)
    r = ref_counts[q_y] - int(ref_includes_query)  # (Q,) references of the query's class
    depth = max(int(r.max()), max(ks), knn_k, 1)
    p1, rp, mapr = [], [], []
    hits_at: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    knn_correct = []
    for start in range(0, q_emb.shape[0], chunk):
        stop = start + chunk
        _, idx = knn(
            q_emb[start:stop],
            r_emb,
            depth,
            chunk=chunk,
            exclude_self=ref_includes_query,
            first_query=start,
        )
        labels = r_y[idx]  # (c, depth)
        rel = labels == q_y[start:stop, None]  # (c, depth) bool
        rr = r[start:stop]  # (c,)
        ranks = torch.arange(1, rel.shape[1] + 1)
        within = ranks[None, :] <= rr[:, None]  # (c, depth) rank <= R
        relw = (rel & within).double()
        p1.append(rel[:, 0].double())
        rp.append(relw.sum(1) / rr.clamp_min(1))
        prec_at_i = relw.cumsum(1) / ranks[None, :]
        mapr.append((prec_at_i * relw).sum(1) / rr.clamp_min(1))
        for k in ks:
            hits_at[k].append(rel[:, :k].any(1).double())
        votes = torch.zeros(rel.shape[0], num_classes, dtype=torch.float64)
        votes.scatter_add_(1, labels[:, :knn_k], torch.ones(labels[:, :knn_k].shape).double())
        votes.scatter_add_(1, labels[:, :1], torch.full((rel.shape[0], 1), 0.5).double())
        knn_correct.append((votes.argmax(1) == q_y[start:stop]).double())
    return {
        "precision_at_1": torch.cat(p1).mean().item(),
        "r_precision": torch.cat(rp).mean().item(),
        "map_at_r": torch.cat(mapr).mean().item(),
        **{f"recall_at_{k}": torch.cat(v).mean().item() for k, v in hits_at.items()},
        "knn_accuracy": torch.cat(knn_correct).mean().item(),
        "knn_k": knn_k,
        "queries": int(q_emb.shape[0]),
        "references": int(r_emb.shape[0]),
    }


def silhouette(emb: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> float:
    """Mean silhouette coefficient of the embeddings grouped by class (Euclidean), in [-1, 1]."""
    from sklearn.metrics import silhouette_score

    y = labels.cpu().numpy()
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(silhouette_score(emb.float().cpu().numpy(), y, random_state=seed))


def pair_distances(
    emb: torch.Tensor, labels: torch.Tensor, n_pairs: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances of up to `n_pairs` random positive and negative pairs (arrays)."""
    gen = torch.Generator().manual_seed(seed)
    emb, labels = emb.float().cpu(), labels.cpu()
    i = torch.randint(0, len(emb), (4 * n_pairs,), generator=gen)
    j = torch.randint(0, len(emb), (4 * n_pairs,), generator=gen)
    keep = i != j
    i, j = i[keep], j[keep]
    d = (emb[i] - emb[j]).norm(dim=1)
    same = labels[i] == labels[j]
    pos = d[same][:n_pairs]
    # positives are rare among random pairs (1 in C): top them up from within-class pairs
    if len(pos) < n_pairs:
        order = torch.argsort(labels)
        sorted_labels = labels[order]
        a = torch.randint(0, len(emb), (4 * n_pairs,), generator=gen)
        lo = torch.searchsorted(sorted_labels, labels[a], side="left")
        hi = torch.searchsorted(sorted_labels, labels[a], side="right")
        b = order[
            lo + (torch.rand(len(a), generator=gen) * (hi - lo)).long().clamp_max(hi - lo - 1)
        ]
        ok = a != b
        extra = (emb[a[ok]] - emb[b[ok]]).norm(dim=1)
        pos = torch.cat([pos, extra])[:n_pairs]
    return pos.numpy(), d[~same][:n_pairs].numpy()
