"""bert-mlm and imdb-sentiment beyond the generated smoke tests: the MLM encoder is cached and
reused by imdb-sentiment's variant (b), every variant is scored, and `tamrin predict RECIPE RUN
TEXT` prints probabilities and writes an offline attention page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tamrin import cli, runner
from tamrin.errors import ConfigError


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture
def sentiment_run(tiny_data: Path, tmp_path: Path) -> Path:
    """A smoke imdb-sentiment run of the small-BERT variants after a smoke bert-mlm run."""
    mlm = runner.run("bert-mlm", smoke=True, out=tmp_path / "runs", quiet=True)
    assert not _metrics(mlm.run_dir)["pretrain"]["cached"]
    result = runner.run(
        "imdb-sentiment",
        smoke=True,
        out=tmp_path / "runs",
        quiet=True,
        overrides={"variants": ["tfidf", "scratch", "mlm"]},
    )
    return result.run_dir


def test_mlm_encoder_is_reused_and_every_variant_scored(sentiment_run: Path) -> None:
    metrics = _metrics(sentiment_run)
    assert metrics["pretrain"]["cached"] is True  # bert-mlm's encoder, not a second pretraining
    assert set(metrics["variants"]) == {"tfidf", "scratch-s0", "mlm-s0"}
    for scores in metrics["variants"].values():
        assert 0 <= scores["test_accuracy"] <= 1 and 0 <= scores["test_roc_auc"] <= 1
    assert metrics["selected"]["fit"] in metrics["variants"]
    history = (sentiment_run / "history.csv").read_text().splitlines()[0]
    assert "scratch-s0_val_acc" in history and "mlm-s0_val_acc" in history
    assert (sentiment_run / "figures" / "roc.png").is_file()
    example = metrics["example"]
    assert 0 <= example["p_positive"] <= 1 and example["fit"] == metrics["predict"]["fit"]
    pages = {p.name for p in (sentiment_run / "artifacts").glob("attention*.html")}
    assert "attention.html" in pages and len(pages) == 2  # scratch-s0 and mlm-s0
    if Path("/usr/bin/chromium").exists():  # the viewer's screenshot is in the report
        assert (sentiment_run / "figures" / "attention_view.png").is_file()
        assert "attention_view.png" in (sentiment_run / "report.html").read_text()


def test_predict_prints_probabilities_and_writes_the_page(
    sentiment_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if _metrics(sentiment_run)["selected"]["fit"] == "tfidf":
        pytest.skip("the TF-IDF model won on val in this tiny run: no network to predict with")
    pages = tmp_path / "pages"
    text = "I liked this movie because of its genre"
    cli.main(["predict", "imdb-sentiment", str(sentiment_run), text, "--attention", str(pages)])
    out = capsys.readouterr().out
    assert f'"{text}"' in out and "positive" in out and "negative" in out
    (page,) = pages.glob("attention-*.html")
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "attentionViewer" in html


def test_predict_checks_the_recipe_name(sentiment_run: Path) -> None:
    with pytest.raises(ConfigError, match="is a imdb-sentiment run, not cifar10-lenet"):
        cli._predict_target(
            cli.build_parser().parse_args(["predict", "cifar10-lenet", str(sentiment_run), "x"])
        )


def test_scratch_and_mlm_must_share_the_network() -> None:
    from tamrin import registry

    recipe = registry.get("imdb-sentiment")
    with pytest.raises(ConfigError, match="differ in layers"):
        runner.resolve_config(recipe, {"model.layers": 2})
    cfg = runner.resolve_config(recipe, {"model.layers": 2, "mlm.model.layers": 2})
    assert cfg.model.layers == cfg.mlm.model.layers == 2
    with pytest.raises(ConfigError, match="unknown variants"):
        runner.resolve_config(recipe, {"variants": ["tfidf", "bow"]})
