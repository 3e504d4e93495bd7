"""`tamrin tune RECIPE`: an Optuna study whose trials are ordinary tamrin runs.

Each trial draws its overrides from the recipe's search space (`tamrin.search_space`), goes
through the same typed validation as `--set`, and is a run folder made and executed by the
runner (STUDY_DIR/trials/0007/); it selects on val and never scores the test split. Its
validation metric is reported after every epoch through the training loop's `Pruning`
callback, so Hyperband or the median rule stops bad trials early.

A study is resumable and shareable: the storage (a journal file in the study folder, or a
database) holds every trial; a worker stops asking for trials once `--trials` are finished or
running, so resumed and parallel sessions record each trial exactly once. A trial interrupted
by Ctrl-C is marked failed and the study stays usable; a trial of a killed worker is found at
the next session (its process is gone), marked failed and queued again with the same values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tamrin import config as C
from tamrin import registry, rundir, runner
from tamrin.errors import ConfigError, RunInterrupted, TamrinError
from tamrin.search_space import SearchSpace, TuneSpec, space_from_dict
from tamrin.train.callbacks import Pruning
from tamrin.tuning.storage import (
    JOURNAL,
    SESSION_PREFIX,
    TUNE,
    check_storage,
    open_storage,
    redact,
    require_optuna,
)

TRIALS = "trials"
SAMPLERS = ("tpe", "random", "qmc", "grid")
PRUNERS = ("hyperband", "median", "none")
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
FINISHED_STATES = ("COMPLETE", "PRUNED")


@dataclass(frozen=True)
class TuneRequest:
    """Everything one `tamrin tune` call asks for, checked by `prepare` before anything exists."""

    recipe: str
    trials: int | None = None  # finished trials the study should hold (None: spec / grid size)
    timeout_s: float | None = None  # this session's budget (None: the spec's)
    sampler: str = "tpe"
    pruner: str = "hyperband"
    storage: str | None = None  # database URL; None = STUDY_DIR/journal.log
    study: str | None = None  # study name (default: the recipe, plus the data set if not its own)
    workers: int = 1
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # --set, every trial
    space_file: str | None = None  # --space FILE replaces the registered space
    smoke: bool = False
    seed: int = 0  # sampler seed (worker i uses seed + i)
    out: str | Path = runner.DEFAULT_OUT
    data_dir: str | None = None
    device: str = "auto"
    quiet: bool = False


@dataclass(frozen=True)
class Plan:
    """A checked request: the study folder, its description and the resolved space."""

    request: TuneRequest
    spec: TuneSpec
    space: SearchSpace
    study_dir: Path
    description: dict[str, Any]  # tune.json
    trials: int | None
    timeout_s: float | None


# --------------------------------------------------------------------------------- checking


def _space_of(request: TuneRequest) -> TuneSpec:
    """The registered TuneSpec of the recipe, with its space replaced by `--space FILE`."""
    if request.space_file is None:
        return registry.get_tuning(request.recipe)
    registry.get(request.recipe)  # an unknown recipe fails first
    space = space_from_dict(_read_space_file(request.space_file))
    tunable = {t.recipe: t for t in registry.all_tunings()}
    if request.recipe in tunable:
        return dataclasses.replace(tunable[request.recipe], space=space)
    return TuneSpec(request.recipe, space, module="--space " + request.space_file)


def _read_space_file(path: str) -> Mapping[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--space {path}: no such file")
    try:
        data = yaml.safe_load(p.read_text()) if p.suffix != ".json" else json.loads(p.read_text())
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"--space {path}: not valid YAML/JSON ({str(exc).splitlines()[0]})"
        ) from None
    return data or {}


def _smoke_space(recipe: Any, space: SearchSpace) -> SearchSpace:
    """Under --smoke the smoke preset wins over the space's fixed values it changes (a smoke
    trial runs 2 epochs, not the search's 20)."""
    default, smoke = (
        C.to_dict(recipe.default_config()),
        C.to_dict(recipe.smoke(recipe.default_config())),
    )
    fixed = {k: v for k, v in space.fixed.items() if C.lookup(smoke, k) == C.lookup(default, k)}
    return dataclasses.replace(space, fixed=fixed)


