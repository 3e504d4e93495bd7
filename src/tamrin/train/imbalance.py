"""Remedies for class imbalance: class weights, focal loss, and post-hoc operating points.

- Class weights for cross-entropy: inverse frequency, w_c = N / (K n_c) (scikit-learn's
  "balanced"), and the effective number of samples of Cui et al. 2019 ("Class-balanced loss
  based on effective number of samples"), w_c ∝ (1 - β) / (1 - β^n_c), scaled to sum to K.
- Focal loss (Lin et al. 2017): FL = -α_y (1 - p_y)^γ log p_y, averaged over the batch; γ = 0 and
  no α is cross-entropy.
- Post-hoc logit adjustment (Menon et al. 2021, "Long-tail learning via logit adjustment"):
  predict argmax_c (z_c - τ log π_c) with π the training class prior; τ is chosen on the
  validation split to maximize an objective (balanced accuracy = macro recall, or macro F1).
  `fit_class_bias` goes further and tunes one additive bias per class on val (coordinate ascent),
  which is how per-class thresholds generalize to K classes.

Nothing here looks at a test split: the chooser takes validation logits and labels only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score, f1_score
from torch import nn

from tamrin.train.fit import Validator
from tamrin.train.inference import predict_logits
from tamrin.train.objectives import LossFn

WeightKind = Literal["inverse", "effective"]
Objective = Literal["balanced_accuracy", "macro_f1"]
TAU_GRID = tuple(
    float(t) + 0.0 for t in np.round(np.arange(-1.0, 3.0001, 0.1), 2)
)  # τ tried on val
BIAS_STEPS = tuple(float(d) for d in np.round(np.arange(-2.0, 2.0001, 0.25), 2))  # per-class moves


def class_weights(counts: Sequence[int], kind: WeightKind, beta: float = 0.999) -> torch.Tensor:
    """Per-class loss weights (K,) from training counts; they sum to K (absent classes: 0)."""
    n = torch.as_tensor(list(counts), dtype=torch.float64)
    present = n > 0
    k = int(present.sum())
    if kind == "inverse":
        raw = torch.where(present, n.sum() / (k * n.clamp_min(1)), 0.0)
    elif kind == "effective":
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1); got {beta}")
        effective = (1 - beta ** n.clamp_min(1)) / (1 - beta)
        raw = torch.where(present, 1 / effective, 0.0)
        raw = raw * k / raw.sum()
    else:
        raise ValueError(f"unknown class weight kind {kind!r}")
    return raw.float()


def weighted_cross_entropy(weights: torch.Tensor) -> LossFn:
    """Cross-entropy with per-class weights, normalized by the batch's total weight (as torch)."""
    return lambda out, y: F.cross_entropy(out, y, weight=weights.to(out.device, out.dtype))


def focal_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    gamma: float = 2.0,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the batch of -α_y (1 - p_y)^γ log p_y; logits (B, K), labels (B,)."""
    logp = F.log_softmax(logits.float(), dim=1).gather(1, y[:, None])[:, 0]  # (B,) log p_y
    loss = -((1 - logp.exp()) ** gamma) * logp
    if alpha is not None:
        loss = loss * alpha.to(loss.device)[y]
    return loss.mean()


def focal(gamma: float, alpha: torch.Tensor | None = None) -> LossFn:
    """`focal_loss` as a (logits, labels) -> scalar loss function for `fit`."""
    return lambda out, y: focal_loss(out, y, gamma, alpha)


# ------------------------------------------------------------------------- operating points


def score(y: np.ndarray, pred: np.ndarray, objective: Objective, num_classes: int) -> float:
    """The objective of predictions `pred` against `y`, by scikit-learn."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class never predicted or absent: expected here
        if objective == "balanced_accuracy":
            return float(balanced_accuracy_score(y, pred))
        if objective == "macro_f1":
            labels = list(range(num_classes))
            return float(f1_score(y, pred, labels=labels, average="macro", zero_division=0))
    raise ValueError(f"unknown objective {objective!r}")


def log_prior(counts: Sequence[int]) -> np.ndarray:
    """log π_c of the training counts (K,); an absent class gets the log of half an example."""
    n = np.maximum(np.asarray(counts, dtype=np.float64), 0.5)
    return np.log(n / n.sum())


