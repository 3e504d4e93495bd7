"""The layering of DESIGN.md holds: a module imports only from layers above it, and no module
reaches into another module's private names (`_name`): what two modules share is public."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "tamrin"

LAYER = {  # lower number = higher layer (may be imported by larger numbers)
    "_version": 0,
    "errors": 0,
    "config": 1,
    "registry": 1,
    "search_space": 2,  # search spaces as data (Int, Float, Choice, TuneSpec); uses config
    "rundir": 1,  # the run-folder reader/writer: eval, runner and api all read through it
    "measured": 1,  # tamrin's shipped measured figures (measured.json; `tamrin list`)
    "data": 2,
    "models": 2,
    "train": 3,
    "eval": 3,
    "tensorboard": 3,  # --tensorboard event files; run_context (4) writes through it
    "tasks": 4,  # load splits, train and select on val, score the test split once
    "run_context": 4,  # the Run a recipe logs through (the runner makes it)
    "recipes": 5,
    "inference": 5,  # a run folder -> its model, predict, export (the runner's results use it)
    "text_inference": 6,  # a text run's model on new texts (on top of inference), attention pages
    "runner": 6,
    "studies": 7,
    "tuning": 7,  # tamrin tune: Optuna studies whose trials are runner runs
    "api": 8,
    "cli": 8,
    "bench": 7,  # tamrin bench: runs benchmarks/ scripts, records and tables them
    "launch": 7,  # --nproc: the command again under torchrun (the CLI calls it)
    "__init__": 9,
    "__main__": 9,  # `python -m tamrin`: the CLI
}
FORBIDDEN_PAIRS = {("data", "models"), ("models", "data"), ("eval", "train")}


def _top(module: str) -> str:
    return module.split(".")[1] if module.startswith("tamrin.") else ""


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            if node.module == "tamrin":
                found += [f"tamrin.{a.name}" for a in node.names]
    return [m for m in found if m.startswith("tamrin.")]


def test_imports_follow_the_layers() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        own = rel.parts[0].removesuffix(".py")
        if own not in LAYER:
            problems.append(f"{rel}: new top-level module '{own}'; give it a layer in LAYER")
            continue
        if own == "recipes" and rel.name == "__init__.py":
            continue  # importing every recipe module is its job
        for module in _imports(path):
            other = _top(module)
            if other == own and own != "recipes":
                continue
            if own == "recipes" and other == "recipes":
                problems.append(f"{rel}: recipes must not import each other ({module})")
            elif (own, other) in FORBIDDEN_PAIRS:
                problems.append(f"{rel}: {own} must not import {other}")
            elif LAYER.get(other, 99) >= LAYER[own] and other != own:
                if own == "registry" and other == "recipes":
                    continue  # registry._load imports the recipes package to fill itself
                if own == "runner" and module == "tamrin.studies.grid":
                    continue  # runner.run, the one name -> result dispatch, hands studies on
                problems.append(f"{rel}: layer {own} imports lower layer {other} ({module})")
    assert not problems, "\n".join(problems)


# (importer, private name) pairs known to break the rule, to be fixed and then removed from here;
# an entry that no longer occurs fails the test too, so the list only shrinks.
KNOWN_PRIVATE_IMPORTS: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    """src/tamrin/data/store.py -> tamrin.data.store; a package's __init__.py -> the package."""
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (SRC.parent / rel).is_dir()


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` as text, or None when the chain does not start at a plain name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _private_uses(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every private tamrin name `module` imports or reads off an imported tamrin module
    (`from tamrin.x.y import _f`, `y._f`, `tamrin.x.y._f`), as its full dotted name."""
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> the tamrin module it is bound to
    used: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base != "tamrin" and not base.startswith("tamrin."):
                continue
            for a in node.names:
                target = f"{base}.{a.name}"
                if _is_module(target):
                    aliases[a.asname or a.name] = target
                if _is_private(a.name):
                    used.append(target)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "tamrin" or a.name.startswith("tamrin."):
                    aliases[a.asname or "tamrin"] = a.name if a.asname else "tamrin"
                    *_, last = a.name.split(".")
                    if _is_private(last):
                        used.append(a.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            chain = _dotted(node.value)
            head, _, rest = (chain or "").partition(".")
            if head in aliases:
                used.append(".".join(filter(None, [aliases[head], rest, node.attr])))
    return used


def _violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """The private names `module` uses that belong to another module.

    A private function/class/constant belongs to the module that defines it; a private module
    (`tamrin/_version.py`) belongs to its package, so modules inside that package may import it.
    """
    bad = []
    for name in _private_uses(source, module, is_package):
        owner = name.rpartition(".")[0]
        if _is_module(name):  # a private module: allowed inside its own package
            if module != owner and not module.startswith(owner + "."):
                bad.append(name)
        elif owner != module:
            bad.append(name)
    return sorted(set(bad))


def test_no_private_names_across_modules() -> None:
    found = set()
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        for name in _violations(path.read_text(), module, path.name == "__init__.py"):
            found.add((str(path.relative_to(SRC.parent)), name))
    new = sorted(found - KNOWN_PRIVATE_IMPORTS)
    fixed = sorted(KNOWN_PRIVATE_IMPORTS - found)
    assert not new, "private names used outside their module (make them public or move them):\n" + (
        "\n".join(f"{importer}: {name}" for importer, name in new)
    )
    assert not fixed, f"fixed, remove from KNOWN_PRIVATE_IMPORTS: {fixed}"


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from tamrin.data.store import _md5", "tamrin.data.imbalance", ["tamrin.data.store._md5"]),
        ("from .store import _md5", "tamrin.data.imbalance", ["tamrin.data.store._md5"]),
        ("from ..data.store import _md5", "tamrin.train.fit", ["tamrin.data.store._md5"]),
        (
            "from tamrin.data import store\nstore._md5(b'')",
            "tamrin.eval.x",
            ["tamrin.data.store._md5"],
        ),
        ("import tamrin.data.store as s\ns._md5", "tamrin.eval.x", ["tamrin.data.store._md5"]),
        (
            "import tamrin.data.store\ntamrin.data.store._md5",
            "tamrin.x",
            ["tamrin.data.store._md5"],
        ),
        ("from tamrin import _version", "tamrin.runner", []),  # private module, own package
        ("from tamrin import _version", "tamrin.data.store", []),  # inside the package tamrin
        ("from tamrin._version import __version__", "tamrin.cli", []),  # dunder, not private
        ("from tamrin.data.store import md5", "tamrin.eval.x", []),
        ("from tamrin.data.store import _md5", "tamrin.data.store", []),  # its own name
        ("import numpy as np\nnp._x", "tamrin.eval.x", []),  # not tamrin's
    ],
)
def test_private_name_check_can_fail(source: str, module: str, expected: list[str]) -> None:
    assert _violations(source, module) == expected
