"""Where data sets live: roots, md5 verification, downloads, safe extraction, decoded-array cache.

Roots, searched in order: `data_dir` (several paths joined by os.pathsep, `~` expanded), else
$TAMRIN_DATA (same syntax), else ~/.cache/tamrin; then always /usr/share/datasets, read-only
(Debian's dataset-fashion-mnist installs there). A data set lives at `<root>/<name>/<official
file names>`; the first root holding a complete, verified copy wins. Downloads go to the first
writable root. Remembered verifications and decoded arrays live in the cache folder
($TAMRIN_CACHE, else ~/.cache/tamrin/decoded), never in a data root.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import os
import re
import stat
import tarfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from tamrin.data.catalog import CATALOG, DatasetSpec, FileSpec, get_spec
from tamrin.errors import DataCorruptError, DataNotFoundError, UnsafeArchiveError

SYSTEM_ROOT = Path("/usr/share/datasets")  # read-only, last; Debian's dataset-* packages
DEFAULT_ROOT = "~/.cache/tamrin"
DEFAULT_CACHE = "~/.cache/tamrin/decoded"
CACHE_FORMAT = 1  # bump when the decoded-cache layout changes: old entries are then rebuilt
USER_AGENT = "tamrin/0.1 (+data store)"

OK_OFFICIAL = "ok (official md5)"
OK_PAYLOAD = "ok (payload md5; recompressed)"
OK_REPACK = "ok (known repack md5)"
OK_UNCHECKED = "ok (no md5 known; unchecked)"
MISSING = "missing"
CORRUPT = "corrupt"

Split = tuple[np.ndarray, np.ndarray]


@dataclass
class FileCheck:
    """The verification result of one file of a data set."""

    spec: FileSpec
    path: Path
    state: str  # one of the OK_* states, MISSING or CORRUPT
    md5: str | None = None  # actual md5 of the file (None when missing)
    payload_md5: str | None = None  # actual md5 of the decompressed content, where computed

    @property
    def ok(self) -> bool:
        return self.state.startswith("ok")

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.spec.name,
            "path": str(self.path),
            "state": self.state,
            "expected_md5": self.spec.md5 or self.spec.repack_md5,
            "expected_payload_md5": self.spec.payload_md5,
            "actual_md5": self.md5,
            "actual_payload_md5": self.payload_md5,
        }


class _DownloadFailed(Exception):
    """A download could not complete (no network, HTTP error, disk error); carries the reason."""


@dataclass
class _Survey:
    """What the roots hold of one data set: the best copy found and its per-file checks."""

    state: str  # "ok" | "partial" | "missing"
    root: Path | None
    checks: list[FileCheck]


# ------------------------------------------------------------------------------ roots, hashes


def parse_roots(data_dir: str | Path | None = None) -> list[Path]:
    """The data roots in search order (see the module docstring), absolute, without duplicates."""
    if isinstance(data_dir, Path):
        parts = [str(data_dir)]
    else:
        text = data_dir if data_dir is not None else os.environ.get("TAMRIN_DATA", "")
        parts = [p.strip() for p in text.split(os.pathsep) if p.strip()]
    roots: list[Path] = []
    for part in [*(parts or [DEFAULT_ROOT]), str(SYSTEM_ROOT)]:
        root = Path(os.path.normpath(Path(part).expanduser().absolute()))
        if root not in roots:
            roots.append(root)
    return roots


def is_writable(path: Path) -> bool:
    """Whether tamrin may create files under `path` (or its nearest existing parent).

    A folder without its owner's write bit counts as read-only even for root, so a shared data
    folder marked read-only is never written into.
    """
    if path == SYSTEM_ROOT or SYSTEM_ROOT in path.parents:
        return False
    p = path
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK) and bool(p.stat().st_mode & stat.S_IWUSR)


def md5_file(path: Path) -> str:
    """The md5 of a file's bytes."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def md5_gzip_payload(path: Path) -> str | None:
    """The md5 of a gzip file's decompressed content, or None when it does not decompress."""
    h = hashlib.md5(usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    except (OSError, EOFError, zlib.error):
        return None
    return h.hexdigest()


def _short(path: Path | str) -> str:
    """A path for messages, with the home folder written as ~."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + os.sep) else text


# -------------------------------------------------------------------------------- extraction

_TAR_FILTER_ERROR: Any = getattr(tarfile, "FilterError", ())  # Python 3.11.4+


def _unsafe(archive: Path, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive}: member '{member}' {why}; refusing to extract this "
        f"archive (it may be hostile): get the official file again"
    )


def _member_target(archive: Path, dest: Path, name: str) -> Path:
    """Where member `name` would land under `dest`; refuses absolute paths and '..'."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise _unsafe(archive, name, "has an absolute path")
    if ".." in posix.parts:
        raise _unsafe(archive, name, "contains '..'")
    target = Path(os.path.normpath(dest / posix))
    if target != dest and dest not in target.parents:
        raise _unsafe(archive, name, "lands outside the extraction folder")
    return target


def _check_tar_member(archive: Path, dest: Path, member: tarfile.TarInfo) -> None:
    _member_target(archive, dest, member.name)
    if member.issym() or member.islnk():
        link = PurePosixPath(member.linkname)
        if link.is_absolute() or ".." in link.parts:
            # relative and without '..', a link cannot leave the folder, even through other links
            raise _unsafe(
                archive,
                member.name,
                f"links to '{member.linkname}' (absolute or with '..', so it may leave the folder)",
            )
    elif not (member.isfile() or member.isdir()):
        raise _unsafe(archive, member.name, "is a device or other special file")


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar (any compression) or zip `archive` into `dest`, refusing unsafe members.

    Every member is checked before anything is written: absolute paths, '..', links leaving
    `dest` and special files raise UnsafeArchiveError naming the member. Tar extraction also
    runs with `filter="data"` (Python 3.11.4+) as a second guard.
    """
    archive, dest = Path(archive), Path(os.path.normpath(Path(dest).absolute()))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _member_target(archive, dest, info.filename)
                zf.extractall(dest)
            return
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_tar_member(archive, dest, member)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4: the checks above are the guard
                tar.extractall(dest, members=members)
    except _TAR_FILTER_ERROR as exc:
        bad = exc.tarinfo.name if getattr(exc, "tarinfo", None) else "?"
        raise _unsafe(archive, bad, f"was refused by tarfile's data filter ({exc})") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise DataCorruptError(
            f"{archive}: cannot extract ({type(exc).__name__}: {exc}); the "
            f"archive is truncated or damaged: delete it and fetch it again"
        ) from None


# ---------------------------------------------------------------------------------- the store


class DataStore:
    """Finds, verifies, downloads and caches the data sets of the catalog.

    `catalog` replaces the built-in table (tests pass tiny data sets with their own md5s);
    `cache_dir` replaces $TAMRIN_CACHE / ~/.cache/tamrin/decoded.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        download: bool = True,
        catalog: Mapping[str, DatasetSpec] | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.roots = parse_roots(data_dir)
        self.download = download
        self.catalog: Mapping[str, DatasetSpec] = CATALOG if catalog is None else dict(catalog)
        cache = cache_dir or os.environ.get("TAMRIN_CACHE") or DEFAULT_CACHE
        self.cache_dir = Path(os.path.normpath(Path(cache).expanduser().absolute()))
        self._verified: dict[str, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        roots = os.pathsep.join(_short(r) for r in self.roots)
        return f"DataStore(roots={roots!r}, download={self.download})"

    @property
    def download_root(self) -> Path | None:
        """The first writable root (where downloads go), or None."""
        return next((r for r in self.roots if is_writable(r)), None)

    def spec(self, name: str) -> DatasetSpec:
        """The catalog entry of `name`; an unknown name is a UserError with a did-you-mean."""
        return get_spec(name, self.catalog)

    # --- finding data ----------------------------------------------------------------------
    def locate(self, name: str) -> Path:
        """The folder holding a complete, verified copy of `name` (downloaded if allowed)."""
        return self._resolve(name, download=self.download, replace=False)[0]

    def locate_files(self, name: str) -> dict[str, Path]:
        """Catalog file name -> path of each verified file of `name` (what readers open)."""
        return self._resolve(name, download=self.download, replace=False)[1]

    def fetch(self, name: str) -> Path:
        """Like `locate`, but always allowed to download (and to replace a corrupt download)."""
        return self._resolve(name, download=True, replace=True)[0]

    def status(self) -> list[dict[str, Any]]:
        """Per data set: name, state ("ok" | "missing" | "partial"), root, per-file states."""
        out = []
        for name, spec in self.catalog.items():
            survey = self._survey(spec)
            out.append(
                {
                    "name": name,
                    "state": survey.state,
                    "root": str(survey.root) if survey.root else None,
                    "files": [
                        {"file": c.spec.name, "state": c.state, "path": str(c.path)}
                        for c in survey.checks
                    ],
                }
            )
        return out

    def verify(self, name: str) -> list[dict[str, Any]]:
        """Recompute the md5s of the copy of `name` the store would use; one dict per file."""
        return [c.as_dict() for c in self._survey(self.spec(name), recheck=True).checks]

    def _resolve(self, name: str, *, download: bool, replace: bool) -> tuple[Path, dict[str, Path]]:
        spec = self.spec(name)
        survey = self._survey(spec)
        if survey.state == "ok":
            assert survey.root is not None
            return survey.root / name, {c.spec.name: c.path for c in survey.checks}
        corrupt = [c for c in survey.checks if c.state == CORRUPT]
        if corrupt and not replace:
            raise self._corrupt_error(spec, corrupt[0])
        if not download:
            url = next((c.spec.url for c in survey.checks if c.spec.url), spec.homepage)
            raise self._not_found(spec, survey.checks, f"downloads are off (official: {url})")
        return self._download(spec)

    def _survey(self, spec: DatasetSpec, *, recheck: bool = False) -> _Survey:
        """The first complete verified copy in root order, else the most complete partial one."""
        best: tuple[float, _Survey] | None = None
        for root in self.roots:
            folder = root / spec.name
            if not folder.is_dir():  # also skips a plain file standing where a folder should be
                continue
            for layout in spec.layouts:
                if not any((folder / f.name).is_file() for f in layout.files):
                    continue
                checks = [self._check(folder / f.name, f, recheck=recheck) for f in layout.files]
                if all(c.ok for c in checks):
                    return _Survey("ok", root, checks)
                score = sum(c.ok for c in checks) + 0.5 * sum(c.state == CORRUPT for c in checks)
                if best is None or score > best[0]:
                    best = (score, _Survey("partial", root, checks))
        if best is not None:
            return best[1]
        layout = spec.downloadable or spec.layouts[0]
        folder = (self.download_root or self.roots[0]) / spec.name
        checks = [FileCheck(f, folder / f.name, MISSING) for f in layout.files]
        return _Survey("missing", None, checks)

    # --- verification ----------------------------------------------------------------------
    def _check(self, path: Path, spec: FileSpec, *, recheck: bool = False) -> FileCheck:
        """Verify one file against the catalog, using a remembered result when size+mtime match."""
        try:
            st = path.stat()
        except OSError:
            return FileCheck(spec, path, MISSING)
        if not stat.S_ISREG(st.st_mode):
            return FileCheck(spec, path, MISSING)
        key = str(path.resolve())
        expect = [spec.md5, spec.payload_md5, spec.repack_md5]
        memo = self._memory().get(key)
        if (
            not recheck
            and memo
            and memo.get("size") == st.st_size
            and memo.get("mtime_ns") == st.st_mtime_ns
            and memo.get("expect") == expect
        ):
            return FileCheck(spec, path, memo["state"], memo.get("md5"), memo.get("payload_md5"))
        check = _verify_file(path, spec)
        if check.ok:
            self._memory()[key] = {
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "expect": expect,
                "state": check.state,
                "md5": check.md5,
                "payload_md5": check.payload_md5,
            }
            self._save_memory()
        return check

    @property
    def _memory_path(self) -> Path:
        return self.cache_dir / "verified.json"

    def _memory(self) -> dict[str, dict[str, Any]]:
        """Remembered successful verifications: resolved path -> size, mtime, state, md5s."""
        if self._verified is None:
            try:
                data = json.loads(self._memory_path.read_text())
                self._verified = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._verified = {}
        return self._verified

    def _save_memory(self) -> None:
        if self._cache_writable():
            _atomic_write(self._memory_path, json.dumps(self._memory(), indent=0).encode())

    def _cache_writable(self) -> bool:
        """The cache folder may be written: writable, and not inside a read-only data root."""
        inside_ro = any(
            (r == self.cache_dir or r in self.cache_dir.parents) and not is_writable(r)
            for r in self.roots
        )
        return not inside_ro and is_writable(self.cache_dir)

    # --- downloading -----------------------------------------------------------------------
    def _download(self, spec: DatasetSpec) -> tuple[Path, dict[str, Path]]:
        """Download the first downloadable layout of `spec` into the first writable root."""
        layout = spec.downloadable
        if layout is None:
            raise self._not_found(
                spec,
                self._survey(spec).checks,
                f"tamrin cannot download it (get it from {spec.homepage})",
            )
        root = self.download_root
        if root is None:
            raise self._not_found(
                spec,
                self._survey(spec).checks,
                f"no data root is writable, so it cannot be downloaded from {layout.files[0].url}",
            )
        folder = root / spec.name
        paths = {f.name: folder / f.name for f in layout.files}
        todo = [f for f in layout.files if not self._check(paths[f.name], f).ok]
        for i, f in enumerate(todo):
            try:
                self._fetch_file(spec, f, paths[f.name])
            except _DownloadFailed as exc:
                left = [FileCheck(g, paths[g.name], MISSING) for g in todo[i:]]
                raise self._not_found(spec, left, f"download of {f.url} failed ({exc})") from None
        if layout.extract:
            for f in layout.files:
                safe_extract(folder / f.name, folder)
        return folder, paths

    def _fetch_file(self, spec: DatasetSpec, f: FileSpec, dest: Path) -> None:
        """Download one file to `dest` (via a .part file), with a progress bar, then verify it."""
        assert f.url is not None
        part = dest.with_name(dest.name + ".part")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            request = urllib.request.Request(f.url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=60) as response, part.open("wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with _progress() as progress:
                    task = progress.add_task(f"{spec.name}/{f.name}", total=total)
                    while block := response.read(1 << 20):
                        out.write(block)
                        progress.advance(task, len(block))
            check = _verify_file(part, f)
            if not check.ok:
                raise DataCorruptError(
                    f"downloaded {f.url} but its md5 is {check.md5}, expected "
                    f"{f.md5 or f.repack_md5} ({spec.name}/{f.name})\n"
                    f"fix: try again later, or put the official file in "
                    f"{_short(dest.parent)}/ yourself"
                )
            os.replace(part, dest)
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, disk errors
            raise _DownloadFailed(getattr(exc, "reason", None) or exc) from None
        finally:
            part.unlink(missing_ok=True)

    # --- messages --------------------------------------------------------------------------
    def _not_found(
        self, spec: DatasetSpec, checks: Iterable[FileCheck], why: str
    ) -> DataNotFoundError:
        checks = list(checks)
        missing = [c for c in checks if not c.ok] or checks
        files = ", ".join(
            f"{c.spec.name} (md5 {c.spec.md5 or c.spec.repack_md5 or 'unknown'})" for c in missing
        )
        where = ", ".join(_short(r / spec.name) for r in self.roots)
        return DataNotFoundError(
            f"data set '{spec.name}' not found: missing {files}; looked in {where}\n"
            f"{why}; fix: put the official files in DIR/{spec.name}/ "
            f"and pass --data-dir DIR or set TAMRIN_DATA=DIR"
        )

    def _corrupt_error(self, spec: DatasetSpec, check: FileCheck) -> DataCorruptError:
        f = check.spec
        expected = f.md5 or f.repack_md5
        also = f" (or payload md5 {f.payload_md5})" if f.payload_md5 else ""
        got = f", payload md5 {check.payload_md5}" if check.payload_md5 else ""
        return DataCorruptError(
            f"{_short(check.path)} is corrupt or not the official file: md5 {check.md5}{got}, "
            f"expected {expected}{also}\n"
            f"fix: delete it and run `tamrin data fetch {spec.name}` (or copy the official file)"
        )

    # --- decoded-array cache ---------------------------------------------------------------
    def cached_splits(
        self, name: str, sources: Mapping[str, Path], build: Callable[[], Mapping[str, Split]]
    ) -> dict[str, Split]:
        """Decoded (images uint8, labels int64) per split, from the cache or from `build()`.

        The cache entry is keyed by data set and the source files' names, sizes and mtimes; a
        stale or damaged entry is silently rebuilt. Nothing is written when the cache folder is
        not writable.
        """
        key = _sources_key(name, sources)
        folder = self.cache_dir / name
        found = _load_entry(folder, key)
        if found is not None:
            return found
        splits = {
            split: (np.ascontiguousarray(x), np.asarray(y, dtype=np.int64))
            for split, (x, y) in build().items()
        }
        if self._cache_writable():
            with contextlib.suppress(OSError):  # a full or read-only cache only costs speed
                _save_entry(folder, key, splits)
        return splits


# ------------------------------------------------------------------------------------ helpers


def _verify_file(path: Path, spec: FileSpec) -> FileCheck:
    """Compare a file's md5 (and, for recompressed .gz, its payload md5) with the catalog."""
    actual = md5_file(path)
    payload = None
    if spec.md5 is None and spec.payload_md5 is None and spec.repack_md5 is None:
        state = OK_UNCHECKED
    elif actual == spec.md5:
        state = OK_OFFICIAL
    elif actual == spec.repack_md5:
        state = OK_REPACK
    elif spec.payload_md5 and (payload := md5_gzip_payload(path)) == spec.payload_md5:
        state = OK_PAYLOAD
    else:
        state = CORRUPT
    return FileCheck(spec, path, state, actual, payload)


def _progress() -> Any:
    """A rich progress bar for downloads, on stderr."""
    import rich.console
    import rich.progress as rp

    return rp.Progress(
        rp.TextColumn("[bold]{task.description}"),
        rp.BarColumn(),
        rp.DownloadColumn(),
        rp.TransferSpeedColumn(),
        rp.TimeRemainingColumn(),
        console=rich.console.Console(stderr=True),
    )


def _atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and a rename; errors are ignored (a cache)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _sources_key(name: str, sources: Mapping[str, Path]) -> str:
    stats = sorted(
        (n, st.st_size, st.st_mtime_ns) for n, st in ((n, p.stat()) for n, p in sources.items())
    )
    text = json.dumps([CACHE_FORMAT, name, stats])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _load_entry(folder: Path, key: str) -> dict[str, Split] | None:
    """A cache entry's arrays, or None when absent, stale or damaged in any way."""
    try:
        index = json.loads((folder / f"{key}.json").read_text())
        out = {}
        for split, (x_shape, n) in index["splits"].items():
            x = np.load(folder / f"{key}-{split}-x.npy", allow_pickle=False)
            y = np.load(folder / f"{key}-{split}-y.npy", allow_pickle=False)
            if (
                x.dtype != np.uint8
                or y.dtype != np.int64
                or list(x.shape) != x_shape
                or y.shape != (n,)
                or x.shape[0] != n
            ):
                return None
            out[split] = (x, y)
        return out
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None


def _save_entry(folder: Path, key: str, splits: Mapping[str, Split]) -> None:
    """Write a cache entry: arrays first, the index last (so a half-written entry is not found)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():  # entries of older source files are stale now
        if not old.name.startswith(key):
            old.unlink(missing_ok=True)
    for split, (x, y) in splits.items():
        for part, arr in (("x", x), ("y", y)):
            path = folder / f"{key}-{split}-{part}.npy"
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as f:
                np.save(f, arr, allow_pickle=False)
            os.replace(tmp, path)
    index = {
        "format": CACHE_FORMAT,
        "splits": {s: [list(x.shape), len(y)] for s, (x, y) in splits.items()},
    }
    _atomic_write(folder / f"{key}.json", json.dumps(index).encode())
