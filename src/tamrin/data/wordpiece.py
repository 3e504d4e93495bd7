"""BERT-style WordPiece tokenizers: train one on a corpus (cached), load one, encode to tensors.

`train_wordpiece(texts)` trains the tokenizer BERT uses (Devlin et al. 2019; Wu et al. 2016):
BERT's normalizer (lowercase, accents stripped, control characters dropped, CJK characters
split) and pre-tokenizer (whitespace and punctuation), then a WordPiece vocabulary whose
word-inner pieces start with `##`. The five specials come first, so in our tokenizers
[PAD] = 0, [UNK] = 1, [CLS] = 2, [SEP] = 3, [MASK] = 4; pretrained files number them their own
way (MiniLM / bert-base-uncased: 0, 100, 101, 102, 103), so code asks `special_ids(tokenizer)`.
Training is not deterministic (tokenizers 0.23 numbers the `##` pieces in hash-map order, which
also breaks ties between equally frequent merges: huggingface/tokenizers#1794; two trainings on
IMDB train at 16k gave the same tokens, 411 of them with other ids), so a run that must repeat
passes `cache_dir`: the tokenizer is saved under a key of its settings and a fingerprint
of the corpus, and a later call with the same ones loads it instead of training again.

`encode_texts(tokenizer, texts, max_len=L)` gives the (N, L) int64 tensor a BERT encoder takes:
`[CLS] tokens [SEP]` then [PAD]. A text longer than L - 2 tokens keeps its head and tail
(`imdb.head_tail`; Sun et al. 2019): by default the first quarter of the budget from the start
and the rest from the end, the ratio of their best head-128 + tail-382 at L = 512.

Hugging Face `tokenizers` (Rust, multi-threaded) is an optional dependency: `pip install
'tamrin[text]'`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tamrin.data.imdb import head_tail
from tamrin.errors import ConfigError, DataCorruptError, DataNotFoundError, MissingDependencyError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4 in our trained tokenizers
CACHE_VERSION = 1  # part of the cache key: bump when training changes what a key produces
TRAIN_BATCH = 1000  # texts per batch handed to the trainer


@dataclass(frozen=True)
class SpecialIds:
    """The ids of a tokenizer's special tokens."""

    pad: int
    unk: int
    cls: int
    sep: int
    mask: int


def special_ids(tokenizer: Tokenizer) -> SpecialIds:
    """[PAD] [UNK] [CLS] [SEP] [MASK] as ids; a tokenizer lacking one is a DataCorruptError."""
    ids = {}
    for field, token in zip(("pad", "unk", "cls", "sep", "mask"), SPECIALS, strict=True):
        found = tokenizer.token_to_id(token)
        if found is None:
            raise DataCorruptError(
                f"the tokenizer has no {token} token; a BERT-style WordPiece tokenizer with "
                f"{' '.join(SPECIALS)} is needed (train_wordpiece makes one)"
            )
        ids[field] = int(found)
    return SpecialIds(**ids)


