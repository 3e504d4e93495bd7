"""Word-vector evaluation: analogies (3CosAdd, 3CosMul) and word similarity, vectorized and exact.

`evaluate_analogies` gives the same per-section counts as gensim 4.4's
`KeyedVectors.evaluate_word_analogies` (case-insensitive matching through the first, most frequent
spelling of each word, only the first `restrict_vocab` words as inputs and answers, questions with
an unknown word skipped and counted as OOV, the three question words and their other spellings
never the answer) — but scores all questions of a section at once:

1. every in-vocabulary question becomes a query: 3CosAdd `q = unit(b̂ + ĉ − â)` (the same ranking as
   gensim's `most_similar(positive=[b, c], negative=[a])`); 3CosMul keeps â, b̂, ĉ apart;
2. the scores of a block of questions against a block of the vocabulary are one float32 matrix
   product `Q (n, D) @ Ŵᵀ (D, m)`; the question words are masked, and the best and second-best
   score per question are kept across vocabulary blocks. Blocks bound memory (`chunk` questions ×
   `block` words of float32, 64 MiB by default) and keep the score block in cache for the arg-max;
   For 3CosAdd on files built like the Google set (each section = all pairs of a few dozen word
   pairs), most questions are answered from short candidate lists instead, with a bound that
   proves the answer is the best of the whole vocabulary (`_answers_pruned`); the rest (about
   3% on GloVe) are scored against every word as above;
3. where the best and the second-best score are closer than `tie_tol` — closer than float32
   rounding could separate the two orders of summation — the question is re-scored with gensim's
   own arithmetic (float32 mean of unit vectors, `dot(W, mean) / norms`, partial arg-sort), so the
   answer is gensim's even on near-ties. `AnalogyResult.rescored` counts them.

3CosMul follows gensim's `most_similar_cosmul` (Levy & Goldberg 2014, eq. 4, cosines shifted to
[0, 1], ε = 1e-6). gensim 4.4's `evaluate_word_analogies` ignores its `similarity_function`
argument, so 3CosMul is checked question by question against `most_similar_cosmul`.

`evaluate_word_pairs` equals gensim's `evaluate_word_pairs` (Spearman and Pearson against the
human scores, OOV pairs skipped and counted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from tamrin.data.vectors import WordVectors
from tamrin.errors import DataCorruptError, UserError

Method = Literal["3cosadd", "3cosmul"]
METHODS: tuple[str, ...] = ("3cosadd", "3cosmul")
COSMUL_EPS = 1e-6  # gensim's most_similar_cosmul: prod(pos) / (prod(neg) + 1e-6)
TIE_TOL = 1e-4  # best − second-best below this (relative for 3CosMul) → re-scored exactly
GENSIM_TOPN = 5  # evaluate_word_analogies looks at the top 5 answers of most_similar


# ------------------------------------------------------------------------------- data files


@dataclass
class AnalogySection:
    """One `: section` of an analogy file: its questions a : b :: c : d, as written."""

    name: str
    questions: list[tuple[str, str, str, str]] = field(default_factory=list)


def read_analogies(path: str | Path) -> list[AnalogySection]:
    """The Google analogy format: `: name` headers, then `a b c d` lines (others are skipped).

    A question line before the first header is a DataCorruptError (as in gensim).
    """
    sections: list[AnalogySection] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"analogy file not found: {path}") from None
    for line_no, line in enumerate(lines, start=1):
        if line.startswith(": "):
            sections.append(AnalogySection(line.lstrip(": ").strip()))
            continue
        if not sections:
            raise DataCorruptError(f"{path}, line {line_no}: a question before any ': section'")
        words = line.split()
        if len(words) == 4:
            sections[-1].questions.append((words[0], words[1], words[2], words[3]))
    return sections


def read_word_pairs(path: str | Path, delimiter: str = "\t") -> list[tuple[str, str, float]]:
    """WordSim353 / SimLex-999 as gensim ships them: `w1<TAB>w2<TAB>score`, `#` comments."""
    pairs = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"word-pair file not found: {path}") from None
    for line in lines:
        if not line or line.startswith("#"):
            continue
        parts = line.split(delimiter)
        if len(parts) != 3:
            continue
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except ValueError:
            continue
    return pairs


# ------------------------------------------------------------------------------ vocabulary


class _FoldedRows:
    """folded word -> first row, read from the vectors' own word index plus a small table of
    the words that do not survive `upper().lower()` (capitals, ß, ı, ligatures …), so no
    300k-entry folded dict is built per call. Any word folding to KEY is either KEY.lower()
    (it survives the round trip) or one of the irregular words."""

    def __init__(self, index: Mapping[str, int], clip: int, irregular: Mapping[str, int]) -> None:
        self.index, self.clip, self.irregular = index, clip, irregular

    def get(self, key: str, default: int = -1) -> int:
        best = self.irregular.get(key, self.clip)
        word = key.lower()
        row = self.index.get(word)
        if row is not None and row < best and word.upper() == key:
            best = row
        return best if best < self.clip else default


def _irregular_rows(words: Sequence[str]) -> list[int]:
    """Rows whose word changes under `upper().lower()`. Only words with a capital or a
    non-ASCII byte can; numpy finds those rows in the UTF-8 bytes of all words at once."""
    data = np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)
    suspect = np.flatnonzero((data >= 0x80) | ((data >= ord("A")) & (data <= ord("Z"))))
    ends = np.flatnonzero(data == ord("\n"))  # row r ends at ends[r]
    rows = np.unique(np.searchsorted(ends, suspect))  # the row of each suspect byte
    return [int(r) for r in rows if words[r].upper().lower() != words[r]]


@dataclass
class _Vocab:
    """The words evaluation may use: the first `clip` rows, matched case-folded or as they are."""

    key_to_row: dict[str, int] | _FoldedRows  # folded word -> first (most frequent) row
    fold: np.ndarray  # (clip,) int64: row -> the first row of its folded spelling
    clip: int
    case_insensitive: bool

    def key(self, word: str) -> str:
        return word.upper() if self.case_insensitive else word


_VOCABS: dict[tuple[int, int, bool], tuple[WordVectors, _Vocab]] = {}


def _vocab(wv: WordVectors, restrict_vocab: int | None, case_insensitive: bool) -> _Vocab:
    """Built once per vectors object and setting (a 300k-word dict costs ~0.1 s)."""
    clip = len(wv) if restrict_vocab is None else min(restrict_vocab, len(wv))
    cache_key = (id(wv), clip, case_insensitive)
    hit = _VOCABS.get(cache_key)
    if hit is not None and hit[0] is wv:
        return hit[1]
    words = wv.words[:clip]
    if case_insensitive and len(wv.index) == len(wv.words):  # no word repeated
        irregular: dict[str, int] = {}
        odd = _irregular_rows(words)
        for row in odd:  # first (most frequent) row of each folded key wins
            irregular.setdefault(words[row].upper(), row)
        rows = _FoldedRows(wv.index, clip, irregular)
        fold = np.arange(clip, dtype=np.int64)
        for row in odd:  # an irregular word and the words folding with it share a first row
            key = words[row].upper()
            first, regular = rows.get(key), wv.index.get(key.lower(), clip)
            fold[row] = first
            if regular < clip and words[regular].upper() == key:
                fold[regular] = first
        vocab = _Vocab(rows, fold, clip, True)
    else:
        keys = [w.upper() for w in words] if case_insensitive else list(words)
        # first (most frequent) row of each key wins: later pairs of the reversed zip overwrite
        key_to_row = dict(zip(reversed(keys), range(clip - 1, -1, -1), strict=True))
        if len(key_to_row) == clip:  # every key once: row i is its own
            fold = np.arange(clip, dtype=np.int64)
        else:
            fold = np.fromiter((key_to_row[k] for k in keys), dtype=np.int64, count=clip)
        vocab = _Vocab(key_to_row, fold, clip, case_insensitive)
    _VOCABS.clear()  # keep one: the vectors of a run
    _VOCABS[cache_key] = (wv, vocab)
    return vocab


def _variants(vocab: _Vocab) -> dict[int, np.ndarray]:
    """first row -> all rows of the same folded spelling, for spellings with several rows."""
    rows = np.arange(vocab.clip)
    other = np.nonzero(vocab.fold != rows)[0]
    out: dict[int, np.ndarray] = {}
    for head in np.unique(vocab.fold[other]):
        out[int(head)] = np.nonzero(vocab.fold == head)[0]
    return out


# ------------------------------------------------------------------------------ analogies


@dataclass
class SectionScore:
    """Counts of one section (or of the total)."""

    section: str
    correct: int
    total: int  # questions scored (all four words known)
    oov: int  # questions skipped for an unknown word

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0  # gensim: 0.0 when none scored

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "section": self.section,
            "accuracy": self.accuracy,
            "correct": self.correct,
            "total": self.total,
            "oov": self.oov,
        }


@dataclass
class AnalogyResult:
    """Per-section and overall scores, each question's answer, and how many were re-scored."""

    method: str
    sections: list[SectionScore]
    overall: SectionScore
    predicted: list[list[str | None]]  # per section, per question: the answer (None when OOV)
    rescored: int  # near-ties re-scored with gensim's arithmetic
    restrict_vocab: int
    brute_forced: int = 0  # questions scored against every word (the rest: pruned, proven exact)

    @property
    def accuracy(self) -> float:
        return self.overall.accuracy


