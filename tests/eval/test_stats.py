"""Welch t-test, q-values and verdicts on fixed toy numbers with known answers."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from tamrin.eval.stats import bh_qvalues, verdict, welch


def test_welch_matches_the_formula_on_known_numbers() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    c = welch(a, b)
    # var(a) = 2.5, var(b) = 10: se = sqrt(2.5/5 + 10/5), df = 2.5^2 / (0.5^2/4 + 2^2/4)
    assert c.diff == pytest.approx(-3.0)
    assert c.se == pytest.approx(math.sqrt(2.5))
    assert c.t == pytest.approx(-3.0 / math.sqrt(2.5))
    assert c.df == pytest.approx(6.25 / 1.0625)
    assert c.p == pytest.approx(2 * sps.t.sf(3.0 / math.sqrt(2.5), 6.25 / 1.0625))


def test_welch_on_constant_results() -> None:
    assert welch([0.1, 0.1, 0.1], [0.1, 0.1]).p == 1.0
    c = welch([0.1, 0.1, 0.1], [0.9, 0.9, 0.9])
    assert c.p == 0.0 and c.t == -math.inf
    with pytest.raises(ValueError, match="2\\+ values"):
        welch([0.5], [0.4, 0.6])


def test_verdicts_significant_and_not() -> None:
    same = welch([0.981, 0.983, 0.982, 0.984, 0.980], [0.980, 0.982, 0.981, 0.979, 0.983])
    text = verdict("LeakyReLU(0.01)", "ReLU", "test accuracy", same)
    assert text == (
        "LeakyReLU(0.01) vs ReLU: +0.10 ± 0.10 points test accuracy, p = 0.35: "
        "no significant difference"
    )
    worse = welch([0.50, 0.52, 0.51], [0.90, 0.91, 0.92])
    text = verdict("sigmoid", "ReLU", "test accuracy", worse)
    assert text.startswith("sigmoid vs ReLU: -40.00 ± 0.82 points test accuracy, p = ")
    assert text.endswith("significantly worse than ReLU")
    lower_is_better = verdict("B", "A", "loss", worse, rates=False, higher_is_better=False)
    assert "-0.40 ± 0.01 loss" in lower_is_better and lower_is_better.endswith("better than A")


def test_bh_qvalues() -> None:
    assert bh_qvalues([0.01, 0.04, 0.5]) == pytest.approx([0.03, 0.06, 0.5])
    assert bh_qvalues([]) == []
