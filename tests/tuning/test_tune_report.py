"""The tune report from a real Optuna study: a toy objective with per-epoch values and a pruner,
in a JournalStorage file as `tamrin tune` keeps it, reported by `write_tune_report`."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from tamrin.eval.report import fmt
from tamrin.tuning.report import PLOTS, write_tune_report

EPOCHS = 6
N_TRIALS = 30
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LR = {"key": "train.lr", "kind": "float", "low": 1e-4, "high": 1e-1, "log": True}
UNITS = {"key": "model.units", "kind": "int", "low": 16, "high": 256, "log": False}


def _objective(trial: optuna.Trial) -> float:
    """A val_acc-like curve that rises per epoch, best near lr=3e-3 and 128 units."""
    lr = trial.suggest_float("train.lr", 1e-4, 1e-1, log=True)
    units = trial.suggest_int("model.units", 16, 256)
    trial.set_user_attr("run_dir", f"trials/{trial.number:04d}")
    trial.set_user_attr("worker", "host:123")
    ceiling = 0.9 - 0.1 * (math.log10(lr) + 2.5) ** 2 - 0.5 * ((units - 128) / 256) ** 2
    value = 0.0
    for epoch in range(EPOCHS):
        value = ceiling * (1 - math.exp(-(epoch + 1) / 2))
        trial.report(value, epoch)
        trial.set_user_attr("epochs_run", epoch + 1)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def _tune_json(folder: Path, **changes: Any) -> None:
    spec = {
        "study": folder.name,
        "recipe": "fashion-mlp",
        "storage": "journal.log",
        "metric": "val_acc",
        "direction": "maximize",
        "sampler": "tpe",
        "pruner": "percentile",
        "space": [
            {**LR, "role": "scientific"},
            {**UNITS, "role": "nuisance"},
        ],
        "fixed": {"train": {"epochs": EPOCHS}},
        "base": {"train.batch_size": 256},
        "smoke": False,
        "data": "fashion-mnist",
        **changes,
    }
    (folder / "tune.json").write_text(json.dumps(spec))


def _study(folder: Path, name: str) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.PercentilePruner(75.0, n_startup_trials=5, n_warmup_steps=1),
    )


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, optuna.Study]:
    """A study of 30 trials (some pruned), one failed and one still running, reported once."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = tmp_path_factory.mktemp("toy-study")
    _tune_json(folder)
    study = _study(folder, "toy-study")
    study.optimize(_objective, n_trials=N_TRIALS)
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)
    study.ask()  # a trial another worker is still running
    study.set_user_attr(
        "session-a1",
        {"worker": "host:123", "started": "2025-01-01T10:00:00", "ended": "2025-01-01T10:00:12",
         "wall_s": 12.5, "trials": N_TRIALS},
    )  # fmt: skip
    best_dir = folder / "trials" / f"{study.best_trial.number:04d}"
    best_dir.mkdir(parents=True)
    (best_dir / "report.html").write_text("<html></html>")
    write_tune_report(folder, study)
    return folder, study


