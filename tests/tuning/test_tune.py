"""`tamrin tune`: trials are run folders, the test split stays unseen, studies resume, bad
input fails before anything exists, interrupted and killed trials leave a usable study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import tamrin
from tamrin import cli, runner
from tamrin.errors import ConfigError, RunInterrupted
from tamrin.train.callbacks import Pruning
from tamrin.tuning import search
from tamrin.tuning.search import TuneRequest, best_trial_overrides, fail_stale_trials, tune
from tamrin.tuning.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _request(tmp_path: Path, **kw) -> TuneRequest:
    base = dict(recipe="fashion-mlp", smoke=True, trials=3, out=tmp_path / "runs", quiet=True)
    return TuneRequest(**(base | kw))


def _study(study_dir: Path) -> optuna.Study:
    meta = json.loads((study_dir / "tune.json").read_text())
    return optuna.load_study(study_name=meta["study"], storage=open_storage(None, study_dir))


def _states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.trials]


def test_a_smoke_study_end_to_end(tiny_data: Path, tmp_path: Path) -> None:
    study_dir = tamrin.tune("fashion-mlp", smoke=True, trials=3, out=tmp_path / "runs", quiet=True)
    study = _study(study_dir)
    assert len(study.trials) == 3
    assert set(_states(study)) <= {"COMPLETE", "PRUNED"} and "COMPLETE" in _states(study)
    for t in study.trials:
        run_dir = study_dir / t.user_attrs["run_dir"]
        config = json.loads((run_dir / "config.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert config["tuning"] == {"study": "fashion-mlp", "trial": t.number}
        assert "test" not in metrics  # the test split is never scored in a search
        assert not (run_dir / "predictions.npz").exists()
        assert any("tuning trial" in n for n in metrics.get("notes", []))
        assert set(t.params) == {p["key"] for p in config_space(study_dir)}
        for key, value in t.params.items():  # the trial ran the values it was given
            assert lookup(config["config"], key) == value
    assert (study_dir / "report.html").exists() and (study_dir / "trials.csv").exists()
    # resuming adds trials to the same study; none is run twice
    tune(_request(tmp_path, trials=5))
    study = _study(study_dir)
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    assert len({t.user_attrs["run_dir"] for t in study.trials}) == 5
    # the best configuration, retrained: trains, selects on val, tests once
    overrides, origin = best_trial_overrides(study_dir, "fashion-mlp")
    assert origin["trial"] == study.best_trial.number
    assert overrides.items() >= study.best_trial.params.items()
    result = tamrin.run(
        "fashion-mlp", from_study=study_dir, smoke=True, out=tmp_path / "runs", quiet=True
    )
    assert result.metric("test.accuracy") > 0
    assert result.config["from_study"]["trial"] == study.best_trial.number
    for key, value in study.best_trial.params.items():
        assert lookup(result.config["config"], key) == value
    [row] = [r for r in runner.list_runs(tmp_path / "runs") if r["kind"] == "tune"]
    assert row["status"].startswith("5 trials") and row["data"] == "fashion-mnist"


def config_space(study_dir: Path) -> list[dict]:
    return json.loads((study_dir / "tune.json").read_text())["space"]


def lookup(data: dict, dotted: str):
    for part in dotted.split("."):
        data = data[part]
    return data


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trials", "0"], "--trials must be >= 1"),
        (["--timeout", "-5"], "--timeout must be > 0"),
        (["--sampler", "bayes"], "--sampler must be one of"),
        (["--pruner", "asha"], "--pruner must be one of"),
        (["--storage", "not-a-url"], "not a database URL"),
        (["--storage", "postgresql:///db"], "names no host"),
        (["--workers", "64"], "--workers must be between 1"),
        (["--set", "model.unitz=3"], "model.units"),
        (["--set", "train.lr=fast"], "train.lr"),
        (["--study", "../escape"], "--study"),
    ],
)
def test_bad_input_is_one_line_and_creates_nothing(
    tiny_data: Path, tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    out = tmp_path / "runs"
    code, err = _cli(["tune", "fashion-mlp", "--smoke", "--out", str(out), *extra], capsys)
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("params:\n  model.unitz: {low: 16, high: 64}\n", "did you mean 'model.units'"),
        ("params:\n  model.units: {low: 64, high: 16}\n", "inverted"),
        ("params:\n  train.lr: {low: 0.01, high: 0.01}\n", "empty"),
        ("params:\n  model.units: {low: 16, high: 64, hgh: 3}\n", "unknown field"),
    ],
)
def test_bad_space_files(tiny_data: Path, tmp_path: Path, capsys, space: str, message: str) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(space)
    out = tmp_path / "runs"
    code, err = _cli(["tune", "fashion-mlp", "--space", str(path), "--out", str(out)], capsys)
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_and_untunable_recipes(tiny_data: Path, tmp_path: Path, capsys) -> None:
    code, err = _cli(["tune", "fashion-mpl", "--out", str(tmp_path)], capsys)
    assert code != 0 and "did you mean 'fashion-mlp'" in err
    code, err = _cli(["tune", "cifar10-lenet", "--out", str(tmp_path)], capsys)
    assert code != 0 and "no search space" in err and "--space FILE" in err


def test_a_study_name_with_another_space_is_refused(tiny_data: Path, tmp_path: Path) -> None:
    tune(_request(tmp_path, trials=1))
    before = sorted(p.name for p in (tmp_path / "runs" / "tune" / "fashion-mlp").iterdir())
    with pytest.raises(ConfigError, match=r"exists .* with a different .*base"):
        tune(_request(tmp_path, trials=2, overrides={"model.layers": 1}))
    space = tmp_path / "space.yaml"
    space.write_text("params:\n  model.units: {low: 16, high: 64, step: 16}\n")
    with pytest.raises(ConfigError, match="different space"):
        tune(_request(tmp_path, trials=2, space_file=str(space)))
    after = sorted(p.name for p in (tmp_path / "runs" / "tune" / "fashion-mlp").iterdir())
    assert before == after


def test_ctrl_c_marks_the_trial_failed_and_the_study_stays_usable(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_execute = runner.execute

    def interrupted_second(run_dir, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RunInterrupted("Ctrl-C")
        return real_execute(run_dir, **kw)

    monkeypatch.setattr(runner, "execute", interrupted_second)
    with pytest.raises(RunInterrupted, match="same command"):
        tune(_request(tmp_path, trials=4))
    study_dir = tmp_path / "runs" / "tune" / "fashion-mlp"
    study = _study(study_dir)
    assert _states(study)[1] == "FAIL"
    assert study.trials[1].user_attrs["failed"].startswith("interrupted")
    assert (study_dir / "report.html").exists()  # written after the interrupt too
    monkeypatch.setattr(runner, "execute", real_execute)
    tune(_request(tmp_path, trials=4))  # the same command continues: 4 finished trials
    states = _states(_study(study_dir))
    assert sum(s in ("COMPLETE", "PRUNED") for s in states) == 4 and "RUNNING" not in states


def test_a_killed_workers_trial_is_marked_failed_and_requeued(
    tiny_data: Path, tmp_path: Path
) -> None:
    tune(_request(tmp_path, trials=1))
    study_dir = tmp_path / "runs" / "tune" / "fashion-mlp"
    study = _study(study_dir)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process that has exited: its pid names no live worker
    trial = study.ask({"model.units": optuna.distributions.IntDistribution(16, 512, step=16)})
    trial.set_user_attr("worker", f"{os.uname().nodename}:{dead.pid}:1")
    number = trial.number
    assert fail_stale_trials(study) == [number]
    study = _study(study_dir)
    assert study.trials[number].state.name == "FAIL"
    waiting = [t for t in study.trials if t.state.name == "WAITING"]
    queued = waiting[0].system_attrs["fixed_params"]  # Optuna's enqueue_trial keeps them here
    assert queued == study.trials[number].params  # the same values run again
    live = study.ask()
    live.set_user_attr("worker", search.worker_id())  # this process: alive, left alone
    assert fail_stale_trials(study) == [] or live.number not in fail_stale_trials(study)


def test_pruning_stops_a_trial_through_the_training_callbacks(
    tiny_data: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    runner.create_run(
        run_dir,
        "fashion-mlp",
        {"train.epochs": 4},
        smoke=True,
        tuning={"study": "x", "trial": 0},
    )
    reported: list[tuple[int, float]] = []
    pruning = Pruning("val_acc", lambda s, v: reported.append((s, v)), lambda: len(reported) >= 2)
    result = runner.execute(run_dir, quiet=True, report=False, callbacks=[pruning])
    assert result.metrics["status"] == "pruned"
    assert result.metrics["epochs_run"] == 2
    assert [s for s, _ in reported] == [1, 2]
    assert "test" not in result.metrics


def test_from_study_errors(tiny_data: Path, tmp_path: Path, capsys) -> None:
    code, err = _cli(["run", "fashion-mlp", "--from-study", str(tmp_path)], capsys)
    assert code != 0 and "not a study folder" in err
    study_dir = tune(_request(tmp_path, trials=1))
    code, err = _cli(["run", "cnn-blocks", "--from-study", str(study_dir)], capsys)
    assert code != 0 and "tuned fashion-mlp, not cnn-blocks" in err


def test_worker_command_line_repeats_the_request(tmp_path: Path) -> None:
    request = _request(tmp_path, overrides={"model.layers": 2, "train.lr": 0.001})
    plan = search.Plan(request, None, None, tmp_path / "s", {"study": "s"}, 6, None)  # type: ignore[arg-type]
    argv = search.worker_argv(plan, 1, 123.5)
    assert argv[argv.index("--worker-index") + 1] == "1"
    assert argv[argv.index("--trials") + 1] == "6" and "--smoke" in argv
    assert "model.layers=2" in argv and "train.lr=0.001" in argv
    assert search.core_shares(1) == [set(os.sched_getaffinity(0))]


@pytest.mark.data
@pytest.mark.slow
def test_two_local_workers_share_a_journal_study(real_fashion_mnist: str, tmp_path: Path) -> None:
    """--workers 2 on the real data: exactly --trials finished trials, each run once."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 cores for 2 workers")
    env = {**os.environ, "TAMRIN_DATA": real_fashion_mnist, "TAMRIN_CACHE": str(tmp_path / "c")}
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "tamrin", "tune", "fashion-mlp", "--smoke", "--trials", "6"]
    done = subprocess.run(
        [*cmd, "--workers", "2", "--out", str(out), "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    study = _study(out / "tune" / "fashion-mlp")
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6
    assert "RUNNING" not in _states(study)
    unrun = [t for t in study.trials if t.state.name == "FAIL"]
    assert all("surplus" in t.user_attrs for t in unrun)  # only asks that found no budget left
    dirs = [t.user_attrs["run_dir"] for t in finished]
    assert len(set(dirs)) == 6
    workers = {t.user_attrs["worker"].split(":")[1] for t in finished}
    assert len(workers) == 2  # both workers ran trials
    sessions = [k for k in study.user_attrs if k.startswith("session-")]
    assert len(sessions) == 2
