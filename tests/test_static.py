"""The tool config in pyproject.toml holds: ruff (lint + format) and mypy on src/ are clean.

Run as tests so CI fails on them; caches go to tmp_path (nothing is written into the checkout).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return str(path)


@pytest.mark.parametrize(
    "argv",
    [
        ["ruff", "check", "--no-cache", "src", "tests", "benchmarks"],
        ["ruff", "format", "--check", "--no-cache", "src", "tests", "benchmarks"],
    ],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff_is_clean(argv: list[str]) -> None:
    out = subprocess.run([_tool(argv[0]), *argv[1:]], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_mypy_is_clean(tmp_path: Path) -> None:
    out = subprocess.run(
        [_tool("mypy"), "--cache-dir", str(tmp_path / "mypy")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
