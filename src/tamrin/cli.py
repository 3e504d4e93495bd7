# PYTHON_ARGCOMPLETE_OK  (argcomplete completes `tamrin` where it is installed; see main)
"""The `tamrin` command: argument parsing only; every command calls the runner, store or report.

`build_parser` holds the commands (`add(name, fn, help, ...)`, one line each); `--debug` lives in a
parent parser every command shares, so it works before or after the command. What a user reads
(`tamrin --help`) is DESCRIPTION / EXAMPLES, not this docstring.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tamrin import config as C
from tamrin import registry, runner
from tamrin.errors import ConfigError, RunInterrupted, TamrinError

DESCRIPTION = """\
tamrin runs a deep-learning course's exercises as reproducible recipes: each
trains on real data, evaluates on a test split touched once, and writes a run
folder with a report (runs/<recipe>/<date>-s<seed>/report.html)."""

EXAMPLES = """\
examples:
  tamrin list                                 recipes, studies and models
  tamrin run cifar10-lenet --smoke            the whole path in about a minute
  tamrin run cifar10-lenet --seeds 3          3 seeds and their mean ± std
  tamrin run cifar10-lenet --set train.lr=0.05
  tamrin run cifar10-lenet --print-config     the resolved config (YAML)
  tamrin resume RUN                           continue a stopped run
  tamrin report RUN                           rebuild a run's report
  tamrin runs                                 every run under ./runs

RUN is a run folder, e.g. runs/cifar10-lenet/20250101-120000-s0.
tamrin COMMAND --help shows a command's options and examples; --debug (anywhere
on the line) shows the traceback of an error."""

RUN_EXAMPLES = """\
  tamrin run cifar10-lenet --smoke            the whole path in about a minute
  tamrin run cifar10-lenet                    the full recipe
  tamrin run cifar10-lenet --seeds 3          seeds 0, 1, 2 and their mean ± std
  tamrin run cifar10-lenet --set train.lr=0.05 --set train.epochs=20
  tamrin run cifar10-lenet --help-config      every config key, value and meaning
  tamrin run cifar10-lenet --print-config > my.yaml
  tamrin run cifar10-lenet --config my.yaml   (after editing my.yaml)
  tamrin run study-init --smoke --seeds 2     a study: variants × seeds, t-tests
  tamrin run cifar10-lenet --nproc 2          two processes (DistributedDataParallel)
  tamrin run cifar10-lenet --nproc 8 --nnodes 2 --rdzv-endpoint host1:29400   on each machine"""


TUNE_EXAMPLES = """\
  tamrin tune fashion-mlp --smoke --trials 4     the whole path in seconds
  tamrin tune fashion-mlp                        10 minutes of TPE + Hyperband
  tamrin tune fashion-mlp --pruner none --study no-pruning
  tamrin tune cnn-blocks --set data=cifar10 --timeout 1200
  tamrin tune fashion-mlp --workers 2            two processes, one core each
  tamrin tune fashion-mlp --storage postgresql://me@db:5432/optuna   (same line on each machine)
  tamrin run fashion-mlp --from-study runs/tune/fashion-mlp --seeds 3
  optuna-dashboard runs/tune/fashion-mlp/journal.log"""


def describe_measured(entry: dict[str, Any]) -> str:
    """One measured entry in words: 'cifar10: 0.6931 ± 0.0024 (3 seeds, 24 s)', the time being
    the fastest seed's training time."""
    from tamrin.eval.report import fmt_pm

    seeds = entry.get("seeds") or []
    time = entry.get("train_time_s_min") or entry.get("wall_time_s_min")
    when = f", {time:.0f} s" if isinstance(time, int | float) else ""
    n = len(seeds)
    value = fmt_pm(entry.get("mean"), entry.get("std") if n > 1 else None)
    return f"{entry.get('data')}: {value} ({n} seed{'s' if n != 1 else ''}{when})"


