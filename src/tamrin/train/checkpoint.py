"""Atomic checkpoints (tmp file + rename) and RNG state capture, read back with weights_only=True.

Everything stored is tensors, numbers, strings, lists and dicts, so `torch.load(weights_only=True)`
can read it: numpy's and python's RNG states are converted to those types.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tamrin.errors import RunDirError


def atomic_save(obj: Any, path: Path) -> None:
    """Write `obj` to `path` so a kill at any moment leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by `atomic_save` (weights_only: no code runs on load)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunDirError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # a damaged file: pickle/zip errors of many kinds
        raise RunDirError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}); "
            "it is damaged: delete it to restart that run from scratch"
        ) from None


def capture_rng() -> dict[str, Any]:
    """The RNG states of torch (CPU and CUDA), numpy and python, in weights_only-safe types."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    keys = np.asarray(keys)
    version, internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "internal": list(internal), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Torch's global CPU RNG seeded with `seed` inside, restored after: weights or a fit drawn
    from their own seed leave the run's later draws where they were."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
