"""Expected failures a user can fix. The CLI prints their message (one or two lines) and exits 2.

Message shape: what was wrong, the value received, what is allowed, how to fix it.
Bugs are not UserErrors: they raise normally and show a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TamrinError(Exception):
    """Base of every error tamrin raises on purpose."""


class UserError(TamrinError):
    """A mistake the user can fix (bad name, bad value, missing data...)."""


class ConfigError(UserError):
    """Unknown config key, a value of the wrong type, or out of range."""


class UnknownRecipeError(UserError):
    """No recipe is registered under that name."""


class DataNotFoundError(UserError):
    """A data file is missing and cannot be downloaded."""


class DataCorruptError(UserError):
    """A data file exists but its checksum, size or format is wrong."""


class UnsafeArchiveError(DataCorruptError):
    """An archive member would land outside the extraction folder (absolute path, '..', link)."""


class RunDirError(UserError):
    """A folder given as a run folder is not one (or is damaged)."""


class MissingDependencyError(UserError):
    """An optional package is needed; the message names the extra to install."""


class DeviceError(UserError):
    """The requested device is not available."""


class NonFiniteLossError(TamrinError):
    """Training produced a NaN/inf loss; the last good checkpoint is kept."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' did you mean 'x'?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class RunInterrupted(TamrinError):
    """Ctrl-C during training: the state was saved; `tamrin resume RUN_DIR` continues it."""
