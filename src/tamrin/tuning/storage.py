"""Where a tuning study lives: a journal file in the study folder, or a database URL.

The default is Optuna's JournalStorage (an append-only log with file locks) in the study
folder: it survives kill -9 without losing a finished trial, and several local workers share
it without SQLite's "database is locked" (optuna#820, #4994). `--storage postgresql://...`
puts the study in a database that workers on many machines share; Optuna's heartbeat then
marks a dead worker's trial failed. optuna-dashboard opens either: `optuna-dashboard URL` or
`optuna-dashboard STUDY_DIR/journal.log`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tamrin.errors import ConfigError, MissingDependencyError

JOURNAL = "journal.log"
TUNE = "tune.json"  # the study folder's description, written by `tamrin tune`
SESSION_PREFIX = "session-"  # study user attrs, one per `tamrin tune` session (worker)
DATABASES = ("postgresql", "mysql", "sqlite")  # SQLAlchemy dialects Optuna's RDBStorage takes
HEARTBEAT_S = 30  # database storages: a trial silent this long (x3, grace) is marked failed


def require_optuna() -> Any:
    """The optuna module, or a one-line MissingDependencyError naming the extra."""
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError(
            "tamrin tune needs Optuna: pip install 'tamrin[tune]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # tamrin prints one line per trial
    return optuna


def check_storage(url: str | None) -> str | None:
    """`url` as given when it is a database URL Optuna can use; ConfigError otherwise.

    None (the default) means the journal file in the study folder.
    """
    if url is None:
        return None
    text = url.strip()
    if not text:
        raise ConfigError("--storage is empty; leave it out for the study folder's journal file")
    parts = urlsplit(text)
    dialect = parts.scheme.split("+")[0]
    if "://" not in text or dialect not in DATABASES:
        raise ConfigError(
            f"--storage {url!r} is not a database URL; give postgresql://USER@HOST:PORT/DB "
            "(or mysql://, sqlite:///FILE), or leave it out for the study folder's journal file"
        )
    if dialect != "sqlite" and not parts.hostname:
        raise ConfigError(f"--storage {url!r} names no host (postgresql://USER@HOST:PORT/DB)")
    if dialect != "sqlite" and not parts.path.strip("/"):
        raise ConfigError(f"--storage {url!r} names no database (…/DB at the end)")
    return text


def redact(url: str) -> str:
    """`url` with its password replaced by ***, for config files, reports and messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_storage(url: str | None, study_dir: Path) -> Any:
    """The Optuna storage: the journal file in `study_dir` (None) or the database at `url`.

    A database that cannot be reached is a one-line ConfigError, raised before the study
    folder is made (callers open the storage first).
    """
    optuna = require_optuna()
    if url is None:
        from optuna.storages.journal import JournalFileBackend

        study_dir.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(study_dir / JOURNAL)))
    dialect = urlsplit(url).scheme.split("+")[0]
    if dialect == "postgresql":
        try:
            import psycopg2  # noqa: F401  (SQLAlchemy's default PostgreSQL driver)
        except ImportError:
            raise MissingDependencyError(
                "--storage postgresql:// needs psycopg2: pip install 'tamrin[postgres]'"
            ) from None
    try:
        with warnings.catch_warnings():  # heartbeats are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=3 * HEARTBEAT_S,
                engine_kwargs={"pool_pre_ping": True}
                | ({"connect_args": {"connect_timeout": 5}} if dialect == "postgresql" else {}),
            )
    except Exception as exc:  # sqlalchemy's OperationalError, ArgumentError, missing drivers
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        first = re.sub(r"^\(\S+\)\s*", "", first)  # drop sqlalchemy's "(psycopg2.X)" prefix
        raise ConfigError(f"--storage {redact(url)}: cannot open the database: {first}") from None
