"""Freeze part of a model: no gradients, and BatchNorm / dropout kept in eval mode.

`requires_grad_(False)` alone is not a frozen layer: `fit` puts the model in train mode, so
BatchNorm would keep updating its running statistics from the probe's batches and dropout would
stay on. `freeze` also pins the module (and everything under it) to eval mode, whatever
`model.train()` says later; `unfreeze` undoes both.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def _eval_only(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


def freeze(module: nn.Module) -> nn.Module:
    """No gradients for `module`'s parameters; it and its children stay in eval mode."""
    module.requires_grad_(False)
    for m in module.modules():
        m.train = _eval_only.__get__(m)  # type: ignore[method-assign]
    module.eval()
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Undo `freeze`: gradients on, `train()` / `eval()` work again."""
    for m in module.modules():
        m.__dict__.pop("train", None)
    module.requires_grad_(True)
    return module


def is_frozen(module: nn.Module) -> bool:
    """True when no parameter of `module` takes gradients and it is pinned to eval mode."""
    pinned: Any = module.__dict__.get("train")
    return pinned is not None and not any(p.requires_grad for p in module.parameters())
