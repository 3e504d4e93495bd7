"""IMDB sentiment as a task: read, split, tokenize, fit a token classifier, score the test once.

`load_imdb` reads the store's copy of the release (`tamrin.data.imdb`), holds out a seeded,
stratified fraction of the 25k training reviews for validation, and encodes every split with
a WordPiece tokenizer — ours, trained on the train + unsup text (never the test text) and
cached by its settings, or a pretrained checkpoint's (`tokenizer_from`). Reviews longer than
`max_len` keep their head and tail (Sun et al. 2019). `train_text` fits any model
`forward(ids) -> logits` with the shared fit loop and selects on validation accuracy;
`text_logits` is the inference pass, in length-sorted batches trimmed to their longest row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tamrin.config import require
from tamrin.data import imdb, wordpiece
from tamrin.data.batches import Batches, ShuffleSampler
from tamrin.data.splits import labelled_subset, stratified_holdout
from tamrin.registry import RunContext
from tamrin.tasks.training import train
from tamrin.train.device import probe_cache_path
from tamrin.train.fit import FitResult
from tamrin.train.inference import autocast
from tamrin.train.objectives import Classify

CLASSES = ("negative", "positive")
SENTIMENT = Classify(input="ids", target="y")


@dataclass
class ImdbData:
    """Which reviews, how they are cut, and the tokenizer trained for the from-scratch models."""

    val_fraction: float = 0.1  # of the 25k training reviews, stratified, for selection
    split_seed: int = 0  # the val hold-out and the subset, kept across run seeds
    train_subset: int | None = None  # labelled reviews used for fitting (None: all the rest)
    max_len: int = 128  # tokens per review with [CLS] and [SEP]: head + tail kept
    head: int | None = None  # tokens kept from the start (None: a quarter, Sun et al.)
    vocab_size: int = 16000  # our WordPiece vocabulary (train + unsup text)
    lowercase: bool = True  # our tokenizer lowercases and strips accents (bert-base-uncased)

    def validate(self) -> None:
        require(
            0 < self.val_fraction < 1, f"val_fraction must be in (0, 1); got {self.val_fraction}"
        )
        require(self.max_len >= 8, f"max_len must be >= 8; got {self.max_len}")
        require(
            self.head is None or 0 <= self.head <= self.max_len - 2,
            f"head must be in [0, max_len - 2]; got {self.head}",
        )
        require(
            self.train_subset is None or self.train_subset >= 2,
            f"train_subset must be >= 2 (one per class) or None; got {self.train_subset}",
        )
        require(self.vocab_size > 5, f"vocab_size must be > 5; got {self.vocab_size}")


@dataclass
class Reviews:
    """The raw texts of the splits a run uses (test read only to be scored)."""

    train: imdb.ImdbSplit
    test: imdb.ImdbSplit
    unsup: imdb.ImdbSplit | None
    fit_index: np.ndarray  # rows of `train` that are fitted on
    val_index: np.ndarray  # rows of `train` held out for validation


@dataclass
class Encoded:
    """Token ids of every split for one tokenizer."""

    tokenizer: Any  # tokenizers.Tokenizer
    specials: wordpiece.SpecialIds
    train_ids: torch.Tensor  # (N, max_len) int64
    train_y: torch.Tensor
    val_ids: torch.Tensor
    val_y: torch.Tensor
    test_ids: torch.Tensor
    test_y: torch.Tensor

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    @property
    def max_len(self) -> int:
        return int(self.train_ids.shape[1])


def imdb_source(ctx: RunContext) -> Path:
    """The verified release archive (aclImdb_v1.tar.gz or the .tar.xz repack)."""
    return next(iter(ctx.data_store().locate_files("imdb").values()))


def read_reviews(cfg: ImdbData, ctx: RunContext, *, unsup: bool = True) -> Reviews:
    """The train / test (and unsup) reviews with the seeded val hold-out and subset."""
    splits = read_imdb_splits(imdb_source(ctx), unsup=unsup)
    labels = splits["train"].labels
    fit, val = stratified_holdout(labels, cfg.val_fraction, cfg.split_seed)
    if cfg.train_subset is not None and cfg.train_subset < len(fit):
        kept, _ = labelled_subset(labels[fit], cfg.train_subset, cfg.split_seed)
        fit = fit[kept]
    return Reviews(splits["train"], splits["test"], splits.get("unsup"), fit, val)


def read_imdb_splits(source: Path, *, unsup: bool) -> dict[str, imdb.ImdbSplit]:
    return imdb.read_imdb(source, ("train", "test", "unsup") if unsup else ("train", "test"))


def pretraining_texts(reviews: Reviews) -> list[str]:
    """Train + unsup text (labels unused; the test text never): tokenizer and MLM corpus."""
    return list(reviews.train.texts) + list(reviews.unsup.texts if reviews.unsup else [])


def our_tokenizer(cfg: ImdbData, reviews: Reviews) -> Any:
    """The WordPiece tokenizer trained on train + unsup text, from the cache when it exists."""
    return wordpiece.train_wordpiece(
        pretraining_texts(reviews),
        vocab_size=cfg.vocab_size,
        lowercase=cfg.lowercase,
        cache_dir=probe_cache_path().parent / "tokenizers",
    )


def encode(
    cfg: ImdbData, reviews: Reviews, tokenizer: Any, *, max_len: int | None = None
) -> Encoded:
    """Every split's ids under `tokenizer`, head + tail truncated to `max_len`."""
    length = max_len or cfg.max_len
    head = cfg.head if cfg.head is None or cfg.head <= length - 2 else length - 2

    def ids(texts: list[str]) -> torch.Tensor:
        return wordpiece.encode_texts(tokenizer, texts, max_len=length, head=head)

    train_all = ids(reviews.train.texts)
    y = torch.as_tensor(reviews.train.labels, dtype=torch.long)
    fit, val = torch.as_tensor(reviews.fit_index), torch.as_tensor(reviews.val_index)
    return Encoded(
        tokenizer=tokenizer,
        specials=wordpiece.special_ids(tokenizer),
        train_ids=train_all[fit],
        train_y=y[fit],
        val_ids=train_all[val],
        val_y=y[val],
        test_ids=ids(reviews.test.texts),
        test_y=torch.as_tensor(reviews.test.labels, dtype=torch.long),
    )


