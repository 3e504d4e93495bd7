"""ECE, reliability bins, PR curves and AP, checked against scikit-learn on random inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    precision_recall_curve,
    recall_score,
)

from tamrin.eval import calibration as cal
from tamrin.eval import figures as F
from tamrin.eval.metrics import classification_metrics


def _random(seed: int, n: int = 400, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1.5, (n, k))
    logits[np.arange(n), y] += rng.uniform(0, 2, n)
    p = np.exp(logits)
    return y, p / p.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
def test_reliability_bins_are_sklearns_and_ece_by_hand(seed: int) -> None:
    y, p = _random(seed)
    rel = cal.reliability(y, p, n_bins=10)
    conf, correct = p.max(1), (p.argmax(1) == y).astype(int)
    acc, mean_conf = calibration_curve(correct, conf, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(rel["bin_accuracy"], acc)
    np.testing.assert_allclose(rel["bin_confidence"], mean_conf)
    ece = 0.0
    for b in range(10):  # the definition, written out: bins [b/10, (b+1)/10)
        lo, hi = b / 10, (b + 1) / 10
        inside = (conf >= lo) & ((conf < hi) if b < 9 else (conf <= hi))
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    assert rel["ece"] == pytest.approx(ece)
    assert sum(rel["bin_count"]) == len(y)
    assert rel["mce"] >= rel["ece"]


def test_perfectly_confident_and_right_has_zero_ece() -> None:
    y = np.array([0, 1, 2, 1])
    p = np.eye(3)[y]
    assert cal.reliability(y, p)["ece"] == pytest.approx(0.0)


@pytest.mark.parametrize("seed", range(3))
def test_pr_curves_and_ap_are_sklearns(seed: int) -> None:
    y, p = _random(seed)
    curves, aps = cal.pr_curves(y, p)
    for c in range(p.shape[1]):
        precision, recall, _ = precision_recall_curve(y == c, p[:, c])
        np.testing.assert_allclose(curves[c][0], recall)
        np.testing.assert_allclose(curves[c][1], precision)
        assert aps[c] == pytest.approx(average_precision_score(y == c, p[:, c]))
    summary = cal.pr_summary(y, p, [f"c{i}" for i in range(5)])
    assert summary["average_precision_macro"] == pytest.approx(np.mean(aps))


def test_absent_class_has_no_ap() -> None:
    y, p = _random(0, k=4)
    y[y == 3] = 0
    _, aps = cal.pr_curves(y, p)
    assert aps[3] is None
    assert cal.pr_summary(y, p, list("abcd"))["average_precision_macro"] == pytest.approx(
        np.mean(aps[:3])
    )


@pytest.mark.parametrize("seed", range(3))
def test_metrics_the_study_compares_are_sklearns(seed: int) -> None:
    y, p = _random(seed)
    m = classification_metrics(y, p, [f"c{i}" for i in range(5)])
    pred = p.argmax(1)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["macro_recall"] == pytest.approx(recall_score(y, pred, average="macro"))


def _round_trip(info: object) -> object:
    return json.loads(json.dumps(F.to_data(info)))


def test_plot_data_round_trips_through_json_and_draws() -> None:
    y, p = _random(0)
    names = [f"c{i}" for i in range(5)]
    m = classification_metrics(y, p, names)
    _, aps = cal.pr_curves(y, p)
    plots = {
        "reliability": cal.reliability_info(cal.reliability(y, p)),
        "precision_recall": cal.pr_info(y, p, names, aps),
        "confusion_pair": cal.confusion_pair_info(m["confusion"], m["confusion_normalized"], names),
        "operating_point": cal.operating_point_info(
            [0.0, 0.5, 1.0], [0.5, 0.6, 0.55], 0.5, "balanced_accuracy"
        ),
    }
    for kind, info in plots.items():
        data = _round_trip(info)
        assert data == F.to_data(info), kind  # plain data: nothing lost in JSON
        for value in (info, data):  # drawn from the dataclass and from the JSON mapping
            fig = F.draw(kind, value)
            assert isinstance(fig, Figure) and fig.axes, kind
    assert len(F.draw("confusion_pair", plots["confusion_pair"]).axes) == 4  # 2 maps + 2 bars
    top = F.draw("reliability", plots["reliability"]).axes[0]
    assert f"ECE {plots['reliability'].ece:.4f}" in top.get_title()


def test_pr_info_keeps_the_curve_points_rounded() -> None:
    y, p = _random(1)
    y[y == 4] = 0  # class 4 absent: no curve, no AP
    curves, aps = cal.pr_curves(y, p)
    info = cal.pr_info(y, p, list("abcde"))
    assert info.curves[4] is None and info.aps[4] is None
    assert info.aps[:4] == pytest.approx(aps[:4])
    assert info.prevalence == pytest.approx([np.mean(y == c) for c in range(5)])
    for c in range(4):
        recall, precision = curves[c]
        kept = info.curves[c]
        assert kept is not None
        points = set(zip(kept["recall"], kept["precision"], strict=True))
        rounded = set(
            zip(np.round(recall, 4).tolist(), np.round(precision, 4).tolist(), strict=True)
        )
        assert points == rounded  # every distinct rounded point, nothing else
        assert kept["recall"][0] == pytest.approx(recall[0], abs=1e-4)
        assert kept["recall"][-1] == 0.0 and kept["precision"][-1] == 1.0


def test_pr_info_rejects_a_name_per_column_mismatch() -> None:
    y, p = _random(0)
    with pytest.raises(ValueError, match="one class name and AP per column"):
        cal.pr_info(y, p, ["a", "b"])


def test_kinds_are_found_in_a_process_that_never_imported_calibration() -> None:
    code = (
        "import sys; from tamrin.eval import figures as F; "
        "assert 'tamrin.eval.calibration' not in sys.modules; "
        "F.check_kind('reliability'); F.check_kind('matrices'); print(F.plot_kinds())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    for kind in ("reliability", "precision_recall", "confusion_pair", "operating_point"):
        assert kind in done.stdout