def evaluate_analogies(
    wv: WordVectors,
    sections: Sequence[AnalogySection],
    *,
    method: Method = "3cosadd",
    restrict_vocab: int | None = 300_000,
    case_insensitive: bool = True,
    chunk: int = 256,
    block: int = 65_536,
    tie_tol: float = TIE_TOL,
    prune: bool = True,
) -> AnalogyResult:
    """Analogy accuracy per section and overall, equal to gensim's (see the module docstring)."""
    if method not in METHODS:
        raise UserError(f"analogy method must be one of {', '.join(METHODS)}; got {method!r}")
    vocab = _vocab(wv, restrict_vocab, case_insensitive)
    variants = _variants(vocab)
    scores, predicted = [], []
    rescored = brute = 0
    for sec in sections:
        rows = [tuple(vocab.key_to_row.get(vocab.key(w), -1) for w in q) for q in sec.questions]
        known = np.array([min(r) >= 0 for r in rows], dtype=bool)
        idx = np.array(rows, dtype=np.int64).reshape(-1, 4)[known]
        abc = idx[:, :3]
        if method == "3cosadd" and prune:
            best, n_rescored, todo = _answers_pruned(wv, vocab, variants, abc, tie_tol)
        else:
            best, n_rescored, todo = np.full(len(abc), -1), 0, np.arange(len(abc))
        brute += len(todo)
        if len(todo):  # brute force: every word scored
            best[todo], n_more = _answers(
                wv, vocab, variants, abc[todo], method, chunk, block, tie_tol
            )
            n_rescored += n_more
        rescored += n_rescored
        correct = int((vocab.fold[best] == idx[:, 3]).sum()) if len(best) else 0
        scores.append(SectionScore(sec.name, correct, int(known.sum()), int((~known).sum())))
        answers: list[str | None] = [None] * len(sec.questions)
        for i, b in zip(np.nonzero(known)[0], best, strict=True):
            answers[i] = wv.words[b]
        predicted.append(answers)
    overall = SectionScore(
        "total",
        sum(s.correct for s in scores),
        sum(s.total for s in scores),
        sum(s.oov for s in scores),
    )
    return AnalogyResult(method, scores, overall, predicted, rescored, vocab.clip, brute)


