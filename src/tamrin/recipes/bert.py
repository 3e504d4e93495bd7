"""Attention and BERT on IMDB: MLM pretraining and sentiment classification (course HW5, HW6).

HW5 fine-tuned a BERT sentiment classifier on IMDB and printed p = 0.753 for "I liked this movie
because of its genre" with bertviz's head view of layer 0; HW6 explained masked-language-model
pretraining. Here every piece is written out (`tamrin.models.attention`, `tamrin.models.bert`,
`tamrin.train.mlm`) and tested against its library twin.

    bert-mlm        pretrain a small BERT (4 layers, 256 wide) with MLM on the train + unsup
                    reviews (never the test text): loss / masked-token accuracy, fill-ins
    imdb-sentiment  one report: TF-IDF + logistic regression (the floor), (a) the small BERT
                    from scratch, (b) the same after `bert-mlm` (its encoder is cached by
                    settings; pretrained here when absent), (c) all-MiniLM-L6-v2 fine-tuned;
                    accuracy, F1, ROC AUC, confusion matrix, ROC curves, attention viewer

    tamrin run bert-mlm
    tamrin run imdb-sentiment
    tamrin run imdb-sentiment --set minilm_max_len=256 --set minilm_train.epochs=2
    tamrin predict imdb-sentiment RUN "I liked this movie because of its genre"

Validation is a seeded, stratified 10 % of the 25k training reviews; the 25k test reviews are
scored once per model, after every model is trained, and no choice looks at them. Long reviews
keep their head and tail (Sun et al. 2019). The run's headline model (model.json, `tamrin
predict`) is the variant with the best validation accuracy.

References: Vaswani et al. 2017; Devlin et al. 2019 (BERT, MLM 15 % with 80/10/10); Wang et al.
2020 (MiniLM); Maas et al. 2011 (IMDB; bag of words ~0.88); Sun et al. 2019, "How to fine-tune
BERT for text classification?" (head + tail truncation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tamrin.config import require, to_dict
from tamrin.data import wordpiece
from tamrin.eval.attention_viewer import screenshot_page, write_attention_page
from tamrin.eval.figures import LinesInfo
from tamrin.models.bert import BertClassifier, BertConfig
from tamrin.registry import HomeworkFigure, RunContext, recipe
from tamrin.tasks.masked_lm import MlmSettings, masking, pretrain_mlm
from tamrin.tasks.text_classification import (
    CLASSES,
    Encoded,
    ImdbData,
    Reviews,
    encode,
    our_tokenizer,
    read_reviews,
    subset,
    text_logits,
    train_text,
)
from tamrin.tasks.training import log_model, precision_dtype
from tamrin.train.checkpoint import seeded
from tamrin.train.hf_checkpoint import load_bert, tokenizer_file
from tamrin.train.mlm import fill_masks, mask_tokens
from tamrin.train.optim import TrainConfig

SENTENCE = "I liked this movie because of its genre"  # HW5's example
VARIANTS = ("tfidf", "scratch", "mlm", "minilm")
ARCHITECTURE = ("hidden", "layers", "heads", "intermediate", "max_positions", "norm_first")
LABELS = {
    "tfidf": "TF-IDF + logistic regression",
    "scratch": "(a) small BERT, from scratch",
    "mlm": "(b) small BERT, after bert-mlm",
    "minilm": "(c) all-MiniLM-L6-v2, fine-tuned",
}


def _finetune_train() -> TrainConfig:
    """AdamW with warm-up and decay, batches of 32, one epoch (the small BERTs)."""
    return TrainConfig(
        epochs=1,
        batch_size=32,
        optimizer="adamw",
        lr=2e-4,
        weight_decay=0.01,
        scheduler="onecycle",
        warmup=0.1,
        grad_clip=1.0,
        channels_last=False,
        eval_batch_size=64,  # measured 1.7x the tokens/s of 256 (cache-sized batches)
    )


def _minilm_train() -> TrainConfig:
    """MiniLM fine-tuning: one epoch, AdamW at 5e-5 (a pretrained net wants a small step)."""
    return TrainConfig(
        epochs=1,
        batch_size=32,
        optimizer="adamw",
        lr=5e-5,
        weight_decay=0.01,
        scheduler="onecycle",
        warmup=0.1,
        grad_clip=1.0,
        channels_last=False,
        eval_batch_size=64,
    )


@dataclass
class MlmRunConfig(ImdbData):
    """bert-mlm: the small BERT and its MLM schedule (the encoder is cached by these)."""

    pretrain: MlmSettings = field(default_factory=MlmSettings)
    examples: int = 6  # validation reviews whose masked words the report fills in


@dataclass
class SentimentConfig(ImdbData):
    """imdb-sentiment: which variants, their models, budgets and schedules."""

    variants: list[str] = field(default_factory=lambda: list(VARIANTS))  # tfidf scratch mlm minilm
    seeds: int = 3  # seeds of (a) and (b) in one run (mean ± std in the report)
    model: BertConfig = field(default_factory=BertConfig)  # (a) and (b): bert-mlm's network
    train: TrainConfig = field(default_factory=_finetune_train)  # (a) and (b)
    mlm: MlmSettings = field(default_factory=MlmSettings)  # (b)'s pretraining (cache key)
    minilm: str = "minilm"  # (c): the checkpoint (a known name or a BERT folder)
    bert_reviews: int | None = 10000  # (a), (b): training reviews per fit (None: all 22.5k)
    minilm_max_len: int = 128  # (c)'s tokens per review (head + tail)
    minilm_reviews: int | None = 12000  # (c)'s training reviews (None: all 22.5k)
    minilm_train: TrainConfig = field(default_factory=_minilm_train)
    tfidf_c: list[float] = field(default_factory=lambda: [1.0, 4.0, 16.0])  # LR C, chosen on val
    tfidf_max_ngram: int = 2  # word n-grams 1..this
    sentence: str = SENTENCE  # the example the report predicts and draws attention for

    def validate(self) -> None:
        super().validate()
        unknown = sorted(set(self.variants) - set(VARIANTS))
        require(not unknown, f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
        require(bool(self.variants), "variants must name at least one of " + ", ".join(VARIANTS))
        require(self.seeds >= 1, f"seeds must be >= 1; got {self.seeds}")
        require(8 <= self.minilm_max_len <= 512, "minilm_max_len must be in [8, 512]")
        require(bool(self.tfidf_c), "tfidf_c needs at least one value")
        require(self.tfidf_max_ngram >= 1, "tfidf_max_ngram must be >= 1")
        require(bool(self.sentence.strip()), "sentence must not be empty")
        if {"scratch", "mlm"} <= set(self.variants):  # (a) vs (b): the same network
            differ = [
                k for k in ARCHITECTURE if getattr(self.model, k) != getattr(self.mlm.model, k)
            ]
            require(
                not differ,
                f"model and mlm.model must be the same network for (a) vs (b); they differ in "
                f"{', '.join(differ)} (set both: --set model.layers=6 --set mlm.model.layers=6)",
            )


SMOKE_BERT = {"hidden": 16, "layers": 2, "heads": 2, "intermediate": 32, "max_positions": 64}


def _smoke_mlm(mlm: MlmSettings) -> None:
    """bert-mlm's and imdb-sentiment's smoke pretraining alike (one cached encoder)."""
    mlm.model = BertConfig(**{**to_dict(mlm.model), **SMOKE_BERT})
    mlm.train.epochs, mlm.train.max_batches, mlm.train.batch_size = 2, 3, 8


def _smoke(cfg: Any) -> Any:
    """The same code path in seconds: short epochs of a tiny BERT, 1 seed, short texts."""
    cfg.max_len, cfg.vocab_size = 32, 200
    if isinstance(cfg, MlmRunConfig):
        _smoke_mlm(cfg.pretrain)
        cfg.examples = 2
        return cfg
    _smoke_mlm(cfg.mlm)
    cfg.seeds, cfg.minilm_max_len, cfg.minilm_reviews, cfg.bert_reviews = 1, 24, 8, 16
    cfg.model = BertConfig(**{**to_dict(cfg.model), **SMOKE_BERT})
    for train in (cfg.train, cfg.minilm_train):
        train.epochs, train.max_batches, train.batch_size = 1, 2, 8
    return cfg


def _needs_minilm(cfg: Any) -> bool:
    return isinstance(cfg, SentimentConfig) and "minilm" in cfg.variants


# ----------------------------------------------------------------------------- bert-mlm


@recipe(
    "bert-mlm",
    course="HW6",
    summary="Masked-language-model pretraining of a small BERT on IMDB train + unsup (HW6)",
    config=MlmRunConfig,
    data=("imdb",),
    smoke=_smoke,
    headline=("pretrain.val_acc", "pretrain.val_loss"),
)
def bert_mlm(cfg: MlmRunConfig, ctx: RunContext) -> None:
    """MLM on the train (minus val) + unsup reviews; masked-token loss / accuracy on val."""
    reviews = read_reviews(cfg, ctx)
    tokenizer = our_tokenizer(cfg, reviews)
    data = encode(cfg, reviews, tokenizer)
    cfg.pretrain.seed = ctx.seed
    model, info = pretrain_mlm(cfg, cfg.pretrain, reviews, data, ctx, log_history=True)
    log_model(ctx, model, arch="bert", layers=cfg.pretrain.model.layers)
    ctx.log_metrics("pretrain", _pretrain_facts(info))
    _mlm_curves(ctx, info, cfg.pretrain.curve_every)
    ctx.log_artifact("tokenizer.json", lambda p: tokenizer.save(str(p)), "the WordPiece tokenizer")
    ctx.log_artifact(
        "encoder.pt",
        lambda p: torch.save(model.encoder.state_dict(), p),
        "the pretrained encoder's weights (load into tamrin.models.bert.BertEncoder)",
    )
    _fill_in_table(ctx, model, data, cfg, cfg.pretrain.rate)


def _mlm_curves(ctx: RunContext, info: dict[str, Any], every: int) -> None:
    """Training loss and masked-token accuracy per `every` steps, the val point(s) beside."""
    curve = info.get("curve") or []
    if not curve:
        return
    steps = [float(p["step"]) for p in curve]
    for key, label in (("loss", "cross-entropy"), ("acc", "masked-token accuracy")):
        ctx.log_plot(
            f"mlm_{key}",
            "lines",
            LinesInfo(
                steps,
                {f"train (mean of {every} steps)": [p[key] for p in curve]},
                xlabel="step",
                ylabel=label,
                title=f"MLM {label} during pretraining (val after the epoch: "
                f"{info.get('val_' + key, float('nan')):.3f})",
            ),
            f"MLM training {label} per {every} steps; the validation value (fixed mask on the "
            "held-out reviews) is in the title and in history.csv.",
        )


def _pretrain_facts(info: dict[str, Any]) -> dict[str, Any]:
    keys = ("cached", "key", "epochs_run", "train_time_s", "sequences", "tokens_per_s")
    return {
        **{k: info.get(k) for k in keys},
        "val_loss": info.get("val_loss"),
        "val_acc": info.get("val_acc"),
    }


def _fill_in_table(
    ctx: RunContext, model: nn.Module, data: Encoded, cfg: MlmRunConfig, rate: float
) -> None:
    """Masked words of a few val reviews, the model's top guesses beside the truth."""
    tok = data.tokenizer
    gen = torch.Generator().manual_seed(ctx.seed)
    rows = []
    for i in range(min(cfg.examples, len(data.val_ids))):
        ids = data.val_ids[i]
        _, chosen = mask_tokens(ids[None], masking(data, rate), gen)
        positions = chosen[0].nonzero().flatten().tolist()[:3]
        if not positions:
            continue
        forced = ids.clone()
        forced[positions] = data.specials.mask  # show the [MASK] case
        guesses = fill_masks(model, forced, positions, top=3)
        for pos, guess in zip(positions, guesses, strict=True):
            left = tok.decode(forced[max(1, pos - 6) : pos].tolist())
            right = tok.decode(forced[pos + 1 : pos + 5].tolist())
            rows.append(
                [
                    f"{left} [MASK] {right}",
                    tok.id_to_token(int(ids[pos])),
                    ", ".join(f"{tok.id_to_token(t)} {p:.2f}" for t, p in guess),
                ]
            )
    ctx.log_table(
        "fill_ins",
        ["context", "truth", "top-3 guesses (probability)"],
        rows,
        "Masked words of validation reviews and the pretrained model's guesses.",
    )


