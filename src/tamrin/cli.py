"""The `tamrin` command: argument parsing only; every command calls the runner, store or report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tamrin import config as C
from tamrin import registry, runner
from tamrin.errors import RunInterrupted, TamrinError


def _cmd_list(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tamrin recipes")
    for col in ("name", "summary", "homework's figure", "data"):
        table.add_column(col)
    for r in registry.all_recipes():
        fig = r.homework_figure.text if r.homework_figure else ""
        table.add_row(r.name, r.summary, fig, ", ".join(r.data))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    studies = Table(title="tamrin studies (variants × seeds of a recipe, with t-tests)")
    for col in ("name", "summary", "recipe", "variants × seeds"):
        studies.add_column(col)
    for st in registry.all_studies():
        studies.add_row(st.name, st.summary, st.recipe, f"{len(st.variants)} × {st.seeds}")
    console.print(studies)
    from tamrin.models import get_model_spec, list_models

    models = Table(title="tamrin models (tamrin.models.build_model(name, ...))")
    for col in ("name", "task", "config", "summary"):
        models.add_column(col)
    for name in list_models():
        spec = get_model_spec(name)
        models.add_row(name, spec.task, spec.config.__name__, spec.summary)
    console.print(models)


def _cmd_run(args: argparse.Namespace) -> None:
    is_study = registry.is_study(args.name)
    if args.help_config:
        name = registry.get_study(args.name).recipe if is_study else args.name
        if is_study:
            print(f"# {args.name} is a study of {name}: its cells take these keys with --set")
        recipe = registry.get(name)
        docs = C.field_docs(recipe.config_cls)
        cfg = recipe.default_config()
        for key in C.leaf_keys(cfg):
            value = C.lookup(C.to_dict(cfg), key)
            print(f"{key} = {value!r}    # {docs.get(key, '')}")
        return
    if not is_study:
        registry.get(args.name)  # an unknown name fails before the overrides are echoed
    overrides = C.parse_set_args(args.set or [])
    for key, value in overrides.items():
        print(f"override{' (every cell)' if is_study else ''}: {key} = {value!r}")
    runner.run(
        args.name,
        overrides,
        seed=args.seed,
        seeds=args.seeds,
        smoke=args.smoke,
        data_dir=args.data_dir,
        out=args.out,
        device=args.device,
        config_file=args.config,
        quiet=args.quiet,
        workers=args.workers,
    )


def _cmd_resume(args: argparse.Namespace) -> None:
    from tamrin.rundir import is_study_dir
    from tamrin.studies.grid import resume_study

    if is_study_dir(Path(args.run_dir)):
        resume_study(args.run_dir, quiet=args.quiet)
    else:
        runner.resume(args.run_dir, quiet=args.quiet)


def _cmd_report(args: argparse.Namespace) -> None:
    from tamrin.eval.report import write_folder_report

    html, _ = write_folder_report(Path(args.run_dir))
    print(f"report: {html}\n        {html.with_suffix('.md')}")


def _cmd_runs(args: argparse.Namespace) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from tamrin.rundir import data_title

    rows = runner.list_runs(args.out)
    if not rows:
        print(f"no runs under {args.out} (tamrin run NAME writes them)")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name · folder", overflow="fold", min_width=20)
    table.add_column("data", no_wrap=True)
    table.add_column("date", no_wrap=True)
    table.add_column("seeds", justify="right", no_wrap=True)
    table.add_column("status", overflow="fold", max_width=16)
    table.add_column("acc", justify="right", no_wrap=True, min_width=6)
    for r in rows:
        acc = r["accuracy"]
        kind = "study · " if r["kind"] == "study" else ""
        table.add_row(
            f"{r['name']}\n[dim]{kind}{Path(r['run_dir']).name}[/dim]",
            data_title(r["data"]) if r["data"] else "",
            r["date"][:10],
            r["seeds"],
            r["status"] + (", smoke" if r["smoke"] else ""),
            f"{acc:.4f}" if isinstance(acc, float) else "",
        )
    console = Console()
    console.print(f"runs under {args.out} (acc: test accuracy, a seed group's mean)", markup=False)
    console.print(table)


def _cmd_data(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    from tamrin.data.store import DataStore

    store = DataStore(args.data_dir)
    console = Console()
    if args.action == "status":
        table = Table(title="data sets")
        for col in ("name", "state", "root"):
            table.add_column(col)
        for row in store.status():
            table.add_row(row["name"], row["state"], str(row.get("root") or ""))
        console.print(table)
    elif args.action == "verify":
        if not args.name:
            raise TamrinError(
                "tamrin data verify needs a data set name, e.g. tamrin data verify mnist"
            )
        table = Table(title=f"verify {args.name}")
        for col in ("file", "state", "expected md5", "actual md5"):
            table.add_column(col)
        for row in store.verify(args.name):
            table.add_row(
                str(row["file"]),
                str(row["state"]),
                str(row.get("expected_md5") or ""),
                str(row.get("actual_md5") or ""),
            )
        console.print(table)
    else:
        if not args.name:
            raise TamrinError(
                "tamrin data fetch needs a data set name, e.g. tamrin data fetch mnist"
            )
        print(f"{args.name}: {store.fetch(args.name)}")


def _precision_override(value: str) -> str:
    """`--precision X` is sugar for `--set train.precision=X` (it joins the --set list)."""
    if value not in ("auto", "fp32", "bf16"):
        raise argparse.ArgumentTypeError(f"must be auto, fp32 or bf16; got {value!r}")
    return f"train.precision={value}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tamrin", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of user errors")
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Callable[[argparse.Namespace], None]] = {}

    def add(
        name: str, fn: Callable[[argparse.Namespace], None], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.set_defaults(func=fn)
        commands[name] = fn
        return p

    add("list", _cmd_list, "list the recipes")
    p = add("run", _cmd_run, "run a recipe and write its run folder and report")
    p.add_argument("name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--config", help="JSON file of config overrides")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="run N seeds and report mean ± std (studies: per variant)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="studies: cells run at once (default: one per core)",
    )
    p.add_argument("--smoke", action="store_true", help="the same code path, shrunk to seconds")
    p.add_argument("--data-dir", help="data root(s), ':'-separated (default $TAMRIN_DATA)")
    p.add_argument("--out", default=str(runner.DEFAULT_OUT), help="where run folders go")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--precision",
        dest="set",
        action="append",
        type=_precision_override,
        metavar="{auto,fp32,bf16}",
        help="bf16 autocast or fp32 (same as --set train.precision=...; auto: where faster)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    p.add_argument("--help-config", action="store_true", help="print every config key and exit")
    p = add("resume", _cmd_resume, "continue an interrupted or killed run")
    p.add_argument("run_dir")
    p.add_argument("--quiet", action="store_true")
    p = add("report", _cmd_report, "rebuild a run's report from its folder")
    p.add_argument("run_dir")
    p = add("runs", _cmd_runs, "index of run folders")
    p.add_argument("--out", default=str(runner.DEFAULT_OUT))
    p = add("data", _cmd_data, "data sets: status, verify NAME, fetch NAME")
    p.add_argument("action", choices=["status", "verify", "fetch"])
    p.add_argument("name", nargs="?")
    p.add_argument("--data-dir")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except RunInterrupted as exc:
        print(f"tamrin: {exc}", file=sys.stderr)
        return 130
    except TamrinError as exc:
        if args.debug:
            raise
        print(f"tamrin: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tamrin: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
