"""The model registry: `@register_model` on a builder fills it when `tamrin.models` is imported.

As timm's `_registry.py`: each model module registers its builders at import, and
`tamrin/models/__init__.py` imports every model module, so importing anything under
`tamrin.models` fills the registry. A builder is `fn(cfg, in_shape, out_dim) -> nn.Module`:
`cfg` an instance of the model's config dataclass, `in_shape` the input's (C, H, W), `out_dim`
the number of classes (task "classify") or the embedding size (task "embed").

    >>> import torch
    >>> from tamrin.models import build_model, list_models
    >>> list_models("embed-*")
    ['embed-bn', 'embed-homework']
    >>> net = build_model("lenet", in_shape=(3, 32, 32), out_dim=10, width=0.5)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from torch import nn

from tamrin.config import apply_overrides, validate
from tamrin.errors import ConfigError, did_you_mean

Builder = Callable[..., nn.Module]  # (cfg, in_shape, out_dim) -> nn.Module
B = TypeVar("B", bound=Builder)

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its name, what it is, its config and how it is built."""

    name: str  # kebab-case, unique across every model family ("lenet", "embed-bn")
    summary: str  # one line for listings
    config: type  # the config dataclass the builder takes
    fn: Builder  # (cfg, in_shape, out_dim) -> nn.Module
    inputs: str  # what forward() takes: "image" = one (B, C, H, W) float tensor; "story" =
    # (story (B, M, W), question (B, Q)) word ids, in_shape (M, W, Q), out_dim the vocabulary
    task: str  # what it outputs: "classify" = (B, out_dim) logits, "embed" = (B, out_dim) points
    module: str  # where it was registered
    fixed: Mapping[str, Any] = field(default_factory=dict)  # config fields the name implies
    smoke: Mapping[str, Any] = field(default_factory=dict)  # overrides for a tiny, fast model

    def default_config(self) -> Any:
        """The config's defaults with the fields this name implies (e.g. arch='wide')."""
        return apply_overrides(self.config(), self.fixed)

    def smoke_config(self) -> Any:
        """The default config shrunk to smoke width (the same code path, fewer units)."""
        return apply_overrides(self.default_config(), self.smoke)


_MODELS: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    config: type,
    summary: str,
    inputs: str = "image",
    task: str = "classify",
    fixed: Mapping[str, Any] | None = None,
    smoke: Mapping[str, Any] | None = None,
) -> Callable[[B], B]:
    """Register builder `fn(cfg, in_shape, out_dim)` as model `name`.

    `fixed` names config fields the name pins (several models can share one config class, as
    lenet / wide / mlp share `ModelConfig` and tell each other apart by `arch`); `smoke` are the
    overrides that make the model tiny for smoke runs and tests. A duplicate or badly formed name,
    or `fixed` / `smoke` keys the config does not have, fail at import.
    """
    if not _NAME.match(name):
        raise ValueError(f"model name must be kebab-case; got {name!r}")
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"model {name}: config must be a dataclass; got {config!r}")

    def register(fn: B) -> B:
        if name in _MODELS:
            raise ValueError(
                f"model {name!r} is registered twice ({_MODELS[name].module}, {fn.__module__})"
            )
        spec = ModelSpec(
            name=name,
            summary=summary,
            config=config,
            fn=fn,
            inputs=inputs,
            task=task,
            module=fn.__module__,
            fixed=dict(fixed or {}),
            smoke=dict(smoke or {}),
        )
        spec.smoke_config()  # a `fixed` or `smoke` key the config lacks fails here, at import
        _MODELS[name] = spec
        return fn

    return register


def get_model_spec(name: str) -> ModelSpec:
    """The model registered as `name`, or a ConfigError that suggests a close name."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model '{name}'{did_you_mean(name, _MODELS)}; "
            f"allowed: {', '.join(sorted(_MODELS))}"
        ) from None


def list_models(pattern: str = "*", *, task: str | None = None) -> list[str]:
    """Sorted names of the registered models matching the shell-style `pattern` (and `task`)."""
    return sorted(
        n
        for n, spec in _MODELS.items()
        if fnmatch.fnmatchcase(n, pattern) and (task is None or spec.task == task)
    )


def build_model(
    name: str,
    cfg: Any = None,
    *,
    in_shape: Sequence[int],
    out_dim: int,
    **overrides: Any,
) -> nn.Module:
    """Model `name` for inputs (C, H, W) = `in_shape` with `out_dim` outputs.

    `cfg` None means the model's default config; `overrides` (short or dotted keys, as
    `--set`) are applied to a copy, type-checked and validated before anything is built.
    """
    spec = get_model_spec(name)
    if cfg is None:
        cfg = spec.default_config()
    elif not isinstance(cfg, spec.config):
        raise ConfigError(
            f"model '{name}' takes a {spec.config.__name__}; got {type(cfg).__name__}"
        )
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    else:
        validate(cfg)
    for key, want in spec.fixed.items():
        got = getattr(cfg, key)
        if got != want:
            raise ConfigError(f"model '{name}' needs {key}={want!r}; got {got!r}")
    if out_dim < 1:
        raise ConfigError(f"model '{name}': out_dim must be >= 1; got {out_dim}")
    return spec.fn(cfg, tuple(int(v) for v in in_shape), out_dim)
