"""Collect measured recipe runs into the shipped results file and the README's recipe table.

    python benchmarks/collect_recipes.py [--readme] [--keep] RUNS_DIR [RUNS_DIR ...]

Reads every seed group `<recipe>/<stamp>-seeds*/summary.json` (written by `tamrin run NAME
--seeds N`) under the RUNS_DIRs, and for recipes with no group there the newest finished
single run `<recipe>/<stamp>-s<seed>/`. A later RUNS_DIR's entry for the same (recipe, data set)
replaces an earlier one. Writes `src/tamrin/measured.json` (what `tamrin list` shows) and
`benchmarks/results/recipes.json` (the same rows), prints the Markdown table, and with
`--readme` puts it between the `<!-- recipes:start -->` / `<!-- recipes:end -->` markers of
README.md. Every number comes from the run folders; the paths are kept as provenance. With
`--keep` the rows already in the shipped file stay unless a RUNS_DIR measures the same (recipe,
data set) again: a new machine adds its runs without the folders earlier machines measured in.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tamrin import config as C  # noqa: E402
from tamrin import registry  # noqa: E402
from tamrin.eval.report import fmt_pm  # noqa: E402
from tamrin.train.device import machine  # noqa: E402

SHIPPED = ROOT / "src" / "tamrin" / "measured.json"
RESULTS = ROOT / "benchmarks" / "results" / "recipes.json"
README = ROOT / "README.md"
START, END = "<!-- recipes:start -->", "<!-- recipes:end -->"


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _metric_key(recipe: registry.Recipe, data: str | None) -> str:
    """The number a recipe is judged by: its homework figure's metric on the figure's data
    set, else its first headline metric."""
    fig = recipe.homework_figure
    if fig is not None and (not fig.data or fig.data == data):
        return fig.metric
    return recipe.headline[0]


def _overrides(recipe: registry.Recipe, meta: dict[str, Any]) -> dict[str, Any]:
    """The config values a run changed from the recipe's defaults (the data set aside)."""
    # through JSON, as config.json was written: a tuple default equals the list it became
    default = C.flatten(json.loads(json.dumps(C.to_dict(recipe.default_config()))))
    ran = C.flatten(meta.get("config") or {})
    return {k: v for k, v in ran.items() if k != "data" and k in default and default[k] != v}


def _common(recipe: registry.Recipe, meta: dict[str, Any], source: Path) -> dict[str, Any]:
    fig = recipe.homework_figure
    applies = fig is not None and (not fig.data or fig.data == meta.get("data"))
    precision = meta.get("precision") or {}
    return {
        "recipe": recipe.name,
        "course": recipe.course,
        "data": meta.get("data"),
        "overrides": _overrides(recipe, meta),
        "homework_figure": dict(fig.__dict__) if fig is not None and applies else None,
        "precision": precision.get("name") if isinstance(precision, dict) else None,
        "precision_request": precision.get("request") if isinstance(precision, dict) else None,
        "machine": meta.get("machine") or {**machine(), "recorded": "at collection"},
        "torch": meta.get("torch_version"),
        "commit": meta.get("git_commit"),
        "date": str(meta.get("started", ""))[:10],
        "source": str(source),
        "from_study": (
            f"study {meta['from_study']['study']}, trial {meta['from_study']['trial']}"
            if meta.get("from_study")
            else None
        ),
    }


def _several_fits(metrics: dict[str, Any]) -> bool:
    """A run that trains several networks (named fits: stages, arms, pretraining)."""
    return bool(metrics.get("fits"))