def _answers(
    wv: WordVectors,
    vocab: _Vocab,
    variants: dict[int, np.ndarray],
    abc: np.ndarray,  # (n, 3) rows of a, b, c
    method: str,
    chunk: int,
    block: int,
    tie_tol: float,
) -> tuple[np.ndarray, int]:
    """The best row per question (question words and their spellings excluded)."""
    n = len(abc)
    best = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return best, 0
    unit = wv.unit[: vocab.clip]  # (V, D) float32
    first = np.full(n, -np.inf, dtype=np.float32)
    second = np.full(n, -np.inf, dtype=np.float32)
    for q0 in range(0, n, chunk):
        q1 = min(n, q0 + chunk)
        # (question, row) pairs never to be answered: the question words and their spellings
        excluded = [_excluded(q, variants) for q in abc[q0:q1]]
        ex_q = np.repeat(np.arange(q1 - q0), [len(e) for e in excluded])
        ex_r = np.concatenate(excluded)
        ua, ub, uc = (wv.unit[abc[q0:q1, k]] for k in range(3))  # (n, D) each
        if method == "3cosadd":
            q = ub + uc - ua
            q /= np.linalg.norm(q, axis=1, keepdims=True)
        for v0 in range(0, vocab.clip, block):
            v1 = min(vocab.clip, v0 + block)
            w = unit[v0:v1]  # (m, D)
            if method == "3cosadd":
                s = q @ w.T  # (n, m) cosine of each word with each query
            else:  # 3CosMul on cosines shifted to [0, 1]
                s = ((1 + ub @ w.T) / 2) * ((1 + uc @ w.T) / 2)
                s /= (1 + ua @ w.T) / 2 + COSMUL_EPS
            inside = (ex_r >= v0) & (ex_r < v1)
            s[ex_q[inside], ex_r[inside] - v0] = -np.inf
            top = s.argmax(axis=1)
            r = np.arange(q1 - q0)
            top_val = s[r, top]
            s[r, top] = -np.inf
            runner_up = s.max(axis=1)
            # merge this block's best two into the running best two
            seg = slice(q0, q1)
            new_best = top_val > first[seg]
            second[seg] = np.where(
                new_best, np.maximum(first[seg], runner_up), np.maximum(second[seg], top_val)
            )
            best[seg] = np.where(new_best, top + v0, best[seg])
            first[seg] = np.where(new_best, top_val, first[seg])
    gap = first - second
    if method == "3cosmul":
        gap = gap / np.maximum(np.abs(first), 1e-12)
    near = np.nonzero(~(gap >= tie_tol))[0]  # also catches NaN
    for i in near:
        best[i] = _gensim_answer(wv, vocab, abc[i], method)
    return best, len(near)


