"""The open training step: objectives plug into `fit` without touching it; callbacks hook in."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tamrin.config import seed_everything
from tamrin.data.batches import Batches, MixSampler, ShuffleSampler
from tamrin.errors import RunInterrupted
from tamrin.train.callbacks import EMA, Callback, Pruning
from tamrin.train.fit import fit
from tamrin.train.objectives import Classify, Head, MultiTask, StepOutput
from tamrin.train.optim import TrainConfig

CPU = torch.device("cpu")


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "lr": 0.05, "scheduler": "none", "select": "val_acc", **kw})


def _two_heads_data(n: int = 128) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    cls = (x[:, 0] > 0).long()
    rot = (x[:, 1] > 0).long() + 2 * (x[:, 2] > 0).long()
    labelled = torch.arange(n) % 8 == 0  # 1 in 8 has a class label
    return {"x": x, "cls": torch.where(labelled, cls, -100), "rot": rot, "labelled": labelled}


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.core = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
        self.cls, self.rot = nn.Linear(16, 2), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.core(x)  # (B, 16)
        return {"cls": self.cls(h), "rot": self.rot(h)}


def test_multitask_masked_loss_counts_only_labelled_samples() -> None:
    data = _two_heads_data()
    torch.manual_seed(0)
    model = TwoHeads()
    obj = MultiTask(
        {
            "cls": Head("cls", weight=10.0, mask="labelled"),
            "rot": Head("rot", weight=1.0),
        }
    )
    batch = {k: v[:32] for k, v in data.items()}
    out = obj.step(model, batch)
    logits = model(batch["x"])
    keep = batch["labelled"]
    want_cls = F.cross_entropy(logits["cls"][keep], batch["cls"][keep])
    want_rot = F.cross_entropy(logits["rot"], batch["rot"])
    torch.testing.assert_close(out.loss, 10.0 * want_cls + want_rot)
    torch.testing.assert_close(out.parts["loss_cls"], want_cls)
    assert out.count == 32 and set(out.parts) == {"loss_cls", "cls_acc", "loss_rot", "rot_acc"}
    empty = {**batch, "labelled": torch.zeros(32, dtype=torch.bool)}
    out = obj.step(model, empty)  # no labelled sample: the class head adds nothing
    torch.testing.assert_close(out.loss, F.cross_entropy(model(batch["x"])["rot"], batch["rot"]))
    out.loss.backward()  # still attached to the graph


def test_fit_trains_a_dict_batch_two_head_model_with_a_mix_sampler() -> None:
    data = _two_heads_data(256)
    labelled = data["labelled"].nonzero().flatten()
    unlabelled = (~data["labelled"]).nonzero().flatten()
    sampler = MixSampler(
        labelled, unlabelled, labelled_per_batch=8, unlabelled_per_batch=24, seed=0
    )
    seed_everything(0)
    model = TwoHeads()
    obj = MultiTask({"cls": Head("cls", mask="labelled"), "rot": Head("rot")})
    res = fit(model, Batches(data, sampler), _cfg(epochs=6, select="train_loss"), device=CPU,
              objective=obj)  # fmt: skip
    first, last = res.history[0], res.history[-1]
    assert {"train_loss_cls", "train_loss_rot", "train_cls_acc", "train_rot_acc"} <= set(last)
    assert last["train_loss"] < first["train_loss"]
    assert last["train_rot_acc"] > 0.5  # learned the 4-way pretext task


class TokenModel(nn.Module):
    """(ids (B, T), mask (B, T)) -> logits: a stand-in for text models with attention masks."""

    def __init__(self) -> None:
        super().__init__()
        self.emb, self.out = nn.Embedding(20, 8), nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).float()  # (B, T, 1)
        return self.out((self.emb(ids) * m).sum(1) / m.sum(1).clamp_min(1))


class TokenObjective:
    """A custom step: two input fields, padded positions ignored."""

    def step(self, model: nn.Module, batch) -> StepOutput:
        logits = model(batch["ids"], batch["mask"])
        loss = F.cross_entropy(logits, batch["y"])
        acc = (logits.argmax(1) == batch["y"]).double().mean()
        return StepOutput(loss, {"acc": acc.detach()}, len(batch["y"]))

    def epoch_end(self) -> dict[str, float]:
        return {"custom_stat": 1.0}


def test_custom_objective_with_token_ids_and_masks() -> None:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 20, (200, 6), generator=g)
    y = (ids[:, 0] < 10).long()
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[:, 4:] = torch.rand(200, 2, generator=g) < 0.5
    seed_everything(0)
    batches = Batches({"ids": ids, "mask": mask, "y": y}, ShuffleSampler(200, 20, seed=0))
    res = fit(TokenModel(), batches, _cfg(epochs=8, lr=0.5, select="train_acc"), device=CPU,
              objective=TokenObjective())  # fmt: skip
    assert res.history[-1]["custom_stat"] == 1.0
    assert res.history[-1]["train_acc"] > res.history[0]["train_acc"]


def _classify_setup():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(96, 6, generator=g)
    y = (x.sum(1) > 0).long()
    seed_everything(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    batches = Batches({"x": x, "y": y}, ShuffleSampler(96, 16, seed=0))

    def validate(m: nn.Module) -> dict[str, float]:
        m.eval()
        with torch.no_grad():
            acc = (m(x).argmax(1) == y).double().mean().item()
        m.train()
        return {"val_acc": acc}

    return model, batches, validate


def test_pruning_callback_stops_with_status_pruned() -> None:
    model, batches, validate = _classify_setup()
    reported: list[tuple[int, float]] = []
    pruner = Pruning(
        "val_acc", lambda step, v: reported.append((step, v)), lambda: len(reported) >= 2
    )
    res = fit(model, batches, _cfg(epochs=10), device=CPU, validate=validate, callbacks=[pruner])
    assert res.status == "pruned" and res.epochs_run == 2
    assert [s for s, _ in reported] == [1, 2] and "pruned after epoch 2" in res.message


def test_ema_is_validated_kept_and_resumed_exactly(tmp_path: Path) -> None:
    def run(ckpt_dir: Path, stop_at: tuple[int, int] | None = None):
        model, batches, validate = _classify_setup()

        class Stop(Callback):
            def on_batch_end(self, model, epoch, batch) -> None:
                if (epoch, batch) == stop_at:
                    raise KeyboardInterrupt

        ema = EMA(decay=0.9)
        cbs = [ema, Stop()]
        return model, ema, fit(model, batches, _cfg(epochs=3), device=CPU, validate=validate,
                               callbacks=cbs, checkpoint_dir=ckpt_dir)  # fmt: skip

    _, ema, ref = run(tmp_path / "ref")
    best = torch.load(tmp_path / "ref" / "best.pt", weights_only=True)["model"]
    raw = torch.load(tmp_path / "ref" / "last.pt", weights_only=False)["model"]
    assert ema.shadow is not None and ref.best["epoch"] == 3
    # best.pt holds the averaged weights (what validation scored), last.pt the raw ones
    for k in ("0.weight", "3.weight"):
        assert torch.equal(best[k], ema.shadow[k]) and not torch.equal(best[k], raw[k])
    with pytest.raises(RunInterrupted):
        run(tmp_path / "cut", stop_at=(1, 2))
    _, ema2, res = run(tmp_path / "cut")
    assert [r["val_acc"] for r in res.history] == [r["val_acc"] for r in ref.history]
    for k, v in ema.shadow.items():
        assert torch.equal(v, ema2.shadow[k]), k


def test_classify_logs_each_named_loss_only_when_several() -> None:
    model = nn.Linear(4, 3)
    batch = {"x": torch.randn(5, 4), "y": torch.tensor([0, 1, 2, 0, 1])}
    out = Classify().step(model, batch)
    assert set(out.parts) == {"acc"} and out.count == 5


def test_a_callback_can_drive_a_custom_schedule() -> None:
    model, batches, validate = _classify_setup()

    class StepDecay(Callback):  # lr halves every 3 optimizer steps
        def on_train_start(self, model, optimizer) -> None:
            self.opt, self.steps = optimizer, 0

        def on_batch_end(self, model, epoch, batch) -> None:
            self.steps += 1
            for group in self.opt.param_groups:
                group["lr"] = 0.1 * 0.5 ** (self.steps // 3)

    res = fit(model, batches, _cfg(epochs=2), device=CPU, validate=validate,
              callbacks=[StepDecay()])  # fmt: skip
    assert [r["lr"] for r in res.history] == [0.1 * 0.5 ** (6 // 3), 0.1 * 0.5 ** (12 // 3)]