# ----------------------------------------------------------------------------- imdb-sentiment


@recipe(
    "imdb-sentiment",
    course="HW5",
    summary="IMDB sentiment: TF-IDF floor, small BERT scratch vs MLM-pretrained, MiniLM (HW5)",
    config=SentimentConfig,
    data=("imdb",),
    smoke=_smoke,
    homework=HomeworkFigure(
        'p = 0.753 (positive) for "I liked this movie because of its genre" (no accuracy given)',
        0.753,
        "example.p_positive",
    ),
)
def imdb_sentiment(cfg: SentimentConfig, ctx: RunContext) -> None:
    """TF-IDF + LR, (a) scratch, (b) after MLM, (c) MiniLM; the test split scored once."""
    reviews = read_reviews(cfg, ctx)
    trained: dict[str, dict[str, Any]] = {}  # fit name -> model, data, facts
    if "tfidf" in cfg.variants:
        trained["tfidf"] = _fit_tfidf(cfg, reviews)
    small = None
    if {"scratch", "mlm"} & set(cfg.variants):
        small = encode(cfg, reviews, our_tokenizer(cfg, reviews))
        budget = subset(small, cfg.bert_reviews, cfg.split_seed)
    amp = precision_dtype(cfg.train, ctx)
    pretrained = None
    if "mlm" in cfg.variants and small is not None:
        mlm_model, info = pretrain_mlm(cfg, cfg.mlm, reviews, small, ctx)
        ctx.log_metrics("pretrain", _pretrain_facts(info))
        pretrained = mlm_model.encoder.state_dict()
    for variant in ("scratch", "mlm"):
        if variant not in cfg.variants or small is None:
            continue
        for k in range(cfg.seeds):
            seed = ctx.seed * cfg.seeds + k
            with seeded(seed):
                model = BertClassifier(
                    BertConfig(**{**to_dict(cfg.model), "vocab_size": small.vocab_size}), 2
                )
            if variant == "mlm":
                assert pretrained is not None
                model.encoder.load_state_dict(pretrained)
            trained[f"{variant}-s{k}"] = _fit(
                model, budget, cfg.train, ctx, f"{variant}-s{k}", seed, amp
            )
    if "minilm" in cfg.variants:
        trained["minilm"] = _fit_minilm(cfg, reviews, ctx, amp)
    _log_history(ctx, trained)
    _score(cfg, ctx, trained, reviews, amp)


