"""The vectorized analogy / similarity evaluation equals gensim's on small random vocabularies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tamrin.data.vectors import OutOfVocabularyError, WordVectors
from tamrin.eval.analogy import (
    AnalogySection,
    evaluate_analogies,
    evaluate_word_pairs,
    most_similar,
    read_analogies,
)

gensim = pytest.importorskip("gensim")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gensim's init_sims


def _vectors(n: int = 400, dim: int = 8, seed: int = 0, cased: bool = False) -> WordVectors:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n)]
    if cased:  # other spellings of frequent words, further down the list (as in cased vocabularies)
        words[300:310] = [w.upper() for w in words[:10]]
    return WordVectors(words, rng.normal(size=(n, dim)).astype(np.float32), "random")


def _questions(wv: WordVectors, n_sections: int = 3, per: int = 60, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for s in range(n_sections):
        lines.append(f": section-{s}")
        for _ in range(per):
            q = [wv.words[i] for i in rng.choice(len(wv), 4, replace=False)]
            lines.append(" ".join(q))
        lines.append("w1 w2 w3 unknownword")  # OOV: skipped and counted
        lines.append("a malformed line")  # not 4 words: skipped, not counted
    return lines


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("restrict", "cased", "block"), [(None, False, 65536), (250, False, 64), (350, True, 100)]
)
def test_3cosadd_equals_gensim_evaluate_word_analogies(
    tmp_path: Path, restrict: int | None, cased: bool, block: int
) -> None:
    wv = _vectors(cased=cased)
    path = _write(tmp_path, _questions(wv))
    ours = evaluate_analogies(
        wv, read_analogies(path), restrict_vocab=restrict or 300_000, chunk=17, block=block
    )
    kv = wv.to_keyed_vectors()
    score, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=restrict or 300_000)
    assert ours.accuracy == score
    for mine, theirs in zip(ours.sections, sections[:-1], strict=True):
        assert mine.section == theirs["section"]
        assert mine.correct == len(theirs["correct"])
        assert mine.total == len(theirs["correct"]) + len(theirs["incorrect"])
    assert ours.overall.oov >= 3


def test_3cosadd_equals_gensim_on_real_analogies_with_planted_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n, dim = 300, 10
    base = rng.normal(size=(n, dim)).astype(np.float32)
    offset = rng.normal(size=dim).astype(np.float32)
    vecs = np.concatenate([base, base + offset + 0.3 * rng.normal(size=(n, dim))]).astype(
        np.float32
    )
    words = [f"x{i}" for i in range(n)] + [f"y{i}" for i in range(n)]
    wv = WordVectors(words, vecs)
    lines = [": planted"] + [
        f"x{i} y{i} x{j} y{j}" for i, j in rng.integers(0, n, (300, 2)) if i != j
    ]
    path = _write(tmp_path, lines)
    ours = evaluate_analogies(wv, read_analogies(path))
    score, _ = wv.to_keyed_vectors().evaluate_word_analogies(str(path))
    assert ours.accuracy == score and 0.2 < score < 1.0


def test_3cosmul_equals_gensim_most_similar_cosmul_question_by_question(tmp_path: Path) -> None:
    wv = _vectors(n=300, dim=6, seed=5)
    sections = read_analogies(_write(tmp_path, _questions(wv, n_sections=2, per=80, seed=7)))
    ours = evaluate_analogies(wv, sections, method="3cosmul", chunk=13, block=50)
    kv = wv.to_keyed_vectors()
    for sec, predicted in zip(sections, ours.predicted, strict=True):
        for (a, b, c, _), mine in zip(sec.questions, predicted, strict=True):
            if mine is None:
                continue
            theirs = kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=1)[0][0]
            assert mine == theirs, (a, b, c)


def test_near_ties_are_rescored_exactly() -> None:
    # two words with the same direction: the scores tie, and the answer must still be gensim's
    wv = _vectors(n=50, dim=4, seed=2)
    wv.vectors[40] = wv.vectors[41] * 2.0
    sec = AnalogySection(
        "ties", [(wv.words[i], wv.words[i + 1], wv.words[i + 2], "w40") for i in range(0, 30, 3)]
    )
    ours = evaluate_analogies(wv, [sec], tie_tol=10.0)  # every question re-scored
    fast = evaluate_analogies(wv, [sec])
    assert ours.rescored == 10 and ours.overall.correct == fast.overall.correct


SPELLINGS = {  # vocabulary rows replaced, to exercise both ways of folding case
    "lowercase": {},  # one-to-one folding: read from the vectors' own index
    "cased": {100 + i: f"W{i}" for i in range(10)},  # W3 folds onto w3: the first row wins
    "unicode": {50: "straße", 51: "strasse", 60: "ı", 61: "i", 70: "λόγος", 71: "λόγοσ"},
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_word_pairs_equal_gensim(tmp_path: Path, spelling: str) -> None:
    wv = _vectors(n=200, dim=8, seed=4)
    for row, word in SPELLINGS[spelling].items():
        wv.words[row] = word
    wv = WordVectors(wv.words, wv.vectors, "random")
    rng = np.random.default_rng(0)
    extra = ["STRASSE\tw5\t4.0", "Straße\tw9\t6.5", "I\tw7\t2.0", "ΛΌΓΟΣ\tw8\t7.0", "W3\tw4\t1.5"]
    lines = (
        ["# comment", *extra]
        + [
            f"{wv.words[i].upper() if k % 3 == 0 else wv.words[i]}\t{wv.words[j]}\t"
            f"{rng.uniform(0, 10):.2f}"
            for k, (i, j) in enumerate(rng.integers(0, 200, (80, 2)))
        ]
        + ["w1\tnotaword\t3.0"]
    )
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n")
    from tamrin.eval.analogy import read_word_pairs

    ours = evaluate_word_pairs(wv, read_word_pairs(path))
    pearson, spearman, oov_ratio = wv.to_keyed_vectors().evaluate_word_pairs(str(path))
    assert ours.spearman == pytest.approx(spearman.statistic, abs=1e-12)
    assert ours.pearson == pytest.approx(pearson.statistic, abs=1e-6)
    assert ours.oov >= 1 and 100 * ours.oov_ratio == pytest.approx(oov_ratio)


def test_most_similar_matches_gensim_and_names_unknown_words() -> None:
    wv = _vectors(n=100, dim=5, seed=9)
    kv = wv.to_keyed_vectors()
    for method, ref in (("3cosadd", kv.most_similar), ("3cosmul", kv.most_similar_cosmul)):
        ours = most_similar(wv, ["w1", "w2"], ["w3"], topn=5, method=method)
        theirs = ref(positive=["w1", "w2"], negative=["w3"], topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)
    with pytest.raises(OutOfVocabularyError, match=r"'kingg', 'quen'"):
        most_similar(wv, ["kingg", "w1"], ["quen"])


def test_pruned_3cosadd_equals_brute_force_and_gensim(tmp_path: Path) -> None:
    # a section built like the Google set: every ordered pair of N word pairs (x_i : y_i)
    rng = np.random.default_rng(11)
    n, dim, pairs = 3000, 12, 16
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    offset = rng.normal(size=dim).astype(np.float32)
    vecs[n // 2 : n // 2 + pairs] = vecs[:pairs] + offset + 0.4 * rng.normal(size=(pairs, dim))
    wv = WordVectors([f"w{i}" for i in range(n)], vecs)
    lines = [": structured"] + [
        f"w{i} w{n // 2 + i} w{j} w{n // 2 + j}"
        for i in range(pairs)
        for j in range(pairs)
        if i != j
    ]
    sections = read_analogies(_write(tmp_path, lines))
    pruned = evaluate_analogies(wv, sections)
    brute = evaluate_analogies(wv, sections, prune=False)
    assert pruned.predicted == brute.predicted
    assert brute.brute_forced == pairs * (pairs - 1)
    assert pruned.brute_forced < brute.brute_forced / 2  # most were proven by the bound
    score, _ = wv.to_keyed_vectors().evaluate_word_analogies(str(tmp_path / "questions.txt"))
    assert pruned.accuracy == score
