"""cifar10-fast's own facts: time to each validation-accuracy target."""

from __future__ import annotations

from tamrin.recipes.fast import time_to_accuracy


def test_time_to_accuracy_sums_epoch_seconds_until_each_target() -> None:
    history = [
        {"seconds": 10.0, "val_acc": 0.85},
        {"seconds": 11.0, "val_acc": 0.91},
        {"seconds": 12.0, "val_acc": 0.90},
        {"seconds": 13.0, "val_acc": 0.935},
    ]
    assert time_to_accuracy(history, (0.90, 0.93, 0.94)) == {
        "val_90_s": 21.0,
        "val_93_s": 46.0,
        "val_94_s": None,
    }
