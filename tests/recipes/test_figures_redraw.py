"""Every figure a recipe logs is redrawn from its run folder alone: delete the PNGs, rebuild the
report in a fresh process that never imports the recipes, and every listed figure is back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tamrin import runner

# Rebuilds the report of argv[1] as `tamrin report` does, and fails if that needed a recipe module
# (the drawers must come from the eval layer, found by kind).
_FRESH = """
import sys
from tamrin.eval.report import write_report
write_report(sys.argv[1])
recipes = sorted(m for m in sys.modules if m.startswith("tamrin.recipes"))
assert not recipes, f"redrawing imported recipe modules: {recipes}"
"""


@pytest.mark.parametrize(
    ("name", "logged"),
    [
        (
            "mnist-imbalanced",
            {"reliability", "precision_recall", "confusion_counts_normalized", "operating_point"},
        ),
        ("norm-lab", {"norm_axes", "norm_curves"}),
    ],
)
def test_every_figure_is_redrawn_from_the_folder(
    name: str, logged: set[str], tiny_data: Path, tmp_path: Path
) -> None:
    run_dir = runner.run(name, smoke=True, out=tmp_path, quiet=True).run_dir
    metrics_before = (run_dir / "metrics.json").read_text()
    entries = json.loads(metrics_before)["figures"]
    files = {e["file"] for e in entries}
    assert {f"figures/{n}.png" for n in logged} <= files
    for entry in entries:  # every listed figure keeps its data, so it can be redrawn
        assert entry.get("data") and (run_dir / entry["data"]).is_file(), entry
    for png in (run_dir / "figures").glob("*.png"):
        png.unlink()

    done = subprocess.run(
        [sys.executable, "-c", _FRESH, str(run_dir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for rel in files:
        assert (run_dir / rel).read_bytes()[:4] == b"\x89PNG", rel
    assert (run_dir / "metrics.json").read_text() == metrics_before  # figures only