@dataclass
class OperatingPoint:
    """Additive logit offsets chosen on val, and what they scored there."""

    method: str  # "argmax" | "logit_adjustment" | "class_bias"
    objective: str  # what was maximized on val
    bias: list[float]  # added to the logits before argmax / softmax (K,)
    tau: float = 0.0  # logit adjustment strength (bias = -τ log π before any per-class moves)
    val_argmax: float = 0.0  # the objective on val at the plain argmax (τ = 0)
    val_chosen: float = 0.0  # the objective on val at the chosen offsets
    curve: dict[str, list[float]] = field(default_factory=dict)  # {"tau": [...], "val": [...]}

    def apply(self, logits: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Adjusted logits (N, K) = logits + bias."""
        z = torch.as_tensor(logits, dtype=torch.float32)
        return z + torch.as_tensor(self.bias, dtype=torch.float32, device=z.device)


def choose_logit_adjustment(
    val_logits: torch.Tensor | np.ndarray,
    val_y: torch.Tensor | np.ndarray,
    train_counts: Sequence[int],
    objective: Objective = "balanced_accuracy",
    taus: Sequence[float] = TAU_GRID,
) -> OperatingPoint:
    """τ on `taus` maximizing `objective` of argmax(z - τ log π) on val; ties go to small |τ|."""
    z = np.asarray(torch.as_tensor(val_logits, dtype=torch.float64).cpu())
    y = np.asarray(torch.as_tensor(val_y).cpu(), dtype=np.int64)
    k = z.shape[1]
    prior = log_prior(train_counts)
    values = [score(y, (z - t * prior).argmax(1), objective, k) for t in taus]
    order = sorted(range(len(taus)), key=lambda i: (-values[i], abs(taus[i])))
    best = order[0]
    return OperatingPoint(
        method="logit_adjustment",
        objective=objective,
        bias=[float(b) for b in -taus[best] * prior],
        tau=float(taus[best]),
        val_argmax=score(y, z.argmax(1), objective, k),
        val_chosen=values[best],
        curve={"tau": [float(t) for t in taus], "val": values},
    )


def fit_class_bias(
    val_logits: torch.Tensor | np.ndarray,
    val_y: torch.Tensor | np.ndarray,
    train_counts: Sequence[int],
    objective: Objective = "balanced_accuracy",
    rounds: int = 2,
    steps: Sequence[float] = BIAS_STEPS,
) -> OperatingPoint:
    """Per-class logit biases on val: start from the chosen logit adjustment, then for `rounds`
    passes over the classes move each class's bias by the step in `steps` that most improves the
    objective (a move must strictly improve it)."""
    start = choose_logit_adjustment(val_logits, val_y, train_counts, objective)
    z = np.asarray(torch.as_tensor(val_logits, dtype=torch.float64).cpu())
    y = np.asarray(torch.as_tensor(val_y).cpu(), dtype=np.int64)
    k = z.shape[1]
    bias = np.asarray(start.bias)
    best = start.val_chosen
    for _ in range(rounds):
        for c in range(k):
            for d in steps:
                trial = bias.copy()
                trial[c] += d
                value = score(y, (z + trial).argmax(1), objective, k)
                if value > best + 1e-12:
                    best, bias = value, trial
    return OperatingPoint(
        method="class_bias",
        objective=objective,
        bias=[float(b) for b in bias],
        tau=start.tau,
        val_argmax=start.val_argmax,
        val_chosen=best,
        curve=start.curve,
    )


def argmax_point(
    val_logits: torch.Tensor | np.ndarray, val_y: torch.Tensor | np.ndarray, objective: Objective
) -> OperatingPoint:
    """The plain argmax as an operating point (zero offsets), scored on val."""
    z = np.asarray(torch.as_tensor(val_logits, dtype=torch.float64).cpu())
    y = np.asarray(torch.as_tensor(val_y).cpu(), dtype=np.int64)
    value = score(y, z.argmax(1), objective, z.shape[1])
    return OperatingPoint("argmax", objective, [0.0] * z.shape[1], 0.0, value, value)


# ------------------------------------------------------------------------------- validation


def imbalance_validator(
    x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024, amp: torch.dtype | None = None
) -> Validator:
    """Validation loss, accuracy, balanced accuracy and macro F1 of a classifier on (x, y)."""
    labels = np.asarray(y.cpu(), dtype=np.int64)

    def run(model: nn.Module) -> dict[str, float]:
        logits = predict_logits(model, x, batch_size, amp)
        pred = np.asarray(logits.argmax(1).cpu())
        k = logits.shape[1]
        return {
            "val_loss": F.cross_entropy(logits, y).item(),
            "val_acc": float((pred == labels).mean()),
            "val_balanced_acc": score(labels, pred, "balanced_accuracy", k),
            "val_macro_f1": score(labels, pred, "macro_f1", k),
        }

    return run


def loss_for(
    remedy: str,
    counts: Sequence[int],
    *,
    beta: float = 0.999,
    gamma: float = 2.0,
    label_smoothing: float = 0.0,
) -> tuple[LossFn, torch.Tensor | None]:
    """The training loss of `remedy` and its class weights (None where unweighted).

    inverse / effective: weighted cross-entropy; focal: focal loss; anything else (none,
    sampling, the post-hoc remedies): plain cross-entropy.
    """
    from tamrin.train.objectives import cross_entropy

    if remedy in ("inverse", "effective"):
        w = class_weights(counts, remedy, beta)  # type: ignore[arg-type]
        return weighted_cross_entropy(w), w
    if remedy == "focal":
        return focal(gamma), None
    return cross_entropy(label_smoothing), None
