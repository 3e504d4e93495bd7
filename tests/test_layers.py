"""The layering of DESIGN.md holds: a module imports only from layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "tamrin"

LAYER = {  # lower number = higher layer (may be imported by larger numbers)
    "_version": 0,
    "errors": 0,
    "config": 1,
    "registry": 1,
    "data": 2,
    "models": 2,
    "train": 3,
    "eval": 3,
    "recipes": 4,
    "runner": 5,
    "studies": 6,
    "api": 7,
    "cli": 7,
    "__init__": 8,
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
                problems.append(f"{rel}: layer {own} imports lower layer {other} ({module})")
    assert not problems, "\n".join(problems)