def _answers_pruned(
    wv: WordVectors,
    vocab: _Vocab,
    variants: dict[int, np.ndarray],
    abc: np.ndarray,  # (n, 3) rows of a, b, c
    tie_tol: float,
    keep: float = 0.02,
    max_rows: int = 1024,
) -> tuple[np.ndarray, int, np.ndarray]:
    """3CosAdd answers from short candidate lists, where a bound proves them exact.

    The 3CosAdd score of word w is ŵ·(b̂ − â + ĉ) / |b̂ − â + ĉ| = (D_ab[w] + C_c[w]) / |…|, with
    D_ab = Ŵ(b̂ − â) one row per (a, b) pair and C_c = Ŵĉ one row per c word. The Google set
    builds each section from a few dozen pairs, so a section of n questions needs only ~2√n such
    rows instead of n. Each row keeps the words above a threshold t (about `keep` of the
    vocabulary); a word in neither of a question's two lists scores at most t_ab + t_c (a bound
    in exact arithmetic), so when the best listed word beats that bound by `tie_tol`, it is the
    best word of the whole vocabulary (Fagin's threshold algorithm, one step). Returns the
    answers, the number re-scored on near-ties, and the questions left to brute force.
    """
    n = len(abc)
    best = np.full(n, -1, dtype=np.int64)
    pair_keys, pair_of = np.unique(abc[:, :2], axis=0, return_inverse=True)
    c_keys, c_of = np.unique(abc[:, 2], return_inverse=True)
    pair_of, c_of = pair_of.reshape(-1), c_of.reshape(-1)
    if len(pair_keys) + len(c_keys) > min(max_rows, n):  # no shared structure: brute force
        return best, 0, np.arange(n)
    unit = wv.unit[: vocab.clip]  # (V, D)
    offsets = wv.unit[pair_keys[:, 1]] - wv.unit[pair_keys[:, 0]]  # (P, D) b̂ − â
    rows = np.concatenate([offsets, wv.unit[c_keys]]) @ unit.T  # (P + C, V) scores per list
    stride = 16  # the threshold comes from every 16th word: a cheap quantile, exact as a bound
    k = max(1, int(keep * vocab.clip / stride))
    sample = rows[:, ::stride]
    if sample.shape[1] <= k:
        return best, 0, np.arange(n)
    thresholds = -np.partition(-sample, k, axis=1)[:, k]  # (P + C,)
    lists = [np.flatnonzero(r > t) for r, t in zip(rows, thresholds, strict=True)]
    queries = offsets[pair_of] + wv.unit[c_keys][c_of]  # (n, D) b̂ − â + ĉ, not normalized
    norms = np.linalg.norm(queries, axis=1)
    n_pairs = len(pair_keys)
    # The best two words of each question within its pair's list, then within its c's list:
    # questions sharing a list are scored together, one small matrix product per list.
    # These products are small ((questions of one list) x 50 x (a few thousand words)): BLAS
    # threads cost more than they give there (5x slower measured on 2 busy cores), so one thread.
    with threadpool_limits(1, user_api="blas"):
        in_pair = _top2_in_lists(unit, queries, lists, vocab.fold, abc, pair_of)
        in_c = _top2_in_lists(unit, queries, lists, vocab.fold, abc, n_pairs + c_of)
    (wp, p1, p2), (wc, c1, c2) = in_pair, in_c
    pair_wins = p1 >= c1
    winner = np.where(pair_wins, wp, wc)
    first = np.maximum(p1, c1)
    second = np.where(
        pair_wins,
        np.maximum(p2, np.where(wc != wp, c1, c2)),
        np.maximum(c2, np.where(wp != wc, p1, p2)),
    )
    bound = thresholds[pair_of] + thresholds[n_pairs + c_of]
    proven = (first - bound) / norms >= tie_tol  # no unlisted word can win
    clear = (first - second) / norms >= tie_tol
    best[proven & clear] = winner[proven & clear]
    near = np.nonzero(proven & ~clear)[0]
    for i in near:  # near-tie: gensim's arithmetic decides
        best[i] = _gensim_answer(wv, vocab, abc[i], "3cosadd")
    todo = np.nonzero(~proven)[0]
    return best, len(near), todo


