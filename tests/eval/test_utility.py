"""U(n) = n̂/n − 1 on hand-made curves whose answers are known in closed form.

n̂ is read off the from-scratch curve by linear interpolation of accuracy in log n, at the
first crossing; where the curve starts above or never reaches the target, the value is a bound
and must say so (`kind`, `describe()`), never a made-up number.
"""

from __future__ import annotations

import math

import pytest

from tamrin.eval.utility import Utility, labels_needed, utility

COUNTS = [10, 100, 1000]
SCRATCH = [0.2, 0.4, 0.6]


def test_interpolates_in_log_n() -> None:
    u = utility(10, 0.5, COUNTS, SCRATCH)  # 0.5 is halfway from 0.4 (100) to 0.6 (1000)
    assert u.kind == "interpolated" and u.between == (100, 1000)
    assert u.n_hat == pytest.approx(math.sqrt(100 * 1000), rel=1e-12)  # 316.23
    assert u.utility == pytest.approx(math.sqrt(1e5) / 10 - 1, rel=1e-12)  # 30.62
    assert round(u.n_hat, 2) == 316.23 and round(u.utility, 2) == 30.62
    assert u.n == 10 and u.target == 0.5
    assert u.describe() == (
        "U(10) = 30.62 (n̂ = 316, interpolated in log n between 100 and 1000 labels)"
    )


def test_a_quarter_of_the_way_in_log_n() -> None:
    n_hat, kind, between = labels_needed(COUNTS, SCRATCH, 0.25)  # 1/4 from 10 to 100
    assert kind == "interpolated" and between == (10, 100)
    assert n_hat == pytest.approx(10 ** (1 + 0.25), rel=1e-12)  # 17.78


def test_exact_node_hit() -> None:
    u = utility(10, 0.4, COUNTS, SCRATCH)  # the scratch curve reaches 0.4 at exactly 100
    assert u.kind == "interpolated" and u.between == (10, 100)
    assert u.n_hat == pytest.approx(100.0, rel=1e-12)
    assert u.utility == pytest.approx(9.0, rel=1e-12)
    n_hat, kind, between = labels_needed(COUNTS, SCRATCH, 0.6)  # the last node
    assert (kind, between) == ("interpolated", (100, 1000))
    assert n_hat == pytest.approx(1000.0, rel=1e-12)


@pytest.mark.parametrize("target", [0.2, 0.15])
def test_at_most_when_scratch_already_matches_at_the_fewest_labels(target: float) -> None:
    u = utility(20, target, COUNTS, SCRATCH)
    assert u.kind == "at most" and u.between is None
    assert u.n_hat == 10.0 and u.utility == pytest.approx(-0.5)  # 10 / 20 - 1
    assert u.describe().startswith("U(20) ≤ -0.50 (from scratch already matches")
    assert "fewest labels measured, 10)" in u.describe()


def test_more_than_when_never_matched() -> None:
    u = utility(10, 0.7, COUNTS, SCRATCH)
    assert u.kind == "more than" and u.between is None
    assert u.n_hat == 1000.0 and u.utility == 99.0
    text = u.describe()
    assert text.startswith("U(10) > 99.00") and "never matched" in text
    assert "0.7000" in text and "1000)" in text


def test_first_crossing_of_a_non_monotone_curve() -> None:
    counts, acc = [10, 20, 50, 100], [0.2, 0.5, 0.3, 0.6]
    n_hat, kind, between = labels_needed(counts, acc, 0.45)  # crosses 10-20, again 50-100
    assert kind == "interpolated" and between == (10, 20)
    assert n_hat == pytest.approx(10 * 2 ** (5 / 6), rel=1e-12)  # frac = 0.25 / 0.3
    # the dip below the target later does not matter; a target only the end reaches does
    n_hat, _, between = labels_needed(counts, acc, 0.55)
    assert between == (50, 100)
    assert n_hat == pytest.approx(50 * 2 ** (5 / 6), rel=1e-12)


def test_unsorted_points_are_sorted_first() -> None:
    shuffled = labels_needed([1000, 10, 100], [0.6, 0.2, 0.4], 0.5)
    assert shuffled == labels_needed(COUNTS, SCRATCH, 0.5)
    assert shuffled[2] == (100, 1000)


@pytest.mark.parametrize(
    ("counts", "accuracies"),
    [([], []), ([10, 100], [0.2]), ([10], [0.2, 0.3]), ([0, 10], [0.1, 0.2]), ([-5], [0.1])],
)
def test_bad_inputs_raise(counts: list[int], accuracies: list[float]) -> None:
    with pytest.raises(ValueError):
        labels_needed(counts, accuracies, 0.5)
    with pytest.raises(ValueError):
        utility(10, 0.5, counts, accuracies)


def test_as_dict_carries_the_bound_and_the_text() -> None:
    u = utility(10, 0.5, COUNTS, SCRATCH)
    d = u.as_dict()
    assert d["kind"] == "interpolated" and d["between"] == [100, 1000]
    assert d["n_hat"] == u.n_hat and d["utility"] == u.utility and d["text"] == u.describe()
    bound = Utility(10, 0.7, 1000.0, 99.0, "more than").as_dict()
    assert bound["between"] is None and bound["text"].startswith("U(10) > 99.00")
