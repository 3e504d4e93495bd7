"""DataStore: roots, md5 verification (remembered), file:// downloads, safe extraction, caches."""

from __future__ import annotations

import gzip
import os
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from tamrin.data import datasets, store
from tamrin.data.catalog import CIFAR10_ARCHIVE, CIFAR10_FOLDER, DatasetSpec, FileSpec, Layout
from tamrin.data.datasets import ImageDataset, clear_loaded, load_images
from tamrin.data.store import (
    OK_OFFICIAL,
    OK_PAYLOAD,
    SYSTEM_ROOT,
    DataStore,
    is_writable,
    safe_extract,
)
from tamrin.errors import DataCorruptError, DataNotFoundError, UnsafeArchiveError, UserError

if TYPE_CHECKING:
    from conftest import Tiny

MNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def _listing(root: Path) -> list[tuple[str, int, int]]:
    """Every path under `root` with size and mtime: to show a root was not written to."""
    return sorted(
        (str(p.relative_to(root)), p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in root.rglob("*")
    )


def _user_error(exc: pytest.ExceptionInfo[BaseException], *words: str) -> str:
    """The message of a UserError, checked for `words` and for being one or two lines."""
    assert isinstance(exc.value, UserError)
    text = str(exc.value)
    for word in words:
        assert word in text, text
    assert 1 <= len(text.splitlines()) <= 2, text
    return text


# ----------------------------------------------------------------------------------- roots


def test_roots_from_data_dir_env_and_default(tmp_path: Path, monkeypatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    home = Path(os.environ["HOME"])
    assert DataStore(f"{a}{os.pathsep}~/b").roots == [a, home / "b", SYSTEM_ROOT]
    assert DataStore(a).roots == [a, SYSTEM_ROOT]
    monkeypatch.setenv("TAMRIN_DATA", f"{b}{os.pathsep}{a}")
    assert DataStore().roots == [b, a, SYSTEM_ROOT]
    monkeypatch.delenv("TAMRIN_DATA")
    assert DataStore().roots == [home / ".cache" / "tamrin", SYSTEM_ROOT]
    monkeypatch.chdir(a.parent)
    assert DataStore(f"../x{os.pathsep}{SYSTEM_ROOT}").roots == [tmp_path.parent / "x", SYSTEM_ROOT]


def test_cache_dir_from_env_or_default(monkeypatch, tmp_path: Path) -> None:
    assert DataStore(tmp_path).cache_dir == Path(os.environ["TAMRIN_CACHE"])
    monkeypatch.delenv("TAMRIN_CACHE")
    assert DataStore(tmp_path).cache_dir == Path(os.environ["HOME"]) / ".cache/tamrin/decoded"


def test_first_root_with_a_verified_copy_wins(tiny: Tiny, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    (first / "mnist").write_text("a plain file where a folder should be (as a broken link)")
    tiny.install("mnist", second)
    found = DataStore(f"{first}{os.pathsep}{second}", catalog=tiny.catalog).locate("mnist")
    assert found == second / "mnist"


def test_read_only_root_is_never_written(tiny: Tiny, tmp_path: Path) -> None:
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    tiny.install("dermamnist", ro)
    ro.chmod(0o555)
    try:
        assert not is_writable(ro) and is_writable(rw) and not is_writable(SYSTEM_ROOT)
        before = _listing(ro)
        data = DataStore(f"{ro}{os.pathsep}{rw}", catalog=tiny.catalog)
        assert data.download_root == rw
        assert data.locate("mnist") == rw / "mnist"  # downloaded into the writable root
        load_images("dermamnist", data)
        data.status()
        assert _listing(ro) == before
    finally:
        ro.chmod(0o755)


def test_no_writable_root(tiny: Tiny, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    try:
        with pytest.raises(DataNotFoundError) as exc:
            DataStore(ro, catalog=tiny.catalog).locate("mnist")
        _user_error(exc, "no data root is writable", "TAMRIN_DATA=DIR")
    finally:
        ro.chmod(0o755)


def test_unknown_name_suggests(tiny: Tiny, tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        DataStore(tmp_path).locate("mnst")
    _user_error(exc, "unknown data set 'mnst'", "did you mean 'mnist'?", "cifar10")
    with pytest.raises(UserError, match="did you mean 'cifar10'"):
        DataStore(tmp_path).verify("cifar-10")


# ---------------------------------------------------------------------------- verification


def test_verification_is_remembered_outside_the_data_root(
    tiny: Tiny, tmp_path: Path, monkeypatch
) -> None:
    root = tmp_path / "data"
    tiny.install("mnist", root)
    before = _listing(root)
    calls: list[Path] = []
    real_md5 = store.md5_file
    monkeypatch.setattr(store, "md5_file", lambda p: calls.append(p) or real_md5(p))
    DataStore(root, catalog=tiny.catalog).locate("mnist")
    assert len(calls) == 4
    assert (Path(os.environ["TAMRIN_CACHE"]) / "verified.json").is_file()
    DataStore(root, catalog=tiny.catalog).locate("mnist")  # a new store reads the memo
    assert len(calls) == 4
    assert _listing(root) == before
    labels = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    os.utime(labels, ns=(1, 1))  # changed mtime: checked again
    DataStore(root, catalog=tiny.catalog).locate("mnist")
    assert len(calls) == 5
    DataStore(root, catalog=tiny.catalog).verify("mnist")  # verify always recomputes
    assert len(calls) == 9


def test_recompressed_file_passes_by_payload_md5(tiny: Tiny, tmp_path: Path) -> None:
    root = tmp_path / "data"
    folder = tiny.install("mnist", root)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1, mtime=7))
    data = DataStore(root, catalog=tiny.catalog)
    report = {r["file"]: r for r in data.verify("mnist")}
    row = report["train-images-idx3-ubyte.gz"]
    assert row["state"] == OK_PAYLOAD == "ok (payload md5; recompressed)"
    assert row["actual_md5"] != row["expected_md5"]
    assert row["actual_payload_md5"] == row["expected_payload_md5"]
    assert report["t10k-images-idx3-ubyte.gz"]["state"] == OK_OFFICIAL == "ok (official md5)"
    assert data.locate("mnist") == folder


@pytest.mark.parametrize("damage", ["wrong-md5", "truncated", "flipped"])
def test_damaged_file_is_a_clear_corrupt_error(
    tiny: Tiny, tmp_path: Path, damage: str, formats: SimpleNamespace
) -> None:
    root = tmp_path / "data"
    folder = tiny.install("mnist", root)
    path = folder / "t10k-images-idx3-ubyte.gz"
    good = path.read_bytes()
    if damage == "wrong-md5":  # a well-formed file, but not the official one
        formats.write_gz(path, formats.idx_bytes(np.zeros((10, 28, 28), np.uint8)))
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    else:
        path.write_bytes(good[:40] + bytes([good[40] ^ 0xFF]) + good[41:])
    spec = tiny.catalog["mnist"].layouts[0].files[2]
    data = DataStore(root, catalog=tiny.catalog)
    for call in (data.locate, lambda n: load_images(n, data)):
        with pytest.raises(DataCorruptError) as exc:
            call("mnist")
        _user_error(
            exc, "t10k-images-idx3-ubyte.gz", spec.md5, formats.md5(path), "tamrin data fetch mnist"
        )
    rows = {r["file"]: r["state"] for r in data.verify("mnist")}
    assert rows["t10k-images-idx3-ubyte.gz"] == "corrupt"
    assert rows["train-images-idx3-ubyte.gz"] == OK_OFFICIAL


def test_status_and_verify_states(tiny: Tiny, tmp_path: Path) -> None:
    root = tmp_path / "data"
    tiny.install("mnist", root)
    tiny.install("cifar10", root, f"{CIFAR10_FOLDER}/data_batch_1", f"{CIFAR10_FOLDER}/test_batch")
    rows = {r["name"]: r for r in DataStore(root, catalog=tiny.catalog).status()}
    assert rows["mnist"]["state"] == "ok" and rows["mnist"]["root"] == str(root)
    assert {f["state"] for f in rows["mnist"]["files"]} == {OK_OFFICIAL}
    assert rows["cifar10"]["state"] == "partial" and rows["cifar10"]["root"] == str(root)
    states = {f["file"]: f["state"] for f in rows["cifar10"]["files"]}
    assert states[f"{CIFAR10_FOLDER}/data_batch_1"] == OK_OFFICIAL
    assert states[f"{CIFAR10_FOLDER}/data_batch_2"] == "missing"
    assert rows["dermamnist"] == {
        "name": "dermamnist",
        "state": "missing",
        "root": None,
        "files": [
            {
                "file": "dermamnist.npz",
                "state": "missing",
                "path": str(root / "dermamnist" / "dermamnist.npz"),
            }
        ],
    }
    (missing,) = DataStore(root, catalog=tiny.catalog).verify("dermamnist")
    assert missing["state"] == "missing" and missing["actual_md5"] is None
    assert missing["expected_md5"] == tiny.catalog["dermamnist"].layouts[0].files[0].md5


# ------------------------------------------------------------------------------- downloads


def test_download_from_file_url(tiny: Tiny, tmp_path: Path) -> None:
    root = tmp_path / "data"
    folder = DataStore(root, catalog=tiny.catalog).locate("mnist")
    assert folder == root / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(MNIST_FILES)  # no .part left
    offline = DataStore(root, download=False, catalog=tiny.catalog)
    assert offline.locate("mnist") == folder
    assert {r["state"] for r in offline.verify("mnist")} == {OK_OFFICIAL}


def test_download_cifar_archive_and_read_it_in_place(tiny: Tiny, tmp_path: Path) -> None:
    data = DataStore(tmp_path / "data", catalog=tiny.catalog)
    files = data.locate_files("cifar10")
    assert list(files) == [CIFAR10_ARCHIVE]
    ds = load_images("cifar10", data)
    assert ds.train_x.shape == (50, 3, 32, 32) and ds.test_x.shape == (10, 3, 32, 32)
    assert not (tmp_path / "data" / "cifar10" / CIFAR10_FOLDER).exists()  # nothing extracted


def test_missing_with_downloads_off(tiny: Tiny, tmp_path: Path) -> None:
    spec = tiny.catalog["dermamnist"].layouts[0].files[0]
    with pytest.raises(DataNotFoundError) as exc:
        DataStore(tmp_path / "data", download=False, catalog=tiny.catalog).locate("dermamnist")
    _user_error(
        exc,
        "dermamnist.npz",
        spec.md5,
        spec.url,
        "downloads are off",
        "--data-dir DIR",
        "TAMRIN_DATA=DIR",
    )


def test_no_network_is_a_clear_not_found(tiny: Tiny, tmp_path: Path) -> None:
    (tiny.server / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()  # the "server" lost it
    root = tmp_path / "data"
    with pytest.raises(DataNotFoundError) as exc:
        DataStore(root, catalog=tiny.catalog).locate("mnist")
    spec = tiny.catalog["mnist"].layouts[0].files[2]
    text = _user_error(
        exc,
        "t10k-images-idx3-ubyte.gz",
        spec.md5,
        f"download of {spec.url} failed",
        "--data-dir DIR",
        "TAMRIN_DATA=DIR",
    )
    assert "t10k-labels-idx1-ubyte.gz" in text and "train-images" not in text  # what is left
    assert not list((root / "mnist").glob("*.part"))


def test_bad_download_is_not_kept(tiny: Tiny, tmp_path: Path) -> None:
    (tiny.server / "dermamnist" / "dermamnist.npz").write_bytes(b"an error page, not the file")
    root = tmp_path / "data"
    with pytest.raises(DataCorruptError) as exc:
        DataStore(root, catalog=tiny.catalog).locate("dermamnist")
    spec = tiny.catalog["dermamnist"].layouts[0].files[0]
    _user_error(exc, "downloaded", spec.url, spec.md5)
    assert list((root / "dermamnist").iterdir()) == []


def test_fetch_replaces_a_corrupt_file_in_the_download_root(tiny: Tiny, tmp_path: Path) -> None:
    root = tmp_path / "data"
    folder = tiny.install("dermamnist", root)
    (folder / "dermamnist.npz").write_bytes(b"damaged")
    data = DataStore(root, catalog=tiny.catalog)
    with pytest.raises(DataCorruptError):
        data.locate("dermamnist")
    assert data.fetch("dermamnist") == folder
    assert data.verify("dermamnist")[0]["state"] == OK_OFFICIAL


def _archive_catalog(archive: Path, md5: str) -> dict[str, DatasetSpec]:
    spec = FileSpec(archive.name, md5, archive.as_uri())
    return {"pack": DatasetSpec("pack", (Layout((spec,), extract=True),))}


def test_download_extracts_when_the_layout_asks(tmp_path: Path, formats: SimpleNamespace) -> None:
    archive = formats.make_tar(
        tmp_path / "server" / "pack.tar.gz", {"pack/a.txt": b"alpha", "pack/sub/b.txt": b"beta"}
    )
    data = DataStore(tmp_path / "data", catalog=_archive_catalog(archive, formats.md5(archive)))
    folder = data.locate("pack")
    assert (folder / "pack" / "sub" / "b.txt").read_bytes() == b"beta"


def test_download_of_a_hostile_archive_extracts_nothing(
    tmp_path: Path, hostile_tars, formats: SimpleNamespace
) -> None:
    archive, member = hostile_tars["dotdot"]
    data = DataStore(tmp_path / "data", catalog=_archive_catalog(archive, formats.md5(archive)))
    with pytest.raises(UnsafeArchiveError, match=re.escape(f"'{member}'")):
        data.locate("pack")
    assert not (tmp_path / "data" / "pack" / "fine").exists()
    assert not (tmp_path / "data" / "escaped.txt").exists()


# ------------------------------------------------------------------------------ extraction


@pytest.mark.parametrize(
    "kind",
    ["dotdot", "nested-dotdot", "absolute", "symlink", "symlink-absolute", "hardlink", "device"],
)
def test_safe_extract_refuses_hostile_members(hostile_tars, tmp_path: Path, kind: str) -> None:
    archive, member = hostile_tars[kind]
    dest = tmp_path / "out" / "inner"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafeArchiveError) as exc:
        safe_extract(archive, dest)
    _user_error(exc, f"'{member}'", "refusing to extract")
    assert isinstance(exc.value, DataCorruptError)
    assert list(dest.iterdir()) == []  # checked before anything was written
    assert not list(tmp_path.rglob("*escaped*")) and not (tmp_path / "outside").exists()


def test_safe_extract_zip(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("glove/vectors.txt", "the 0.1 0.2\n")
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../escaped.txt", "x")
    safe_extract(good, tmp_path / "g")
    assert (tmp_path / "g" / "glove" / "vectors.txt").read_text() == "the 0.1 0.2\n"
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./escaped\.txt'"):
        safe_extract(bad, tmp_path / "b")


def test_safe_extract_truncated_archive(tmp_path: Path, formats: SimpleNamespace) -> None:
    archive = formats.make_tar(tmp_path / "a.tar.gz", {"x.bin": os.urandom(4096)})
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(DataCorruptError) as exc:
        safe_extract(archive, tmp_path / "out")
    _user_error(exc, "a.tar.gz", "truncated or damaged")


# -------------------------------------------------------------------------- decoded cache


def _splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        "train": (np.ones((4, 1, 2, 2), np.uint8), np.arange(4)),
        "test": (np.zeros((2, 1, 2, 2), np.uint8), np.arange(2)),
    }


def test_decoded_cache_hit_stale_and_damaged(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"v1")
    builds: list[int] = []

    def build() -> dict[str, tuple[np.ndarray, np.ndarray]]:
        builds.append(1)
        return _splits()

    def load() -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return DataStore(tmp_path).cached_splits("toy", {"src.bin": source}, build)

    first = load()
    assert first["train"][1].dtype == np.int64 and len(builds) == 1
    again = load()
    assert len(builds) == 1
    np.testing.assert_array_equal(again["train"][0], first["train"][0])
    cache = Path(os.environ["TAMRIN_CACHE"]) / "toy"
    (x_file,) = cache.glob("*-train-x.npy")
    x_file.write_bytes(x_file.read_bytes()[:-5])  # damaged: silently rebuilt
    load()
    assert len(builds) == 2
    source.write_bytes(b"v2 is longer")  # stale: rebuilt, old entry removed
    load()
    assert len(builds) == 3
    assert len(list(cache.glob("*.json"))) == 1


def test_cache_in_a_read_only_root_is_not_written(tiny: Tiny, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    tiny.install("mnist", ro)
    ro.chmod(0o555)
    try:
        before = _listing(ro)
        data = DataStore(ro, catalog=tiny.catalog, cache_dir=ro / ".decoded")
        assert load_images("mnist", data).train_x.shape == (20, 1, 28, 28)
        assert _listing(ro) == before
    finally:
        ro.chmod(0o755)


# ----------------------------------------------------------------------------- load_images


@pytest.mark.parametrize("name", ["mnist", "cifar10", "dermamnist"])
def test_load_images(tiny: Tiny, tmp_path: Path, name: str) -> None:
    root = tmp_path / "data"
    tiny.install(name, root)
    ds = load_images(name, DataStore(root, catalog=tiny.catalog))
    assert isinstance(ds, ImageDataset) and ds.name == name
    assert ds.classes == list(tiny.catalog[name].classes)
    for split in ("train", "val", "test"):
        x, y = getattr(ds, f"{split}_x"), getattr(ds, f"{split}_y")
        if split not in tiny.arrays[name]:
            assert x is None and y is None
            continue
        want_x, want_y = tiny.arrays[name][split]
        assert x.dtype == torch.uint8 and y.dtype == torch.int64 and x.ndim == 4
        assert torch.equal(x, torch.from_numpy(want_x)) and torch.equal(y, torch.from_numpy(want_y))
    assert name in repr(ds) and "tensor" not in repr(ds)


def test_load_images_is_cached_in_process_and_on_disk(
    tiny: Tiny, tmp_path: Path, monkeypatch
) -> None:
    root = tmp_path / "data"
    tiny.install("mnist", root)
    data = DataStore(root, catalog=tiny.catalog)
    first = load_images("mnist", data)
    monkeypatch.setitem(datasets._READERS, "mnist", lambda files: pytest.fail("decoded again"))
    assert load_images("mnist", data) is first  # same process: free
    clear_loaded()
    second = load_images("mnist", DataStore(root, catalog=tiny.catalog))  # from the disk cache
    assert second is not first and torch.equal(second.train_x, first.train_x)


def test_load_images_rejects_non_image_sets_and_bad_labels(tiny: Tiny, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not an image data set"):
        load_images("babi", DataStore(tmp_path))
    root = tmp_path / "data"
    tiny.install("mnist", root)
    few = dict(tiny.catalog)
    few["mnist"] = DatasetSpec("mnist", tiny.catalog["mnist"].layouts, classes=("0", "1"))
    with pytest.raises(DataCorruptError, match=r"labels range over 0\.\.9; expected 0\.\.1"):
        load_images("mnist", DataStore(root, catalog=few))
