"""Masked-language-model pretraining of a small BERT on IMDB text, cached by its settings.

The corpus is the training reviews minus the validation hold-out, plus the 50k unlabelled
reviews — never the test text (the keras-io MLM example pretrains on it). Validation is the
masked-token loss and accuracy on the held-out reviews with one fixed mask. The pretrained
encoder is kept in `tamrin.train.pretrained.PretrainedCache` under a key of everything that
determines it, so `bert-mlm` trains it once and `imdb-sentiment`'s variant (b) loads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import torch

from tamrin.config import require, to_dict
from tamrin.data.batches import Batches, ShuffleSampler
from tamrin.data.splits import stratified_holdout
from tamrin.models.bert import BertConfig, BertForMaskedLM
from tamrin.registry import RunContext
from tamrin.tasks.text_classification import Encoded, ImdbData, Reviews, pretraining_texts
from tamrin.tasks.training import precision_dtype, train
from tamrin.train.checkpoint import seeded
from tamrin.train.mlm import MaskedLM, MaskedTokens, Masking, mlm_validator
from tamrin.train.optim import TrainConfig
from tamrin.train.pretrained import PretrainedCache, cache_key


def _mlm_train() -> TrainConfig:
    """AdamW with warm-up then decay (BERT's recipe), one pass over the ~72k reviews.

    Measured here (README): this post-norm BERT at 5e-4, batch 64, ends its pass at 0.138
    masked-token accuracy on val; a pre-norm one without dropout at 1e-3, batch 32 ("Cramming"
    style: `--set pretrain.model.norm_first=true ...`) reaches 0.174 but fine-tunes worse
    (imdb-sentiment (b) 0.77 vs 0.81 val). Neither pass is long enough to help (b) over (a).
    """
    return TrainConfig(
        epochs=1,
        batch_size=64,
        optimizer="adamw",
        lr=5e-4,
        weight_decay=0.01,
        scheduler="onecycle",
        warmup=0.06,
        grad_clip=1.0,
        select="val_loss",
        channels_last=False,
        eval_batch_size=64,
    )


@dataclass
class MlmSettings:
    """What the pretrained encoder depends on besides the data (the cache key covers it)."""

    model: BertConfig = field(default_factory=BertConfig)
    train: TrainConfig = field(default_factory=_mlm_train)
    rate: float = 0.15  # tokens chosen per sequence (80 % [MASK], 10 % random, 10 % kept)
    curve_every: int = 50  # steps per point of the training curve (0: none)
    seed: int = 0  # the pretraining's seed (kept across run seeds: one cached encoder)

    def validate(self) -> None:
        require(0 < self.rate < 1, f"rate must be in (0, 1); got {self.rate}")
        require(self.curve_every >= 0, f"curve_every must be >= 0; got {self.curve_every}")


def masking(data: Encoded, rate: float) -> Masking:
    s = data.specials
    return Masking(
        vocab_size=data.vocab_size,
        mask_id=s.mask,
        special_ids=(s.pad, s.cls, s.sep, s.unk, s.mask),
        first_normal=5,  # our tokenizers put the five specials first
        rate=rate,
    )


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of the tokenizer's whole definition: `tokenizers` training is not deterministic
    (huggingface/tokenizers#1794), so a retrained vocabulary may give the same words other ids
    and an encoder pretrained under the old one must not be loaded."""
    return hashlib.sha256(tokenizer.to_str().encode()).hexdigest()[:16]


def settings(data_cfg: ImdbData, mlm: MlmSettings, data: Encoded) -> dict[str, Any]:
    """Everything that determines the pretrained weights."""
    return {
        "task": "imdb-mlm",
        "val_fraction": data_cfg.val_fraction,
        "split_seed": data_cfg.split_seed,
        "max_len": data_cfg.max_len,
        "head": data_cfg.head,
        "tokenizer": tokenizer_fingerprint(data.tokenizer),
        "model": to_dict(mlm.model),
        "train": to_dict(mlm.train),
        "rate": mlm.rate,
        "seed": mlm.seed,  # (curve_every changes what is logged, not the weights)
    }


def corpus_ids(data_cfg: ImdbData, reviews: Reviews, tokenizer: Any) -> torch.Tensor:
    """Train (without the val hold-out) + unsup reviews as ids, whatever `train_subset` is."""
    from tamrin.data.wordpiece import encode_texts

    fit, _ = stratified_holdout(reviews.train.labels, data_cfg.val_fraction, data_cfg.split_seed)
    texts = [reviews.train.texts[i] for i in fit]
    texts += pretraining_texts(reviews)[len(reviews.train) :]  # the unsup reviews
    return encode_texts(tokenizer, texts, max_len=data_cfg.max_len, head=data_cfg.head)


def pretrain_mlm(
    data_cfg: ImdbData,
    mlm: MlmSettings,
    reviews: Reviews,
    data: Encoded,
    ctx: RunContext,
    *,
    cache: PretrainedCache | None = None,
    log_history: bool = False,
) -> tuple[BertForMaskedLM, dict[str, Any]]:
    """A pretrained `BertForMaskedLM` and what the report shows (cached or not, history,
    wall time, tokens/s, val masked-token accuracy). The fit is named "mlm" (a killed run
    resumes it) unless `log_history` (bert-mlm: the run's own history.csv)."""
    cache = cache or PretrainedCache()
    model_cfg = BertConfig(**{**to_dict(mlm.model), "vocab_size": data.vocab_size})
    key_settings = settings(data_cfg, mlm, data)
    key = cache_key(key_settings)
    with seeded(mlm.seed):
        model = BertForMaskedLM(model_cfg)
    kept = cache.load(key_settings)
    if kept is not None:
        state, meta = kept
        model.load_state_dict(state["model"])
        return model, {**meta.get("info", {}), "cached": True, "key": key}
    ids = corpus_ids(data_cfg, reviews, data.tokenizer)
    rule = masking(data, mlm.rate)
    batches = MaskedTokens(
        Batches({"ids": ids}, ShuffleSampler(len(ids), mlm.train.batch_size, seed=mlm.seed)), rule
    )
    amp = precision_dtype(mlm.train, ctx)
    objective = MaskedLM(every=mlm.curve_every)
    with seeded(mlm.seed):
        result = train(
            model,
            batches,  # type: ignore[arg-type]
            mlm.train,
            ctx,
            objective=objective,
            validate=mlm_validator(data.val_ids, rule, mlm.train.eval_batch_size, amp),
            name="" if log_history else "mlm",
            log_history=log_history,
            unit="seq",
        )
    steps = min(len(batches), mlm.train.max_batches or len(batches)) * result.epochs_run
    tokens = steps * mlm.train.batch_size * data_cfg.max_len
    info = {
        "cached": False,
        "key": key,
        "history": result.history,
        "curve": objective.curve,
        "status": result.status,
        "epochs_run": result.epochs_run,
        "train_time_s": result.train_time_s,
        "sequences": len(ids),
        "tokens_per_s": tokens / result.train_time_s if result.train_time_s else None,
        "val_loss": result.history[-1].get("val_loss") if result.history else None,
        "val_acc": result.history[-1].get("val_acc") if result.history else None,
    }
    if result.status == "completed":
        cache.save(key_settings, {"model": model.state_dict()}, info=info)
    return model, info
