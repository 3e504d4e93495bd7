"""A throwaway PostgreSQL server for the multi-worker tuning tests, and the real-data root.

`postgres_url` runs `initdb` into a temporary folder, starts a private cluster on a free port of
127.0.0.1 (its socket inside that folder, so it never meets a system cluster) and stops and
deletes it at the end of the session. The binaries come from Debian's `postgresql` package
(`bash scripts/setup.sh test` installs it); the tests that need the server are skipped only where
they are absent. initdb refuses to run as root, so as root the cluster runs as the `postgres`
system user.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DATABASE = "tamrin_test"
SERVER_USER = "postgres"  # the cluster's superuser (initdb -U) and, as root, the system user
START_ATTEMPTS = 3  # a free port can be taken between picking it and binding it; retry then
TIMEOUT_S = 60  # for initdb and for pg_ctl start / stop


def _real_data() -> str | None:
    """The real data roots: $TAMRIN_DATA, else ../shared/datasets beside the repo, else None."""
    env = os.environ.get("TAMRIN_DATA", "").strip()
    if env:
        return env
    shared = Path(__file__).resolve().parents[3] / "shared" / "datasets"
    return str(shared) if shared.is_dir() else None


REAL_DATA = _real_data()


def _has_real_fashion_mnist(roots: str | None) -> bool:
    """Whether the data store's roots (these, then /usr/share/datasets) hold Fashion-MNIST."""
    from tamrin.data.store import parse_roots

    return any(
        (root / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()
        for root in parse_roots(roots or "")
    )


@pytest.fixture(scope="session")
def real_data() -> str | None:
    """The real data roots (os.pathsep-separated) for tamrin subprocesses, or None."""
    return REAL_DATA


@pytest.fixture(scope="session")
def real_fashion_mnist(real_data: str | None) -> str:
    """The real data roots, holding Fashion-MNIST; the test is skipped where they do not."""
    if not _has_real_fashion_mnist(real_data):
        pytest.skip("real Fashion-MNIST not found (../shared/datasets or $TAMRIN_DATA)")
    return real_data


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin, so 15 sorts after 9.6."""
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def find_postgres_bin() -> Path | None:
    """The folder of initdb and pg_ctl: Debian's newest /usr/lib/postgresql/*/bin, else PATH."""
    debian = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "initdb").is_file()]
    if debian:
        return max(debian, key=_version_key)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Cluster:
    """A private PostgreSQL cluster in `base`: data/, sock/ and server.log."""

    def __init__(self, bin_dir: Path, base: Path, as_root: bool) -> None:
        self.bin_dir = bin_dir
        self.base = base
        self.data = base / "data"
        self.sock = base / "sock"
        self.log = base / "server.log"
        # initdb and the server refuse root: run them as the postgres system user instead.
        self.prefix = ["runuser", "-u", SERVER_USER, "--"] if as_root else []

    def _server_cmd(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a server-side tool (initdb, pg_ctl) as the cluster's owner; cwd is readable to it."""
        return subprocess.run(
            [*self.prefix, str(self.bin_dir / tool), *args],
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no server log)"

    def init(self) -> None:
        """initdb: trust auth, superuser postgres, C locale (no dependence on generated locales)."""
        done = self._server_cmd(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", SERVER_USER,
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> int:
        """Start on a free port of 127.0.0.1 only, socket in sock/; the port it listens on."""
        for _ in range(START_ATTEMPTS):
            port = _free_port()
            # fsync off: a throwaway test database, so commits need not reach the disk.
            options = f"-h 127.0.0.1 -p {port} -k {self.sock} -c fsync=off"
            done = self._server_cmd(
                "pg_ctl", "start", "-w", "-t", str(TIMEOUT_S), "-D", str(self.data),
                "-l", str(self.log), "-o", options,
            )  # fmt: skip
            if done.returncode == 0:
                return port
            if "could not bind" not in self._log_tail():
                break
        raise RuntimeError(
            f"pg_ctl start failed ({done.returncode}): {done.stdout}{done.stderr}\n"
            f"server log {self.log}:\n{self._log_tail()}"
        )

    def create_database(self, port: int, name: str) -> None:
        done = subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
             "-U", SERVER_USER, name],
            capture_output=True, text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"createdb {name} failed: {done.stderr.strip()}")

    def stop(self) -> None:
        """Stop the server if it runs (fast: roll back open sessions), else immediately."""
        if not (self.data / "postmaster.pid").exists():
            return
        for mode in ("fast", "immediate"):
            done = self._server_cmd("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))
            if done.returncode == 0:
                return
        try:  # pg_ctl could not stop it: kill the postmaster, so no server outlives its folder
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of database tamrin_test on a private PostgreSQL server, for this session."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin "
            "or on PATH; install them: `bash scripts/setup.sh test` (apt-get install postgresql)"
        )
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.fail("running as root needs `runuser` to start PostgreSQL as the postgres user")
    # As root, the postgres user must reach the folder: /tmp is open to all, $TMPDIR may not be.
    base = Path(tempfile.mkdtemp(prefix="tamrin-pg-", dir="/tmp" if as_root else None))
    cluster = _Cluster(bin_dir, base, as_root)
    try:
        cluster.sock.mkdir()
        if as_root:
            for path in (base, cluster.sock):
                shutil.chown(path, SERVER_USER, SERVER_USER)
        started = time.perf_counter()
        cluster.init()
        port = cluster.start()
        cluster.create_database(port, DATABASE)
        seconds = time.perf_counter() - started
        print(f"\npostgres_url: PostgreSQL from {bin_dir} ready in {seconds:.1f} s on port {port}")
        yield f"postgresql+psycopg2://{SERVER_USER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