def _top2_in_lists(
    unit: np.ndarray,  # (V, D) unit word vectors
    queries: np.ndarray,  # (n, D) per question b̂ − â + ĉ
    lists: list[np.ndarray],  # per list row: the listed words
    fold: np.ndarray,
    abc: np.ndarray,  # (n, 3)
    own: np.ndarray,  # (n,) the list searched for each question
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per question: best listed word, its score and the second score (question words masked)."""
    n = len(abc)
    word = np.full(n, -1, dtype=np.int64)
    top1 = np.full(n, -np.inf, dtype=np.float32)
    top2 = np.full(n, -np.inf, dtype=np.float32)
    for row in np.unique(own):
        qs = np.nonzero(own == row)[0]
        listed = lists[row]
        if len(listed) == 0:
            continue
        score = queries[qs] @ unit[listed].T  # (q, m)
        # mask the question words: found by binary search (`listed` is sorted) ...
        pos = np.minimum(np.searchsorted(listed, abc[qs]), len(listed) - 1)  # (q, 3)
        hit = listed[pos] == abc[qs]
        score[np.nonzero(hit)[0], pos[hit]] = -np.inf
        # ... and their other spellings (case-folded vocabularies), where the list has any
        other = np.nonzero(fold[listed] != listed)[0]
        if len(other):
            f = fold[listed[other]]
            qi, oj = np.nonzero((f == abc[qs, 0:1]) | (f == abc[qs, 1:2]) | (f == abc[qs, 2:3]))
            score[qi, other[oj]] = -np.inf
        j = score.argmax(axis=1)
        r = np.arange(len(qs))
        word[qs], top1[qs] = listed[j], score[r, j]
        score[r, j] = -np.inf
        top2[qs] = score.max(axis=1) if score.shape[1] > 1 else -np.inf
    return word, top1, top2


def _excluded(abc: np.ndarray, variants: dict[int, np.ndarray]) -> np.ndarray:
    rows = [np.asarray(abc)]
    rows += [variants[int(r)] for r in abc if int(r) in variants]
    return np.unique(np.concatenate(rows))


def _gensim_answer(wv: WordVectors, vocab: _Vocab, abc: np.ndarray, method: str) -> int:
    """One question answered with gensim 4.4's own arithmetic and selection (near-ties only)."""
    a, b, c = (int(x) for x in abc)
    vectors, norms = wv.vectors, wv.norms
    clip = vocab.clip
    if method == "3cosadd":  # most_similar(positive=[b, c], negative=[a])
        mean = np.zeros(wv.dim, dtype=np.float32)
        for row, weight in ((b, 1.0), (c, 1.0), (a, -1.0)):
            mean += np.float64(weight) * (vectors[row] / norms[row])
        mean64 = mean / np.float64(3.0)
        mean = (mean64 / np.linalg.norm(mean64)).astype(np.float32)
        dists = np.dot(vectors[:clip], mean) / norms[:clip]
    else:  # most_similar_cosmul(positive=[b, c], negative=[a]) over the clipped vocabulary
        pos = [
            (1 + np.dot(vectors[:clip], vectors[r] / norms[r]) / norms[:clip]) / 2 for r in (b, c)
        ]
        neg = (1 + np.dot(vectors[:clip], vectors[a] / norms[a]) / norms[:clip]) / 2
        dists = np.prod(pos, axis=0) / (neg + COSMUL_EPS)
    k = GENSIM_TOPN + 3
    top = np.argpartition(-dists, k)[:k] if k < len(dists) else np.arange(len(dists))
    top = top[np.argsort(-dists[top])]
    ranked = [int(t) for t in top if t not in (a, b, c)][:GENSIM_TOPN]
    for t in ranked:
        if vocab.fold[t] not in (a, b, c):
            return t
    return ranked[-1]


# ------------------------------------------------------------ single queries (for reports)


def most_similar(
    wv: WordVectors,
    positive: Sequence[str],
    negative: Sequence[str] = (),
    *,
    topn: int = 10,
    method: Method = "3cosadd",
    restrict_vocab: int | None = None,
) -> list[tuple[str, float]]:
    """The `topn` words closest to positive − negative (cosine), the inputs excluded.

    3CosAdd: cosine with the normalized mean of the unit vectors (gensim's `most_similar`);
    3CosMul: gensim's `most_similar_cosmul`. Unknown words are an OutOfVocabularyError listing them.
    """
    wv.require([*positive, *negative])
    clip = len(wv) if restrict_vocab is None else min(restrict_vocab, len(wv))
    unit = wv.unit[:clip]
    pos = [wv.unit[wv.index_of(w)] for w in positive]
    neg = [wv.unit[wv.index_of(w)] for w in negative]
    if method == "3cosadd":
        q = np.sum(pos, axis=0) - (np.sum(neg, axis=0) if neg else 0)
        q = q / np.linalg.norm(q)
        scores = unit @ q
    else:
        scores = np.prod([(1 + unit @ p) / 2 for p in pos], axis=0)
        scores = scores / (np.prod([(1 + unit @ n) / 2 for n in neg], axis=0) + COSMUL_EPS)
    skip = {wv.index_of(w) for w in [*positive, *negative]}
    k = min(len(scores), topn + len(skip))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top])]
    return [(wv.words[t], float(scores[t])) for t in top if t not in skip][:topn]


