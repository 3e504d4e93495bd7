"""`--config` files (YAML or JSON), `dump` round trips, and unknown-key hints by meaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tamrin import config as C
from tamrin import registry
from tamrin.errors import ConfigError


def _lenet() -> registry.Recipe:
    return registry.get("cifar10-lenet")


def test_yaml_and_json_files_give_the_same_overrides(tmp_path: Path) -> None:
    recipe = _lenet()
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text(
        "# a comment\ntrain:\n  lr: 1e-3   # YAML 1.1 would read a string\n"
        "  epochs: 4\nmodel: {hidden: [64, 32]}\nbatch_size: 32\n"
    )
    json_file = tmp_path / "c.json"
    json_file.write_text(
        '{"train": {"lr": 0.001, "epochs": 4}, "model": {"hidden": [64, 32]}, "batch_size": 32}'
    )
    from_yaml = C.load_file(recipe.config_cls, yaml_file)
    assert from_yaml == C.load_file(recipe.config_cls, json_file)
    assert from_yaml["train.lr"] == 0.001 and isinstance(from_yaml["train.lr"], float)
    cfg = C.apply_overrides(recipe.default_config(), from_yaml)
    assert (cfg.train.lr, cfg.train.epochs, cfg.train.batch_size) == (0.001, 4, 32)
    assert cfg.model.hidden == [64, 32]
    yml = tmp_path / "c.yml"
    yml.write_text("")  # empty: changes nothing
    assert C.load_file(recipe.config_cls, yml) == {}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad.yaml",
            "train:\n  lr: 0.1\n  epochs: [\n",
            r"bad\.yaml is not valid YAML: .*\(line 4\)",
        ),
        ("bad.yaml", "train:\n lr: 0.1\n  epochs: 3\n", r"bad\.yaml is not valid YAML: .*line 3"),
        ("bad.json", '{"train": {"lr": 0.1,}}', r"bad\.json is not valid JSON: .*\(line 1\)"),
        ("list.yaml", "- 1\n- 2\n", r"list\.yaml must hold a mapping"),
        (
            "key.yaml",
            "train:\n  lr: 0.1\n  learning_rate: 0.2\n",
            r"key\.yaml, line 3: unknown config key 'train\.learning_rate'; "
            r"did you mean 'train\.lr'",
        ),
        (
            "key.json",
            '{\n  "train": {\n    "epochs": "many"\n  }\n}',
            r"key\.json, line 3: train\.epochs must be an integer; got 'many'",
        ),
        ("c.toml", "lr = 1", r"unknown format '\.toml'; use \.yaml, \.yml or \.json"),
        ("missing.yaml", None, "config file not found"),
    ],
)
def test_file_mistakes_are_one_line_with_file_and_line(
    tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        C.load_file(_lenet().config_cls, path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("recipe", registry.all_recipes(), ids=lambda r: r.name)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_dump_reads_back_to_the_same_config(
    recipe: registry.Recipe, fmt: str, tmp_path: Path
) -> None:
    """Every recipe, default and smoke: dump -> file -> load_file -> the same resolved config."""
    for cfg in (recipe.default_config(), recipe.smoke(recipe.default_config())):
        path = tmp_path / f"c.{fmt}"
        path.write_text(C.dump(C.to_dict(cfg), fmt, header="a comment\n\nanother"))
        back = C.apply_overrides(recipe.default_config(), C.load_file(recipe.config_cls, path))
        assert back == cfg


def test_dump_quotes_strings_that_look_like_numbers(tmp_path: Path) -> None:
    from dataclasses import dataclass

    @dataclass
    class Strings:
        a: str = "1e-3"  # reads as a float when unquoted (with the exponent resolver)
        b: str = "yes"  # YAML 1.1 boolean when unquoted
        c: str = "none"  # our Literal option, not null
        d: float = 1e-5

    path = tmp_path / "s.yaml"
    path.write_text(C.dump(C.to_dict(Strings())))
    assert C.apply_overrides(Strings(), C.load_file(Strings, path)) == Strings()


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("learning_rate", "did you mean 'train.lr'?"),
        ("train.learning_rate", "did you mean 'train.lr'?"),
        ("optimizer.lr", "did you mean 'train.lr'?"),
        ("learning-rate", "did you mean 'train.lr'?"),
        ("batch", "did you mean 'train.batch_size'?"),
        ("num_epochs", "did you mean 'train.epochs'?"),
        ("n_epochs", "did you mean 'train.epochs'?"),
        ("max_epochs", "did you mean 'train.epochs'?"),
        ("wd", "did you mean 'train.weight_decay'?"),
        ("dataset", "did you mean 'data'?"),
        ("dropout_rate", "did you mean 'model.dropout'?"),
        ("gradient_clip_val", "did you mean 'train.grad_clip'?"),
        ("train.learnign_rate", "did you mean 'train.lr'?"),  # a misspelt synonym
        ("train.epoch", "did you mean 'train.epochs'?"),  # spelling within the section
        ("model.dropuot", "did you mean 'model.dropout'?"),
        ("trian.lr", "did you mean 'train.lr'?"),  # spelling overall
        ("seed", "the random seed is --seed N"),
        ("train.seed", "the random seed is --seed N"),
    ],
)
def test_unknown_key_hints_by_meaning_then_spelling(key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        C.apply_overrides(_lenet().default_config(), {key: 1})
    message = str(info.value)
    assert message.startswith(f"unknown config key '{key}'")
    assert hint in message
    assert "max_batches" not in message  # the old spelling-only hint for train.learning_rate


def test_hints_name_only_keys_the_recipe_has() -> None:
    """word-vectors has no train section: `learning_rate` gets no train.lr hint."""
    cfg = registry.get("word-vectors").default_config()
    with pytest.raises(ConfigError) as info:
        C.apply_overrides(cfg, {"learning_rate": 0.1})
    assert "train.lr" not in str(info.value)
    assert C.suggest_key("learning_rate", ["train.lr", "train.epochs"]) == (
        "; did you mean 'train.lr'?"
    )
    assert C.suggest_key("learning_rate", ["model.width"]) == ""


def test_short_keys_still_resolve() -> None:
    """What `tamrin.run(name, epochs=3)` and `--set lr=0.1` rely on."""
    cfg = C.apply_overrides(_lenet().default_config(), {"epochs": 3, "lr": 0.2, "dropout": 0.5})
    assert (cfg.train.epochs, cfg.train.lr, cfg.model.dropout) == (3, 0.2, 0.5)
    assert C.resolve_key(cfg, "batch_size") == "train.batch_size"