def train_wordpiece(
    texts: Sequence[str],
    *,
    vocab_size: int = 16000,
    lowercase: bool = True,
    min_frequency: int = 2,
    cache_dir: str | Path | None = None,
) -> Tokenizer:
    """A WordPiece tokenizer of at most `vocab_size` tokens trained on `texts`.

    `lowercase` also strips accents (as bert-base-uncased does). `min_frequency`: a merge must
    occur at least this often. With `cache_dir`, the result is `cache_dir/<key>/tokenizer.json`,
    key = sha256 of the settings and the corpus; an unreadable cached file is trained again.
    Without a cache, two calls may differ in a few tie-broken merges (see the module docstring).
    """
    if vocab_size <= len(SPECIALS):
        raise ConfigError(f"vocab_size must be > {len(SPECIALS)} (the specials); got {vocab_size}")
    if min_frequency < 1:
        raise ConfigError(f"min_frequency must be >= 1; got {min_frequency}")
    if len(texts) == 0:
        raise ConfigError("train_wordpiece needs at least one text; got an empty corpus")
    tk = _tokenizers()
    settings: dict[str, Any] = {
        "vocab_size": vocab_size,
        "lowercase": lowercase,
        "min_frequency": min_frequency,
    }
    if cache_dir is None:
        return _train(texts, **settings)
    key = _cache_key(texts, settings, tk.__version__)
    path = Path(cache_dir) / key / "tokenizer.json"
    if path.is_file():
        try:
            cached = tk.Tokenizer.from_file(str(path))
            if special_ids(cached) == SpecialIds(0, 1, 2, 3, 4):
                return cached
        except Exception:  # a damaged file (tokenizers raises plain Exception): train again
            pass
    tokenizer = _train(texts, **settings)
    _save_atomic(tokenizer, path)
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A tokenizer.json (ours or a pretrained model's) with truncation and padding turned off.

    Pretrained files ship their own settings (MiniLM: truncate at 128 tokens and pad to 128), which
    would clip texts before `encode_texts` picks head and tail.
    """
    tk = _tokenizers()
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"tokenizer file {path} not found; expected a tokenizer.json")
    try:
        tokenizer = tk.Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception on bad JSON or a bad model
        raise DataCorruptError(
            f"{path}: not a readable tokenizer.json ({str(exc)[:200]}); save it again with "
            f"Tokenizer.save or fetch the model again"
        ) from None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def encode_texts(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    *,
    max_len: int,
    head: int | None = None,
    batch: int = 2000,
) -> torch.Tensor:
    """(N, max_len) int64 ids: `[CLS] content [SEP]` then [PAD], content head+tail truncated.

    Content keeps at most `max_len - 2` tokens: the first `head` (default `(max_len - 2) // 4`)
    and the rest from the end. `batch` texts go to the tokenizer's threads at a time.
    """
    if max_len < 3:
        raise ConfigError(f"max_len must be >= 3 ([CLS], a token, [SEP]); got {max_len}")
    if batch < 1:
        raise ConfigError(f"batch must be >= 1; got {batch}")
    keep = max_len - 2
    head = keep // 4 if head is None else head
    if not 0 <= head <= keep:
        raise ConfigError(f"head must be in 0..max_len - 2 = {keep}; got {head}")
    if tokenizer.truncation is not None or tokenizer.padding is not None:
        raise ConfigError(
            "the tokenizer truncates or pads by itself, which would clip texts before head+tail "
            "truncation; load it with load_tokenizer, or call no_truncation() and no_padding()"
        )
    sp = special_ids(tokenizer)
    # encode_batch_fast (tokenizers >= 0.20) skips the character offsets we do not use
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    out = np.full((len(texts), max_len), sp.pad, dtype=np.int64)  # (N, L)
    out[:, 0] = sp.cls
    for start in range(0, len(texts), batch):
        encodings = encode(list(texts[start : start + batch]), add_special_tokens=False)
        for row, enc in enumerate(encodings, start=start):
            content = enc.ids
            if len(content) > keep:
                content = head_tail(content, keep, head)
            out[row, 1 : 1 + len(content)] = content
            out[row, 1 + len(content)] = sp.sep
    return torch.from_numpy(out)


def lengths(ids: torch.Tensor, pad: int) -> torch.Tensor:
    """(N,) int64: how many non-[PAD] tokens each row of (N, L) ids has (to trim a batch)."""
    if ids.ndim != 2:
        raise ConfigError(f"lengths needs (N, L) ids; got shape {tuple(ids.shape)}")
    return (ids != pad).sum(dim=1)


# ------------------------------------------------------------------------------------ helpers


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise MissingDependencyError(
            "WordPiece tokenizers need the `tokenizers` package: pip install 'tamrin[text]'"
        ) from None
    return tokenizers


def _train(texts: Sequence[str], *, vocab_size: int, lowercase: bool, min_frequency: int) -> Any:
    tk = _tokenizers()
    tokenizer = tk.Tokenizer(tk.models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = tk.normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lowercase, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = tk.decoders.WordPiece(prefix="##")
    trainer = tk.trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIALS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tokenizer.train_from_iterator(_batches(texts), trainer=trainer, length=len(texts))
    # tokenizer.encode(text) gives [CLS] text [SEP], as a pretrained BERT tokenizer does
    tokenizer.post_processor = tk.processors.BertProcessing(
        ("[SEP]", tokenizer.token_to_id("[SEP]")), ("[CLS]", tokenizer.token_to_id("[CLS]"))
    )
    return tokenizer


def _batches(texts: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(texts), TRAIN_BATCH):
        yield list(texts[start : start + TRAIN_BATCH])


def _cache_key(texts: Sequence[str], settings: dict[str, Any], version: str) -> str:
    """sha256 of the settings, the tokenizers version and the corpus (each text length-prefixed,
    so ["ab", "c"] and ["a", "bc"] differ)."""
    corpus = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", errors="surrogatepass")
        corpus.update(struct.pack("<Q", len(data)))
        corpus.update(data)
    meta = {
        "cache_version": CACHE_VERSION,
        "tokenizers": version,
        "specials": SPECIALS,
        **settings,
        "texts": len(texts),
        "corpus_sha256": corpus.hexdigest(),
    }
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


def _save_atomic(tokenizer: Any, path: Path) -> None:
    """Write tokenizer.json via a temporary file and os.replace, so a reader never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tokenizer-", suffix=".tmp")
    os.close(fd)
    try:
        tokenizer.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