FIT_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc")  # history.csv, per fit


def _log_history(ctx: RunContext, trained: dict[str, dict[str, Any]]) -> None:
    """history.csv: one row per epoch with every fit's columns (`minilm_val_acc`)."""
    epochs = max((len(e["history"]) for e in trained.values()), default=0)
    for i in range(epochs):
        row: dict[str, float] = {"epoch": i + 1}
        for name, entry in trained.items():
            if i < len(entry["history"]):
                got = entry["history"][i]
                row |= {f"{name}_{k}": got[k] for k in FIT_COLUMNS if k in got}
        ctx.log_epoch(row)


def _fit(
    model: nn.Module,
    data: Encoded,
    train_cfg: TrainConfig,
    ctx: RunContext,
    name: str,
    seed: int,
    amp: torch.dtype | None,
) -> dict[str, Any]:
    with seeded(seed):
        result = train_text(model, data, train_cfg, ctx, amp=amp, name=name, seed=seed)
    steps = -(-len(data.train_y) // train_cfg.batch_size)  # batches per epoch
    steps = min(steps, train_cfg.max_batches or steps)
    tokens = steps * result.epochs_run * train_cfg.batch_size * data.max_len
    return {
        "model": model,
        "data": data,
        "history": result.history,
        "facts": {
            "val_acc": result.best["value"],
            "best_epoch": result.best["epoch"],
            "epochs": result.epochs_run,
            "train_time_s": result.train_time_s,
            "tokens_per_s": tokens / result.train_time_s if result.train_time_s else None,
            "train_reviews": len(data.train_y),
            "max_len": data.max_len,
        },
    }


def _fit_minilm(
    cfg: SentimentConfig, reviews: Reviews, ctx: RunContext, amp: torch.dtype | None
) -> dict[str, Any]:
    model_cfg, state = load_bert(
        cfg.minilm, attention_dropout=0.0, pooling="mean", classifier_dropout=0.1
    )
    tokenizer = wordpiece.load_tokenizer(tokenizer_file(cfg.minilm))
    data = subset(
        encode(cfg, reviews, tokenizer, max_len=cfg.minilm_max_len), cfg.minilm_reviews,
        cfg.split_seed,
    )  # fmt: skip
    with seeded(ctx.seed):
        model = BertClassifier(model_cfg, 2)
    model.encoder.load_state_dict(state)
    return _fit(model, data, cfg.minilm_train, ctx, "minilm", ctx.seed, amp)


def _fit_tfidf(cfg: SentimentConfig, reviews: Reviews) -> dict[str, Any]:
    """TF-IDF of word 1..n-grams + logistic regression, C chosen on the val reviews."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    texts = reviews.train.texts
    fit_texts = [texts[i] for i in reviews.fit_index]
    val_texts = [texts[i] for i in reviews.val_index]
    y_fit, y_val = reviews.train.labels[reviews.fit_index], reviews.train.labels[reviews.val_index]
    vectorizer = TfidfVectorizer(
        ngram_range=(1, cfg.tfidf_max_ngram), min_df=2, max_df=0.9, sublinear_tf=True,
        lowercase=True,
    )  # fmt: skip
    x_fit, x_val = vectorizer.fit_transform(fit_texts), None
    x_val = vectorizer.transform(val_texts)
    best: tuple[float, Any, float] | None = None
    for c in cfg.tfidf_c:
        lr = LogisticRegression(C=c, max_iter=2000).fit(x_fit, y_fit)
        acc = float((lr.predict(x_val) == y_val).mean())
        if best is None or acc > best[0]:
            best = (acc, lr, c)
    assert best is not None
    return {
        "model": (vectorizer, best[1]),
        "data": None,
        "history": [],
        "facts": {
            "val_acc": best[0],
            "C": best[2],
            "features": len(vectorizer.vocabulary_),
            "train_time_s": time.perf_counter() - start,
            "train_reviews": len(fit_texts),
        },
    }


def _test_proba(entry: dict[str, Any], reviews: Reviews, amp: torch.dtype | None) -> np.ndarray:
    """(N, 2) test probabilities of one trained variant: the one test pass."""
    if entry["data"] is None:
        vectorizer, lr = entry["model"]
        return lr.predict_proba(vectorizer.transform(reviews.test.texts)).astype(np.float32)
    data: Encoded = entry["data"]
    logits = text_logits(
        entry["model"], data.test_ids, pad=data.specials.pad, batch_size=256, amp=amp
    )
    return logits.softmax(1).numpy()


def _score(
    cfg: SentimentConfig,
    ctx: RunContext,
    trained: dict[str, dict[str, Any]],
    reviews: Reviews,
    amp: Any,
) -> None:
    """Every variant's test pass (after all training), the per-variant table and figures."""
    if ctx.tuning_trial:
        return  # a tuning trial never scores the test split
    from sklearn.metrics import f1_score, roc_auc_score, roc_curve

    y = reviews.test.labels
    scores: dict[str, dict[str, Any]] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    probas: dict[str, np.ndarray] = {}
    for name, entry in trained.items():
        start = time.perf_counter()
        proba = _test_proba(entry, reviews, amp)
        pred = proba.argmax(1)
        scores[name] = {
            **entry["facts"],
            "test_accuracy": float((pred == y).mean()),
            "test_f1": float(f1_score(y, pred)),
            "test_roc_auc": float(roc_auc_score(y, proba[:, 1])),
            "test_time_s": time.perf_counter() - start,
        }
        fpr, tpr, _ = roc_curve(y, proba[:, 1])
        curves[name] = (fpr, tpr)
        probas[name] = proba
    chosen = max(scores, key=lambda n: scores[n]["val_acc"])  # selection on val only
    ctx.log_metrics("variants", scores)
    ctx.log_metrics("selected", {"fit": chosen, "val_acc": scores[chosen]["val_acc"]})
    ctx.log_predictions(y, probas[chosen], list(CLASSES))
    _summary_table(ctx, cfg, scores)
    _curves(ctx, trained)
    _roc(ctx, curves, scores)
    networks = [n for n in scores if trained[n]["data"] is not None]
    if networks:  # tamrin predict and the attention viewer need a network
        best_net = max(networks, key=lambda n: scores[n]["val_acc"])
        ctx.log_metrics("predict", {"fit": best_net, "val_acc": scores[best_net]["val_acc"]})
        _record(ctx, trained[best_net], best_net, cfg)
        _example(ctx, cfg, trained, best_net)


def _std(values: np.ndarray) -> float:
    """Sample std (ddof=1); 0 for a single value."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _variant(fit: str) -> str:
    return fit.split("-s")[0]


def _summary_table(ctx: RunContext, cfg: SentimentConfig, scores: dict[str, dict]) -> None:
    """Per variant: test accuracy / F1 / AUC as mean ± std over its seeds, times, budget."""
    rows: list[list[Any]] = []
    summary: dict[str, Any] = {}
    for variant in VARIANTS:
        fits = [s for n, s in scores.items() if _variant(n) == variant]
        if not fits:
            continue
        acc = np.array([f["test_accuracy"] for f in fits])
        f1 = np.array([f["test_f1"] for f in fits])
        auc = np.array([f["test_roc_auc"] for f in fits])
        summary[variant] = {
            "seeds": len(fits),
            "test_accuracy_mean": float(acc.mean()),
            "test_accuracy_std": _std(acc),
            "test_f1_mean": float(f1.mean()),
            "test_roc_auc_mean": float(auc.mean()),
            "val_acc_mean": float(np.mean([f["val_acc"] for f in fits])),
            "train_time_s_mean": float(np.mean([f["train_time_s"] for f in fits])),
        }
        tokens = [float(f["tokens_per_s"]) for f in fits if f.get("tokens_per_s")]
        budget = f"{fits[0]['train_reviews']} reviews" + (
            f" × {fits[0]['max_len']} tokens × {fits[0]['epochs']} ep"
            if "max_len" in fits[0]
            else ""
        )
        rows.append(
            [
                LABELS[variant],
                len(fits),
                f"{acc.mean():.4f} ± {_std(acc):.4f}" if len(fits) > 1 else f"{acc.mean():.4f}",
                f"{f1.mean():.4f}",
                f"{auc.mean():.4f}",
                f"{summary[variant]['val_acc_mean']:.4f}",
                budget,
                f"{summary[variant]['train_time_s_mean']:.0f}",
                f"{np.mean(tokens):.0f}" if tokens else "–",
            ]
        )
    if "scratch" in summary and "mlm" in summary:
        gain = summary["mlm"]["test_accuracy_mean"] - summary["scratch"]["test_accuracy_mean"]
        summary["mlm_gain_points"] = 100 * gain
        ctx.log_note(
            f"MLM pretraining adds {100 * gain:+.2f} points of test accuracy to the small BERT "
            f"(mean over {summary['mlm']['seeds']} seeds)."
        )
    ctx.log_metrics("summary", summary)
    ctx.log_table(
        "variants",
        [
            "variant",
            "seeds",
            "test acc",
            "F1",
            "ROC AUC",
            "val acc",
            "budget",
            "train s",
            "tokens/s",
        ],
        rows,
        "Test accuracy (mean ± std over seeds where there are several), F1 and ROC AUC of the "
        "positive class; each model scored once on the 25k test reviews after every model was "
        "trained. Train seconds per fit and training tokens/s, both including the per-epoch "
        "validation pass.",
    )


def _curves(ctx: RunContext, trained: dict[str, dict[str, Any]]) -> None:
    histories = {n: e["history"] for n, e in trained.items() if e["history"]}
    if not histories:
        return
    epochs = max(len(h) for h in histories.values())
    ctx.log_plot(
        "val_curves",
        "lines",
        LinesInfo(
            list(range(1, epochs + 1)),
            {
                f"{n} val acc": [r.get("val_acc", float("nan")) for r in h]
                + [float("nan")] * (epochs - len(h))
                for n, h in histories.items()
            },
            xlabel="epoch",
            ylabel="validation accuracy",
            title="Validation accuracy per epoch",
        ),
        "Validation accuracy after each epoch of every fine-tuning fit.",
    )


def _roc(ctx: RunContext, curves: dict[str, tuple[np.ndarray, np.ndarray]], scores: dict) -> None:
    """One ROC curve per variant (its first seed), thinned to ~200 points."""
    series, grid = {}, np.linspace(0, 1, 201)
    for name, (fpr, tpr) in curves.items():
        if _variant(name) != name and not name.endswith("-s0"):
            continue
        series[f"{LABELS[_variant(name)]} (AUC {scores[name]['test_roc_auc']:.3f})"] = (
            np.interp(grid, fpr, tpr).round(4).tolist()
        )
    ctx.log_plot(
        "roc",
        "lines",
        LinesInfo(
            grid.round(3).tolist(),
            series,
            xlabel="false positive rate",
            ylabel="true positive rate",
            title="ROC on the test reviews",
        ),
        "ROC curves of the positive class on the 25k test reviews (first seed of each variant).",
    )


def _record(ctx: RunContext, entry: dict[str, Any], fit: str, cfg: SentimentConfig) -> None:
    """model.json for `tamrin predict`: the network best on val, its tokenizer and truncation."""
    data: Encoded = entry["data"]
    ctx.log_artifact(
        "tokenizer.json",
        lambda p: data.tokenizer.save(str(p)),
        "the tokenizer of the selected model",
    )
    model = entry["model"]
    ctx.log_inference(
        {
            "format": 1,
            "model": "bert-prenorm" if model.encoder.cfg.norm_first else "bert",
            "model_config": to_dict(model.encoder.cfg),
            "task": "text",
            "in_shape": [data.vocab_size, data.max_len],
            "out_dim": 2,
            "classes": list(CLASSES),
            "checkpoints": f"checkpoints/{fit}",
            "weights": "best",
            "tokenizer": "artifacts/tokenizer.json",
            "max_len": data.max_len,
            "head": cfg.head,
            "fit": fit,
        }
    )


def _example(
    ctx: RunContext, cfg: SentimentConfig, trained: dict[str, dict[str, Any]], selected: str
) -> None:
    """HW5's sentence under every network (its first seed): p(positive) and an attention page
    each; the selected network's page is also the report's screenshot (where Chromium is)."""
    shown = [
        n for n, e in trained.items() if e["data"] is not None and not n.endswith(("-s1", "-s2"))
    ]
    facts: dict[str, Any] = {"sentence": cfg.sentence, "fit": selected}
    for fit in sorted(shown, key=lambda n: n != selected):  # the selected one first
        data: Encoded = trained[fit]["data"]
        model = trained[fit]["model"]
        ids = wordpiece.encode_texts(
            data.tokenizer, [cfg.sentence], max_len=data.max_len, head=cfg.head
        )
        ids = ids[:, : int((ids != data.specials.pad).sum())]
        model.eval()
        with torch.no_grad():
            p = float(model(ids).float().softmax(1)[0, 1])
            attention = model.attention(ids)[0]  # (layers, heads, L, L)
        tokens = [str(data.tokenizer.id_to_token(int(t))) for t in ids[0]]
        facts["p_positive" if fit == selected else f"p_positive_{fit}"] = p
        note = f"{LABELS[_variant(fit)]} ({fit}): p(positive) = {p:.3f}"

        def page_at(path: Path, tokens: list[str] = tokens, weights: Any = attention,
                    note: str = note) -> None:  # fmt: skip
            write_attention_page(path, tokens, weights, title=cfg.sentence, note=note)

        name = "attention.html" if fit == selected else f"attention-{fit}.html"
        page = ctx.log_artifact(
            name, page_at, f"attention viewer (head and model view), {note}; opens offline"
        )
        if fit == selected:

            def shot(png: Path, page: Path = page) -> bool:
                return screenshot_page(page, png)

            ctx.log_image(
                "attention_view",
                shot,
                f"The attention viewer (artifacts/{name}) for “{cfg.sentence}”: {note}.",
            )
    ctx.log_metrics("example", facts)
