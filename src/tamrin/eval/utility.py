"""The utility of pretraining, U(n) = n̂/n − 1 (Newell & Deng, CVPR 2020).

n̂ is the number of labels a model trained from scratch needs to match the accuracy the
pretrained model reaches with n labels. The from-scratch curve is measured at a few label counts
only, so n̂ is read off it by linear interpolation of accuracy in log n, at the first crossing
(the curve need not be monotone). When the from-scratch model already matches at the smallest
count, n̂ is at most that count ("< min": U is an upper bound); when it never matches, n̂ is
more than the largest count ("> max": U is a lower bound) — reported as such, never as a
made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal


@dataclass(frozen=True)
class Utility:
    """U(n) with how it was found."""

    n: int  # labels the pretrained model used
    target: float  # its accuracy, which the from-scratch model must match
    n_hat: float  # labels the from-scratch model needs (a bound unless kind == "interpolated")
    utility: float  # n_hat / n - 1 (a bound likewise)
    kind: Literal["interpolated", "at most", "more than"]
    between: tuple[int, int] | None = None  # the measured counts n_hat lies between

    def describe(self) -> str:
        """One line for a report: the value, or the bound and why."""
        if self.kind == "interpolated":
            lo, hi = self.between or (0, 0)
            return (
                f"U({self.n}) = {self.utility:.2f} (n̂ = {self.n_hat:.0f}, interpolated in log n "
                f"between {lo} and {hi} labels)"
            )
        if self.kind == "at most":
            return (
                f"U({self.n}) ≤ {self.utility:.2f} (from scratch already matches {self.target:.4f} "
                f"with the fewest labels measured, {self.n_hat:.0f})"
            )
        return (
            f"U({self.n}) > {self.utility:.2f} (never matched: from scratch stays below "
            f"{self.target:.4f} up to the most labels measured, {self.n_hat:.0f})"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "target": self.target,
            "n_hat": self.n_hat,
            "utility": self.utility,
            "kind": self.kind,
            "between": list(self.between) if self.between else None,
            "text": self.describe(),
        }


def labels_needed(
    counts: Sequence[int], accuracies: Sequence[float], target: float
) -> tuple[float, Literal["interpolated", "at most", "more than"], tuple[int, int] | None]:
    """(n̂, kind, bracketing counts): where the (counts, accuracies) curve first reaches `target`."""
    if len(counts) != len(accuracies) or not counts:
        raise ValueError("counts and accuracies must be non-empty and of equal length")
    points = sorted(zip(counts, accuracies, strict=True))
    if any(n <= 0 for n, _ in points):
        raise ValueError("label counts must be positive")
    n0, a0 = points[0]
    if a0 >= target:
        return float(n0), "at most", None
    for (n_lo, a_lo), (n_hi, a_hi) in pairwise(points):
        if a_hi >= target > a_lo:
            frac = (target - a_lo) / (a_hi - a_lo)
            log_n = math.log(n_lo) + frac * (math.log(n_hi) - math.log(n_lo))
            return math.exp(log_n), "interpolated", (int(n_lo), int(n_hi))
    return float(points[-1][0]), "more than", None


def utility(
    n: int, pretrained_accuracy: float, counts: Sequence[int], scratch_accuracies: Sequence[float]
) -> Utility:
    """U(n) for a pretrained model at n labels against the from-scratch curve."""
    n_hat, kind, between = labels_needed(counts, scratch_accuracies, pretrained_accuracy)
    return Utility(n, pretrained_accuracy, n_hat, n_hat / n - 1.0, kind, between)
