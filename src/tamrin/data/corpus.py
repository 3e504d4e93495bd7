"""The IMDB review corpus (Large Movie Review Dataset v1) as tokenized text for word vectors.

Reviews are read from the official archive (`aclImdb_v1.tar.gz`, or the `.tar.xz` repack, opened
with tarfile mode `r:*`) or from an extracted `aclImdb/` folder, in a fixed order (split, then
file name), so a run repeats exactly. The reviews hold HTML line breaks (`<br />`, in 58 % of
the labelled reviews); the tokenizer turns them into spaces before splitting, so
"movie.<br /><br />The" gives "movie", "the" and never a token "br".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from tamrin.data.imdb import read_review_files
from tamrin.errors import DataCorruptError, UserError

IMDB_SPLITS = ("train/pos", "train/neg", "train/unsup", "test/pos", "test/neg")
_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)  # <br />, <br/>, <br>
_TAG = re.compile(r"<[^>]{0,40}>")  # other stray HTML tags (a handful of reviews)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")  # words, numbers, and clitics kept whole ("don't")


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens of a review; `<br />` and other HTML tags count as spaces."""
    text = _TAG.sub(" ", _BREAK.sub(" ", text)).lower().replace("\u2019", "'")
    return _TOKEN.findall(text)


def iter_imdb_reviews(
    source: str | Path, splits: Sequence[str] = IMDB_SPLITS, limit: int | None = None
) -> Iterator[str]:
    """The raw text of each review in `splits`, from the archive or an extracted folder.

    Order: as `splits` lists them, files sorted by name within a split (the order the word
    vectors were measured with). The files are read by `tamrin.data.imdb.read_review_files`
    (one pass; its errors); `limit` stops after that many reviews in all (smoke runs).
    """
    unknown = [s for s in splits if s not in IMDB_SPLITS]
    if unknown:
        raise UserError(f"unknown IMDB split(s) {unknown}; allowed: {', '.join(IMDB_SPLITS)}")
    raw = read_review_files(source, list(dict.fromkeys(splits)))
    count = 0
    for split in splits:
        for *_, data in sorted(raw[split], key=lambda r: f"{r[0]}_{r[1]}.txt"):
            if limit is not None and count >= limit:
                return
            count += 1
            yield data.decode("utf-8", errors="replace")


def imdb_sentences(
    source: str | Path, splits: Sequence[str] = IMDB_SPLITS, limit: int | None = None
) -> list[list[str]]:
    """Each review as one token list (word2vec's "sentence"), in `iter_imdb_reviews` order."""
    out = [tokenize(text) for text in iter_imdb_reviews(source, splits, limit)]
    if not out:
        raise DataCorruptError(f"{source}: no reviews found in {', '.join(splits)}")
    return out
