"""The triplet loss and the triplet miners, written out (this is the exercise, HW14).

    L(a, p, n) = max(d(a, p) - d(a, n) + margin, 0)

with d the squared Euclidean distance (the homework's ‖f(A)−f(P)‖²) or the plain one (FaceNet's
figures, torch's `TripletMarginLoss`). A miner picks which (anchor, positive, negative) index
triples of a batch the loss sees:

- `random`     one random positive and one random negative per anchor (the homework's sampling);
- `batch-all`  every valid triple in the batch, averaged over the active (non-zero) ones
               (Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss", BA≠0);
- `batch-hard` per anchor the farthest positive and the nearest negative (Hermans et al.);
- `semi-hard`  per anchor-positive pair the nearest negative that is still farther than the
               positive (Schroff et al. 2015, FaceNet); where no such negative exists, the
               farthest negative (as TensorFlow Addons' `triplet_semihard_loss`).

Everything is batched tensor algebra on the (B, B) distance matrix; no Python loop over samples.
`TripletObjective` is the `LossTerm` function `fit` calls; it also counts, per epoch, the fraction
of the miner's triplets that are active and the fraction of *all* valid triplets of the batch that
are active (the homework's remark that most random triplets have zero loss, measured).
"""

from __future__ import annotations

from typing import Literal

import torch

Miner = Literal["random", "batch-all", "batch-hard", "semi-hard"]
MINERS: tuple[str, ...] = ("random", "batch-all", "batch-hard", "semi-hard")
Distance = Literal["squared", "euclidean"]
Triplets = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # anchor, positive, negative (T,)


def pairwise_distances(emb: torch.Tensor, distance: Distance = "squared") -> torch.Tensor:
    """(B, D) -> (B, B) squared or plain Euclidean distances, exact zeros on the diagonal.

    The plain distance takes sqrt of the clamped squared one with a small epsilon, so its
    gradient stays finite at 0.
    """
    sq = (emb * emb).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * emb @ emb.T).clamp_min(0.0)
    d2 = d2 * (1.0 - torch.eye(len(emb), device=emb.device, dtype=emb.dtype))
    if distance == "squared":
        return d2
    return torch.sqrt(d2 + 1e-12) * (d2 > 0)


def triplet_distance(x: torch.Tensor, y: torch.Tensor, distance: Distance) -> torch.Tensor:
    """Row-wise distance between (T, D) tensors."""
    d2 = ((x - y) ** 2).sum(1)
    return d2 if distance == "squared" else torch.sqrt(d2 + 1e-12)


def triplet_loss(
    emb: torch.Tensor,
    triplets: Triplets,
    margin: float,
    distance: Distance = "squared",
    reduction: Literal["mean", "active", "none"] = "mean",
) -> torch.Tensor:
    """max(d(a,p) - d(a,n) + margin, 0) over the index triples; mean, mean of active ones, or all.

    With no triplet at all the loss is 0 (still attached to the graph, so backward works).
    """
    a, p, n = triplets
    losses = (
        triplet_distance(emb[a], emb[p], distance)
        - triplet_distance(emb[a], emb[n], distance)
        + margin
    ).clamp_min(0.0)
    if reduction == "none":
        return losses
    if reduction == "active":
        active = (losses > 0).sum()
        return losses.sum() / active.clamp_min(1)
    return losses.mean() if len(losses) else emb.sum() * 0.0


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, B) boolean masks: same label but not self (positives); different label (negatives)."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def all_triplets(labels: torch.Tensor) -> Triplets:
    """Every valid (a, p, n): a≠p share a label, n has another. Index tensors, a-major order."""
    pos, neg = _masks(labels)
    valid = pos[:, :, None] & neg[:, None, :]  # (B, B, B) [a, p, n]
    a, p, n = valid.nonzero(as_tuple=True)
    return a, p, n


def mine_random(
    dist: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None
) -> Triplets:
    """One uniformly random positive and negative per anchor that has both."""
    pos, neg = _masks(labels)
    ok = pos.any(1) & neg.any(1)
    u = torch.rand(dist.shape, generator=generator, device=dist.device)  # (B, B)
    p = torch.where(pos, u, -1.0).argmax(1)  # a random positive: the max of uniform keys
    u = torch.rand(dist.shape, generator=generator, device=dist.device)
    n = torch.where(neg, u, -1.0).argmax(1)
    a = torch.arange(len(labels), device=labels.device)
    return a[ok], p[ok], n[ok]


def mine_batch_all(dist: torch.Tensor, labels: torch.Tensor) -> Triplets:
    """Every valid triplet of the batch (the loss then averages over the active ones)."""
    return all_triplets(labels)


def mine_batch_hard(dist: torch.Tensor, labels: torch.Tensor) -> Triplets:
    """Per anchor: the farthest positive and the nearest negative."""
    pos, neg = _masks(labels)
    ok = pos.any(1) & neg.any(1)
    p = torch.where(pos, dist, -torch.inf).argmax(1)
    n = torch.where(neg, dist, torch.inf).argmin(1)
    a = torch.arange(len(labels), device=labels.device)
    return a[ok], p[ok], n[ok]