def default_study_name(recipe: Any, cfg: Any) -> str:
    """The recipe's name, plus the data set where it is not the recipe's default."""
    data = recipe.data_set(cfg)
    default = recipe.data_set(recipe.default_config())
    return recipe.name if data == default else f"{recipe.name}-{data}"


def prepare(request: TuneRequest) -> Plan:
    """Check every input of a tune call; ConfigError (one line) before anything is created."""
    require_optuna()
    spec = _space_of(request)
    recipe = registry.get(spec.recipe)
    if request.sampler not in SAMPLERS:
        raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}; got {request.sampler}")
    if request.pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}; got {request.pruner}")
    if request.trials is not None and (isinstance(request.trials, bool) or request.trials < 1):
        raise ConfigError(f"--trials must be >= 1; got {request.trials}")
    if request.timeout_s is not None and not (
        math.isfinite(request.timeout_s) and request.timeout_s > 0
    ):
        raise ConfigError(f"--timeout must be > 0 seconds; got {request.timeout_s}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if request.workers < 1 or request.workers > (cores or 1):
        raise ConfigError(
            f"--workers must be between 1 and the {cores} cores here (one core each at least); "
            f"got {request.workers}"
        )
    base = {**spec.base, **request.overrides}
    space = spec.space.with_fixed(request.overrides)
    if request.smoke:
        space = _smoke_space(recipe, space)
    cfg = runner.resolve_config(recipe, {**base, **space.fixed}, smoke=request.smoke)
    if not space.params:
        raise ConfigError("--set pins every parameter of the search space: nothing is left to tune")
    space.check(cfg)
    storage = check_storage(request.storage)
    runner.check_inputs(recipe, cfg, device=request.device, data_dir=request.data_dir)
    name = request.study or default_study_name(recipe, cfg)
    if not _STUDY_NAME.match(name):
        raise ConfigError(f"--study {name!r}: use letters, digits, '.', '_' or '-'")
    trials = request.trials if request.trials is not None else spec.trials
    timeout = request.timeout_s if request.timeout_s is not None else spec.timeout_s
    if request.sampler == "grid":
        size = math.prod(len(v) for v in space.grid().values())
        trials = size if trials is None else min(trials, size)
    if trials is None and timeout is None:
        raise ConfigError("give a budget: --trials N or --timeout SECONDS")
    study_dir = Path(request.out) / "tune" / name
    description = {
        "study": name,
        "recipe": recipe.name,
        "summary": spec.summary or recipe.summary,
        "storage": redact(storage) if storage else JOURNAL,
        "metric": spec.metric,
        "direction": spec.direction,
        "sampler": request.sampler,
        "pruner": request.pruner,
        "space": [p.to_dict() for p in space.params],
        "fixed": dict(space.fixed),
        "base": base,
        "smoke": request.smoke,
        "data": recipe.data_set(cfg),
        "epochs": getattr(getattr(cfg, "train", None), "epochs", None),
        "homework": spec.homework,
        "data_dir": request.data_dir,
        "device": request.device,
    }
    _check_existing(study_dir, description)
    return Plan(request, spec, space, study_dir, description, trials, timeout)


_SAME = ("recipe", "metric", "direction", "space", "fixed", "base", "smoke", "storage")


def _check_existing(study_dir: Path, description: Mapping[str, Any]) -> None:
    """An existing study folder must describe the same search: resuming it adds trials, a
    different space under the same name would mix two searches in one study."""
    path = study_dir / TUNE
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{path} is damaged ({exc}); remove the study folder or use --study"
        ) from None
    differs = [k for k in _SAME if _plain(old.get(k)) != _plain(description.get(k))]
    if differs:
        raise ConfigError(
            f"study {description['study']} exists ({study_dir}) with a different "
            f"{', '.join(differs)}; resume it unchanged, or start another with --study NEW_NAME"
        )


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --------------------------------------------------------------------------------- the study


