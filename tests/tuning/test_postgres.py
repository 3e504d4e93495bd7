"""Several tuning workers sharing one Optuna study in PostgreSQL (`tamrin tune --storage URL`).

The server is the private cluster of `postgres_url` (conftest.py). First a plain Optuna check
that the server takes concurrent workers, then two `tamrin tune` processes on one study: exactly
--trials trials between them, each with its own run folder, none left RUNNING. Last, an
unreachable database: one clear line, a non-zero exit and nothing written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

WORKER_TIMEOUT_S = 600  # two smoke tuning workers on a 2-core machine take well under this

# One Optuna worker: waits until its sibling is ready too (so they truly overlap), then runs
# its share of a toy objective on the shared study. argv: url, study, ready folder, n_trials.
OPTUNA_WORKER = """
import os, sys, time
from pathlib import Path

import optuna

url, name, ready, n_trials = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
study = optuna.load_study(study_name=name, storage=url)
(ready / str(os.getpid())).touch()
deadline = time.monotonic() + 60
while len(list(ready.iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)


def objective(trial):
    x = trial.suggest_float("x", -10.0, 10.0)
    trial.set_user_attr("pid", os.getpid())
    time.sleep(0.05)  # long enough for the two workers' trials to interleave
    return (x - 2.0) ** 2


optuna.logging.set_verbosity(optuna.logging.WARNING)
study.optimize(objective, n_trials=n_trials)
"""


def _wait_all(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    """(returncode, stdout, stderr) of every process; all are killed if one overruns."""
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=WORKER_TIMEOUT_S)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def test_two_optuna_processes_share_one_postgres_study(postgres_url: str, tmp_path: Path) -> None:
    per_worker = 10
    name = "optuna-two-processes"
    optuna.create_study(study_name=name, storage=postgres_url, direction="minimize")
    ready = tmp_path / "ready"
    ready.mkdir()
    cmd = [sys.executable, "-c", OPTUNA_WORKER, postgres_url, name, str(ready), str(per_worker)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for code, _, err in _wait_all(procs):
        assert code == 0, err

    trials = optuna.load_study(study_name=name, storage=postgres_url).get_trials(deepcopy=False)
    assert len(trials) == 2 * per_worker
    assert sorted(t.number for t in trials) == list(range(2 * per_worker))  # each exactly once
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert all(t.value == pytest.approx((t.params["x"] - 2.0) ** 2) for t in trials)
    by_pid: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for t in trials:
        by_pid.setdefault(t.user_attrs["pid"], []).append(t)
    assert sorted(len(group) for group in by_pid.values()) == [per_worker, per_worker]
    spans = [
        (min(t.datetime_start for t in group), max(t.datetime_complete for t in group))
        for group in by_pid.values()
    ]
    assert max(start for start, _ in spans) < min(end for _, end in spans), "workers ran in turn"


def _tamrin_env(tmp_path: Path, data: str | None) -> dict[str, str]:
    """The environment of a tamrin subprocess: data roots, a private cache, one thread."""
    env = {**os.environ, "TAMRIN_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path / "home")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # two workers share the cores
    if data:
        env["TAMRIN_DATA"] = data
    return env


def _tamrin(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tamrin", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,  # a stray relative path lands in tmp_path, never in the checkout
    )


@pytest.mark.data
@pytest.mark.slow
def test_two_tune_workers_share_a_postgres_study(
    postgres_url: str, real_fashion_mnist: str, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    args = ["tune", "fashion-mlp", "--smoke", "--storage", postgres_url, "--study", "pg-test"]
    args += ["--trials", "6", "--out", str(out), "-q"]
    env = _tamrin_env(tmp_path, real_fashion_mnist)
    workers = [_tamrin(args, env, tmp_path), _tamrin(args, env, tmp_path)]
    results = _wait_all(workers)
    logs = "\n".join(
        f"worker {i} (exit {code}):\n{err}" for i, (code, _, err) in enumerate(results)
    )
    assert [code for code, _, _ in results] == [0, 0], logs

    study = optuna.load_study(study_name="pg-test", storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    states = {t.number: t.state.name for t in trials}
    assert "RUNNING" not in states.values(), f"a trial was left RUNNING: {states}\n{logs}"
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6, f"{states}\n{logs}"
    # A worker starts no trial once the study holds --trials finished-or-running ones. Two
    # workers asking at the same instant can both get a trial; the later one then sees the
    # budget taken and closes its ask unrun (FAIL, user attr "surplus") — never a 7th run.
    unrun = [t for t in trials if t.state.name not in ("COMPLETE", "PRUNED")]
    assert all("surplus" in t.user_attrs and "run_dir" not in t.user_attrs for t in unrun)

    study_dir = out / "tune" / "pg-test"
    run_dirs = [(study_dir / t.user_attrs["run_dir"]).resolve() for t in finished]
    assert len(set(run_dirs)) == 6, "two trials share a run folder"
    for run_dir in run_dirs:
        assert run_dir.is_relative_to(study_dir.resolve()), run_dir
        assert (run_dir / "config.json").is_file(), run_dir
        assert (run_dir / "metrics.json").is_file(), run_dir
    sessions = [key for key in study.user_attrs if key.startswith("session-")]
    assert len(sessions) == 2, study.user_attrs  # both workers ran a session on this study
    tune = json.loads((study_dir / "tune.json").read_text())
    assert tune["study"] == "pg-test" and tune["storage"] == postgres_url
    assert not (study_dir / "journal.log").exists()  # the database holds the study, not a file


def test_unreachable_database_is_a_one_line_error_that_writes_nothing(
    real_data: str | None, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    url = "postgresql+psycopg2://postgres@127.0.0.1:1/nope"  # port 1: nothing listens there
    args = ["tune", "fashion-mlp", "--smoke", "--storage", url, "--trials", "1", "--out", str(out)]
    [(code, _, err)] = _wait_all([_tamrin(args, _tamrin_env(tmp_path, real_data), tmp_path)])
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "127.0.0.1:1" in lines[0] or "storage" in lines[0].lower(), lines[0]
    assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))


@pytest.mark.data
@pytest.mark.slow
def test_two_machines_share_a_studys_cells_through_postgres(
    postgres_url: str, real_fashion_mnist: str, tmp_path: Path
) -> None:
    """`tamrin run STUDY --storage URL` twice at once (two machines' worth): every cell runs in
    exactly one of them, and both write the whole study's report from the shared results."""
    env = _tamrin_env(tmp_path, real_fashion_mnist)
    args = ["run", "study-loss", "--smoke", "--seeds", "2", "-q", "--storage", postgres_url]
    workers = [_tamrin([*args, "--out", str(tmp_path / m)], env, tmp_path) for m in ("a", "b")]
    results = _wait_all(workers)
    logs = "\n".join(f"worker {i} (exit {c}):\n{err}" for i, (c, _, err) in enumerate(results))
    assert [code for code, _, _ in results] == [0, 0], logs

    (study_a,), (study_b,) = ((tmp_path / m / "study-loss").iterdir() for m in ("a", "b"))
    cells = [c["dir"] for c in json.loads((study_a / "study.json").read_text())["cells"]]
    assert len(cells) == 8  # 4 variants × 2 seeds

    def trained_here(study: Path) -> set[str]:  # cells with checkpoints were run on this machine
        return {c for c in cells if (study / c / "checkpoints").is_dir()}

    ran_a, ran_b = trained_here(study_a), trained_here(study_b)
    assert ran_a.isdisjoint(ran_b) and ran_a | ran_b == set(cells), (ran_a, ran_b, logs)
    assert ran_a and ran_b, "one worker ran every cell: they did not overlap"
    summaries = [json.loads((s / "summary.json").read_text()) for s in (study_a, study_b)]
    for summary in summaries:
        assert all(set(v["status"]) == {"completed"} for v in summary["variants"]), summary
    assert [v["metric"] for v in summaries[0]["variants"]] == [
        v["metric"] for v in summaries[1]["variants"]
    ]  # the same numbers in both reports
    assert (study_a / "report.html").is_file() and (study_b / "report.html").is_file()

    identity = json.loads((study_a / "study.json").read_text())["shared"]["identity"]
    trials = optuna.load_study(study_name=identity, storage=postgres_url).get_trials()
    done = [t.user_attrs["cell"] for t in trials if t.state.name == "COMPLETE"]
    assert sorted(done) == sorted(cells)  # each cell completed once in the database
