"""tamrin's own measured figures, shipped with the package (`tamrin list`, the README table).

`measured.json` is written by `benchmarks/collect_recipes.py` from real run folders (multi-seed
summaries or single runs); nothing here is typed in. Each entry is one recipe on one data set:
the headline metric's mean ± std over seeds, train and wall time, precision, the machine and the
commit it was measured with, and the folder it came from.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

RESULTS_FILE = "measured.json"


@cache
def measured_results() -> tuple[dict[str, Any], ...]:
    """Every shipped entry (empty when the file is absent, e.g. a trimmed install)."""
    try:
        text = resources.files("tamrin").joinpath(RESULTS_FILE).read_text()
    except (FileNotFoundError, OSError):
        return ()
    rows = json.loads(text)
    return tuple(r for r in rows if isinstance(r, dict))


def for_recipe(name: str) -> list[dict[str, Any]]:
    """The entries of one recipe, in the order they were collected."""
    return [r for r in measured_results() if r.get("recipe") == name]