def _group_row(summary_path: Path) -> dict[str, Any]:
    s = _read(summary_path)
    first = (summary_path.parent / s["runs"][0]).resolve()
    meta = _read(first / "config.json")
    recipe = registry.get(s["recipe"])
    key = _metric_key(recipe, meta.get("data"))
    value = s["headline"].get(key) or {}
    train = [t for t in s["time"]["train_time_s"]["values"] if t is not None]
    wall = [t for t in s["time"]["wall_time_s"]["values"] if t is not None]
    if _several_fits(_read(first / "metrics.json")):
        train = []  # the headline fit's time is not the run's cost: the table shows wall time
    return {
        **_common(recipe, meta, summary_path.parent),
        "metric": key,
        "mean": value.get("mean"),
        "std": value.get("std"),
        "seeds": s["seeds"],
        "headline": {k: {"mean": v["mean"], "std": v["std"]} for k, v in s["headline"].items()},
        "train_time_s_min": min(train) if train else None,
        "train_time_s_mean": statistics.fmean(train) if train else None,
        "wall_time_s_min": min(wall) if wall else None,
        "wall_time_s_mean": statistics.fmean(wall) if wall else None,
    }


def _single_row(run_dir: Path) -> dict[str, Any]:
    meta = _read(run_dir / "config.json")
    metrics = _read(run_dir / "metrics.json")
    recipe = registry.get(meta["recipe"])
    key = _metric_key(recipe, meta.get("data"))
    return {
        **_common(recipe, meta, run_dir),
        "metric": key,
        "mean": C.lookup(metrics, key),
        "std": None,
        "seeds": [meta.get("seed")],
        "headline": {k: {"mean": C.lookup(metrics, k), "std": None} for k in recipe.headline},
        "train_time_s_min": None if _several_fits(metrics) else metrics.get("train_time_s"),
        "train_time_s_mean": None if _several_fits(metrics) else metrics.get("train_time_s"),
        "wall_time_s_min": metrics.get("wall_time_s"),
        "wall_time_s_mean": metrics.get("wall_time_s"),
    }


def collect(roots: list[Path]) -> list[dict[str, Any]]:
    """One row per (recipe, data set), in registry order, later roots winning."""
    found: dict[tuple[str, Any], dict[str, Any]] = {}
    for root in roots:
        grouped = set()
        for path in sorted(root.glob("*/*-seeds*/summary.json")):
            row = _group_row(path)
            found[(row["recipe"], row["data"])] = row
            grouped.add(row["recipe"])
        for config in sorted(root.glob("*/*-s[0-9]*/config.json")):
            run = config.parent
            metrics = run / "metrics.json"
            name = run.parent.name
            if name in grouped or not metrics.exists() or registry.is_study(name):
                continue
            if _read(metrics).get("status") not in ("completed", "stopped_early"):
                continue
            if _read(config).get("smoke"):
                continue
            row = _single_row(run)
            found[(row["recipe"], row["data"])] = row
    order = {r.name: i for i, r in enumerate(registry.all_recipes())}
    return sorted(found.values(), key=lambda r: (order.get(r["recipe"], 99), str(r["data"])))


def _precision(row: dict[str, Any]) -> str:
    """'bf16 (auto)' where auto chose it, 'fp32 (set)' where the run asked for it."""
    if not row.get("precision"):
        return "—"
    how = "auto" if (row.get("precision_request") or "auto") == "auto" else "set"
    return f"{row['precision']} ({how})"


