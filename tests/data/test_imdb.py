"""The IMDB reader on tiny trees in the official layout (folder, .tar.gz, .tar.xz), its errors,
head+tail truncation, and (marked `data`) the real release."""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from tamrin.data.imdb import SPLITS, ImdbSplit, clean_review, head_tail, read_imdb
from tamrin.errors import ConfigError, DataCorruptError, DataNotFoundError

# sub-folder -> {file name: raw text}; ids deliberately out of order (and 10 < 2 as strings)
TREE: dict[str, dict[str, bytes]] = {
    "train/pos": {
        "10_9.txt": b"Loved it.<br /><br />Ten out of ten.",
        "2_7.txt": b"  Good\tfun.\n\nGo see it.  ",
        "7_8.txt": b"Nice<br/>film<br>really <BR />.",
    },
    "train/neg": {
        "3_1.txt": b"Awful.<br /><br />Just awful.",
        "11_4.txt": b"Caf\xc3\xa9 scene was dull; bad byte \xff here.",
        "0_2.txt": b"Boring.",
    },
    "train/unsup": {"5_0.txt": b"No rating<br />here.", "1_0.txt": b"Another one."},
    "test/pos": {"4_10.txt": b"Superb.", "1_8.txt": b"Fine<br /><br />movie."},
    "test/neg": {"20_3.txt": b"Meh.", "9_1.txt": b"Dreadful."},
}
EXTRAS = {  # other files of the release, which the reader must ignore
    "README": b"Large Movie Review Dataset v1.0",
    "imdb.vocab": b"the\nand\n",
    "train/labeledBow.feat": b"9 0:9 1:1\n",
    "train/urls_pos.txt": b"http://www.imdb.com/title/tt0453418/usercomments\n",
    "test/urls_neg.txt": b"http://www.imdb.com/title/tt0064354/usercomments\n",
}


def _members() -> list[tuple[str, bytes]]:
    files = [(f"{d}/{n}", data) for d, names in TREE.items() for n, data in names.items()]
    files += list(EXTRAS.items())
    return [(f"aclImdb/{name}", data) for name, data in reversed(files)]  # not sorted


def write_tree(root: Path) -> Path:
    """The tiny release extracted under `root/aclImdb`; returns that folder."""
    for name, data in _members():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root / "aclImdb"


