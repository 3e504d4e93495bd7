"""Config parsing: overrides, types, unknown keys, round trip."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tamrin import config as C
from tamrin.errors import ConfigError, UserError


@dataclass
class Inner:
    lr: float = 0.1  # learning rate
    epochs: int = 3  # passes
    name: str = "sgd"  # optimizer
    widths: list[int] = field(default_factory=lambda: [4, 2])  # layer sizes
    clip: float | None = None  # optional

    def validate(self) -> None:
        C.require(self.lr > 0, f"inner.lr must be > 0; got {self.lr}")


@dataclass
class Outer:
    data: str = "mnist"  # data set
    inner: Inner = field(default_factory=Inner)
    other: Inner = field(default_factory=Inner)


def test_parse_value_literals() -> None:
    assert C.parse_value("1e-3") == 0.001
    assert C.parse_value("True") is True
    assert C.parse_value("true") is True
    assert C.parse_value("[1, 2]") == [1, 2]
    assert C.parse_value("mnist") == "mnist"
    assert C.parse_value("None") is None


def test_apply_overrides_dotted_and_types() -> None:
    cfg = C.apply_overrides(Outer(), {"inner.lr": 1, "inner.epochs": 5.0, "data": "cifar10"})
    assert cfg.inner.lr == 1.0 and isinstance(cfg.inner.lr, float)
    assert cfg.inner.epochs == 5 and isinstance(cfg.inner.epochs, int)
    assert cfg.data == "cifar10"
    assert Outer().inner.lr == 0.1  # the original is untouched


def test_short_key_must_be_unique() -> None:
    with pytest.raises(ConfigError, match="ambiguous"):
        C.apply_overrides(Outer(), {"lr": 0.5})


def test_unknown_key_suggests() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'inner\.lr'"):
        C.apply_overrides(Outer(), {"inner.lrr": 0.5})
    with pytest.raises(UserError):
        C.apply_overrides(Outer(), {"nope": 1})


def test_wrong_type_and_range() -> None:
    with pytest.raises(ConfigError, match="must be an integer"):
        C.apply_overrides(Outer(), {"inner.epochs": "many"})
    with pytest.raises(ConfigError, match=r"inner.lr must be > 0; got -0.1"):
        C.apply_overrides(Outer(), {"inner.lr": -0.1})
    with pytest.raises(ConfigError, match="data must be a string; got True"):
        C.apply_overrides(Outer(), {"data": True})
    cfg = C.apply_overrides(Outer(), {"inner.clip": None, "other.clip": 2})
    assert cfg.inner.clip is None and cfg.other.clip == 2.0


def test_set_args_and_round_trip() -> None:
    overrides = C.parse_set_args(["inner.lr=0.01", "other.widths=[8]"])
    cfg = C.apply_overrides(Outer(), overrides)
    back = C.from_dict(Outer, C.to_dict(cfg))
    assert back == cfg
    with pytest.raises(ConfigError, match="key=value"):
        C.parse_set_args(["inner.lr"])


def test_config_file(tmp_path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"inner": {"lr": 0.2}}')
    assert C.load_file(Outer, path) == {"inner.lr": 0.2}
    path.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        C.load_file(Outer, path)


def test_field_docs() -> None:
    docs = C.field_docs(Outer)
    assert docs["inner.lr"] == "learning rate"
    assert docs["data"] == "data set"


def test_none_sets_a_literal_none_option() -> None:
    """`--set model.norm=none` parses to None; a Literal with a "none" choice takes it as that."""
    from tamrin.models.factory import ModelConfig

    cfg = C.apply_overrides(ModelConfig(norm="batch"), C.parse_set_args(["norm=none"]))
    assert cfg.norm == "none"