def _cmd_list(args: argparse.Namespace) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from tamrin.measured import for_recipe

    console = Console()  # the terminal's own width: rich wraps cells to fit it
    table = Table(
        title="tamrin recipes — tamrin run NAME",
        caption="ours: tamrin's measured figure (mean ± std over seeds, train time per seed)",
        box=box.SIMPLE_HEAD,
        show_lines=False,
    )
    table.add_column("recipe · homework · data sets", overflow="fold", ratio=4)
    table.add_column("the homework's figure", overflow="fold", ratio=3)
    table.add_column("ours", overflow="fold", ratio=4)
    for r in registry.all_recipes():
        fig = r.homework_figure.text if r.homework_figure else "—"
        entries = for_recipe(r.name)
        ours = "\n".join(describe_measured(e) for e in entries) if entries else "not measured yet"
        metric = entries[0]["metric"] if entries else ""
        table.add_row(
            f"[bold]{r.name}[/bold] {r.summary}\n"
            f"[dim]{r.course or '—'} · {', '.join(r.data)}[/dim]",
            fig,
            f"{ours}\n[dim]{metric}[/dim]" if metric else ours,
            end_section=True,
        )
    console.print(table)
    studies = Table(
        title="tamrin studies (variants × seeds of a recipe, Welch t-tests)", box=box.SIMPLE_HEAD
    )
    studies.add_column("study", overflow="fold", ratio=3)
    studies.add_column("recipe", no_wrap=True)
    studies.add_column("variants × seeds", justify="right")
    for st in registry.all_studies():
        studies.add_row(
            f"[bold]{st.name}[/bold]\n[dim]{st.summary}[/dim]",
            st.recipe,
            f"{len(st.variants)} × {st.seeds}",
        )
    console.print(studies)
    tunings = Table(
        title="tamrin tune NAME (Optuna search; --from-study retrains the best)",
        box=box.SIMPLE_HEAD,
    )
    tunings.add_column("recipe", no_wrap=True)
    tunings.add_column("search space", overflow="fold", ratio=3)
    tunings.add_column("budget", justify="right", no_wrap=True)
    for t in registry.all_tunings():
        space = ", ".join(f"{p.key} {p.describe()}" for p in t.space.params)
        budget = f"{t.timeout_s:.0f} s" if t.timeout_s else f"{t.trials} trials"
        tunings.add_row(f"[bold]{t.recipe}[/bold]", f"{space}\n[dim]{t.summary}[/dim]", budget)
    console.print(tunings)
    from tamrin.models import get_model_spec, list_models

    models = Table(
        title="tamrin models (tamrin.models.build_model(name, ...))", box=box.SIMPLE_HEAD
    )
    models.add_column("model", no_wrap=True)
    models.add_column("task", no_wrap=True)
    models.add_column("summary", overflow="fold")
    for name in list_models():
        spec = get_model_spec(name)
        models.add_row(name, spec.task, f"{spec.summary} [dim]({spec.config.__name__})[/dim]")
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
    recipe = registry.get(registry.get_study(args.name).recipe if is_study else args.name)
    overrides = C.parse_set_args(args.set or [])
    origin = None
    if args.from_study:
        from tamrin.tuning.search import best_trial_overrides

        best, origin = best_trial_overrides(args.from_study, recipe.name)
        print(
            f"from study {origin['study']}: trial {origin['trial']} "
            f"({origin['metric']} {origin['value']:.4f})"
        )
        overrides = {**best, **overrides}  # --set on the command line wins
    if args.print_config:
        _print_config(args, is_study, overrides)
        return
    # an unknown name, key or value fails here, before the overrides are echoed
    config_file = None if is_study else args.config  # a study refuses --config (the runner)
    runner.resolve_config(recipe, overrides, smoke=args.smoke, config_file=config_file)
    if _launched(args, study=is_study):
        return
    from tamrin.train.distributed import world_from_env

    for key, value in overrides.items():
        if world_from_env().is_main:  # torchrun's other ranks run this too: one echo
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
        tensorboard=args.tensorboard,
        origin=origin,
        claims=_cell_claims(args.storage),
    )


