"""The IMDB review corpus (Large Movie Review Dataset v1) as tokenized text for word vectors.

Reviews are read from the official archive (`aclImdb_v1.tar.gz`, or the `.tar.xz` repack, opened
with tarfile mode `r:*`) or from an extracted `aclImdb/` folder, in a fixed order (split, then
file name), so a run repeats exactly. The reviews hold HTML line breaks (`<br />`, 4 in 10 reviews);
the tokenizer turns them into spaces before splitting, so "movie.<br /><br />The" gives "movie",
"the" and never a token "br".
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tamrin.errors import DataCorruptError, UserError

IMDB_SPLITS = ("train/pos", "train/neg", "train/unsup", "test/pos", "test/neg")
_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)  # <br />, <br/>, <br>
_TAG = re.compile(r"<[^>]{0,40}>")  # other stray HTML tags (a handful of reviews)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")  # words, numbers, and clitics kept whole ("don't")


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens of a review; `<br />` and other HTML tags count as spaces."""
    text = _TAG.sub(" ", _BREAK.sub(" ", text)).lower().replace("\u2019", "'")
    return _TOKEN.findall(text)


def _wanted(name: str, splits: Sequence[str]) -> bool:
    parts = name.split("/")
    return (
        len(parts) == 4
        and parts[0] == "aclImdb"
        and f"{parts[1]}/{parts[2]}" in splits
        and parts[3].endswith(".txt")
    )


def iter_imdb_reviews(
    source: str | Path, splits: Sequence[str] = IMDB_SPLITS, limit: int | None = None
) -> Iterator[str]:
    """The raw text of each review in `splits`, from the archive or an extracted folder.

    Order: as `splits` lists them, files sorted by name within a split. `limit` stops after that
    many reviews in all (smoke runs).
    """
    unknown = [s for s in splits if s not in IMDB_SPLITS]
    if unknown:
        raise UserError(f"unknown IMDB split(s) {unknown}; allowed: {', '.join(IMDB_SPLITS)}")
    source = Path(source)
    count = 0
    if source.is_dir():
        root = source / "aclImdb" if (source / "aclImdb").is_dir() else source
        for split in splits:
            for path in sorted((root / split).glob("*.txt")):
                if limit is not None and count >= limit:
                    return
                count += 1
                yield path.read_text(encoding="utf-8", errors="replace")
        return
    texts: dict[str, dict[str, str]] = {s: {} for s in splits}
    try:
        # One pass through the (compressed, sequential) archive; reviews are gathered per split
        # and sorted by name afterwards, since the archive's member order is not guaranteed.
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                if not member.isfile() or not _wanted(member.name, splits):
                    continue
                _, a, b, fname = member.name.split("/")
                f = tar.extractfile(member)
                if f is None:
                    continue
                texts[f"{a}/{b}"][fname] = f.read().decode("utf-8", errors="replace")
                if limit is not None and sum(map(len, texts.values())) >= limit:
                    break
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataCorruptError(f"{source}: cannot read the IMDB archive ({exc})") from None
    for split in splits:
        for fname in sorted(texts[split]):
            if limit is not None and count >= limit:
                return
            count += 1
            yield texts[split][fname]


def imdb_sentences(
    source: str | Path, splits: Sequence[str] = IMDB_SPLITS, limit: int | None = None
) -> list[list[str]]:
    """Each review as one token list (word2vec's "sentence"), in `iter_imdb_reviews` order."""
    out = [tokenize(text) for text in iter_imdb_reviews(source, splits, limit)]
    if not out:
        raise DataCorruptError(f"{source}: no reviews found in {', '.join(splits)}")
    return out
