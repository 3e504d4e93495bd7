"""The recipe registry: a decorator fills it when `tamrin.recipes` is imported.

A recipe is a function `(cfg, ctx) -> None` that trains/evaluates and logs through its run
context; the runner owns the run folder. `RunContext` is the interface recipes see; the runner
implements it (recipes never import the runner).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tamrin.errors import UnknownRecipeError, did_you_mean

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class HomeworkFigure:
    """The number the course's original homework reported, to compare ours with."""

    text: str  # what the homework reported, in words ("62% test accuracy after 5 epochs, batch 4")
    value: float  # the number, as a fraction where it is a rate (0.62)
    metric: str  # the metrics.json key ours is compared on ("test.accuracy")
    data: str = ""  # the data set it was measured on ("" at registration: the recipe's first)


class RunContext(Protocol):
    """What a recipe may do with its run: read its settings, log, checkpoint, keep artifacts.

    A recipe never writes files itself: files it produces (trained vectors, encoders) go through
    `log_artifact`, which the run writes atomically into artifacts/.
    """

    seed: int
    device: Any  # torch.device
    smoke: bool
    checkpoint_dir: Path  # where the trainer keeps last.pt / best.pt (atomic writes)
    callbacks: tuple[Any, ...]  # added to every fit (a tuning trial's pruning callback)
    tuning_trial: bool  # a trial of `tamrin tune`: the test split is not scored

    def data_store(self) -> Any: ...
    def log_epoch(self, row: Mapping[str, float]) -> None: ...
    def log_fit(self, result: Any, name: str = "") -> None: ...
    def log_metrics(self, section: str, values: Mapping[str, Any]) -> None: ...
    def log_table(
        self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = ""
    ) -> None: ...
    def log_note(self, text: str) -> None: ...
    def log_figure(self, fig: Any, name: str, caption: str = "") -> None: ...
    def log_image(self, name: str, write: Callable[[Path], bool], caption: str = "") -> bool: ...
    def log_plot(
        self, name: str, kind: str, data: Any, caption: str = ""
    ) -> None: ...  # data as figures/<name>.json, drawn by kind (tamrin.eval.figures); redrawable
    def log_artifact(
        self, name: str, save: Callable[[Path], None], caption: str = ""
    ) -> Path: ...  # save(tmp path) -> artifacts/<name>, renamed atomically
    def log_predictions(self, y_true: Any, proba: Any, class_names: Sequence[str]) -> None: ...
    def log_inference(
        self, spec: Mapping[str, Any]
    ) -> None: ...  # model.json: how tamrin.load(RUN).model() rebuilds the model
    def recorded_precision(self) -> dict[str, Any] | None: ...
    def record_precision(self, record: Mapping[str, Any]) -> None: ...
    def progress(self) -> Any: ...


@dataclass(frozen=True)
class Recipe:
    """A registered experiment: its name, what it is, its defaults and its smoke shrink."""

    name: str
    summary: str
    config_cls: type
    fn: Callable[[Any, RunContext], None]
    data: tuple[str, ...]
    homework_figure: HomeworkFigure | None
    smoke: Callable[[Any], Any]
    headline: tuple[str, ...]
    module: str
    needs: Callable[[Any], Sequence[str]] | None = None  # cfg -> data sets a run reads
    course: str = ""  # the homework it comes from ("HW2"; "HW2, HW5" for several)

    def default_config(self) -> Any:
        return self.config_cls()

    def data_needs(self, cfg: Any) -> tuple[str, ...]:
        """The data sets a run of this config reads, checked before its folder is made.

        The recipe's own `needs(cfg)` where it registered one (what it reads may depend on other
        settings, e.g. word-vectors' `vectors`); else the config's `data` field where it has
        one; else nothing is checked up front and the data is checked when the recipe runs.
        """
        if self.needs is not None:
            return tuple(self.needs(cfg))
        data = getattr(cfg, "data", None)
        return (data,) if isinstance(data, str) and data in self.data else ()

    def data_set(self, cfg: Any) -> str:
        """The data set a run of `cfg` is measured on: its `data` field, else the first listed."""
        data = getattr(cfg, "data", None)
        if isinstance(data, str) and data:
            return data
        return self.data[0] if self.data else ""

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


_REGISTRY: dict[str, Recipe] = {}


def recipe(
    name: str,
    *,
    summary: str,
    config: type,
    data: Sequence[str] = (),
    homework: HomeworkFigure | None = None,
    smoke: Callable[[Any], Any] | None = None,
    headline: Sequence[str] = ("test.accuracy", "test.macro_f1"),
    needs: Callable[[Any], Sequence[str]] | None = None,
    course: str = "",
) -> Callable[[Callable[[Any, RunContext], None]], Callable[[Any, RunContext], None]]:
    """Register `fn` as recipe `name`. A duplicate or badly formed name fails at import.

    `needs(cfg)` names the data sets a run of `cfg` reads (default: the config's `data` field),
    so a missing one is reported before anything is created.
    """
    if not _NAME.match(name):
        raise ValueError(f"recipe name must be kebab-case; got {name!r}")
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"recipe {name}: config must be a dataclass; got {config!r}")

    def register(fn: Callable[[Any, RunContext], None]) -> Callable[[Any, RunContext], None]:
        if name in _REGISTRY or name in _STUDIES:
            where = _REGISTRY[name].module if name in _REGISTRY else _STUDIES[name].module
            raise ValueError(f"recipe {name!r} is registered twice ({where}, {fn.__module__})")
        _REGISTRY[name] = Recipe(
            name,
            summary,
            config,
            fn,
            tuple(data),
            (
                dataclasses.replace(homework, data=data[0])
                if homework and data and not homework.data
                else homework
            ),
            smoke or (lambda c: c),
            tuple(headline),
            fn.__module__,
            needs,
            course,
        )
        return fn

    return register