def _table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows (cells stripped) of the first table after a Markdown heading."""
    chunks = markdown.split(f"\n{heading}\n", 1)[1].split("\n\n")
    table = next(chunk.strip() for chunk in chunks if chunk.strip().startswith("|"))
    return [[c.strip() for c in line[1:-1].split(" | ")] for line in table.splitlines()[2:]]


def _top_rows(markdown: str) -> list[list[str]]:
    return _table_rows(markdown, "## Top 10 trials")


def test_report_files_and_counts(tuned: tuple[Path, optuna.Study]) -> None:
    folder, study = tuned
    md = (folder / "report.md").read_text()
    html = (folder / "report.html").read_text()
    states = [t.state for t in study.trials]
    n_complete, n_pruned = states.count(TrialState.COMPLETE), states.count(TrialState.PRUNED)
    assert n_pruned > 0 and n_complete > 10  # the toy study prunes, and fills the top 10
    for text in (md, html):
        assert "tune fashion-mlp — toy-study" in text
        assert f"{N_TRIALS + 2} trials: {n_complete} complete, {n_pruned} pruned" in text
        assert "1 failed, 1 running" in text
        assert "wall time 12.5 s" in text  # the session attrs' wall_s, not the trials' span
        assert "sampler <code>tpe</code>" in text or "sampler `tpe`" in text
        assert "Fashion-MNIST" in text
    assert f"`optuna-dashboard {folder / 'journal.log'}`" in md


def test_best_trial_and_retrain(tuned: tuple[Path, optuna.Study]) -> None:
    folder, study = tuned
    md = (folder / "report.md").read_text()
    html = (folder / "report.html").read_text()
    best = study.best_trial
    assert f"Trial **{best.number}**: `val_acc` = **{fmt(best.value)}**" in md
    assert f"<strong>{fmt(best.value)}</strong>" in html
    rows = _table_rows(md, "## Best trial")
    assert ["train.lr", fmt(best.params["train.lr"])] in rows
    assert ["model.units", fmt(best.params["model.units"])] in rows
    run_dir = f"trials/{best.number:04d}"
    assert ["run folder", f"[{run_dir}]({run_dir}/report.html)"] in rows
    assert ["epochs run", str(EPOCHS)] in rows
    assert f"tamrin run fashion-mlp --from-study {folder} --seeds 3" in md
    assert "test split" in md and "micro precision" in md


def test_top_table_ranks_complete_trials(tuned: tuple[Path, optuna.Study]) -> None:
    folder, study = tuned
    rows = _top_rows((folder / "report.md").read_text())
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(rows) == min(10, len(complete))
    expected = sorted(complete, key=lambda t: -t.values[0])[:10]
    assert [r[0] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    assert [r[2] for r in rows] == [fmt(t.value) for t in expected]
    assert re.search(rf"\[{study.best_trial.number}\]\(trials/\d{{4}}/report.html\)", rows[0][1])
    assert all(r[5] == "complete" and r[6] == str(EPOCHS) for r in rows)


def test_figures_are_pngs(tuned: tuple[Path, optuna.Study]) -> None:
    folder, _ = tuned
    md = (folder / "report.md").read_text()
    for name, _caption in PLOTS:
        png = folder / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC, name
        assert f"(figures/{name}.png)" in md


def test_trials_csv_has_every_trial(tuned: tuple[Path, optuna.Study]) -> None:
    folder, study = tuned
    with (folder / "trials.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["number"]) for r in rows] == [t.number for t in study.trials]
    assert {"params_train.lr", "params_model.units", "user_attrs_run_dir", "state"} <= set(rows[0])
    assert [r["state"] for r in rows].count("PRUNED") == sum(
        t.state == TrialState.PRUNED for t in study.trials
    )


def test_one_complete_trial_skips_importances(tmp_path: Path) -> None:
    secret_url = "postgresql+psycopg2://tamrin:hunter2@db.example/tune"
    _tune_json(tmp_path, storage=secret_url)
    study = _study(tmp_path, "one")
    study.optimize(_objective, n_trials=1)
    html_path, md_path = write_tune_report(tmp_path, study)
    md, html = md_path.read_text(), html_path.read_text()
    assert "1 trial: 1 complete, 0 pruned" in md
    assert not (tmp_path / "figures" / "param_importances.png").exists()
    assert "Param importances not drawn: needs at least 2 complete trials" in md
    assert (tmp_path / "figures" / "optimization_history.png").read_bytes()[:8] == PNG_MAGIC
    assert len(_top_rows(md)) == 1
    assert "hunter2" not in md + html and "tamrin:***@db.example" in md


def test_no_complete_trial_still_reports(tmp_path: Path) -> None:
    _tune_json(tmp_path)
    study = _study(tmp_path, "none")
    study.tell(study.ask(), state=TrialState.FAIL)
    _, md_path = write_tune_report(tmp_path, study)
    md = md_path.read_text()
    assert "No trial has completed yet" in md
    assert "0 complete, 0 pruned, 1 failed" in md
    assert "No complete trial to rank yet." in md
    assert not (tmp_path / "figures" / "slice.png").exists()
    assert "Slice not drawn: no trial has completed yet." in md


def test_a_failing_plot_is_noted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optuna.visualization import matplotlib as plots

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(plots, "plot_slice", broken)
    _tune_json(tmp_path)
    study = _study(tmp_path, "broken")
    study.optimize(_objective, n_trials=3)
    _, md_path = write_tune_report(tmp_path, study)
    md = md_path.read_text()
    assert "Slice not drawn: failed (RuntimeError: boom)." in md
    assert not (tmp_path / "figures" / "slice.png").exists()
    assert (tmp_path / "figures" / "intermediate_values.png").is_file()


def test_drawing_leaves_matplotlib_as_it_was(tmp_path: Path) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    _tune_json(tmp_path)
    study = _study(tmp_path, "style")
    study.optimize(_objective, n_trials=3)
    style_before = dict(matplotlib.rcParams)
    figures_before = plt.get_fignums()
    write_tune_report(tmp_path, study)
    assert dict(matplotlib.rcParams) == style_before  # Optuna's plt.style.use("ggplot") undone
    assert plt.get_fignums() == figures_before  # every figure it opened is closed


def test_minimize_ranks_ascending(tmp_path: Path) -> None:
    _tune_json(tmp_path, metric="val_loss", direction="minimize")
    study = optuna.create_study(
        study_name="loss",
        storage=JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))),
        direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    study.optimize(lambda t: -_objective(t), n_trials=5)
    _, md_path = write_tune_report(tmp_path, study)
    md = md_path.read_text()
    rows = _top_rows(md)
    values = [float(r[2]) for r in rows]
    assert len(rows) == 5 and values == sorted(values)
    assert rows[0][1].startswith(f"[{study.best_trial.number}]")
    assert "objective `val_loss` (minimize)" in md


def test_a_figure_not_drawn_again_is_removed(tmp_path: Path) -> None:
    _tune_json(tmp_path)
    stale = tmp_path / "figures" / "param_importances.png"
    stale.parent.mkdir()
    stale.write_bytes(PNG_MAGIC)  # from an earlier report of the folder
    study = _study(tmp_path, "stale")
    study.optimize(_objective, n_trials=1)
    write_tune_report(tmp_path, study)
    assert not stale.exists()


def test_parallel_sessions_count_their_overlap_once() -> None:
    """Two workers of one session ran side by side: wall time is the union, not the sum."""
    from tamrin.tuning.report import _wall_time_s

    study = optuna.create_study()
    for name, start, wall in (("a", "10:00:00", 240.0), ("b", "10:00:01", 240.0),
                              ("c", "11:00:00", 60.0)):  # fmt: skip
        study.set_user_attr(f"session-{name}", {"started": f"2025-01-01T{start}", "wall_s": wall})
    sessions = [study.user_attrs[k] for k in sorted(study.user_attrs)]
    assert _wall_time_s(study, sessions) == pytest.approx(241.0 + 60.0)