def mine_semi_hard(dist: torch.Tensor, labels: torch.Tensor) -> Triplets:
    """Per (a, p) pair: the nearest negative farther than p (semi-hard); else the farthest one."""
    pos, neg = _masks(labels)
    a, p = pos.nonzero(as_tuple=True)  # (T,) every anchor-positive pair
    d_an = dist[a]  # (T, B)
    d_ap = dist[a, p][:, None]  # (T, 1)
    negs = neg[a]  # (T, B)
    beyond = negs & (d_an > d_ap)
    semi = torch.where(beyond, d_an, torch.inf).argmin(1)
    far = torch.where(negs, d_an, -torch.inf).argmax(1)
    n = torch.where(beyond.any(1), semi, far)
    ok = negs.any(1)
    return a[ok], p[ok], n[ok]


def mine(
    miner: Miner,
    dist: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator | None = None,
) -> Triplets:
    """Index triples chosen by `miner` from the (B, B) distances of a labelled batch."""
    if miner == "random":
        return mine_random(dist, labels, generator)
    if miner == "batch-all":
        return mine_batch_all(dist, labels)
    if miner == "batch-hard":
        return mine_batch_hard(dist, labels)
    if miner == "semi-hard":
        return mine_semi_hard(dist, labels)
    raise ValueError(f"unknown miner {miner!r}; allowed: {', '.join(MINERS)}")


def active_fraction_all(dist: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Fraction of all valid triplets of the batch with a non-zero loss (a scalar tensor).

    Counted without the (B, B, B) tensor: per anchor, its negatives' distances are sorted once
    and each positive counts the negatives closer than d(a, p) + margin by binary search.
    """
    pos, neg = _masks(labels)
    neg_sorted = torch.where(neg, dist, torch.inf).sort(1).values  # (B, B), +inf past the last
    closer = torch.searchsorted(neg_sorted.contiguous(), (dist + margin).contiguous())  # (B, B)
    active = (closer * pos).sum()
    valid = (pos.sum(1) * neg.sum(1)).sum()
    return active / valid.clamp_min(1)


class TripletObjective:
    """The training loss `fit` calls as a `LossTerm`: mine, score, and count active triplets.

    `pop_stats()` returns the epoch's means so far (`active_fraction`: of the miner's triplets;
    `active_fraction_all`: of every valid triplet in the batch; `triplets_per_batch`) and resets.
    The miner reads the batch's distances without gradient; the loss takes the chosen triples'
    entries of the same matrix, so the gradient flows only through the triples the miner picked.
    """

    def __init__(
        self,
        miner: Miner,
        margin: float,
        distance: Distance = "squared",
        *,
        track_all: bool = True,
    ) -> None:
        if miner not in MINERS:
            raise ValueError(f"unknown miner {miner!r}; allowed: {', '.join(MINERS)}")
        self.miner, self.margin, self.distance, self.track_all = miner, margin, distance, track_all
        self._reset()

    def _reset(self) -> None:
        self._sums = torch.zeros(3, dtype=torch.float64)  # active frac, active frac all, count
        self._batches = 0

    def __call__(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = emb.float()
        # one (B, B) distance matrix with gradient; the miner reads it detached, the loss
        # gathers its entries (far cheaper than gathering (T, D) embedding rows per triplet)
        dist = pairwise_distances(emb, self.distance)
        if self.miner == "batch-all":  # dense (B, B, B): 2M entries at B=128, no index lists
            pos, neg = _masks(labels)
            valid = pos[:, :, None] & neg[:, None, :]
            dense = (dist[:, :, None] - dist[:, None, :] + self.margin).clamp_min(0.0) * valid
            n_valid, n_active = valid.sum(), (dense > 0).sum()
            with torch.no_grad():
                frac = (n_active / n_valid.clamp_min(1)).double()
                self._sums += torch.stack([frac, frac, n_valid.double()]).cpu()
                self._batches += 1
            return dense.sum() / n_active.clamp_min(1)  # Hermans et al.'s BA≠0 mean
        with torch.no_grad():
            a, p, n = mine(self.miner, dist.detach(), labels)
        losses = (dist[a, p] - dist[a, n] + self.margin).clamp_min(0.0)
        with torch.no_grad():
            active = (losses > 0).double()
            frac = active.mean() if len(active) else torch.zeros((), dtype=torch.float64)
            if self.track_all:
                frac_all = active_fraction_all(dist.detach(), labels, self.margin).double()
            else:
                frac_all = torch.full((), float("nan"), dtype=torch.float64)
            self._sums += torch.stack([frac.cpu(), frac_all.cpu(), torch.tensor(len(losses))])
            self._batches += 1
        if not len(losses):
            return emb.sum() * 0.0
        return losses.mean()

    def pop_stats(self) -> dict[str, float]:
        n = max(self._batches, 1)
        frac, frac_all, count = (self._sums / n).tolist()
        out = {"active_fraction": frac, "triplets_per_batch": count}
        if self.track_all:
            out["active_fraction_all"] = frac_all
        self._reset()
        return out
