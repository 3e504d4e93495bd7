"""The per-task bAbI table (test error %, mean ± std over seeds) from `babi-memn2n` run folders.

Each argument is a run folder or a `--seeds` group folder (`<stamp>-seedsA-B`, whose
summary.json lists its runs); several groups give one column each, labelled by `--label`.
The paper's column is MemN2N PE LS RN joint, 3 hops, 1k (Sukhbaatar et al. 2015, Table 1).

    python benchmarks/collect_babi.py runs/babi-memn2n/*-seeds0-2 --label 10k --label 1k
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from tamrin.data.babi import TASKS
from tamrin.recipes.babi import FAILED, PAPER_1K_ERROR


def run_dirs(path: Path) -> list[Path]:
    """The run folders of a group (from its summary.json), or the folder itself."""
    summary = path / "summary.json"
    if summary.is_file():
        data = json.loads(summary.read_text())
        runs = data.get("runs") or []
        return [path.parent / Path(r["run_dir"] if isinstance(r, dict) else r).name for r in runs]
    return [path]


def per_task(dirs: list[Path]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for d in dirs:
        metrics = json.loads((d / "metrics.json").read_text())
        for task, facts in metrics["tasks"].items():
            out.setdefault(int(task), []).append(facts)
    return out


def _pm(values: list[float], digits: int = 1) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("groups", nargs="+", type=Path)
    p.add_argument("--label", action="append", default=[])
    args = p.parse_args()
    labels = args.label + [g.name for g in args.groups[len(args.label) :]]
    columns = [per_task(run_dirs(g)) for g in args.groups]
    header = ["task", *(f"{lab} test error %" for lab in labels), "paper 1k joint %"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    summary_rows: list[list[str]] = [["mean error %"], ["failed (> 5 %)"], ["hop-1 on support"]]
    for col in columns:
        seeds = len(next(iter(col.values())))
        means = [statistics.fmean(100 * col[t][s]["error"] for t in col) for s in range(seeds)]
        fails = [sum(col[t][s]["error"] > FAILED for t in col) for s in range(seeds)]
        hits = [
            [col[t][s]["support_top1_hop1"] for t in col if "support_top1_hop1" in col[t][s]]
            for s in range(seeds)
        ]
        summary_rows[0].append(_pm(means))
        summary_rows[1].append(_pm([float(f) for f in fails]))
        has = all(hits)  # the homework model has no memory attention to score
        summary_rows[2].append(_pm([statistics.fmean(h) for h in hits], digits=3) if has else "—")
    usual = [statistics.mode(f["size"] for facts in col.values() for f in facts) for col in columns]
    for t in sorted({t for col in columns for t in col}):
        cells = [f"{t} {TASKS[t - 1]}"]
        for col, size_of_column in zip(columns, usual, strict=True):
            facts = col.get(t, [])
            size = {f["size"] for f in facts}
            note = f" ({'/'.join(sorted(size))})" if size and size != {size_of_column} else ""
            cells.append(_pm([100 * f["error"] for f in facts]) + note if facts else "—")
        cells.append(f"{PAPER_1K_ERROR[t - 1]:.1f}")
        print("| " + " | ".join(cells) + " |")
    summary_rows[0].append(f"{statistics.fmean(PAPER_1K_ERROR):.1f}")
    summary_rows[1].append(str(sum(e > 100 * FAILED for e in PAPER_1K_ERROR)))
    summary_rows[2].append("—")
    for row in summary_rows:
        print("| **" + row[0] + "** | " + " | ".join(row[1:]) + " |")


if __name__ == "__main__":
    main()