@dataclass(frozen=True)
class Variant:
    """One arm of a study: a label and the `--set` overrides that make it differ."""

    name: str  # label in tables and legends, e.g. "LeakyReLU(0.01)"
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    group: str = ""  # variants are compared with the baseline of their own group (e.g. "MLP")

    @property
    def label(self) -> str:
        return f"{self.group} · {self.name}" if self.group else self.name


@dataclass(frozen=True)
class StudySpec:
    """A controlled experiment: every variant of `recipe` × `seeds` seeds, same data and budget.

    Pure data, so the course knowledge stays in `tamrin.recipes`; `tamrin.studies` runs it
    through the runner. Each variant is compared with its group's `baseline` by a Welch t-test
    on `metric`.
    """

    name: str  # kebab-case, shares the namespace with recipes (`tamrin run study-init`)
    summary: str  # one line for `tamrin list`
    recipe: str  # the registered recipe every cell runs
    variants: tuple[Variant, ...]
    question: str = ""  # the claim under test, in words (what the homework said)
    base: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # overrides for every cell
    smoke_base: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # added under --smoke
    baseline: str = ""  # name of the baseline variant in each group; "" = the group's first
    metric: str = "test.accuracy"  # metrics.json key the t-test and the verdict use
    metrics: tuple[str, ...] = ()  # further metrics.json keys tabulated as mean ± std
    curves: tuple[str, ...] = ("val_acc",)  # history.csv columns drawn with a ±1 std band
    profiles: tuple[str, ...] = ()  # metrics.json keys holding a list (per layer) or {"x", "y"}
    higher_is_better: bool = True  # direction of `metric`
    seeds: int = 5  # default number of seeds per variant
    data: tuple[str, ...] = ()  # data sets the cells need (for `tamrin list` and tests)
    module: str = ""  # where it was registered

    def baseline_of(self, group: str) -> Variant:
        members = [v for v in self.variants if v.group == group]
        for v in members:
            if v.name == self.baseline:
                return v
        return members[0]


_STUDIES: dict[str, StudySpec] = {}


def register_study(spec: StudySpec) -> StudySpec:
    """Add a study; its name may clash with neither a recipe nor another study."""
    if not _NAME.match(spec.name):
        raise ValueError(f"study name must be kebab-case; got {spec.name!r}")
    if spec.name in _STUDIES or spec.name in _REGISTRY:
        raise ValueError(f"name {spec.name!r} is registered twice")
    labels = [v.label for v in spec.variants]
    if len(set(labels)) != len(labels) or not labels:
        raise ValueError(f"study {spec.name}: variant labels must be unique and non-empty")
    _STUDIES[spec.name] = spec
    return spec


def is_study(name: str) -> bool:
    _load()
    return name in _STUDIES


def get_study(name: str) -> StudySpec:
    """The study registered as `name`, or UnknownRecipeError with a suggestion."""
    _load()
    try:
        return _STUDIES[name]
    except KeyError:
        known = {**_REGISTRY, **_STUDIES}
        raise UnknownRecipeError(
            f"unknown study '{name}'{did_you_mean(name, known)} (tamrin list shows them)"
        ) from None


def all_studies() -> list[StudySpec]:
    """Every registered study, sorted by name."""
    _load()
    return [_STUDIES[k] for k in sorted(_STUDIES)]


def _load() -> None:
    import tamrin.recipes  # noqa: F401  (importing it registers every recipe)


def get(name: str) -> Recipe:
    """The recipe registered as `name`, or UnknownRecipeError with a suggestion."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = {**_REGISTRY, **_STUDIES}
        raise UnknownRecipeError(
            f"unknown recipe '{name}'{did_you_mean(name, known)} (tamrin list shows them)"
        ) from None


def all_recipes() -> list[Recipe]:
    """Every registered recipe, sorted by name."""
    _load()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


_TUNINGS: dict[str, Any] = {}  # recipe name -> search_space.TuneSpec


def register_tuning(spec: Any) -> Any:
    """Register a `search_space.TuneSpec` under its recipe's name (`tamrin tune RECIPE`).

    The recipe must already be registered, once; its space is checked against the recipe's
    default config at import, so a typo in a key fails there and not in a user's search.
    """
    if spec.recipe not in _REGISTRY:
        raise ValueError(f"tuning: recipe {spec.recipe!r} is not registered (register it first)")
    if spec.recipe in _TUNINGS:
        raise ValueError(f"tuning for recipe {spec.recipe!r} is registered twice")
    spec.space.check(_REGISTRY[spec.recipe].default_config())
    _TUNINGS[spec.recipe] = spec
    return spec


def get_tuning(name: str) -> Any:
    """The TuneSpec of recipe `name`, or UnknownRecipeError naming the tunable recipes."""
    _load()
    if name in _TUNINGS:
        return _TUNINGS[name]
    tunable = ", ".join(sorted(_TUNINGS)) or "none"
    if name in _REGISTRY or name in _STUDIES:
        raise UnknownRecipeError(
            f"{name} has no search space to tune (tunable recipes: {tunable}); "
            f"give one with --space FILE"
        )
    raise UnknownRecipeError(
        f"unknown recipe '{name}'{did_you_mean(name, _TUNINGS)} (tunable recipes: {tunable})"
    )


def all_tunings() -> list[Any]:
    """Every registered TuneSpec, sorted by recipe name."""
    _load()
    return [_TUNINGS[k] for k in sorted(_TUNINGS)]
