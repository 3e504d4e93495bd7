"""Statistics of a controlled study: Welch's t-test between two sets of per-seed results,
Benjamini–Hochberg q-values over a study's comparisons, and the verdict sentence a report
prints (generated from the numbers, never written by hand)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05  # significance level of the verdicts


@dataclass(frozen=True)
class Comparison:
    """A variant against its baseline on one metric (per-seed values in, summary out)."""

    n: int  # seeds of the variant
    n_baseline: int  # seeds of the baseline
    diff: float  # mean(variant) - mean(baseline)
    se: float  # standard error of the difference: sqrt(s1^2/n1 + s2^2/n2)
    t: float  # Welch's t statistic (inf when both are constant and differ)
    df: float  # Welch–Satterthwaite degrees of freedom
    p: float  # two-sided p-value
    ci_low: float  # 95% confidence interval of the difference (Welch's t quantile)
    ci_high: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in self.__dict__.items()
        }


def welch(variant: Sequence[float], baseline: Sequence[float]) -> Comparison:
    """Two-sided Welch t-test (scipy's `ttest_ind(equal_var=False)`) of variant vs baseline.

    Needs 2+ values on each side. When both sides have zero variance the test is undefined;
    then equal means give p = 1 and different means p = 0 (the difference is exact, every
    seed agrees), and t is 0 or ±inf.
    """
    a = np.asarray(variant, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"a t-test needs 2+ values per side; got {a.size} and {b.size}")
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # every seed agrees on each side (exactly)
        diff = float(a[0] - b[0])
        t = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        df0 = float(a.size + b.size - 2)
        return Comparison(a.size, b.size, diff, 0.0, t, df0, 1.0 if diff == 0 else 0.0, diff, diff)
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    with warnings.catch_warnings():  # nearly equal values: scipy warns, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_ind(a, b, equal_var=False)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    return Comparison(
        a.size, b.size, diff, se, float(res.statistic), float(df), float(res.pvalue),
        diff - half, diff + half,
    )  # fmt: skip


def bh_qvalues(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (scipy's `false_discovery_control`)."""
    if not pvalues:
        return []
    return [float(q) for q in stats.false_discovery_control(np.asarray(pvalues), method="bh")]


def _points(metric_values_are_rates: bool) -> tuple[float, str]:
    return (100.0, " points") if metric_values_are_rates else (1.0, "")


def verdict(
    variant: str,
    baseline: str,
    metric: str,
    comparison: Comparison,
    *,
    rates: bool = True,
    higher_is_better: bool = True,
    alpha: float = ALPHA,
) -> str:
    """One sentence from the numbers, e.g. "LeakyReLU(0.01) vs ReLU: +0.12 ± 0.08 points test
    accuracy, p = 0.21: no significant difference".

    `rates` writes differences of [0, 1] metrics in percentage points; ± is the standard error
    of the difference.
    """
    scale, unit = _points(rates)
    c = comparison
    head = (
        f"{variant} vs {baseline}: {c.diff * scale:+.2f} ± {c.se * scale:.2f}{unit} {metric}, "
        f"p = {_p(c.p)}"
    )
    if c.p >= alpha:
        return f"{head}: no significant difference"
    better = (c.diff > 0) == higher_is_better
    word = "better" if better else "worse"
    return f"{head}: significantly {word} than {baseline}"


def _p(p: float) -> str:
    if p == 0.0:
        return "0 (every seed agrees)"
    if p < 0.01:
        return f"{p:.2g}"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"  # 0.049 and 0.051 must not both read "0.05"
