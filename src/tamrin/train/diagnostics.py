"""Probes of a network's inner state that the controlled studies measure.

- `unit_activity`: the fraction of hidden units never active ("dead ReLUs").
- `layer_profile`: per-layer activation std and weight-gradient norm on one batch
  (vanishing / exploding signals made visible).
- `row_spread`: per layer, the largest difference between two units' incoming weights —
  exactly 0 when symmetry was never broken (zero / constant initialization).
- `wrong_logit_gradient` / `saturation_curve`: how hard each loss pushes down a confidently
  wrong logit, the mechanism behind "cross-entropy beats MSE for classification".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from tamrin.train.objectives import LossFn

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.GELU, nn.Sigmoid, nn.Tanh)
WEIGHTED = (nn.Linear, nn.Conv2d)


def _activation_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, ACTIVATIONS)]


@contextmanager
def _capture(modules: Sequence[nn.Module], what: str) -> Iterator[list[torch.Tensor]]:
    """Record each module's input ('in') or output ('out') on the next forward pass."""
    seen: list[torch.Tensor] = []

    def hook(_m: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        seen.append((inputs[0] if what == "in" else output).detach())

    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def _units_never_positive(pre: torch.Tensor) -> torch.Tensor:
    """(B, D) or (B, C, H, W) pre-activations -> bool per unit (channel for convs)."""
    dims = [0, *range(2, pre.ndim)]
    return (pre > 0).sum(dim=dims) == 0


@torch.no_grad()
def unit_activity(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """Fraction of hidden units whose pre-activation is <= 0 on every input of `x`.

    For ReLU these units output 0 everywhere and get no gradient: they are dead. A conv
    unit is a channel (never positive at any position of any image).
    """
    was = model.training
    model.eval()
    with _capture(_activation_modules(model), "in") as pres:
        model(x)
    model.train(was)
    dead = [_units_never_positive(p) for p in pres]
    total = sum(int(d.numel()) for d in dead)
    return {
        "dead_fraction": sum(int(d.sum()) for d in dead) / max(total, 1),
        "dead_fraction_per_layer": [float(d.float().mean()) for d in dead],
        "units": total,
    }


def layer_profile(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> dict[str, list[float]]:
    """On one batch: the std of every hidden activation's output and the gradient norm of every
    weight layer (input to output order). Leaves no gradients behind."""
    was = model.training
    model.eval()
    with _capture(_activation_modules(model), "out") as outs:
        loss = loss_fn(model(x), y)
    weights = [m.weight for m in model.modules() if isinstance(m, WEIGHTED)]
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    model.train(was)
    return {
        "act_std": [float(o.float().std()) for o in outs],
        "grad_norm": [float(g.norm()) if g is not None else 0.0 for g in grads],
    }


@torch.no_grad()
def row_spread(model: nn.Module) -> list[float]:
    """Per hidden weight layer (the output layer excluded): max over weight positions of
    (largest - smallest value across the layer's units) = the largest elementwise difference
    between any two units' incoming weights. 0 means every unit of the layer is identical."""
    layers = [m for m in model.modules() if isinstance(m, WEIGHTED)][:-1]
    spreads = []
    for m in layers:
        w = m.weight.reshape(m.weight.shape[0], -1).float()  # (units, fan_in)
        spreads.append(float((w.max(dim=0).values - w.min(dim=0).values).max()))
    return spreads


def wrong_logit_gradient(loss_fn: LossFn, logits: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Mean |dL_i/dz_wrong| over the misclassified examples, where z_wrong is the winning
    (wrong) logit of example i and L_i its own loss (the batch mean is undone)."""
    wrong = logits.argmax(dim=1) != y
    n = int(wrong.sum())
    if n == 0:
        return {"mean": None, "examples": 0}
    z = logits[wrong].detach().float().clone().requires_grad_(True)
    loss = loss_fn(z, y[wrong]) * n
    (grad,) = torch.autograd.grad(loss, z)
    top = z.detach().argmax(dim=1)
    return {"mean": float(grad.gather(1, top[:, None]).abs().mean()), "examples": n}


def saturation_curve(
    loss_fn: LossFn, margins: Sequence[float], num_classes: int = 10
) -> list[float]:
    """|dL/dz_wrong| for one example whose wrong logit leads every other logit (all 0) by m."""
    z = torch.zeros(len(margins), num_classes)
    z[:, 1] = torch.tensor([float(m) for m in margins])
    y = torch.zeros(len(margins), dtype=torch.long)
    z.requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(z, y) * len(margins), z)
    return [float(g) for g in grad[:, 1].abs()]