def make_sampler(name: str, space: SearchSpace, seed: int) -> Any:
    optuna = require_optuna()
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True)
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    # multivariate TPE models the parameters jointly; constant_liar keeps parallel workers
    # from proposing the same point while a trial runs (Optuna's advice for distributed TPE)
    with warnings.catch_warnings():  # multivariate TPE is marked experimental
        warnings.simplefilter("ignore")
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def make_pruner(name: str, epochs: int | None) -> Any:
    optuna = require_optuna()
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    # Hyperband over epochs: brackets starting at 1, 3, 9 ... epochs up to the full budget
    return optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=epochs or "auto", reduction_factor=3
    )


def load_study(plan: Plan, worker: int = 0, storage: Any = None) -> Any:
    """Create the study in its storage, or load it (checking it is the same search)."""
    optuna = require_optuna()
    d = plan.description
    storage = storage or open_storage(plan.request.storage, plan.study_dir)
    study = optuna.create_study(
        study_name=d["study"],
        storage=storage,
        direction=d["direction"],
        sampler=make_sampler(d["sampler"], plan.space, plan.request.seed + worker),
        pruner=make_pruner(d["pruner"], d.get("epochs")),
        load_if_exists=True,
    )
    recorded = study.user_attrs.get("tamrin")
    mine = {k: _plain(d.get(k)) for k in ("recipe", "metric", "space", "fixed", "base", "smoke")}
    if recorded is None:
        study.set_user_attr("tamrin", mine)
    elif recorded != mine:
        differs = [k for k in mine if recorded.get(k) != mine[k]]
        raise ConfigError(
            f"study {d['study']} exists in the storage with a different {', '.join(differs)}; "
            f"resume it unchanged, or start another with --study NEW_NAME"
        )
    return study