def _cell_claims(storage: str | None) -> Any:
    """--storage URL: a factory of the Optuna store through which machines share a study's
    cells (None: the study runs its cells here alone)."""
    if storage is None:
        return None
    from tamrin.tuning.cells import OptunaCellClaims
    from tamrin.tuning.storage import check_storage

    url = check_storage(storage)
    assert url is not None
    return lambda identity: OptunaCellClaims(url, identity)


def _launched(args: argparse.Namespace, *, study: bool = False) -> bool:
    """Hand the command to torchrun when --nproc/--nnodes ask for processes (True: it ran)."""
    import torch

    from tamrin.launch import check_launch, launch, wants_launch

    check_launch(args.nproc, args.nnodes, args.rdzv_endpoint)
    if not wants_launch(args.nproc, args.nnodes, args.rdzv_endpoint):
        return False
    if study:
        raise ConfigError(
            f"{args.name} is a study: its cells run as separate processes (--workers N); "
            f"--nproc trains one recipe's run in several processes"
        )
    device = getattr(args, "device", "auto")  # resume: the run's own, checked by the runner
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        gpus = torch.cuda.device_count()
        if (args.nproc or 1) > gpus:
            raise ConfigError(f"--nproc {args.nproc} on --device cuda, but {gpus} GPU(s) here")
    code = launch(args.argv, args.nproc or 1, args.nnodes, args.rdzv_endpoint)
    if code:
        raise SystemExit(code)
    return True


def _add_launch(p: argparse.ArgumentParser) -> None:
    """--nproc / --nnodes / --rdzv-endpoint: train in several processes through torchrun."""
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train in N processes on this machine (DistributedDataParallel via torchrun: "
        "gloo on CPU, one GPU each on CUDA); the config's batch size stays the global one",
    )
    p.add_argument(
        "--nnodes", type=int, metavar="M", help="machines in the run (each runs the same command)"
    )
    p.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="with --nnodes: where the machines meet (c10d rendezvous, e.g. host1:29400)",
    )


def _tune_request(args: argparse.Namespace) -> Any:
    from tamrin.tuning.search import TuneRequest

    return TuneRequest(
        recipe=args.name,
        trials=args.trials,
        timeout_s=args.timeout,
        sampler=args.sampler,
        pruner=args.pruner,
        storage=args.storage,
        study=args.study,
        workers=args.workers,
        overrides=C.parse_set_args(args.set or []),
        space_file=args.space,
        smoke=args.smoke,
        seed=args.seed,
        out=args.out,
        data_dir=args.data_dir,
        device=args.device,
        quiet=args.quiet,
    )


def _cmd_tune(args: argparse.Namespace) -> None:
    from tamrin.tuning.search import run_worker, tune

    request = _tune_request(args)
    if args.worker_index is not None:
        run_worker(request, args.worker_index, args.deadline)
        return
    tune(request)


def _cmd_resume(args: argparse.Namespace) -> None:
    from tamrin.rundir import is_study_dir
    from tamrin.studies.grid import resume_study

    if is_study_dir(Path(args.run_dir)):
        resume_study(args.run_dir, quiet=args.quiet)
    elif not _launched(args):
        runner.resume(args.run_dir, quiet=args.quiet)


def _cmd_report(args: argparse.Namespace) -> None:
    from tamrin.eval.report import write_folder_report

    html, _ = write_folder_report(Path(args.run_dir))
    print(f"report: {html}\n        {html.with_suffix('.md')}")


