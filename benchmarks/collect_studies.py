"""Collect study summaries into benchmarks/results/studies.json and print the README section.

    python benchmarks/collect_studies.py STUDY_DIR [STUDY_DIR ...]

Each STUDY_DIR is a folder written by `tamrin run study-…` (it holds summary.json and
study.json); every number printed comes from those files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "studies.json"


def _row(study_dir: Path) -> dict:
    s = json.loads((study_dir / "summary.json").read_text())
    meta = json.loads((study_dir / "study.json").read_text())
    first = study_dir / meta["cells"][0]["dir"] / "config.json"
    cfg = json.loads(first.read_text()) if first.exists() else {}
    return {
        "study": s["study"],
        "summary": s["summary"],
        "recipe": s["recipe"],
        "metric": s["metric"],
        "seeds": s["seeds"],
        "variants": [
            {
                "label": v["label"],
                "mean": v["metric"]["mean"],
                "std": v["metric"]["std"],
                "n": v["metric"]["n"],
                "status": v["status"],
                "comparison": v.get("comparison"),
                "metrics": {
                    k: {"mean": m["mean"], "std": m["std"]} for k, m in v["metrics"].items()
                },
            }
            for v in s["variants"]
        ],
        "verdicts": s["verdicts"],
        "wall_time_s": s["wall_time_s"],
        "workers": s["workers"],
        "base": s["base"],
        "torch": cfg.get("torch_version"),
        "threads_per_cell": 1 if (s.get("workers") or 1) > 1 else cfg.get("threads"),
        "folder": str(study_dir),
    }


def _short(x: float | None) -> str:
    if x is None or x != x:  # None or NaN
        return "—"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    return f"{x:.4g}"


def main() -> None:
    rows = [_row(Path(d)) for d in sys.argv[1:]]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    for r in rows:
        cells = sum(len(v["status"]) for v in r["variants"])
        budget = ", ".join(f"`{k}={v}`" for k, v in r["base"].items())
        print(
            f"**`{r['study']}`** — {r['summary']}; {len(r['variants'])} variants × "
            f"{len(r['seeds'])} seeds = {cells} cells ({budget}), "
            f"**{r['wall_time_s']:.0f} s** wall on {r['workers']} worker(s)."
        )
        print()
        extra = list(r["variants"][0]["metrics"])
        print(
            f"| variant | {r['metric']} (mean ± std) | Δ vs baseline (points) | p (Welch) | "
            + " | ".join(f"{k} (mean)" for k in extra)
            + " |"
        )
        print("|---|---|---|---|" + "---|" * len(extra))
        for v in r["variants"]:
            c = v["comparison"] or {}
            mean = "—" if v["mean"] is None else f"{v['mean']:.4f} ± {v['std']:.4f}"
            diff = "" if not c else f"{100 * c['diff']:+.2f} ± {100 * c['se']:.2f}"
            p = "" if not c else f"{c['p']:.2g}"
            failed = sum(st not in ("completed", "stopped_early") for st in v["status"])
            note = f" ({failed} of {len(v['status'])} failed)" if failed else ""
            cols = [_short(v["metrics"][k]["mean"]) for k in extra]
            print(f"| {v['label']}{note} | {mean} | {diff} | {p} | " + " | ".join(cols) + " |")
        print()


if __name__ == "__main__":
    main()