def cosine(wv: WordVectors, w1: str, w2: str) -> float:
    """Cosine similarity of two words (OutOfVocabularyError names unknown ones)."""
    wv.require([w1, w2])
    return float(wv.unit[wv.index_of(w1)] @ wv.unit[wv.index_of(w2)])


def rank_of(wv: WordVectors, positive: Sequence[str], negative: Sequence[str], word: str) -> int:
    """1-based rank of `word` among `most_similar(positive, negative)` answers (-1: never)."""
    ranked = most_similar(wv, positive, negative, topn=len(wv))
    return next((i + 1 for i, (w, _) in enumerate(ranked) if w == word), -1)


def covered_questions(
    sections: Sequence[AnalogySection], models: Sequence[WordVectors], restrict_vocab: int
) -> list[AnalogySection]:
    """The questions whose four words every model knows (case-insensitive, as evaluated).

    Scoring another model on just these compares it with `models` on the same questions.
    """
    keys = [{w.upper() for w in m.words[:restrict_vocab]} for m in models]
    return [
        AnalogySection(
            s.name, [q for q in s.questions if all(w.upper() in k for k in keys for w in q)]
        )
        for s in sections
    ]


# ----------------------------------------------------------------------- word similarity


@dataclass
class PairScore:
    """Correlation of the model's cosines with human similarity judgements."""

    name: str
    spearman: float
    spearman_p: float
    pearson: float
    pearson_p: float
    n: int  # pairs scored
    oov: int  # pairs skipped for an unknown word

    @property
    def oov_ratio(self) -> float:
        return self.oov / (self.n + self.oov) if self.n + self.oov else 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "name": self.name,
            "spearman": self.spearman,
            "spearman_p": self.spearman_p,
            "pearson": self.pearson,
            "pearson_p": self.pearson_p,
            "n": self.n,
            "oov": self.oov,
        }