def table(rows: list[dict[str, Any]]) -> str:
    """The README's recipe table: every registered recipe, measured or saying it is not."""
    lines = [
        "| recipe | homework | data | the homework's figure | tamrin (mean ± std) | metric "
        "| train time per seed: fastest / mean | precision |",
        "|---|---|---|---|---|---|---|---|",
    ]
    measured = {r["recipe"] for r in rows}
    for recipe in registry.all_recipes():
        for r in [x for x in rows if x["recipe"] == recipe.name]:
            fig = r["homework_figure"]["text"] if r["homework_figure"] else "—"
            n = len(r["seeds"])
            value = fmt_pm(r["mean"], r["std"])
            fastest, mean, what = r["train_time_s_min"], r["train_time_s_mean"], ""
            if not isinstance(fastest, int | float):  # no loop, or several: the run's wall time
                fastest, mean, what = r["wall_time_s_min"], r["wall_time_s_mean"], " (wall)"
            times = (
                f"{fastest:.0f} s / {mean:.0f} s{what}"
                if isinstance(fastest, int | float) and isinstance(mean, int | float)
                else "—"
            )
            changed = " ".join(
                f"`{k}={f'{v:.3g}' if isinstance(v, float) else repr(v)}`"
                for k, v in r["overrides"].items()
                if k != "train.precision"
            )
            if r.get("from_study"):  # the best trial of a tamrin tune study, retrained
                changed = f"best of `tamrin tune` ({r['from_study']}): {changed}"
            data = f"{r['data']} {changed}".strip()
            lines.append(
                f"| `{recipe.name}` | {recipe.course or '—'} | {data} | {fig} | "
                f"{value} ({n} seed{'s' if n != 1 else ''}) | `{r['metric']}` | {times} | "
                f"{_precision(r)} |"
            )
        if recipe.name not in measured:
            fig = recipe.homework_figure.text if recipe.homework_figure else "—"
            lines.append(
                f"| `{recipe.name}` | {recipe.course or '—'} | {', '.join(recipe.data)} | {fig} "
                "| not measured here (see below) | | | |"
            )
    machines = {
        (m.get("cpu"), m.get("cores"), " ".join(m.get("flags") or []))
        for m in (r["machine"] for r in rows)
    }
    for cpu, cores, flags in sorted(machines, key=str):
        lines.append(f"\nMeasured on: {cpu}, {cores} cores, flags `{flags}`.")
    return "\n".join(lines)


def update_readme(text: str) -> None:
    readme = README.read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {START} / {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def kept(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` and the shipped rows of (recipe, data set) pairs they do not measure, in order."""
    new = {(r["recipe"], r["data"]) for r in rows}
    old = [r for r in _read_rows(SHIPPED) if (r["recipe"], r["data"]) not in new]
    order = {r.name: i for i, r in enumerate(registry.all_recipes())}
    merged = [r for r in old if r["recipe"] in order] + rows
    return sorted(merged, key=lambda r: (order.get(r["recipe"], 99), str(r["data"])))


def _read_rows(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def main(argv: list[str]) -> None:
    write_readme = "--readme" in argv
    roots = [Path(a) for a in argv if a not in ("--readme", "--keep")]
    if not roots or any(str(r).startswith("-") for r in roots):  # --help is no runs folder
        raise SystemExit(__doc__)
    rows = collect(roots)
    if "--keep" in argv:
        rows = kept(rows)
    for path in (SHIPPED, RESULTS):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=1) + "\n")
    text = table(rows)
    print(text)
    if write_readme:
        update_readme(text)
    print_benchmarks()


def print_benchmarks() -> None:
    """The README's benchmark table, from benchmarks/results/lenet-cifar10-*.json."""
    print("\n| benchmark | tamrin | reference | ratio | machine |")
    print("|---|---|---|---|---|")
    for path in sorted(RESULTS.parent.glob("lenet-cifar10-*.json")):
        b = json.loads(path.read_text())
        ours, ref, env = b["tamrin"], b["reference"], b["env"]
        where = f"{env['cores']} cores, torch {env['torch']}"
        print(
            f"| LeNet CIFAR-10 training images/s | {ours['images_per_s']:.0f} | "
            f"{ref['images_per_s']:.0f} | {b['images_per_s_ratio']:.1f}x | {where} |"
        )
        ttt_ref = ref["time_to_target_s"]
        ratio = b["time_to_target_ratio"]
        print(
            f"| time to {b['target_val_acc']:.0%} val accuracy | "
            f"{ours['time_to_target_s']:.1f} s | "
            f"{f'{ttt_ref:.1f} s' if ttt_ref else 'not reached'} | "
            f"{f'{ratio:.1f}x' if ratio else '—'} | {where} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
