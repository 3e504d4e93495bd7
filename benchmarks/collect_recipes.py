"""Collect multi-seed run summaries into benchmarks/results/recipes.json and print the README table.

    python benchmarks/collect_recipes.py RUNS_DIR [RUNS_DIR ...]

Reads every `<recipe>/<stamp>-seeds*/summary.json` (written by `tamrin run NAME --seeds N`) and
the config of its runs, so each README number traces back to run folders.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "recipes.json"


def _row(summary_path: Path) -> dict:
    s = json.loads(summary_path.read_text())
    first = summary_path.parent / s["runs"][0]
    if not first.exists():
        first = Path(s["runs"][0])
    meta = json.loads((first / "config.json").read_text())
    cfg = meta["config"]
    acc = s["headline"].get("test.accuracy") or {}
    f1 = s["headline"].get("test.macro_f1") or {}
    return {
        "recipe": s["recipe"],
        "data": cfg.get("data"),
        "seeds": s["seeds"],
        "epochs": cfg["train"]["epochs"],
        "accuracy_mean": acc.get("mean"),
        "accuracy_std": acc.get("std"),
        "macro_f1_mean": f1.get("mean"),
        "macro_f1_std": f1.get("std"),
        "train_time_s_mean": s["time"]["train_time_s"]["mean"],
        "train_time_s_min": min(s["time"]["train_time_s"]["values"]),
        "wall_time_s_mean": s["time"]["wall_time_s"]["mean"],
        "homework_figure": s.get("homework_figure", s.get("seed_figure")),
        "device": meta.get("device"),
        "threads": meta.get("threads"),
        "torch": meta.get("torch_version"),
        "summary": str(summary_path),
    }


def main() -> None:
    rows = [_row(p) for d in sys.argv[1:] for p in sorted(Path(d).glob("*/*-seeds*/summary.json"))]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        "| recipe | data | homework's figure | tamrin test accuracy (mean ± std) | macro F1 | "
        "epochs | train time per seed: fastest / mean |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        fig = (
            r["homework_figure"]["text"] if r["homework_figure"] and r["data"] == "cifar10" else "—"
        )
        print(
            f"| `{r['recipe']}` | {r['data']} | {fig} | {r['accuracy_mean']:.4f} ± "
            f"{r['accuracy_std']:.4f} ({len(r['seeds'])} seeds) | {r['macro_f1_mean']:.4f} | "
            f"{r['epochs']} | {r['train_time_s_min']:.0f} s / {r['train_time_s_mean']:.0f} s |"
        )


def print_benchmarks() -> None:
    """The README's benchmark table, from benchmarks/results/lenet-cifar10-*.json."""
    print("\n| benchmark | tamrin | reference | ratio | machine |")
    print("|---|---|---|---|---|")
    for path in sorted(RESULTS.parent.glob("lenet-cifar10-*.json")):
        b = json.loads(path.read_text())
        ours, ref, env = b["tamrin"], b["reference"], b["env"]
        machine = f"{env['cores']} cores, torch {env['torch']}"
        print(
            f"| LeNet CIFAR-10 training images/s | {ours['images_per_s']:.0f} | "
            f"{ref['images_per_s']:.0f} | {b['images_per_s_ratio']:.1f}x | {machine} |"
        )
        ttt_ref = ref["time_to_target_s"]
        ratio = b["time_to_target_ratio"]
        print(
            f"| time to {b['target_val_acc']:.0%} val accuracy | "
            f"{ours['time_to_target_s']:.1f} s | "
            f"{f'{ttt_ref:.1f} s' if ttt_ref else 'not reached'} | "
            f"{f'{ratio:.1f}x' if ratio else '—'} | {machine} |"
        )


if __name__ == "__main__":
    main()
    print_benchmarks()
