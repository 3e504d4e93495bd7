"""Search spaces as data: checks before anything runs, Optuna draws, files, the registry."""

from __future__ import annotations

import optuna
import pytest

from tamrin import config as C
from tamrin import registry
from tamrin.errors import ConfigError, UnknownRecipeError
from tamrin.search_space import Choice, Float, Int, SearchSpace, space_from_dict

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _cfg(recipe: str = "fashion-mlp"):
    return registry.get(recipe).default_config()


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (Int("model.units", 64, 16), "inverted"),
        (Float("train.lr", 0.01, 0.01), "empty"),
        (Float("train.lr", 0.0, 0.01, log=True), "log range needs low > 0"),
        (Int("model.units", 16, 512, step=0), "step must be > 0"),
        (Int("model.units", 16, 32, step=64), "wider than the range"),
        (Choice("model.layers", ()), "no choices"),
        (Choice("model.layers", (1, 1)), "repeat"),
        (Int("model.unitz", 16, 512), "did you mean 'model.units'"),
        (Int("model.layers", 0, 3), "model.layers must be >= 1"),  # the config's own validation
        (Choice("model.shrink", ("half", 1.0)), "model.shrink"),  # the typed --set check
    ],
)
def test_bad_spaces_fail_in_one_line(param, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        SearchSpace((param,)).check(_cfg())
    assert "\n" not in str(info.value)


def test_space_rules() -> None:
    cfg = _cfg()
    with pytest.raises(ConfigError, match="listed twice"):
        SearchSpace((Int("model.units", 16, 64), Int("model.units", 16, 32))).check(cfg)
    with pytest.raises(ConfigError, match="both tuned and fixed"):
        SearchSpace((Int("model.units", 16, 64),), {"model.units": 32}).check(cfg)
    with pytest.raises(ConfigError, match="no parameters"):
        SearchSpace(()).check(cfg)
    with pytest.raises(ConfigError, match="fixed"):
        SearchSpace((Int("model.units", 16, 64),), {"train.epochz": 3}).check(cfg)
    before = C.to_dict(cfg)
    SearchSpace((Int("model.units", 16, 64),), {"train.epochs": 3}).check(cfg)
    assert C.to_dict(cfg) == before  # checking changes nothing


def test_grid_values_and_continuous_ranges() -> None:
    assert Int("model.units", 16, 64, step=16).values() == [16, 32, 48, 64]
    assert Choice("model.shrink", (1.0, 0.5)).values() == [1.0, 0.5]
    assert Float("model.dropout", 0.0, 0.5, step=0.25).values() == [0.0, 0.25, 0.5]
    with pytest.raises(ConfigError, match="continuous range"):
        Float("train.lr", 1e-4, 1e-2, log=True).values()


def test_suggest_draws_typed_values_inside_the_space() -> None:
    space = registry.get_tuning("fashion-mlp").space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        overrides = space.suggest(study.ask())
        cfg = C.apply_overrides(_cfg(), overrides)  # every draw is a valid config
        assert 1 <= cfg.model.layers <= 3
        assert cfg.model.units % 16 == 0 and 16 <= cfg.model.units <= 512
        assert 1e-4 <= cfg.train.lr <= 1e-2
        assert cfg.train.epochs == space.fixed["train.epochs"]


def test_with_fixed_pins_a_key_set_by_hand() -> None:
    space = registry.get_tuning("fashion-mlp").space.with_fixed({"model.layers": 1})
    assert "model.layers" not in [p.key for p in space.params]
    assert space.fixed["model.layers"] == 1


def test_space_from_a_file() -> None:
    space = space_from_dict(
        {
            "params": {
                "train.lr": {"low": 1e-4, "high": 1e-2, "log": True, "role": "nuisance"},
                "model.units": {"low": 16, "high": 512, "step": 16},
                "model.layers": {"choices": [1, 2, 3]},
                "model.dropout": {"low": 0, "high": 0.5},
            },
            "fixed": {"train.epochs": 3},
        }
    )
    kinds = {p.key: (p.kind, p.log, p.step, p.role) for p in space.params}
    assert kinds["train.lr"] == ("float", True, None, "nuisance")
    assert kinds["model.units"] == ("int", False, 16, "scientific")
    assert kinds["model.layers"][0] == "categorical"
    assert kinds["model.dropout"][0] == "float"
    space.check(_cfg())
    with pytest.raises(ConfigError, match="unknown field 'hgh'"):
        space_from_dict({"params": {"train.lr": {"low": 1, "hgh": 2}}})
    with pytest.raises(ConfigError, match="params"):
        space_from_dict({"train.lr": {"low": 1, "high": 2}})


def test_to_dict_keeps_a_zero_bound() -> None:
    assert Float("model.dropout", 0.0, 0.5).to_dict()["low"] == 0.0


@pytest.mark.parametrize("spec", registry.all_tunings(), ids=lambda s: s.recipe)
def test_every_registered_space_fits_its_recipe(spec) -> None:
    recipe = registry.get(spec.recipe)
    spec.space.check(recipe.default_config())
    spec.space.check(recipe.smoke(recipe.default_config()))
    roles = {p.role for p in spec.space.params}
    assert "scientific" in roles and "nuisance" in roles  # the playbook's split is declared
    assert spec.timeout_s or spec.trials


def test_registry_errors_name_the_tunable_recipes() -> None:
    with pytest.raises(UnknownRecipeError, match=r"no search space.*fashion-mlp"):
        registry.get_tuning("cifar10-lenet")
    with pytest.raises(UnknownRecipeError, match="did you mean 'fashion-mlp'"):
        registry.get_tuning("fashion-mpl")