def _predict_target(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """(run folder, inputs) of `tamrin predict [RECIPE] RUN INPUT...`; the optional recipe
    name is checked against the run's."""
    first, inputs = args.run_dir, list(args.images)
    if Path(first).is_dir() or not inputs or not Path(inputs[0]).is_dir():
        return Path(first), inputs
    from tamrin import rundir

    registry.get(first)  # an unknown recipe name: the usual error with a suggestion
    run_dir = Path(inputs[0])
    recipe = rundir.read_config(run_dir).get("recipe")
    if recipe != first:
        raise ConfigError(f"{run_dir} is a {recipe} run, not {first}")
    if len(inputs) < 2:
        raise ConfigError(f"nothing to predict: tamrin predict {first} {run_dir} INPUT...")
    return run_dir, inputs[1:]


def _predict_texts(run_dir: Path, inputs: list[str], attention: str | None) -> None:
    """Class probabilities of each text (or .txt file) and its attention page."""
    import hashlib

    import numpy as np

    from tamrin.text_inference import TextPredictor

    predictor = TextPredictor(run_dir)
    texts = [
        Path(t).read_text(errors="replace") if t.endswith(".txt") and Path(t).is_file() else t
        for t in inputs
    ]
    out = Path(attention) if attention else run_dir / "predictions"
    width = max(len(c) for c in predictor.classes)
    for text, proba in zip(texts, predictor.predict(texts), strict=True):
        shown = text if len(text) <= 70 else text[:67] + "..."
        print(f'"{shown}"')
        for j in np.argsort(-proba, kind="stable"):
            print(f"  {predictor.classes[j]:<{width}}  {proba[j]:.4f}")
        name = f"attention-{hashlib.sha256(text.encode()).hexdigest()[:10]}.html"
        print(f"  attention: {predictor.attention_page(text, out / name)}")


def _cmd_predict(args: argparse.Namespace) -> None:
    from tamrin.inference import Predictor, read_images, read_spec

    run_dir, inputs = _predict_target(args)
    if read_spec(run_dir).task == "text":
        _predict_texts(run_dir, inputs, args.attention)
        return
    predictor = Predictor(run_dir)
    predictor.check_classifier()  # before reading images: an embedding run ranks no classes
    images, notes = read_images(inputs, predictor.spec)
    ranked = predictor.top_k(images, args.top_k)
    width = max((len(name) for row in ranked for name, _ in row), default=0)
    for path, note, row in zip(inputs, notes, ranked, strict=True):
        print(f"{path} ({note})")
        for i, (name, prob) in enumerate(row, 1):
            print(f"  {i}. {name:<{width}}  {prob:.4f}")


def _cmd_export(args: argparse.Namespace) -> None:
    from tamrin.inference import EXPORT_INPUT, export

    done = export(args.run_dir, args.format, args.out)
    print(f"{done.format}: {done.path}")
    print(f"  input: {EXPORT_INPUT}")
    if done.max_abs_diff is not None:
        checker = "onnxruntime" if done.format == "onnx" else "torch.jit.load"
        print(f"  checked with {checker}: max |exported - eager| = {done.max_abs_diff:.2e}")


def _cmd_runs(args: argparse.Namespace) -> None:
    if getattr(args, "html", False):
        from tamrin.eval.report.index import write_runs_index

        print(f"index: {write_runs_index(runner.list_runs(args.out), Path(args.out))}")
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from tamrin.rundir import data_title

    rows = runner.list_runs(args.out)
    if not rows:
        print(f"no runs under {args.out} (tamrin run NAME writes them)")
        return
    # Fits the terminal (80 columns readable): the folder's name is its date, so no date
    # column; long names, data sets and statuses wrap inside their column; acc never drops.
    console = Console()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name · folder", overflow="fold", max_width=max(16, console.width - 52))
    table.add_column("data", overflow="fold", max_width=14)
    table.add_column("seeds", justify="right", no_wrap=True)
    table.add_column("status", overflow="fold", max_width=13)
    table.add_column("acc", justify="right", no_wrap=True, min_width=6)
    for r in rows:
        acc = r["accuracy"]
        kind = "study · " if r["kind"] == "study" else ""
        data = ", ".join(data_title(d.strip()) for d in str(r["data"] or "").split(",") if d)
        table.add_row(
            f"{r['name']}\n[dim]{kind}{Path(r['run_dir']).name}[/dim]",
            data,
            r["seeds"],
            r["status"] + ("\n[dim]smoke[/dim]" if r["smoke"] else ""),
            f"{acc:.4f}" if isinstance(acc, float) else "",
        )
    console.print(f"runs under {args.out} (acc: test accuracy, a seed group's mean)", markup=False)
    console.print(table)


def _cmd_data(args: argparse.Namespace) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from tamrin.data.store import DataStore

    store = DataStore(args.data_dir)
    console = Console()
    if args.action == "status":  # fits the terminal: long roots fold, names and states don't
        table = Table(title="data sets", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("name", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("files", justify="right", no_wrap=True)
        table.add_column("root", overflow="fold")
        for row in store.status():
            files = row.get("files") or []
            ok = sum(str(f["state"]).startswith("ok") for f in files)
            table.add_row(
                row["name"], row["state"], f"{ok}/{len(files)}", str(row.get("root") or "—")
            )
        console.print(table)
        roots = ", ".join(str(r) for r in store.roots)
        console.print(f"looked in: {roots} (--data-dir or $TAMRIN_DATA)", markup=False)
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


def version_text() -> str:
    """`tamrin --version`: tamrin, torch (and what it can run on) and python, one per line."""
    import platform

    import torch

    from tamrin._version import __version__

    if torch.cuda.is_available():
        accel = f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s)"
    else:
        accel = "CPU only" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no GPU"
    return (
        f"tamrin {__version__}\n"
        f"torch {torch.__version__} ({accel})\n"
        f"python {platform.python_version()} ({sys.executable})"
    )


class _VersionAction(argparse.Action):
    """Like argparse's "version" action, but torch is imported only when it is asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        print(version_text())
        parser.exit()


def complete_names(prefix: str, **_: Any) -> list[str]:
    """Shell completion of `tamrin run NAME`: every recipe and study starting with `prefix`."""
    names = [r.name for r in registry.all_recipes()] + [s.name for s in registry.all_studies()]
    return sorted(n for n in names if n.startswith(prefix))


def _print_config(args: argparse.Namespace, is_study: bool, overrides: dict[str, Any]) -> None:
    """`tamrin run NAME --print-config`: the resolved config as a file `--config` reads back
    unchanged (defaults < --smoke < --config < --set). Checks nothing else, creates nothing."""
    smoke = " --smoke" if args.smoke else ""
    if is_study:
        spec = registry.get_study(args.name)
        if args.config is not None:
            raise ConfigError(
                f"{args.name} is a study of recipe {spec.recipe}: its cells take --set "
                f"overrides, not --config (tamrin run {spec.recipe} --config FILE runs one)"
            )
        recipe = registry.get(spec.recipe)
        # what every cell shares: the study's budget (and smoke budget), the changes every
        # variant makes alike, then the user's --set (which wins over a variant's change too)
        alike = {
            k: val
            for k, val in spec.variants[0].overrides.items()
            if all(k in v.overrides and v.overrides[k] == val for v in spec.variants)
        }
        shared = {**spec.base, **(spec.smoke_base if args.smoke else {}), **alike, **overrides}
        cfg = runner.resolve_config(recipe, shared, smoke=args.smoke)
        header = [
            f"{args.name}{smoke}: the config every cell of this study shares (recipe "
            f"{spec.recipe});",
            "each variant then sets (tamrin run "
            f"{spec.recipe} --config FILE --set KEY=VALUE runs one on its own):",
            *(
                f"  {v.label}: "
                + " ".join(
                    f"{k}={val!r}"
                    for k, val in v.overrides.items()
                    if k not in alike and k not in overrides
                )
                for v in spec.variants
            ),
        ]
    else:
        recipe = registry.get(args.name)
        cfg = runner.resolve_config(recipe, overrides, smoke=args.smoke, config_file=args.config)
        header = [
            f"{args.name}{smoke}: the resolved config (defaults < --smoke < --config < --set)",
            f"run it: tamrin run {args.name} --config FILE",
        ]
    sys.stdout.write(C.dump(C.to_dict(cfg), args.print_config, "\n".join(header)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tamrin",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of user errors")
    parser.add_argument(
        "--version", action=_VersionAction, help="print tamrin, torch and python versions"
    )
    # Every command takes --debug too (`tamrin run X --debug`); SUPPRESS keeps a command that
    # was not given it from overwriting the top-level value.
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    commands: dict[str, Callable[[argparse.Namespace], None]] = {}

    def add(
        name: str,
        fn: Callable[[argparse.Namespace], None],
        help: str,
        *,
        description: str = "",
        examples: str = "",
    ) -> argparse.ArgumentParser:
        """A command `name` calling `fn`; `examples` (lines) appear under its --help."""
        p = sub.add_parser(
            name,
            help=help,
            description=description or help[:1].upper() + help[1:] + ".",
            epilog=f"examples:\n{examples.rstrip()}" if examples else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[shared],
        )
        p.set_defaults(func=fn)
        commands[name] = fn
        return p

    add(
        "list",
        _cmd_list,
        "list the recipes",
        description="Every recipe (with the homework's figure and ours), study and model.",
        examples="  tamrin list\n  tamrin run NAME --smoke      then try one",
    )
    p = add(
        "run",
        _cmd_run,
        "run a recipe and write its run folder and report",
        description=(
            "Run a recipe (or a study: its variants × seeds) and write its run folder:\n"
            "config, history, metrics, checkpoints, figures and report.html.\n"
            "Config precedence: defaults < --smoke < --config FILE < --set KEY=VALUE."
        ),
        examples=RUN_EXAMPLES,
    )
    name = p.add_argument("name", help="a recipe or study (tamrin list)")
    name.completer = complete_names  # type: ignore[attr-defined]  # read by argcomplete
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config value, e.g. train.lr=0.05 (repeatable; --help-config lists keys)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML (.yaml/.yml) or JSON (.json) file of config values, e.g. from --print-config",
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="the random seed (default 0)")
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="run N seeds and report mean ± std (studies: per variant)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="studies: cells run at once (default: one per core)",
    )
    p.add_argument("--smoke", action="store_true", help="the same code path, shrunk to seconds")
    _add_data_out_device(p, "where run folders go")
    p.add_argument(
        "--precision",
        dest="set",
        action="append",
        type=_precision_override,
        metavar="{auto,fp32,bf16}",
        help="bf16 autocast or fp32 (same as --set train.precision=...; auto: where faster)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files into each run folder (RUN_DIR/tensorboard/; "
        "studies: one per cell; kept by tamrin resume); view: tensorboard --logdir runs/",
    )
    p.add_argument(
        "--from-study",
        metavar="STUDY_DIR",
        help="train the best configuration of a tamrin tune study (runs/tune/NAME); "
        "--set values still apply on top",
    )
    _add_launch(p)
    p.add_argument(
        "--storage",
        metavar="URL",
        help="studies: share the cells with the same command on other machines through this "
        "database (postgresql://USER@HOST:PORT/DB); each cell runs once, every machine reports",
    )
    p.add_argument("--help-config", action="store_true", help="print every config key and exit")
    p.add_argument(
        "--print-config",
        nargs="?",
        const="yaml",
        choices=["yaml", "json"],
        help="print the resolved config as YAML (or json) that --config reads back; "
        "runs nothing, writes nothing",
    )
    p = add(
        "tune",
        _cmd_tune,
        "search a recipe's hyperparameters with Optuna",
        description=(
            "Search a recipe's hyperparameters with Optuna: every trial is a run folder\n"
            "(STUDY_DIR/trials/NNNN) that selects on val and never sees the test split;\n"
            "pruners stop bad trials after any epoch. The study lives in STUDY_DIR/journal.log\n"
            "(or --storage URL): run the same command again to continue it, or start several\n"
            "workers (--workers N here, or the same command on other machines with --storage)."
        ),
        examples=TUNE_EXAMPLES,
    )
    name = p.add_argument("name", help="a recipe with a search space (tamrin list)")
    name.completer = complete_names  # type: ignore[attr-defined]
    p.add_argument("--trials", type=int, metavar="N", help="finished trials the study should hold")
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds before no new trial starts (default: the recipe's budget)",
    )
    p.add_argument("--sampler", default="tpe", help="tpe (default), random, qmc or grid")
    p.add_argument("--pruner", default="hyperband", help="hyperband (default), median or none")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="database URL shared by workers on many machines, e.g. "
        "postgresql://user@host:5432/db (default: STUDY_DIR/journal.log)",
    )
    p.add_argument("--study", metavar="NAME", help="study name (default: the recipe's name)")
    p.add_argument(
        "--workers", type=int, default=1, metavar="N", help="worker processes, one core each"
    )
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="fix a config value in every trial"
    )
    p.add_argument("--space", metavar="FILE", help="YAML/JSON search space replacing the recipe's")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="sampler and training seed")
    p.add_argument("--smoke", action="store_true", help="every trial shrunk to seconds")
    _add_data_out_device(p, "studies go to OUT/tune/NAME")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per trial")
    p.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    p = add(
        "resume",
        _cmd_resume,
        "continue an interrupted or killed run",
        description="Continue a run, seed group or study from its last saved epoch or cell.",
        examples="  tamrin resume runs/cifar10-lenet/20250101-120000-s0\n"
        "  tamrin resume runs/study-init/20250101-120000",
    )
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    _add_launch(p)
    p = add(
        "report",
        _cmd_report,
        "rebuild a run's report from its folder",
        description="Rebuild report.html / report.md and every figure from the run folder alone.",
        examples="  tamrin report runs/cifar10-lenet/20250101-120000-s0",
    )
    p.add_argument("run_dir", metavar="RUN")
    p = add(
        "predict",
        _cmd_predict,
        "top-k classes of image files (or texts) under a run's model",
        description=(
            "Classify PNG/JPEG files with a run's model (best epoch) and its own preprocessing:\n"
            "each image is converted to gray (L) or RGB as the run trained and resized to its\n"
            "input size; prints the top-k classes with probabilities, one block per image.\n"
            "A text run (imdb-sentiment) takes texts (or .txt files) instead, prints each text's\n"
            "class probabilities and writes its attention page (offline HTML viewer).\n"
            "RUN may follow the recipe's name, which is then checked against the run's."
        ),
        examples=(
            "  tamrin predict runs/cifar10-lenet/20250101-120000-s0 cat.png dog.jpg --top-k 3\n"
            "  tamrin predict imdb-sentiment runs/imdb-sentiment/20250101-120000-s0 "
            '"I liked this movie because of its genre"'
        ),
    )
    p.add_argument("run_dir", metavar="RUN", help="a run folder (runs/<recipe>/<date>-s<seed>)")
    p.add_argument(
        "images", nargs="+", metavar="INPUT", help="PNG or JPEG files; texts for a text run"
    )
    p.add_argument(
        "--attention",
        metavar="DIR",
        help="text runs: where the attention pages go (default RUN/predictions)",
    )
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="classes shown (default 5)")
    p = add(
        "export",
        _cmd_export,
        "write a run's model as ONNX or TorchScript",
        description=(
            "Export a run's model with its preprocessing (needs pip install 'tamrin[export]'):\n"
            "input float32 (N, C, H, W) pixels in [0, 1] (uint8 / 255, gray or RGB as trained),\n"
            "output (N, K) class probabilities (or an embedding run's embeddings); class names\n"
            "are in the file's metadata. The file is checked against the eager model."
        ),
        examples="  tamrin export runs/cifar10-lenet/20250101-120000-s0 --format onnx\n"
        "  tamrin export RUN --format torchscript --out lenet.pt",
    )
    p.add_argument("run_dir", metavar="RUN", help="a run folder (runs/<recipe>/<date>-s<seed>)")
    p.add_argument("--format", default="onnx", help="onnx (default) or torchscript")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="where to write (default RUN/model.onnx or RUN/model.torchscript.pt)",
    )
    p = add(
        "runs",
        _cmd_runs,
        "index of run folders",
        description="One line per run, seed group and study under a runs folder.",
        examples="  tamrin runs\n  tamrin runs --out /data/my-runs\n  tamrin runs --html",
    )
    p.add_argument("--out", default=str(runner.DEFAULT_OUT))
    p.add_argument(
        "--html",
        action="store_true",
        help="write OUT/index.html: every run, seed group and study with links to their reports",
    )
    p = add(
        "data",
        _cmd_data,
        "data sets: status, verify NAME, fetch NAME",
        description="Where each data set is found, its checksums, or download it now.",
        examples="  tamrin data status\n  tamrin data verify mnist\n"
        "  tamrin data fetch cifar10 --data-dir ~/data",
    )
    p.add_argument("action", choices=["status", "verify", "fetch"])
    p.add_argument("name", nargs="?")
    p.add_argument("--data-dir")
    p = add(
        "bench",
        _cmd_bench,
        "run the benchmark suite against its references",
        description=(
            "Run benchmarks/ (every one, or those named): each times tamrin and its reference\n"
            "in one run, prints figures and ratios, appends a JSON line to\n"
            "benchmarks/results/bench.jsonl and rewrites the summary table. Exits non-zero when\n"
            "a benchmark fails or its reference computes a different result."
        ),
        examples="  tamrin bench --list\n  tamrin bench precision --quick     minutes\n"
        "  tamrin bench                      the whole suite (hours)\n"
        "  tamrin bench --table              the recorded table, nothing run\n"
        "  tamrin bench --table --readme     ... and put it into README.md",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--table", action="store_true", help="print the recorded table, run nothing")
    p.add_argument("--quick", action="store_true", help="each benchmark's short check")
    p.add_argument(
        "--readme", action="store_true", help="also put the table into README.md (full runs)"
    )
    p.add_argument(
        "--benchmarks", metavar="DIR", help="the benchmarks folder (default: checkout's)"
    )
    return parser


def _cmd_bench(args: argparse.Namespace) -> None:
    from tamrin import bench

    chosen = bench.select(args.names)
    if args.list:
        for b in chosen:
            needs = f"  [needs {b.needs}]" if b.needs else ""
            print(f"{b.name:<11} {b.summary} ({b.script}){needs}")
        return
    if args.table:  # with --readme: the README's block rewritten from the recorded lines
        folder = bench.benchmarks_dir(args.benchmarks)
        print(bench.write_summary(folder, readme=args.readme and not args.quick, quick=args.quick))
        return
    code = bench.run_suite(args.names, quick=args.quick, readme=args.readme, folder=args.benchmarks)
    if code:
        raise SystemExit(code)


def _add_data_out_device(p: argparse.ArgumentParser, out_help: str) -> None:
    """--data-dir, --out and --device: where a run reads, writes and trains (run and tune)."""
    p.add_argument("--data-dir", help="data root(s), ':'-separated (default $TAMRIN_DATA)")
    p.add_argument("--out", default=str(runner.DEFAULT_OUT), help=out_help)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def _flag_hint(args: argparse.Namespace, extra: list[str]) -> str:
    """'; config values go through --set: --set train.epochs=3' for `tamrin run X --epochs 3`
    (the Keras / PyTorch script habit), or '' when no config key fits."""
    name = getattr(args, "name", None)
    if getattr(args, "command", None) != "run" or not name:
        return ""
    try:
        recipe = registry.get(registry.get_study(name).recipe if registry.is_study(name) else name)
        keys = list(C.leaf_keys(recipe.default_config()))
    except TamrinError:
        return ""
    for i, item in enumerate(extra):
        if not item.startswith("--"):
            continue
        flag, _, value = item[2:].partition("=")
        if not value and i + 1 < len(extra) and not extra[i + 1].startswith("-"):
            value = extra[i + 1]
        key = flag.replace("-", "_")
        try:
            full = C.resolve_key(recipe.default_config(), key)
        except ConfigError:
            hint = C.suggest_key(key, keys)
            if "did you mean '" not in hint:
                continue
            full = hint.split("'")[1].split(" or ")[0]
        return f"; config values go through --set: --set {full}={value or '...'}"
    return ""


def _enable_completion(parser: argparse.ArgumentParser) -> None:
    """Shell completion where argcomplete is installed (not a dependency): it answers and exits
    only when the shell asks (argcomplete's environment variables), else it returns at once.
    Set up once: `eval "$(register-python-argcomplete tamrin)"`."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _enable_completion(parser)
    args, extra = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # --nproc re-runs it under torchrun
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}{_flag_hint(args, extra)}")
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
