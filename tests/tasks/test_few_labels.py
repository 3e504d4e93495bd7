"""Few-label self-supervision: the masked class loss, the multi-task batches, the cached core.

HW6's joint training fed every unlabelled image to the class loss with target 0 and stayed at
chance; the fix is a class loss masked to labelled images. So: unlabelled samples must give the
class loss exactly zero gradient and their (placeholder) labels must not change it, while the
zero-filled mode reproduces the homework on purpose. `multitask_batches` must mark exactly the
upright copies of labelled images. The rotation-pretrained core is cached by its settings: a
second run (even with another run seed) reuses it, a changed pretraining setting retrains.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tamrin import runner
from tamrin.data.prepare import ImageSplits, Normalizer
from tamrin.models import build_model
from tamrin.models.rotnet import RotationNet
from tamrin.recipes.rotation import MultiTaskConfig, multitask_batches, multitask_objective
from tamrin.tasks.few_labels import FewLabels, few_label_split
from tamrin.train.objectives import Head, MultiTask

B = 8  # images in the loss tests' batch
LABELLED = torch.tensor([True, False, True, False, False, True, False, False])


def _net() -> RotationNet:
    torch.manual_seed(0)
    net = build_model("conv-core", in_shape=(3, 16, 16), out_dim=10, width=8, rotation_head=True)
    assert isinstance(net, RotationNet)
    # eval mode: BatchNorm in train mode normalizes with the batch's own statistics, so every
    # sample's output (and loss) depends on every other sample's input; in eval mode it uses
    # the running statistics, samples are independent and per-sample gradients are exact.
    return net.eval()


def _batch(y_unlabelled: int = -1, *, zero_filled: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, 3, 16, 16, generator=g)
    y = torch.tensor([3, 0, 7, 0, 0, 1, 0, 0])
    y[~LABELLED] = 0 if zero_filled else y_unlabelled
    mask = torch.ones(B, dtype=torch.bool) if zero_filled else LABELLED.clone()
    rot = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    return {"x": x, "y": y, "labelled": mask, "rot": rot}


def _objective(rotation_weight: float = 1.0) -> MultiTask:
    heads = {"class": Head("y", mask="labelled"), "rotation": Head("rot", weight=rotation_weight)}
    return MultiTask(heads, method="heads")


def test_unlabelled_images_give_the_class_loss_no_gradient() -> None:
    net, batch = _net(), _batch()
    batch["x"].requires_grad_(True)
    out = _objective(rotation_weight=0.0).step(net, batch)  # the class loss alone
    out.loss.backward()
    grad = batch["x"].grad
    assert grad is not None
    assert torch.count_nonzero(grad[~LABELLED]) == 0  # exactly zero, not merely small
    assert all(torch.count_nonzero(row) > 0 for row in grad[LABELLED])
    # with the rotation head weighted in, every image gets a gradient
    batch["x"].grad = None
    _objective().step(net, batch).loss.backward()
    assert all(torch.count_nonzero(row) > 0 for row in batch["x"].grad)


def test_masked_loss_is_the_labelled_images_cross_entropy() -> None:
    net, batch = _net(), _batch()
    out = _objective().step(net, batch)
    with torch.no_grad():
        heads = net.heads(batch["x"])
        ce_class = torch.nn.functional.cross_entropy(heads["class"][LABELLED], batch["y"][LABELLED])
        ce_rot = torch.nn.functional.cross_entropy(heads["rotation"], batch["rot"])
    torch.testing.assert_close(out.parts["loss_class"], ce_class, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.parts["loss_rotation"], ce_rot, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.loss.detach(), ce_class + ce_rot, rtol=0, atol=1e-6)
    assert out.count == B and set(out.parts) == {
        "loss_class",
        "class_acc",
        "loss_rotation",
        "rotation_acc",
    }


def test_unlabelled_targets_do_not_matter_unless_zero_filled() -> None:
    net = _net()
    step = _objective().step
    with torch.no_grad():
        masked = [step(net, _batch(y_unl)).loss for y_unl in (-1, 0, 5)]
        assert torch.equal(masked[0], masked[1]) and torch.equal(masked[0], masked[2])
        filled = step(net, _batch(zero_filled=True)).loss
        assert not torch.equal(filled, masked[0])  # HW6: the unlabelled images say "class 0"
        relabelled = _batch(zero_filled=True)
        relabelled["y"][~LABELLED] = 5
        assert not torch.equal(step(net, relabelled).loss, filled)


def test_a_batch_without_labels_adds_no_class_loss() -> None:
    net, batch = _net(), _batch()
    batch["labelled"][:] = False
    out = _objective().step(net, batch)
    assert float(out.parts["loss_class"]) == 0.0 and "class_acc" not in out.parts
    out.loss.backward()  # the zero is still attached to the graph
    assert net.rotation is not None and net.rotation.weight.grad is not None
    assert torch.count_nonzero(net.classifier.weight.grad) == 0


# ----------------------------------------------------------------------------- multi-task batches


def _splits(n: int = 60) -> ImageSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 16, 16, generator=g)
    y = torch.arange(n) % 10
    norm = Normalizer(torch.zeros(3), torch.ones(3))
    classes = [str(i) for i in range(10)]
    return ImageSplits(x, y, x[:10].clone(), y[:10].clone(), classes, norm)


def _multitask(class_targets: str) -> tuple[MultiTaskConfig, ImageSplits, FewLabels]:
    cfg = MultiTaskConfig(class_targets=class_targets, labelled_per_batch=4)  # type: ignore[arg-type]
    cfg.train.batch_size = 16
    cfg.validate()
    splits = _splits()
    return cfg, splits, few_label_split(splits, 20, seed=0)  # 2 labels per class, 40 unlabelled


@pytest.mark.parametrize("class_targets", ["masked", "zero-filled"])
def test_multitask_batches_mark_upright_labelled_copies(class_targets: str) -> None:
    cfg, splits, labels = _multitask(class_targets)
    batches = multitask_batches(cfg, splits, labels, seed=3)
    assert len(batches) == 4 and batches.batch_size == 64  # ceil(40 / 12) batches of 4 x 16
    sampler = batches.inner.sampler
    is_labelled = torch.zeros(60, dtype=torch.bool)
    is_labelled[torch.from_numpy(labels.labelled)] = True
    seen_labelled = 0
    for batch, idx in zip(batches.epoch(0), sampler.batches(0), strict=True):
        b = len(idx)
        assert batch["x"].shape == (4 * b, 3, 16, 16)
        assert batch["rot"].tolist() == [0] * b + [1] * b + [2] * b + [3] * b
        upright = batch["rot"] == 0
        true_y = splits.train_y[idx].repeat(4)
        lab_rows = is_labelled[idx].repeat(4)
        assert lab_rows[:4].all() and not lab_rows[4:b].any()  # labelled images first
        if class_targets == "masked":
            assert torch.equal(batch["labelled"], upright & lab_rows)
            assert torch.equal(batch["y"], torch.where(lab_rows, true_y, -1))
        else:  # HW6: every upright image is "labelled", the unlabelled ones as class 0
            assert torch.equal(batch["labelled"], upright)
            assert torch.equal(batch["y"], torch.where(lab_rows, true_y, 0))
        seen_labelled += int((batch["labelled"] & lab_rows).sum())
    assert seen_labelled == 4 * 4  # 4 labelled upright images in each of the 4 batches


def test_multitask_objective_masks_the_class_head() -> None:
    cfg = MultiTaskConfig(class_weight=2.0, rotation_weight=0.5)
    obj = multitask_objective(cfg)
    assert obj.method == "heads"
    assert obj.heads["class"].mask == "labelled" and obj.heads["class"].target == "y"
    assert obj.heads["class"].weight == 2.0
    assert obj.heads["rotation"].mask is None and obj.heads["rotation"].weight == 0.5


def test_masked_multitask_batches_train_without_touching_placeholder_labels() -> None:
    # a masked batch's -1 targets would make cross-entropy raise if the mask leaked
    cfg, splits, labels = _multitask("masked")
    batches = multitask_batches(cfg, splits, labels, seed=0)
    net, batch = _net(), next(iter(batches.epoch(0)))
    assert (batch["y"] == -1).any()
    out = multitask_objective(cfg).step(net.train(), batch)
    assert torch.isfinite(out.loss)


# ----------------------------------------------------------------------------- the cached core


def _pretrain_metrics(result: runner.RunResult) -> dict:
    return json.loads((result.run_dir / "metrics.json").read_text())["pretrain"]


@pytest.mark.slow
def test_the_pretrained_core_is_cached_by_its_settings(tiny_data: Path, tmp_path: Path) -> None:
    # tiny_data: a generated CIFAR-10 in the official format and TAMRIN_CACHE under tmp_path
    out = tmp_path / "runs"
    first = runner.run("rotation-ssl", smoke=True, out=out, quiet=True)
    again = runner.run("rotation-ssl", smoke=True, seed=1, out=out, quiet=True)  # another seed
    changed = runner.run(
        "rotation-ssl", {"pretrain.epochs": 1}, smoke=True, seed=1, out=out, quiet=True
    )
    pre = [_pretrain_metrics(r) for r in (first, again, changed)]
    assert [p["cached"] for p in pre] == [False, True, False]
    assert pre[0]["key"] == pre[1]["key"] != pre[2]["key"]
    assert pre[1]["rotation_val_acc"] == pre[0]["rotation_val_acc"]  # the kept core's record
    assert pre[0]["epochs_run"] == 2 and pre[2]["epochs_run"] == 1
    kept = tmp_path / "cache" / "pretrained"
    assert sorted(p.name for p in kept.iterdir()) == sorted({pre[0]["key"], pre[2]["key"]})
    assert all((kept / p["key"] / "meta.json").is_file() for p in pre)