def worker_id() -> str:
    """host:pid:start-time of this process (the start time tells a reused pid apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def _start_ticks(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _alive(worker: str) -> bool | None:
    """Whether the worker `host:pid:start` still runs; None when it is on another host."""
    host, _, rest = worker.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start in ("?", _start_ticks(int(pid_text)))


def fail_stale_trials(study: Any) -> list[int]:
    """Mark failed the running trials whose worker is gone, and queue their values again.

    A journal's workers are checked by process (this host); a database's by Optuna's heartbeat.
    Returns the numbers of the trials marked failed.
    """
    optuna = require_optuna()
    from optuna.trial import TrialState

    failed = []
    if isinstance(study._storage, optuna.storages.RDBStorage):
        before = {t.number for t in study.get_trials(states=(TrialState.RUNNING,))}
        optuna.storages.fail_stale_trials(study)
        after = {t.number for t in study.get_trials(states=(TrialState.RUNNING,))}
        failed = sorted(before - after)
    else:
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if _alive(str(t.user_attrs.get("worker", ""))) is False:
                study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
                failed.append(t.number)
    for number in failed:
        t = study.trials[number]
        study.enqueue_trial(dict(t.params), user_attrs={"retry_of": number})
    return failed


def _counts(study: Any) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(t.state.name for t in study.get_trials(deepcopy=False)))


def _budget_left(study: Any, trials: int | None) -> bool:
    if trials is None:
        return True
    c = _counts(study)
    return sum(c.get(s, 0) for s in (*FINISHED_STATES, "RUNNING")) < trials


def _surplus(study: Any, trial: Any, trials: int | None) -> bool:
    """Another worker asked at the same moment and the budget is already taken: every trial
    numbered before this one that counts (finished or running) fills the budget."""
    if trials is None:
        return False
    ahead = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.number < trial.number and t.state.name in (*FINISHED_STATES, "RUNNING")
    ]
    return len(ahead) >= trials


def trial_value(
    metrics: Mapping[str, Any], history: Sequence[Mapping[str, Any]], metric: str, direction: str
) -> float | None:
    """The trial's objective: its best epoch's `metric` (what the run selected on)."""
    best = metrics.get("best") or {}
    if best.get("metric") == metric and isinstance(best.get("value"), int | float):
        return float(best["value"])
    values = [float(r[metric]) for r in history if isinstance(r.get(metric), int | float)]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return max(values) if direction == "maximize" else min(values)


def run_trial(plan: Plan, study: Any, say: Any) -> str:
    """Ask for one trial, run it as a tamrin run, tell the study how it ended; its state."""
    from optuna.trial import TrialState

    trial = study.ask()
    if _surplus(study, trial, plan.trials):
        trial.set_user_attr("surplus", "the budget was taken by other workers; not run")
        study.tell(trial, state=TrialState.FAIL)
        return "surplus"
    overrides = {**plan.description["base"], **plan.space.suggest(trial)}
    rel = f"{TRIALS}/{trial.number:04d}"
    run_dir = plan.study_dir / rel
    trial.set_user_attr("run_dir", rel)
    trial.set_user_attr("worker", worker_id())
    req = plan.request
    t0 = time.perf_counter()
    try:
        runner.create_run(
            run_dir,
            plan.description["recipe"],
            overrides,
            seed=req.seed,
            smoke=req.smoke,
            data_dir=req.data_dir,
            device=req.device,
            tuning={"study": plan.description["study"], "trial": trial.number},
        )
        pruning = Pruning(
            plan.description["metric"],
            report=lambda step, value: trial.report(value, step),
            should_prune=trial.should_prune,
        )
        result = runner.execute(run_dir, quiet=True, report=False, callbacks=[pruning])
    except (KeyboardInterrupt, RunInterrupted):
        trial.set_user_attr("failed", "interrupted (Ctrl-C)")
        study.tell(trial, state=TrialState.FAIL)
        raise
    except TamrinError as exc:  # a diverged run, a config the recipe refused
        trial.set_user_attr("failed", str(exc).splitlines()[0][:300])
        study.tell(trial, state=TrialState.FAIL)
        say(f"trial {trial.number}: failed — {str(exc).splitlines()[0]}")
        return "failed"
    seconds = time.perf_counter() - t0
    metrics, history = result.metrics, result.history
    trial.set_user_attr("epochs_run", metrics.get("epochs_run"))
    value = trial_value(metrics, history, plan.description["metric"], plan.spec.direction)
    params = ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in trial.params.items())
    if metrics.get("status") == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
        state = "pruned"
    elif value is None:
        trial.set_user_attr("failed", "no finite validation metric")
        study.tell(trial, state=TrialState.FAIL)
        state = "failed"
    else:
        study.tell(trial, value)
        state = "complete"
    shown = "—" if value is None else f"{value:.4f}"
    say(
        f"trial {trial.number:>3} {state:<8} {plan.description['metric']} {shown} "
        f"after {metrics.get('epochs_run')} epochs, {seconds:.0f} s  ({params})"
    )
    return state


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def work(
    plan: Plan, worker: int = 0, deadline: float | None = None, study: Any = None
) -> dict[str, Any]:
    """One worker's loop: trials until the budget (trials or deadline) is spent.

    `study` is worker 0's, already loaded by `tune`; a worker process loads its own (its
    sampler seeded by its index)."""
    say = (lambda _msg: None) if plan.request.quiet else (lambda msg: print(msg, flush=True))
    study = study if study is not None else load_study(plan, worker)
    stale = fail_stale_trials(study)
    if stale:
        say(f"trials {', '.join(map(str, stale))}: their worker is gone; marked failed, requeued")
    started = datetime.now().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    if deadline is None and plan.timeout_s is not None:
        deadline = time.time() + plan.timeout_s
    ran: dict[str, int] = {}
    session = SESSION_PREFIX + worker_id().replace(":", "-")
    try:
        while _budget_left(study, plan.trials) and (deadline is None or time.time() < deadline):
            state = run_trial(plan, study, say)
            ran[state] = ran.get(state, 0) + 1
            if state == "surplus":
                break
    finally:
        study.set_user_attr(
            session,
            {
                "worker": worker_id(),
                "started": started,
                "ended": datetime.now().isoformat(timespec="seconds"),
                "wall_s": time.perf_counter() - t0,
                "trials": ran,
            },
        )
    return ran


# --------------------------------------------------------------------------------- sessions


def _write_description(plan: Plan) -> None:
    path = plan.study_dir / TUNE
    if path.exists():
        return
    from tamrin.train.device import machine

    plan.study_dir.mkdir(parents=True, exist_ok=True)
    rundir.write_json(
        path,
        {
            **plan.description,
            "machine": machine(),
            "created": datetime.now().isoformat(timespec="seconds"),
            "git_commit": runner.git_commit(),
        },
    )


def tune(request: TuneRequest) -> Path:
    """Run (or continue) the study `request` describes; returns the study folder.

    Workers > 1 run as processes pinned to their share of the cores, all on one storage.
    The study report is written at the end, also after Ctrl-C.
    """
    plan = prepare(request)
    # a bad database fails here, before the folder's tune.json; the same study object serves
    # the in-process worker and the report (it reads the storage on every call)
    study = load_study(plan, storage=open_storage(request.storage, plan.study_dir))
    _write_description(plan)
    say = (lambda _msg: None) if request.quiet else (lambda msg: print(msg, flush=True))
    counts = _counts(study)
    if counts:
        say(f"study {plan.description['study']}: resuming ({_describe(counts)})")
    say(
        f"tuning {plan.description['recipe']} on {plan.description['data']}: "
        f"{plan.description['sampler']} sampler, {plan.description['pruner']} pruner, "
        f"budget {_budget(plan)}; study folder {plan.study_dir}"
    )
    interrupted = False
    try:
        if request.workers == 1:
            work(plan, study=study)
        else:
            _run_workers(plan)
    except (KeyboardInterrupt, RunInterrupted):
        interrupted = True
    finally:
        from tamrin.tuning.report import write_tune_report

        html, _ = write_tune_report(plan.study_dir, study)
        say(f"study {plan.description['study']}: {_describe(_counts(study))}")
        if _has_complete(study):
            best = study.best_trial
            say(f"best: trial {best.number}, {plan.description['metric']} {best.value:.4f}")
        say(f"report: {html}")
        say(
            f"retrain the best: tamrin run {plan.description['recipe']} --from-study "
            f"{plan.study_dir} --seeds 3"
        )
    if interrupted:
        raise RunInterrupted(
            f"study {plan.description['study']} interrupted; the trial in flight is marked "
            f"failed. Continue with the same command (tamrin tune ... --study "
            f"{plan.description['study']})"
        )
    return plan.study_dir


def _has_complete(study: Any) -> bool:
    return any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False))


def _describe(counts: Mapping[str, int]) -> str:
    order = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
    return ", ".join(f"{counts[s]} {s.lower()}" for s in order if counts.get(s))


def _budget(plan: Plan) -> str:
    parts = []
    if plan.trials is not None:
        parts.append(f"{plan.trials} trials")
    if plan.timeout_s is not None:
        parts.append(f"{plan.timeout_s:.0f} s")
    return " or ".join(parts)


def worker_argv(plan: Plan, index: int, deadline: float | None) -> list[str]:
    """The command line of worker `index`: the same tune call, run as one worker."""
    r = plan.request
    argv = [
        sys.executable,
        "-m",
        "tamrin",
        "tune",
        r.recipe,
        "--worker-index",
        str(index),
        "--study",
        plan.description["study"],
        "--sampler",
        r.sampler,
        "--pruner",
        r.pruner,
        "--out",
        str(r.out),
        "--seed",
        str(r.seed),
        "--device",
        r.device,
        "-q",
    ]
    if deadline is not None:
        argv += ["--deadline", repr(deadline)]
    if plan.trials is not None:
        argv += ["--trials", str(plan.trials)]
    if r.storage:
        argv += ["--storage", r.storage]
    if r.space_file:
        argv += ["--space", r.space_file]
    if r.smoke:
        argv.append("--smoke")
    if r.data_dir:
        argv += ["--data-dir", r.data_dir]
    for key, value in r.overrides.items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    return argv


def core_shares(workers: int) -> list[set[int]]:
    """The cores split into `workers` disjoint sets (worker i runs torch on its set only)."""
    cores = sorted(os.sched_getaffinity(0))
    size = max(1, len(cores) // workers)
    return [set(cores[i * size : (i + 1) * size]) or set(cores) for i in range(workers)]


def _pin(cores: set[int]) -> None:
    """Run the calling process (a worker, before it starts) on `cores` only."""
    os.sched_setaffinity(0, cores)


def _run_workers(plan: Plan) -> None:
    deadline = time.time() + plan.timeout_s if plan.timeout_s is not None else None
    procs = []
    for i, cores in enumerate(core_shares(plan.request.workers)):
        argv = worker_argv(plan, i, deadline)
        procs.append(subprocess.Popen(argv, preexec_fn=functools.partial(_pin, cores)))
    say = (lambda _msg: None) if plan.request.quiet else (lambda msg: print(msg, flush=True))
    try:
        seen: set[int] = set()
        study = load_study(plan)
        while any(p.poll() is None for p in procs):
            time.sleep(2)
            for t in study.get_trials(deepcopy=False):
                if t.state.name in (*FINISHED_STATES, "FAIL") and t.number not in seen:
                    seen.add(t.number)
                    value = "—" if t.value is None else f"{t.value:.4f}"
                    say(
                        f"trial {t.number:>3} {t.state.name.lower():<8} {value}  "
                        f"({t.user_attrs.get('worker', '?').split(':')[1]})"
                    )
    except KeyboardInterrupt:
        for p in procs:  # the workers got the same Ctrl-C: wait for them to mark their trials
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=60)
        raise
    bad = [p.returncode for p in procs if p.returncode not in (0, None)]
    if bad:
        raise ConfigError(f"{len(bad)} of {len(procs)} workers failed (exit {bad[0]})")


def run_worker(request: TuneRequest, index: int, deadline: float | None) -> None:
    """`tamrin tune ... --worker-index I`: one worker of a parallel session (the parent wrote
    tune.json and writes the report)."""
    plan = prepare(request)
    try:
        work(plan, index, deadline)
    except (KeyboardInterrupt, RunInterrupted):
        sys.exit(130)


# --------------------------------------------------------------------------------- retraining


def best_trial_overrides(study_dir: str | Path, recipe: str) -> tuple[dict[str, Any], dict]:
    """The overrides of a study's best complete trial, for `tamrin run RECIPE --from-study`:
    the study's --set values, its fixed values and the trial's parameters. Also returns the
    provenance config.json records (study folder, trial, value)."""
    study_dir = Path(study_dir)
    path = study_dir / TUNE
    if not path.is_file():
        raise ConfigError(f"--from-study {study_dir}: not a study folder (no {TUNE})")
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--from-study {study_dir}: {TUNE} is damaged ({exc})") from None
    if d.get("recipe") != recipe:
        raise ConfigError(
            f"--from-study {study_dir} tuned {d.get('recipe')}, not {recipe}: "
            f"tamrin run {d.get('recipe')} --from-study {study_dir}"
        )
    storage = d.get("storage")
    url = None if storage == JOURNAL else storage
    if url and "***" in url:
        raise ConfigError(f"--from-study: the database password is not stored; {url}")
    optuna = require_optuna()
    study = optuna.load_study(study_name=d["study"], storage=open_storage(url, study_dir))
    if not _has_complete(study):
        raise ConfigError(f"--from-study {study_dir}: no trial has completed yet")
    best = study.best_trial
    overrides = {**d.get("base", {}), **d.get("fixed", {}), **best.params}
    origin = {
        "study_dir": str(study_dir),
        "study": d["study"],
        "trial": best.number,
        "value": best.value,
        "metric": d.get("metric"),
        "params": dict(best.params),
    }
    return overrides, origin
