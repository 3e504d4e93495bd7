"""Search spaces as data: which config keys `tamrin tune` draws, over which ranges.

A recipe declares its space next to its config (`Int`, `Float`, `Choice`), split as Google's
tuning playbook does into *scientific* parameters (what the study is about), *nuisance*
parameters (tuned so the comparison is fair, e.g. the learning rate) and *fixed* values (held
constant: epochs, batch size). Every drawn value goes through the same typed `--set` validation
as a normal run, so a space cannot produce a config `tamrin run` would refuse.

Nothing here imports Optuna: `suggest(trial)` calls the trial's `suggest_int` /
`suggest_float` / `suggest_categorical`, which Optuna's Trial has.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tamrin import config as C
from tamrin.errors import ConfigError

Kind = Literal["int", "float", "categorical"]
Role = Literal["scientific", "nuisance"]
ROLES: tuple[str, ...] = ("scientific", "nuisance")


@dataclass(frozen=True)
class Param:
    """One tuned config key: an int or float range (optionally log or stepped) or choices."""

    key: str  # dotted config key, as in --set ("train.lr")
    kind: Kind
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None  # int: grid step (default 1); float: None = continuous
    log: bool = False  # draw uniformly in log space (learning rates)
    choices: tuple[Any, ...] = ()
    role: Role = "scientific"

    def check(self) -> None:
        """ConfigError for an empty or inverted range, a bad step, or empty choices."""
        where = f"search space: {self.key}"
        if self.role not in ROLES:
            raise ConfigError(f"{where}: role must be scientific or nuisance; got {self.role!r}")
        if self.kind == "categorical":
            if not self.choices:
                raise ConfigError(f"{where}: no choices given")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ConfigError(f"{where}: choices repeat: {list(self.choices)}")
            return
        if self.kind not in ("int", "float"):
            raise ConfigError(f"{where}: kind must be int, float or categorical; got {self.kind}")
        low, high = self.low, self.high
        if not _number(low) or not _number(high):
            raise ConfigError(f"{where}: low and high must be numbers; got {low!r}, {high!r}")
        assert low is not None and high is not None
        if low > high:
            raise ConfigError(f"{where}: the range is inverted (low {low} > high {high})")
        if low == high:
            raise ConfigError(f"{where}: the range is empty (low == high == {low}); fix it")
        if self.kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
            raise ConfigError(f"{where}: an int range needs whole bounds; got {low}..{high}")
        if self.log and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0; got {low}")
        if self.step is not None:
            if not _number(self.step) or self.step <= 0:
                raise ConfigError(f"{where}: step must be > 0; got {self.step!r}")
            if self.log:
                raise ConfigError(f"{where}: a range is either log or stepped, not both")
            if self.step > high - low:
                raise ConfigError(f"{where}: step {self.step} is wider than the range")

    def values(self) -> list[Any]:
        """Every value a grid visits; ConfigError for a continuous range (no grid exists)."""
        if self.kind == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.kind == "float" and self.step is None:
            raise ConfigError(
                f"--sampler grid needs finite values: {self.key} is a continuous range "
                f"{self.low}..{self.high}; give it a step or choices, or use tpe/random/qmc"
            )
        step = self.step or 1
        n = math.floor((self.high - self.low) / step + 1e-9) + 1
        if self.kind == "int":
            return [int(self.low) + i * int(step) for i in range(n)]
        return [round(self.low + i * step, 12) for i in range(n)]

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter from an Optuna trial (named by its config key)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        assert self.low is not None and self.high is not None  # check() guarantees both
        if self.kind == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(
            self.key, float(self.low), float(self.high), step=self.step, log=self.log
        )

    def describe(self) -> str:
        """The range in words: '16..512 step 16', '0.0001..0.01 log', '{1, 2, 3}'."""
        if self.kind == "categorical":
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        text = f"{self.low}..{self.high}"
        if self.step is not None:
            text += f" step {self.step}"
        return text + (" log" if self.log else "")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["choices"] = list(self.choices)
        # leave out what does not apply (no step, no choices, not log); keep a bound of 0
        return {k: v for k, v in data.items() if v is not None and v != [] and v is not False}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def Int(
    key: str, low: int, high: int, *, step: int = 1, log: bool = False, role: Role = "scientific"
) -> Param:
    """An integer range low..high (inclusive) in steps of `step`."""
    return Param(key, "int", low, high, step=None if log else step, log=log, role=role)


def Float(
    key: str,
    low: float,
    high: float,
    *,
    log: bool = False,
    step: float | None = None,
    role: Role = "scientific",
) -> Param:
    """A float range low..high, uniform or (log=True) log-uniform."""
    return Param(key, "float", low, high, step=step, log=log, role=role)


def Choice(key: str, choices: Sequence[Any], *, role: Role = "scientific") -> Param:
    """One of `choices`."""
    return Param(key, "categorical", choices=tuple(choices), role=role)


@dataclass(frozen=True)
class SearchSpace:
    """The tuned parameters and the values held fixed while they are tuned."""

    params: tuple[Param, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def check(self, cfg: Any) -> None:
        """Every key exists in `cfg` (a recipe's resolved config), every range is well formed,
        and every bound, choice and fixed value passes `--set`'s typed validation.

        ConfigError (one line, with a close key suggested) otherwise; `cfg` is not changed.
        """
        if not self.params:
            raise ConfigError("search space: no parameters to tune")
        keys = [p.key for p in self.params]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ConfigError(f"search space: {', '.join(twice)} listed twice")
        clash = sorted(set(keys) & set(self.fixed))
        if clash:
            raise ConfigError(f"search space: {', '.join(clash)} both tuned and fixed")
        for p in self.params:
            p.check()
            for value in _probe_values(p):
                _try_set(cfg, p.key, value, "search space")
        for key, value in self.fixed.items():
            _try_set(cfg, key, value, "search space fixed")

    def suggest(self, trial: Any) -> dict[str, Any]:
        """A trial's overrides: the fixed values and one draw of every parameter."""
        return {**self.fixed, **{p.key: p.suggest(trial) for p in self.params}}

    def grid(self) -> dict[str, list[Any]]:
        """Every parameter's values, for Optuna's GridSampler."""
        return {p.key: p.values() for p in self.params}

    def to_dict(self) -> dict[str, Any]:
        return {"params": [p.to_dict() for p in self.params], "fixed": dict(self.fixed)}

    def with_fixed(self, overrides: Mapping[str, Any]) -> SearchSpace:
        """This space with `--set` values pinned: a key set by hand is no longer tuned."""
        params = tuple(p for p in self.params if p.key not in overrides)
        return SearchSpace(params, {**self.fixed, **overrides})


def _probe_values(p: Param) -> list[Any]:
    if p.kind == "categorical":
        return list(p.choices)
    return [p.low, p.high]


def _try_set(cfg: Any, key: str, value: Any, what: str) -> None:
    try:
        C.apply_overrides(C.copy(cfg), {key: value})
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def space_from_dict(data: Mapping[str, Any]) -> SearchSpace:
    """A space from a file's mapping (`tamrin tune --space FILE`)::

        params:
          train.lr: {low: 1.0e-4, high: 1.0e-2, log: true, role: nuisance}
          model.units: {low: 16, high: 512, step: 16}
          model.layers: {choices: [1, 2, 3]}
        fixed:
          train.epochs: 20

    The kind follows from the fields: choices -> categorical, whole low/high (and step) -> int,
    else float. ConfigError names the offending entry.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("params"), Mapping):
        raise ConfigError("search space file: needs a 'params:' mapping of config key -> range")
    unknown = sorted(set(data) - {"params", "fixed"})
    if unknown:
        raise ConfigError(f"search space file: unknown section {unknown[0]!r} (params, fixed)")
    params = []
    for key, spec in data["params"].items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"search space: {key}: give {{low, high}} or {{choices}}")
        extra = sorted(set(spec) - {"low", "high", "step", "log", "choices", "role"})
        if extra:
            raise ConfigError(f"search space: {key}: unknown field {extra[0]!r}")
        role = spec.get("role", "scientific")
        if "choices" in spec:
            params.append(Choice(key, tuple(spec["choices"] or ()), role=role))
            continue
        low, high, step = spec.get("low"), spec.get("high"), spec.get("step")
        whole = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
        kind: Kind = "int" if whole and (step is None or isinstance(step, int)) else "float"
        if kind == "int" and not spec.get("log"):
            step = 1 if step is None else step
        params.append(Param(key, kind, low, high, step, bool(spec.get("log", False)), role=role))
    fixed = data.get("fixed") or {}
    if not isinstance(fixed, Mapping):
        raise ConfigError("search space file: 'fixed:' must map config keys to values")
    return SearchSpace(tuple(params), dict(fixed))


@dataclass(frozen=True)
class TuneSpec:
    """A registered tuning study of one recipe: its space, what it maximizes, its budget."""

    recipe: str  # the recipe every trial runs (also the name `tamrin tune` takes)
    space: SearchSpace
    summary: str = ""
    metric: str = "val_acc"  # history.csv column reported each epoch and maximized
    direction: Literal["maximize", "minimize"] = "maximize"
    timeout_s: float | None = 600.0  # default wall-clock budget of `tamrin tune`
    trials: int | None = None  # default trial budget (None = until the timeout)
    base: Mapping[str, Any] = field(default_factory=dict)  # --set overrides of every trial
    homework: str = ""  # what the homework's search found, in words
    module: str = ""
