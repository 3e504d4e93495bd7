"""Pretrained weights kept between runs, keyed by the settings that produced them.

A self-supervised core takes minutes to pretrain and is reused by every downstream experiment
with the same settings (each seed of `rotation-ssl`, every label count of `label-efficiency`).
`PretrainedCache` stores it under $TAMRIN_CACHE/pretrained/<key>/ (else ~/.cache/tamrin/...),
where `key` is a hash of everything that determines the weights — data, split, model config,
pretraining schedule, seed, format — so a changed setting gets a new key and retrains, and a
kept entry is never used for settings it was not trained with. Entries are written atomically
(weights, then meta.json last): a killed run leaves no half entry. A corrupt or unreadable entry
is treated as absent (retrained), never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tamrin.errors import TamrinError
from tamrin.train import checkpoint as ckpt
from tamrin.train.device import probe_cache_path

FORMAT = 1  # bump when what a key covers or the entry layout changes
WEIGHTS, META = "weights.pt", "meta.json"


def cache_key(settings: Mapping[str, Any]) -> str:
    """A short stable hash of `settings` (JSON with sorted keys) and the cache format."""
    text = json.dumps({"format": FORMAT, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class PretrainedCache:
    """Weights by settings: `load(settings)` -> (state, meta) or None; `save(settings, ...)`."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else probe_cache_path().parent / "pretrained"

    def folder(self, settings: Mapping[str, Any]) -> Path:
        return self.root / cache_key(settings)

    def load(self, settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The kept state and its meta for exactly these settings, or None (absent or corrupt)."""
        folder = self.folder(settings)
        try:
            meta = json.loads((folder / META).read_text())
            if meta.get("settings") != json.loads(json.dumps(settings, default=str)):
                return None  # a hash collision or a hand-edited entry: not these settings
            return ckpt.load(folder / WEIGHTS), meta
        except (OSError, ValueError, RuntimeError, KeyError, EOFError, TamrinError):
            return None  # missing, truncated or unreadable: absent (retrained), never loaded

    def save(
        self, settings: Mapping[str, Any], state: Mapping[str, Any], **meta: Any
    ) -> Path | None:
        """Keep `state` for `settings` (with `meta`); None when the cache is not writable."""
        folder = self.folder(settings)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ckpt.atomic_save(dict(state), folder / WEIGHTS)
            record = {"settings": json.loads(json.dumps(settings, default=str)), **meta}
            fd, tmp = tempfile.mkstemp(prefix=f".{META}.", dir=folder)
            with os.fdopen(fd, "w") as f:
                json.dump(record, f, indent=1, default=str)
            os.replace(tmp, folder / META)  # written last: an entry without it is absent
        except OSError:
            return None
        return folder
