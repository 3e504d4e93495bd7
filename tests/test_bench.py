"""`tamrin bench`: every benchmark runs from the registry, records one JSON line of a fixed
schema, fails the command when its reference disagrees, and tables what was recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tamrin import bench, cli
from tamrin.errors import ConfigError

CHECKOUT = Path(__file__).parents[1] / "benchmarks"
LINE_KEYS = {
    "benchmark": str,
    "summary": str,
    "date": str,
    "quick": bool,
    "command": list,
    "result_file": str,
    "machine": dict,
    "tamrin_version": str,
    "wall_s": float,
    "status": str,
    "figures": list,
}
SHIPPED = {  # a recorded result of each benchmark, read by its figure reader
    "lenet": "lenet-cifar10-x86_64-2cores.json",
    "analogy": "analogy-vm-20261123-194216.json",
    "bert": "bert-tokens-x86_64-2cores.json",
    "precision": "precision-x86_64-amx-2cores.json",
    "babi": "babi-keras-x86_64-2cores.json",
    "kerastuner": "kerastuner-fashion-mlp-x86_64-2cores.json",
}


@pytest.mark.parametrize("name", sorted(bench.BENCHMARKS))
def test_every_benchmark_script_exists_and_takes_out(name: str) -> None:
    script = CHECKOUT / bench.BENCHMARKS[name].script
    assert script.is_file(), script
    assert '"--out"' in script.read_text()  # the runner passes --out FILE.json


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_figure_readers_read_the_shipped_results(name: str) -> None:
    result = json.loads((CHECKOUT / "results" / SHIPPED[name]).read_text())
    figures = bench.BENCHMARKS[name].figures(result)
    assert figures and all(
        set(f) == {"label", "ours", "reference", "ratio", "unit"} for f in figures
    )
    assert any(f["ratio"] for f in figures)


def _fake_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A benchmarks folder with three scripts: agrees, disagrees, crashes."""
    folder = tmp_path / "benchmarks"
    (folder / "results").mkdir(parents=True)
    body = (
        "import json, sys\nout = sys.argv[sys.argv.index('--out') + 1]\n"
        "json.dump({{'ours': 2.0, 'ref': 8.0, 'agreement': {agreement}}}, open(out, 'w'))\n"
    )
    (folder / "good.py").write_text(body.format(agreement="{'ok': True, 'detail': 'same'}"))
    (folder / "bad.py").write_text(
        body.format(agreement="{'ok': False, 'detail': 'scores differ'}")
    )
    (folder / "crash.py").write_text("import sys\nsys.exit('error: the reference is missing')\n")

    def figures(r: dict) -> list:
        return [bench.figure("seconds", r["ours"], r["ref"], "s", higher=False)]

    fakes = {
        n: bench.Benchmark(n, f"{n}.py", f"{n} vs its reference", figures)
        for n in ("good", "bad", "crash")
    }
    monkeypatch.setattr(bench, "BENCHMARKS", fakes)
    (tmp_path / "README.md").write_text(f"# x\n{bench.START}\nold\n{bench.END}\ntail\n")
    return folder


def _lines(folder: Path) -> list[dict]:
    return [json.loads(t) for t in (folder / "results" / bench.LINES).read_text().splitlines()]


def test_an_agreeing_benchmark_records_one_line_of_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fake_suite(tmp_path, monkeypatch)
    echoed: list[str] = []
    assert bench.run_suite(["good"], folder=folder, readme=True, echo=echoed.append) == 0
    (line,) = _lines(folder)
    for key, kind in LINE_KEYS.items():
        assert isinstance(line[key], kind), key
    assert line["status"] == "ok" and line["agreement"]["ok"] is True
    assert line["figures"] == [
        {"label": "seconds", "ours": 2.0, "reference": 8.0, "ratio": 4.0, "unit": "s"}
    ]
    assert (folder / line["result_file"]).is_file()
    assert {"cpu", "flags", "cores"} <= set(line["machine"])
    assert any("4.00x" in e for e in echoed)
    readme = (tmp_path / "README.md").read_text()
    assert "| good | seconds | 2 s | 8 s | 4.00x | yes |" in readme and "old" not in readme
    assert readme.endswith(f"{bench.END}\ntail\n")
    assert (folder / "results" / "summary.md").read_text().strip() in readme


def test_a_disagreeing_reference_or_a_failure_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fake_suite(tmp_path, monkeypatch)
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "good", "bad", "--benchmarks", str(folder)])
    assert exc.value.code == 1
    good, bad = _lines(folder)
    assert (good["status"], bad["status"]) == ("ok", "disagrees")
    assert "scores differ" in bad["agreement"]["detail"]
    assert bench.run_suite(["crash"], folder=folder, echo=lambda s: None) == 1
    crash = _lines(folder)[-1]
    assert crash["status"] == "failed" and "the reference is missing" in crash["error"]
    text = bench.table(bench.latest(folder))
    assert "| bad | seconds | 2 s | 8 s | 4.00x | **no** |" in text
    assert "**failed**: error: the reference is missing" in text


def test_quick_runs_are_tabled_apart_from_full_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fake_suite(tmp_path, monkeypatch)
    bench.run_suite(["good"], folder=folder, quick=True, echo=lambda s: None)
    assert bench.latest(folder) == {} and set(bench.latest(folder, quick=True)) == {"good"}
    assert (folder / "results" / "summary-quick.md").is_file()


def test_unknown_names_and_missing_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown benchmark 'lenett'.*lenet"):
        bench.select(["lenett"])
    with pytest.raises(ConfigError, match="source checkout"):
        bench.benchmarks_dir(tmp_path)


def test_bench_list_names_every_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in bench.BENCHMARKS)