def subset(data: Encoded, n: int | None, seed: int) -> Encoded:
    """`data` with `n` of its training reviews (seeded, stratified); all when n is None."""
    if n is None or n >= len(data.train_y):
        return data
    keep, _ = labelled_subset(data.train_y.numpy(), n, seed)
    index = torch.as_tensor(keep)
    return dataclasses.replace(data, train_ids=data.train_ids[index], train_y=data.train_y[index])


def text_logits(
    model: nn.Module,
    ids: torch.Tensor,
    *,
    pad: int,
    batch_size: int = 256,
    amp: torch.dtype | None = None,
) -> torch.Tensor:
    """(N, K) float32 logits of `model(ids)` in eval mode, in the rows' order.

    Rows go in order of length, each batch trimmed to its longest row (padding is masked out,
    so the logits are those of the full rows; the test pass at 256 tokens does ~25 % less work).
    """
    model.eval()
    device = next(model.parameters()).device
    length = (ids != pad).sum(1)
    order = torch.argsort(length, descending=True)
    out = torch.empty(len(ids), dtype=torch.float32)
    parts = []
    with torch.no_grad(), autocast(device, amp):
        for start in range(0, len(ids), batch_size):
            rows = order[start : start + batch_size]
            longest = int(length[rows].max())
            parts.append(model(ids[rows, :longest].to(device)).float().cpu())
    logits = torch.cat(parts) if parts else out.view(0, 1)
    result = torch.empty_like(logits)
    result[order] = logits
    return result


def text_validator(
    ids: torch.Tensor, y: torch.Tensor, *, pad: int, batch_size: int, amp: torch.dtype | None
) -> Callable[[nn.Module], dict[str, float]]:
    def run(model: nn.Module) -> dict[str, float]:
        logits = text_logits(model, ids, pad=pad, batch_size=batch_size, amp=amp)
        return {
            "val_loss": F.cross_entropy(logits, y).item(),
            "val_acc": (logits.argmax(1) == y).float().mean().item(),
        }

    return run


def train_text(
    model: nn.Module,
    data: Encoded,
    train_cfg: object,
    ctx: RunContext,
    *,
    amp: torch.dtype | None,
    name: str = "",
    seed: int | None = None,
) -> FitResult:
    """Fit `model` on shuffled batches of the training reviews, selecting on val accuracy."""
    sampler = ShuffleSampler(
        len(data.train_y),
        train_cfg.batch_size,  # type: ignore[attr-defined]
        seed=ctx.seed if seed is None else seed,
    )
    return train(
        model,
        Batches({"ids": data.train_ids, "y": data.train_y}, sampler),
        train_cfg,  # type: ignore[arg-type]
        ctx,
        objective=SENTIMENT,
        validate=text_validator(
            data.val_ids,
            data.val_y,
            pad=data.specials.pad,
            batch_size=train_cfg.eval_batch_size,  # type: ignore[attr-defined]
            amp=amp,
        ),
        name=name,
        log_history=not name,
        unit="rev",
    )
