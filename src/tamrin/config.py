"""Typed configs: nested dataclasses, `key=value` overrides, YAML/JSON files, seeding.

Precedence: defaults < preset (a recipe's smoke shrink) < `--config FILE` < `--set a.b=v`.
Values are parsed with `ast.literal_eval` (so `lr=1e-3`, `flip=True`, `widths=[64, 32]`), then
type-checked against the field's annotation. Unknown keys are errors that suggest a key by meaning
(the names users bring from Keras / PyTorch: `learning_rate` -> `train.lr`) and then by spelling.
A key without dots that is not a top-level field resolves to the one leaf of that name
(`epochs=3` means `train.epochs=3`) and is an error when ambiguous. `dump` writes a resolved
config as YAML or JSON that `load_file` reads back to the same config.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import functools
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
    raise ConfigError(
        f"unknown config key '{key}'{suggest_key(key, keys)} "
        "(tamrin run NAME --help-config lists them)"
    )


# The names users bring from Keras, PyTorch, Lightning and Hugging Face for our keys. Each maps
# to candidate keys, the first one the config has wins (recipes differ: not all have `model.*`).
KEY_SYNONYMS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("lr", "learning_rate", "learningrate", "base_lr", "max_lr", "initial_lr", "eta"),
        ("train.lr",),
    ),
    **dict.fromkeys(
        ("batch", "batch_size", "batchsize", "bs", "train_batch_size", "per_device_batch_size"),
        ("train.batch_size",),
    ),
    **dict.fromkeys(
        ("epochs", "epoch", "num_epochs", "n_epochs", "nb_epoch", "max_epochs", "num_train_epochs"),
        ("train.epochs",),
    ),
    **dict.fromkeys(("weight_decay", "wd", "l2", "decay", "l2_reg"), ("train.weight_decay",)),
    **dict.fromkeys(("momentum", "beta1"), ("train.momentum",)),
    **dict.fromkeys(("optimizer", "optim", "opt", "solver"), ("train.optimizer",)),
    **dict.fromkeys(
        ("patience", "early_stopping", "early_stopping_patience", "earlystopping"),
        ("train.patience",),
    ),
    **dict.fromkeys(("label_smoothing", "smoothing"), ("train.label_smoothing",)),
    **dict.fromkeys(
        ("scheduler", "lr_scheduler", "schedule", "lr_schedule", "sched"), ("train.scheduler",)
    ),
    **dict.fromkeys(("warmup", "warmup_ratio", "pct_start"), ("train.warmup",)),
    **dict.fromkeys(
        ("grad_clip", "clip_grad_norm", "gradient_clip_val", "max_grad_norm", "clipnorm"),
        ("train.grad_clip",),
    ),
    **dict.fromkeys(
        ("limit_train_batches", "steps_per_epoch", "max_steps"), ("train.max_batches",)
    ),
    **dict.fromkeys(
        ("eval_batch_size", "val_batch_size", "test_batch_size", "per_device_eval_batch_size"),
        ("train.eval_batch_size",),
    ),
    **dict.fromkeys(("precision", "amp", "mixed_precision", "dtype", "bf16"), ("train.precision",)),
    **dict.fromkeys(("dataset", "data_set", "dataset_name", "datasets"), ("data",)),
    **dict.fromkeys(("dropout", "dropout_rate", "drop_rate", "p_dropout"), ("model.dropout",)),
    **dict.fromkeys(
        ("activation", "act", "activation_fn", "nonlinearity", "act_layer"), ("model.activation",)
    ),
    **dict.fromkeys(
        ("norm", "normalization", "batch_norm", "batchnorm", "bn", "norm_layer"), ("model.norm",)
    ),
    **dict.fromkeys(
        ("init", "initializer", "kernel_initializer", "weight_init", "init_method"),
        ("model.init",),
    ),
    **dict.fromkeys(
        ("hidden", "hidden_size", "hidden_units", "hidden_dim", "units"), ("model.hidden",)
    ),
    **dict.fromkeys(("width", "channels", "filters", "base_width"), ("model.width",)),
    **dict.fromkeys(("depth", "num_layers", "n_layers", "layers"), ("model.depth",)),
    **dict.fromkeys(("arch", "architecture", "model_name", "net"), ("model.arch",)),
    **dict.fromkeys(("hflip", "horizontal_flip", "random_flip", "flip"), ("augment.hflip",)),
    **dict.fromkeys(
        ("val_fraction", "val_split", "validation_split", "val_size", "val_ratio"),
        ("val_fraction",),
    ),
    **dict.fromkeys(("loss", "criterion", "loss_fn"), ("loss", "objective")),
}
SEED_NAMES = ("seed", "random_seed", "manual_seed", "rng_seed", "seeds")  # not config keys


def suggest_key(key: str, keys: list[str]) -> str:
    """'; did you mean 'train.lr'?' for unknown `key` among `keys`, or '' when nothing fits.

    By meaning first (KEY_SYNONYMS, also for a near-miss spelling of a synonym), then by spelling
    of the last part among the keys of the same section (`train.epoch` -> `train.epochs`), then by
    spelling overall. The random seed gets its own answer: it is `--seed`, not a config key.
    """
    known = set(keys)
    last = key.rsplit(".", 1)[-1].lower().replace("-", "_")
    if last in SEED_NAMES:
        return "; the random seed is --seed N (seed=N in tamrin.run), not a config key"
    names = [last]
    names += difflib.get_close_matches(last, list(KEY_SYNONYMS), n=3, cutoff=0.85)
    for name in names:
        target = next((k for k in KEY_SYNONYMS.get(name, ()) if k in known), None)
        if target is not None and target != key:
            return f"; did you mean '{target}'?"
    if "." in key:
        section = key.rsplit(".", 1)[0]
        siblings = {k.rsplit(".", 1)[-1]: k for k in keys if k.rsplit(".", 1)[0] == section}
        close = difflib.get_close_matches(last, list(siblings), n=1, cutoff=0.6)
        if close:
            return f"; did you mean '{siblings[close[0]]}'?"
    hint = did_you_mean(key, keys)
    if hint:
        return hint
    by_leaf: dict[str, list[str]] = {}
    for k in keys:
        by_leaf.setdefault(k.rsplit(".", 1)[-1], []).append(k)
    close = difflib.get_close_matches(last, list(by_leaf), n=1, cutoff=0.6)
    return f"; did you mean '{' or '.join(by_leaf[close[0]])}'?" if close else ""


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
            tuple(_check_type(f"{key}[]", v, item) for v in value)  # a tuple field stays one
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


CONFIG_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}  # `--config` by extension


def load_file(cls: type[C], path: str | Path) -> dict[str, Any]:
    """Read a `--config` YAML (.yaml/.yml) or JSON (.json) file as flat dotted overrides.

    Every key and value is checked against `cls` here, so a mistake in the file is one line
    naming the file and the line (`config file c.yaml, line 3: unknown config key ...`).
    """
    p = Path(path)
    fmt = CONFIG_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"config file {p} has an unknown format '{p.suffix}'; use .yaml, .yml or .json "
            "(tamrin run NAME --print-config writes one)"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} cannot be read: {exc}") from None
    data = _parse_yaml(text, p) if fmt == "yaml" else _parse_json(text, p)
    if data is None:
        data = {}  # an empty file (or only comments) changes nothing
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {p} must hold a mapping of keys to values "
            f"(key: value); got {type(data).__name__}"
        )
    flat = dict(_flatten(data))
    lines = _key_lines(text)
    probe = cls()
    for key, value in flat.items():
        try:
            set_value(probe, key, value)
        except ConfigError as exc:
            where = f", line {lines[key]}" if key in lines else ""
            raise ConfigError(f"config file {p}{where}: {exc}") from None
    return flat


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid JSON: {exc.msg} (line {exc.lineno})"
        ) from None


@functools.cache
def _yaml_classes() -> tuple[type, type]:
    """A safe YAML loader and dumper that also read `1e-3` as a float (YAML 1.1 wants `1.0e-3`),
    and quote such strings when they write them, so a dump reads back to the same values."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    class Dumper(yaml.SafeDumper):
        pass

    def flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
        # sections as blocks, lists of plain values inline (`hidden: [64, 32]`, as with --set)
        flat = not any(isinstance(v, list | dict) for v in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)

    Dumper.add_representer(list, flow_list)
    exponent = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
    for cls in (Loader, Dumper):
        cls.add_implicit_resolver("tag:yaml.org,2002:float", exponent, list("-+0123456789."))
    return Loader, Dumper


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml

    loader, _ = _yaml_classes()
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader: plain data, no objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML: {what}{line}") from None


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key -> the line it is written on (JSON is read as YAML here; {} when that fails)."""
    import yaml

    loader, _ = _yaml_classes()
    out: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            out.setdefault(key, key_node.start_mark.line + 1)
            walk(value_node, f"{key}.")

    try:
        walk(yaml.compose(text, Loader=loader), "")
    except yaml.YAMLError:
        return {}
    return out


def dump(data: Mapping[str, Any], fmt: str = "yaml", header: str = "") -> str:
    """A config (nested dicts, as from `to_dict`) as YAML or JSON text that `load_file` reads back
    to the same values; `header` lines become YAML comments (JSON has none)."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt != "yaml":
        raise ConfigError(f"config format must be yaml or json; got {fmt!r}")
    import yaml

    _, dumper = _yaml_classes()
    body = yaml.dump(
        _plain(data), Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    comments = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return comments + body


def _plain(obj: Any) -> Any:
    """Tuples as lists (safe YAML has no tuple); everything else as is."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as {dotted key: value} ('test.accuracy'); lists and empty mappings are
    values. The one flattener of metrics, configs and report tables."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """`flatten` for config files, where a `*_map` field's dict is one value, not a section."""
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
