"""The fit loop: exact resume after an interruption, NaN handling, early stopping, losses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from tamrin.config import seed_everything
from tamrin.data.augment import AugmentConfig, image_augment
from tamrin.data.batches import Batches, ShuffleSampler
from tamrin.errors import RunInterrupted
from tamrin.train import checkpoint as ckpt
from tamrin.train.callbacks import Callback
from tamrin.train.fit import classification_validator, fit
from tamrin.train.objectives import Classify, LossTerm, cross_entropy
from tamrin.train.optim import TrainConfig

CPU = torch.device("cpu")


def _data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 6, 6, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()
    return x, y


def BatchIterator(x, y, batch_size, *, seed=0, augment=None) -> Batches:
    """Shuffled, augmented {"x", "y"} batches (the pre-v2 iterator's behaviour)."""
    sampler = ShuffleSampler(len(y), batch_size, seed=seed)
    return Batches({"x": x, "y": y}, sampler, augment={"x": image_augment(augment)})


class _OnBatch(Callback):
    def __init__(self, fn) -> None:
        self.fn = fn

    def on_batch_end(self, model, epoch, batch) -> None:
        self.fn(epoch, batch)


def _model() -> nn.Module:
    # BatchNorm (running stats) and Dropout (global RNG) make resume exactness non-trivial.
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(64, 4),
    )


def _train(tmp: Path | None, cfg: TrainConfig, on_batch=None) -> tuple[nn.Module, object]:
    seed_everything(0)
    torch.manual_seed(0)
    model = _model()
    x, y = _data()
    it = BatchIterator(x, y, 16, seed=0, augment=AugmentConfig(crop_padding=1, hflip=True))
    result = fit(
        model,
        it,
        cfg,
        device=CPU,
        validate=classification_validator(x[:32], y[:32]),
        checkpoint_dir=tmp,
        callbacks=[_OnBatch(on_batch)] if on_batch else [],
    )
    return model, result


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "lr": 0.05, "scheduler": "onecycle", **kw})


def test_resume_after_interrupt_is_exact(tmp_path: Path) -> None:
    ref_model, ref = _train(tmp_path / "ref", _cfg())

    def stop_at(epoch: int, batch: int) -> None:
        if (epoch, batch) == (1, 2):  # mid-epoch, after the 3rd step of epoch 2
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted, match="epoch 2, batch 3"):
        _train(tmp_path / "cut", _cfg(), on_batch=stop_at)
    saved = ckpt.load(tmp_path / "cut" / "last.pt")
    assert (saved["epoch"], saved["batch"]) == (1, 3)
    torch.manual_seed(123)  # a different global RNG before resuming: the checkpoint restores it
    model, res = _train(tmp_path / "cut", _cfg())
    assert [r["val_loss"] for r in res.history] == [r["val_loss"] for r in ref.history]
    assert [r["train_loss"] for r in res.history] == [r["train_loss"] for r in ref.history]
    for a, b in zip(model.state_dict().values(), ref_model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_resume_from_epoch_checkpoint_is_exact(tmp_path: Path) -> None:
    """Killed during epoch 2 (only epoch 1's last.pt on disk): ends like an uninterrupted run."""
    import shutil

    _, ref = _train(tmp_path / "ref", _cfg(epochs=3))
    cut = tmp_path / "cut"
    seed_everything(0)
    model = _model()
    x, y = _data()
    it = BatchIterator(x, y, 16, seed=0, augment=AugmentConfig(crop_padding=1, hflip=True))

    def keep_epoch_one(row: dict) -> None:
        if row["epoch"] == 1:
            shutil.copy(cut / "last.pt", tmp_path / "epoch1.pt")

    fit(
        model,
        it,
        _cfg(epochs=3),
        device=CPU,
        validate=classification_validator(x[:32], y[:32]),
        checkpoint_dir=cut,
        on_epoch=keep_epoch_one,
    )
    shutil.copy(tmp_path / "epoch1.pt", cut / "last.pt")  # as if killed (-9) during epoch 2
    assert ckpt.load(cut / "last.pt")["epoch"] == 1
    _, res = _train(cut, _cfg(epochs=3))
    assert [r["val_loss"] for r in res.history] == [r["val_loss"] for r in ref.history]


def test_nan_loss_stops_and_keeps_last_good(tmp_path: Path) -> None:
    calls = {"n": 0}

    def exploding(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] > 12 else loss  # epoch 3 of 6 batches each

    seed_everything(0)
    model = _model()
    x, y = _data()
    res = fit(
        model,
        BatchIterator(x, y, 16),
        _cfg(epochs=4),
        device=CPU,
        objective=Classify({"ce": LossTerm(exploding)}),
        checkpoint_dir=tmp_path,
    )
    assert res.status == "stopped_nonfinite"
    assert "loss became nan in epoch 3" in res.message
    assert len(res.history) == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_early_stopping_and_best_epoch(tmp_path: Path) -> None:
    _, res = _train(
        tmp_path, _cfg(epochs=30, lr=0.5, patience=2, select="val_loss", scheduler="none")
    )
    assert res.status == "stopped_early"
    assert res.epochs_run < 30
    best = min(res.history, key=lambda r: r["val_loss"])
    assert res.best["epoch"] == best["epoch"] and res.best["mode"] == "min"
    assert res.epochs_run - res.best["epoch"] == 2


def test_weighted_losses_are_logged() -> None:
    seed_everything(0)
    x, y = _data()
    terms = {
        "ce": LossTerm(cross_entropy(), 1.0),
        "l2": LossTerm(lambda out, _: out.pow(2).mean(), 0.5),
    }
    res = fit(
        _model(), BatchIterator(x, y, 16), _cfg(epochs=1), device=CPU, objective=Classify(terms)
    )
    row = res.history[0]
    assert row["train_loss"] == pytest.approx(
        row["train_loss_ce"] + 0.5 * row["train_loss_l2"], rel=1e-6
    )


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("sched", ["none", "step", "cosine", "onecycle"])
def test_every_optimizer_and_schedule_trains(name: str, sched: str) -> None:
    seed_everything(0)
    x, y = _data()
    lr = 0.05 if name == "sgd" else 0.01
    res = fit(
        _model(),
        BatchIterator(x, y, 16),
        _cfg(epochs=4, optimizer=name, scheduler=sched, lr=lr, step_epochs=2, grad_clip=1.0),
        device=CPU,
    )
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
