"""The `tamrin` command: argument parsing only; every command calls the runner, store or report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tamrin import config as C
from tamrin import registry, runner
from tamrin.errors import RunInterrupted, TamrinError


def _cmd_list(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tamrin recipes")
    for col in ("name", "summary", "seed's figure", "data"):
        table.add_column(col)
    for r in registry.all_recipes():
        fig = r.seed_figure.text if r.seed_figure else ""
        table.add_row(r.name, r.summary, fig, ", ".join(r.data))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    studies = Table(title="tamrin studies (variants × seeds of a recipe, with t-tests)")
    for col in ("name", "summary", "recipe", "variants × seeds"):
        studies.add_column(col)
    for st in registry.all_studies():
        studies.add_row(st.name, st.summary, st.recipe, f"{len(st.variants)} × {st.seeds}")
    console.print(studies)


def _run_study(args: argparse.Namespace, overrides: dict) -> None:
    from tamrin.studies import run_study

    run_study(
        args.name,
        overrides,
        seed=args.seed,
        seeds=args.seeds,
        smoke=args.smoke,
        data_dir=args.data_dir,
        out=args.out,
        device=args.device,
        workers=args.workers,
        quiet=args.quiet,
    )


def _cmd_run(args: argparse.Namespace) -> None:
    if registry.is_study(args.name):
        study = registry.get_study(args.name)
        if args.help_config or args.config:
            raise TamrinError(
                f"{args.name} is a study of recipe {study.recipe}: its cells take --set "
                f"overrides (tamrin run {study.recipe} --help-config lists the keys)"
            )
        overrides = C.parse_set_args(args.set or [])
        for key, value in overrides.items():
            print(f"override (every cell): {key} = {value!r}")
        _run_study(args, overrides)
        return
    recipe = registry.get(args.name)
    if args.help_config:
        docs = C.field_docs(recipe.config_cls)
        cfg = recipe.default_config()
        for key in C.leaf_keys(cfg):
            value = C.lookup(C.to_dict(cfg), key)
            print(f"{key} = {value!r}    # {docs.get(key, '')}")
        return
    overrides = C.parse_set_args(args.set or [])
    for key, value in overrides.items():
        print(f"override: {key} = {value!r}")
    runner.run(
        args.name,
        overrides,
        seed=args.seed,
        seeds=args.seeds or 1,
        smoke=args.smoke,
        data_dir=args.data_dir,
        out=args.out,
        device=args.device,
        config_file=args.config,
        quiet=args.quiet,
    )


def _cmd_resume(args: argparse.Namespace) -> None:
    from tamrin.studies.grid import is_study_dir, resume_study

    if is_study_dir(args.run_dir):
        resume_study(args.run_dir, quiet=args.quiet)
    else:
        runner.resume(args.run_dir, quiet=args.quiet)


def _cmd_report(args: argparse.Namespace) -> None:
    from pathlib import Path

    from tamrin.eval.report import write_group_report, write_report
    from tamrin.eval.study_report import summarize_study, write_study_report
    from tamrin.studies.grid import is_study_dir

    path = Path(args.run_dir)
    if is_study_dir(path):
        runner.write_json(path / "summary.json", summarize_study(path))
        html, md = write_study_report(path)
    elif (path / "summary.json").exists():
        html, md = write_group_report(path)
    else:
        html, md = write_report(path)
    print(f"report: {html}\n        {md}")


def _cmd_runs(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = runner.list_runs(args.out)
    table = Table(title=f"runs under {args.out}")
    for col in ("recipe", "seed", "status", "test acc", "wall s", "folder"):
        table.add_column(col)
    for r in rows:
        acc = f"{r['accuracy']:.4f}" if isinstance(r["accuracy"], float) else ""
        wall = f"{r['wall_time_s']:.0f}" if isinstance(r["wall_time_s"], float) else ""
        status = r["status"] + (" (smoke)" if r["smoke"] else "")
        table.add_row(r["recipe"], str(r["seed"]), status, acc, wall, r["run_dir"])
    Console(width=max(Console().width, 140)).print(table)
    if not rows:
        print(f"no runs under {args.out} (tamrin run NAME writes them)")


def _cmd_data(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    from tamrin.data.store import DataStore

    store = DataStore(args.data_dir)
    console = Console(width=max(Console().width, 140))
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