def write_tarball(path: Path, members: list[tuple[str, bytes]] | None = None) -> Path:
    """The tiny release as a tar archive compressed as the suffix says (.tar.gz / .tar.xz)."""
    mode = {".gz": "w:gz", ".xz": "w:xz"}[path.suffix]
    with tarfile.open(path, mode) as tar:
        for folder in ("aclImdb", "aclImdb/train", "aclImdb/train/pos"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in _members() if members is None else members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(params=["folder", "parent-folder", "tar.gz", "tar.xz"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "folder":
        return write_tree(tmp_path)
    if request.param == "parent-folder":
        write_tree(tmp_path)
        return tmp_path
    return write_tarball(tmp_path / f"aclImdb_v1.{request.param}")


def test_reads_every_split_in_order(source: Path) -> None:
    data = read_imdb(source, ("train", "test", "unsup"))
    assert list(data) == ["train", "test", "unsup"]
    train = data["train"]
    assert isinstance(train, ImdbSplit) and len(train) == 6
    assert train.ids.tolist() == [0, 3, 11, 2, 7, 10]  # neg then pos, numeric id order
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert train.ratings.tolist() == [2, 1, 4, 7, 8, 9]
    assert all(a.dtype == np.int64 for a in (train.ids, train.labels, train.ratings))
    assert train.texts == [
        "Boring.",
        "Awful. Just awful.",
        "Café scene was dull; bad byte \ufffd here.",
        "Good fun. Go see it.",
        "Nice film really .",
        "Loved it. Ten out of ten.",
    ]
    test = data["test"]
    assert test.ids.tolist() == [9, 20, 1, 4] and test.labels.tolist() == [0, 0, 1, 1]
    assert test.ratings.tolist() == [1, 3, 8, 10]
    assert test.texts == ["Dreadful.", "Meh.", "Fine movie.", "Superb."]
    unsup = data["unsup"]
    assert unsup.ids.tolist() == [1, 5] and unsup.labels.tolist() == [-1, -1]
    assert unsup.ratings.tolist() == [0, 0]
    assert unsup.texts == ["Another one.", "No rating here."]


def test_default_splits_and_one_split_by_name(source: Path) -> None:
    assert list(read_imdb(source)) == ["train", "test"]
    assert list(read_imdb(source, "unsup")) == ["unsup"]
    assert list(read_imdb(source, ["test", "test"])) == ["test"]


def test_clean_review() -> None:
    assert clean_review("a<br />b<br/>c<br>d<BR >e< br / >f") == "a b c d e f"
    assert clean_review(" \n x \t\r\n y  ") == "x y"
    assert clean_review("<br /><br />") == ""


@pytest.mark.parametrize("splits", [("train", "valid"), ("pos",), ()])
def test_unknown_split(tmp_path: Path, splits: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match="allowed: train, test, unsup"):
        read_imdb(write_tree(tmp_path), splits)


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"nowhere\.tar\.gz"):
        read_imdb(tmp_path / "nowhere.tar.gz")


def test_folder_without_the_release(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="train/neg/ is not in"):
        read_imdb(tmp_path)
    root = write_tree(tmp_path)
    for f in (root / "train" / "unsup").iterdir():
        f.unlink()
    (root / "train" / "unsup").rmdir()
    assert len(read_imdb(tmp_path)["train"]) == 6  # unsup not asked for
    with pytest.raises(DataNotFoundError, match="train/unsup/"):
        read_imdb(tmp_path, ["unsup"])


@pytest.mark.parametrize("suffix", [".gz", ".xz"])
def test_truncated_archive(tmp_path: Path, suffix: str) -> None:
    # enough reviews that half the compressed bytes end inside the member data
    rng = np.random.default_rng(0)
    members = [
        (f"aclImdb/{d}/{i}_{r}.txt", " ".join(map(str, rng.integers(0, 10**6, 200))).encode())
        for d, r in (("train/neg", 1), ("train/pos", 9), ("test/neg", 2), ("test/pos", 8))
        for i in range(20)
    ]
    full = write_tarball(tmp_path / f"full.tar{suffix}", members)
    assert len(read_imdb(full)["train"]) == 40
    cut = tmp_path / f"aclImdb_v1.tar{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(DataCorruptError, match=rf"aclImdb_v1\.tar\{suffix}: cannot read"):
        read_imdb(cut)


def test_not_a_tarball(tmp_path: Path) -> None:
    bad = tmp_path / "aclImdb_v1.tar.gz"
    bad.write_bytes(os.urandom(1000))
    with pytest.raises(DataCorruptError, match="cannot read the IMDB archive"):
        read_imdb(bad)


def test_archive_without_the_release(tmp_path: Path) -> None:
    other = write_tarball(tmp_path / "other.tar.gz", [("reviews/train/pos/1_9.txt", b"Good.")])
    with pytest.raises(DataCorruptError, match=r"no reviews under aclImdb/test/neg/"):
        read_imdb(other)
    no_unsup = [(n, d) for n, d in _members() if "/unsup/" not in n]
    partial = write_tarball(tmp_path / "partial.tar.xz", no_unsup)
    assert len(read_imdb(partial)["test"]) == 4
    with pytest.raises(DataCorruptError, match=r"aclImdb/train/unsup/"):
        read_imdb(partial, ["unsup"])


def test_badly_named_review(tmp_path: Path) -> None:
    members = [*_members(), ("aclImdb/test/pos/review.txt", b"x")]
    with pytest.raises(DataCorruptError, match=r"test/pos/review\.txt is not named"):
        read_imdb(write_tarball(tmp_path / "aclImdb_v1.tar.gz", members))


@pytest.mark.parametrize(
    ("ids", "keep", "head", "expected"),
    [
        ([1, 2, 3], 5, 2, [1, 2, 3]),  # shorter
        ([1, 2, 3, 4, 5], 5, 2, [1, 2, 3, 4, 5]),  # equal
        ([1, 2, 3, 4, 5, 6, 7], 5, 2, [1, 2, 5, 6, 7]),  # longer
        ([1, 2, 3, 4, 5, 6, 7], 5, 0, [3, 4, 5, 6, 7]),  # tail only
        ([1, 2, 3, 4, 5, 6, 7], 5, 5, [1, 2, 3, 4, 5]),  # head only
        ([1, 2, 3], 0, 0, []),
        ([], 4, 1, []),
    ],
)
def test_head_tail(ids: list[int], keep: int, head: int, expected: list[int]) -> None:
    assert head_tail(ids, keep, head) == expected
    assert head_tail(tuple(ids), keep, head) == expected


@pytest.mark.parametrize(("keep", "head"), [(5, 6), (5, -1), (-1, 0)])
def test_head_tail_rejects_bad_head(keep: int, head: int) -> None:
    with pytest.raises(ConfigError, match="0 <= head <= keep"):
        head_tail([1, 2, 3], keep, head)


# ----------------------------------------------------------------------------------- real data


def _real_archive(real_data: str | None) -> Path:
    for root in (real_data or "").split(os.pathsep):
        for name in ("aclImdb_v1.tar.gz", "aclImdb_v1.tar.xz"):
            if root and (Path(root) / "imdb" / name).is_file():
                return Path(root) / "imdb" / name
    pytest.skip("the IMDB archive is not in the real data roots (../shared/datasets/imdb)")


@pytest.mark.data
@pytest.mark.slow  # ~6 s: 100,000 reviews out of the 38 MB .tar.xz
def test_real_release(real_data: str | None) -> None:
    archive = _real_archive(real_data)
    start = time.perf_counter()
    data = read_imdb(archive, tuple(SPLITS))
    seconds = time.perf_counter() - start
    train, test, unsup = data["train"], data["test"], data["unsup"]
    assert (len(train), len(test), len(unsup)) == (25_000, 25_000, 50_000)
    for split in (train, test):
        assert np.bincount(split.labels).tolist() == [12_500, 12_500]
        assert set(split.ratings[split.labels == 0].tolist()) == {1, 2, 3, 4}
        assert set(split.ratings[split.labels == 1].tolist()) == {7, 8, 9, 10}
        assert split.ids[:12_500].tolist() == list(range(12_500))  # each label: ids 0..12499
    assert set(unsup.labels.tolist()) == {-1} and set(unsup.ratings.tolist()) == {0}
    assert unsup.ids.tolist() == list(range(50_000))
    for split in data.values():
        assert not any("<br" in t.lower() for t in split.texts[::50])
        assert all(t and t == t.strip() for t in split.texts[::50])
    assert seconds < 30, f"reading the release took {seconds:.1f} s"