def evaluate_word_pairs(
    wv: WordVectors,
    pairs: Sequence[tuple[str, str, float]],
    *,
    name: str = "",
    restrict_vocab: int | None = 300_000,
    case_insensitive: bool = True,
) -> PairScore:
    """Spearman / Pearson of cosine vs human score over the known pairs (gensim's protocol)."""
    vocab = _vocab(wv, restrict_vocab, case_insensitive)
    rows = np.array(
        [
            (vocab.key_to_row.get(vocab.key(a), -1), vocab.key_to_row.get(vocab.key(b), -1))
            for a, b, _ in pairs
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    gold = np.array([s for _, _, s in pairs], dtype=np.float64)
    known = (rows >= 0).all(axis=1)
    if not known.any():
        raise UserError(f"no pair of {name or 'the word pairs'} is in the vocabulary")
    # gensim: dot(unitvec(v1), unitvec(v2)), unit vectors normalized in float64, rounded to float32
    x = wv.vectors[rows[known]].astype(np.float64)  # (n, 2, D)
    u = (x / np.linalg.norm(x, axis=2, keepdims=True)).astype(np.float32)
    model = np.einsum("nd,nd->n", u[:, 0], u[:, 1])
    sp = stats.spearmanr(gold[known], model)
    pe = stats.pearsonr(gold[known], model)
    return PairScore(
        name,
        float(sp.statistic),
        float(sp.pvalue),
        float(pe.statistic),
        float(pe.pvalue),
        int(known.sum()),
        int((~known).sum()),
    )
