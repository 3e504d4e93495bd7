"""Typed configs: nested dataclasses, `key=value` overrides, JSON round trip, seeding.

Precedence: defaults < preset (a recipe's smoke shrink) < `--config file.json` < `--set a.b=v`.
Values are parsed with `ast.literal_eval` (so `lr=1e-3`, `flip=True`, `widths=[64, 32]`), then
type-checked against the field's annotation. Unknown keys are errors that suggest close matches.
A key without dots that is not a top-level field resolves to the one leaf of that name
(`epochs=3` means `train.epochs=3`) and is an error when ambiguous.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import os
import random
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from tamrin.errors import ConfigError, did_you_mean

C = TypeVar("C")


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain JSON-able data (nested dicts)."""
    return dataclasses.asdict(cfg)


def leaf_keys(cfg: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted leaf key of a nested dataclass config, in declaration order."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            yield from leaf_keys(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}"


def resolve_key(cfg: Any, key: str) -> str:
    """The full dotted key for `key`: itself if it exists, else the unique leaf of that name."""
    keys = list(leaf_keys(cfg))
    if key in keys:
        return key
    matches = [k for k in keys if k.rsplit(".", 1)[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ConfigError(
            f"config key '{key}' is ambiguous: {', '.join(matches)}; use the full name"
        )
    groups = {k.rsplit(".", 1)[0] for k in keys if "." in k}
    if key in groups:
        raise ConfigError(
            f"'{key}' is a group of settings, not a value; set one of its keys, e.g. "
            f"{next(k for k in keys if k.startswith(key + '.'))}=..."
        )
    leaves = [k.rsplit(".", 1)[-1] for k in keys]
    hint = did_you_mean(key, keys) or did_you_mean(key.rsplit(".", 1)[-1], leaves)
    raise ConfigError(
        f"unknown config key '{key}'{hint} (tamrin run NAME --help-config lists them)"
    )


def _field_type(owner: Any, name: str) -> Any:
    hints = typing.get_type_hints(type(owner))
    return hints[name]


def _check_type(key: str, value: Any, annotation: Any) -> Any:
    """Return `value` converted to `annotation` where that is lossless, else raise ConfigError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(key, value, arg)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key} must not be None")
    if origin is typing.Literal:
        if value in args:
            return value
        if value is None and "none" in args:  # `--set model.norm=none` parses as None
            return "none"
        allowed = ", ".join(repr(a) for a in args)
        hint = did_you_mean(str(value), [str(a) for a in args])
        raise ConfigError(f"{key} must be one of {allowed}; got {value!r}{hint}")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list; got {value!r}")
        item = args[0] if args else Any
        return (
            type(value)(_check_type(f"{key}[]", v, item) for v in value)
            if origin is tuple
            else [_check_type(f"{key}[]", v, item) for v in value]
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping; got {value!r}")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be True or False; got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key} must be an integer; got {value!r}")
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key} must be a number; got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} must be a string; got {value!r}")
    return value


def parse_value(text: str) -> Any:
    """`'1e-3'` -> 0.001, `'True'` -> True, `'[1, 2]'` -> [1, 2]; anything else stays a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("none", "null"):
            return None
        return text


def set_value(cfg: Any, key: str, value: Any) -> str:
    """Set dotted (or short) `key` to `value` in place, type-checked; returns the full key."""
    full = resolve_key(cfg, key)
    *path, leaf = full.split(".")
    owner = cfg
    for part in path:
        owner = getattr(owner, part)
    checked = _check_type(full, value, _field_type(owner, leaf))
    setattr(owner, leaf, checked)
    return full


def apply_overrides(cfg: C, overrides: Mapping[str, Any]) -> C:
    """A copy of `cfg` with `overrides` (dotted or short keys -> values) applied and validated."""
    out = copy(cfg)
    for key, value in overrides.items():
        set_value(out, key, value)
    validate(out)
    return out


def parse_set_args(items: list[str]) -> dict[str, Any]:
    """['a.b=1', 'c=x'] -> {'a.b': 1, 'c': 'x'}; a missing '=' is a ConfigError."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value; got '{item}'")
        key, text = item.split("=", 1)
        out[key.strip()] = parse_value(text.strip())
    return out


def from_dict(cls: type[C], data: Mapping[str, Any], *, strict: bool = True) -> C:
    """Build config `cls` from nested dicts (as in config.json). Unknown keys raise when strict."""
    cfg = cls()
    flat = dict(_flatten(data))
    for key, value in flat.items():
        try:
            set_value(cfg, key, value)
        except ConfigError:
            if strict:
                raise
    validate(cfg)
    return cfg


def load_file(cls: type[C], path: str | Path) -> dict[str, Any]:
    """Read a `--config` JSON file as flat dotted overrides."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config file {p} is not valid JSON: {exc.msg} (line {exc.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a JSON object; got {type(data).__name__}")
    return dict(_flatten(data))


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, Mapping) and value and not key.endswith("_map"):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def copy(cfg: C) -> C:
    """A deep copy of a dataclass config."""
    return typing.cast(C, _deep_replace(cfg))


def _deep_replace(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: _deep_replace(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, list):
        return [_deep_replace(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _deep_replace(v) for k, v in obj.items()}
    return obj


def validate(cfg: Any) -> None:
    """Call `validate()` on every nested config that defines it (range checks live there)."""
    if not dataclasses.is_dataclass(cfg):
        return
    for f in dataclasses.fields(cfg):
        validate(getattr(cfg, f.name))
    check = getattr(cfg, "validate", None)
    if callable(check):
        check()


def require(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless `condition`; for range checks in `validate()` methods."""
    if not condition:
        raise ConfigError(message)


def field_docs(cls: type) -> dict[str, str]:
    """Dotted key -> the one-line comment after the field in its source (for --help-config)."""
    import inspect

    out: dict[str, str] = {}

    def walk(kls: type, prefix: str) -> None:
        lines: list[str] = []
        for base in kls.__mro__:  # inherited fields are documented in the base class
            if dataclasses.is_dataclass(base):
                with contextlib.suppress(OSError, TypeError):
                    lines += inspect.getsource(base).splitlines()
        hints = typing.get_type_hints(kls)
        for f in dataclasses.fields(kls):
            comment = next(
                (
                    ln.split("#", 1)[1].strip()
                    for ln in lines
                    if ln.strip().startswith(f"{f.name}:") and "#" in ln
                ),
                "",
            )
            ftype = hints[f.name]
            if isinstance(ftype, type) and dataclasses.is_dataclass(ftype):
                walk(ftype, f"{prefix}{f.name}.")
            else:
                out[f"{prefix}{f.name}"] = comment

    walk(cls, "")
    return out


def lookup(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path ('test.accuracy') in nested dicts, or None when it is absent."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) so a run repeats exactly on the same machine."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
