"""From a finished run folder to a usable model: rebuild it, prepare inputs, predict, export.

A run that trains one network records model.json (`tasks.classification.record_model`): the
registered model and its config, the input shape (C, H, W), what it outputs, the class names and
the train split's per-channel mean/std of uint8 pixels. From that file alone:

- `load_model(run_dir)` builds the network and loads checkpoints/best.pt (last.pt where the run
  kept no best epoch or did not restore it), in eval mode, on the CPU;
- `pixels(images, spec)` turns user images — uint8 or float in [0, 1]; (N, C, H, W), (N, H, W)
  for 1 channel, (N, H, W, C), or one image as (H, W), (H, W, C), (C, H, W) — into the
  (N, C, H, W) uint8-scale floats the run normalized;
- `Preprocessed` is the network with that normalization in front and its head behind (softmax,
  after the logit offsets an imbalance remedy chose on val; embeddings as they are);
- `Predictor(run_dir).predict(images)` is all of it; `export(run_dir, "onnx" | "torchscript")`
  writes the `Preprocessed` module, which takes float32 (N, C, H, W) pixels scaled to [0, 1].

`HistoryTable` is history.csv as the list of row dicts it always was, printed as a table.
Inference runs in float32 without autocast, whatever precision the run trained in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from tamrin import config as C
from tamrin import rundir
from tamrin.errors import ConfigError, MissingDependencyError, RunDirError, did_you_mean

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
EXPORT_INPUT = "float32 (N, C, H, W) pixels scaled to [0, 1] (uint8 / 255), channels as trained"


# ----------------------------------------------------------------------------- model.json


IMAGE_TASKS = ("classify", "embed", "segment")  # model.json tasks whose inputs are images


@dataclass(frozen=True)
class InferenceSpec:
    """model.json of a run: how to rebuild its network and prepare its inputs."""

    run_dir: Path
    recipe: str
    model: str  # registered name (tamrin.models.build_model)
    model_config: dict[str, Any]
    task: str  # "classify": (N, K) logits; "embed": (N, D) embeddings; "qa": answer logits
    in_shape: tuple[int, ...]  # (C, H, W); "qa": (memories, words, question words); "text":
    # (vocabulary size, tokens per text)
    out_dim: int
    classes: list[str]
    mean: list[float]  # per channel, uint8 scale
    std: list[float]
    checkpoints: str  # folder of best.pt / last.pt, relative to the run
    weights: str  # "best" or "last": what the run's test predictions used
    logit_bias: list[float] | None  # added to the logits before softmax (imbalance remedies)
    text: dict[str, Any] | None = None  # "text": tokenizer (path in the run), max_len, head

    @property
    def channels(self) -> int:
        return self.in_shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the inputs."""
        return self.in_shape[1], self.in_shape[2]


def _no_model_reason(run_dir: Path) -> str:
    """Why a run folder has no model.json, from what it does have."""
    if (run_dir / "artifacts" / "encoder.pt").is_file():
        return "it pretrains an encoder (artifacts/encoder.pt), not a network with a head"
    ckpt = run_dir / "checkpoints"
    fits = sorted(p.name for p in ckpt.iterdir() if p.is_dir()) if ckpt.is_dir() else []
    if fits:
        return f"it trains several models ({', '.join(fits)}), not one"
    if ckpt.is_dir() and any(ckpt.glob("*.pt")):
        return "it was recorded before tamrin kept model.json; rerun it to load its model"
    return "it trains no network (its results are metrics.json, figures/ and artifacts/)"


def read_spec(run_dir: str | Path) -> InferenceSpec:
    """The run's model.json, or a one-line RunDirError saying why the run has none."""
    run_dir = Path(run_dir)
    meta = rundir.read_config(run_dir)
    recipe = str(meta.get("recipe", "?"))
    raw = rundir.read_model_spec(run_dir)
    if raw is None:
        raise RunDirError(
            f"run {run_dir} ({recipe}) has no single model to load: {_no_model_reason(run_dir)}"
        )
    try:
        task = str(raw.get("task", "classify"))
        norm = raw["normalizer"] if task in IMAGE_TASKS else {"mean": [], "std": []}
        shape = tuple(int(v) for v in raw["in_shape"])
        if task != "text" and len(shape) != 3:
            raise ValueError(f"in_shape {list(shape)} (images and stories take 3 numbers)")
        c = shape[0]
        spec = InferenceSpec(
            run_dir=run_dir,
            recipe=recipe,
            model=str(raw["model"]),
            model_config=dict(raw.get("model_config") or {}),
            task=task,
            in_shape=shape,
            out_dim=int(raw["out_dim"]),
            classes=[str(k) for k in raw.get("classes") or []],
            mean=[float(v) for v in norm["mean"]],
            std=[float(v) for v in norm["std"]],
            checkpoints=str(raw.get("checkpoints", "checkpoints")),
            weights=str(raw.get("weights", "best")),
            logit_bias=[float(b) for b in raw["logit_bias"]] if raw.get("logit_bias") else None,
            text=(
                {
                    "tokenizer": str(raw["tokenizer"]),
                    "max_len": int(raw["max_len"]),
                    "head": raw.get("head"),
                }
                if task == "text"
                else None
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RunDirError(
            f"damaged run folder: {run_dir / rundir.MODEL} lacks or mangles {exc}; rerun the run"
        ) from None
    if task in IMAGE_TASKS and (len(spec.mean) != c or len(spec.std) != c):
        raise RunDirError(
            f"damaged run folder: {run_dir / rundir.MODEL} has {len(spec.mean)} channel means "
            f"for {c} channels; rerun the run"
        )
    return spec


def weights_path(spec: InferenceSpec) -> Path:
    """checkpoints/best.pt when the run scored its test split with the best epoch and kept
    one, else checkpoints/last.pt; RunDirError when neither exists."""
    folder = spec.run_dir / spec.checkpoints
    names = ("best.pt", "last.pt") if spec.weights == "best" else ("last.pt", "best.pt")
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise RunDirError(
        f"run {spec.run_dir} ({spec.recipe}) has no weights: {folder} holds neither best.pt nor "
        f"last.pt (it stopped before an epoch ended); tamrin resume {spec.run_dir}"
    )


def build_network(spec: InferenceSpec) -> nn.Module:
    """The registered network of `spec` with freshly initialized weights."""
    from tamrin.models import build_model, get_model_spec

    cfg: Any = C.from_dict(get_model_spec(spec.model).config, spec.model_config)
    return build_model(spec.model, cfg, in_shape=spec.in_shape, out_dim=spec.out_dim)


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The run's trained network (weights of `weights_path`), in eval mode, on `device`.

    It takes normalized tensors, as in training; `Preprocessed` adds the normalization.
    """
    from tamrin.train import checkpoint as ckpt

    spec = read_spec(run_dir)
    net = build_network(spec)
    path = weights_path(spec)
    state = ckpt.load(path).get("model")
    if not isinstance(state, Mapping):
        raise RunDirError(f"checkpoint {path} holds no model weights; rerun the run")
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise RunDirError(
            f"checkpoint {path} does not fit the model model.json describes ({first}); "
            "the folder mixes two runs: rerun it"
        ) from None
    return net.to(device).eval()


# ----------------------------------------------------------------------------- preprocessing


class Preprocessed(nn.Module):
    """The network with the run's preprocessing in front and its head behind.

    `forward(x)`: x float32 (N, C, H, W) pixels in [0, 1] -> (N, K) class probabilities
    (softmax of the logits plus the run's logit offsets), (N, D) embeddings, or a segmenter's
    per-pixel class probabilities (N, K, H, W).
    `from_pixels(x)` is the same for uint8-scale floats in [0, 255].
    """

    def __init__(self, net: nn.Module, spec: InferenceSpec) -> None:
        super().__init__()
        self.net = net
        self.classify = spec.task == "classify"
        self.segment = spec.task == "segment"
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, -1, 1, 1))
        bias = spec.logit_bias if spec.logit_bias is not None else [0.0] * spec.out_dim
        self.register_buffer("bias", torch.tensor(bias, dtype=torch.float32).view(1, -1))

    def from_pixels(self, x: torch.Tensor) -> torch.Tensor:
        mean, std, bias = (cast(torch.Tensor, b) for b in (self.mean, self.std, self.bias))
        out = self.net((x - mean) / std)  # (N, K), (N, D) or (N, K, H, W)
        if self.segment:
            return torch.softmax(out, dim=1)
        return torch.softmax(out + bias, dim=1) if self.classify else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_pixels(x * 255.0)


def _shape_help(spec: InferenceSpec) -> str:
    c, h, w = spec.in_shape
    single = f"({h}, {w})" if c == 1 else f"({h}, {w}, {c}) or ({c}, {h}, {w})"
    batch = f"(N, {h}, {w}) or (N, {c}, {h}, {w})" if c == 1 else f"(N, {c}, {h}, {w})"
    return f"this run takes {batch} or (N, {h}, {w}, {c}), or one image {single}"


def pixels(images: Any, spec: InferenceSpec) -> torch.Tensor:
    """User images as float32 (N, C, H, W) on the uint8 scale (what the run normalized).

    uint8 (and other integer) arrays are 0..255; floats must be in [0, 1]. The layout is read
    against the run's (C, H, W): (N, C, H, W), (N, H, W, C), (N, H, W) for one channel, or a
    single image (C, H, W), (H, W, C), (H, W). A PIL image or a list of arrays works too.
    """
    if isinstance(images, torch.Tensor):
        arr = images.detach().cpu().numpy()
    else:
        try:
            arr = np.asarray(images)
        except ValueError as exc:  # a ragged list of images
            raise ConfigError(f"images must all have one shape; {exc}") from None
    c, h, w = spec.in_shape
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ConfigError(f"images must be uint8 or float pixels; got dtype {arr.dtype}")
    shape = tuple(arr.shape)
    if arr.ndim == 4 and shape[1:] == (c, h, w):
        x = arr
    elif arr.ndim == 4 and shape[1:] == (h, w, c):
        x = arr.transpose(0, 3, 1, 2)
    elif arr.ndim == 3 and shape == (c, h, w):
        x = arr[None]
    elif arr.ndim == 3 and shape == (h, w, c):
        x = arr.transpose(2, 0, 1)[None]
    elif arr.ndim == 3 and c == 1 and shape[1:] == (h, w):
        x = arr[:, None]
    elif arr.ndim == 2 and c == 1 and shape == (h, w):
        x = arr[None, None]
    else:
        raise ConfigError(
            f"images of shape {shape} do not fit run {spec.run_dir.name} ({spec.recipe}); "
            f"{_shape_help(spec)}"
        )
    x = np.ascontiguousarray(x)
    if x.size == 0:
        raise ConfigError(f"no images given (shape {shape})")
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise ConfigError("images hold NaN or infinite values")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise ConfigError(
                f"float images must be pixels in [0, 1]; got values in [{lo:g}, {hi:g}]; "
                "pass uint8 images (0..255) or divide by 255"
            )
        return torch.from_numpy(x.astype(np.float32)) * 255.0
    lo, hi = int(x.min()), int(x.max())
    if lo < 0 or hi > 255:
        raise ConfigError(f"integer images must be pixels in 0..255; got values in [{lo}, {hi}]")
    return torch.from_numpy(x.astype(np.float32))


# ----------------------------------------------------------------------------- predict


class Predictor:
    """A run's model with its preprocessing, loaded once: `predict(images)`."""

    def __init__(self, run_dir: str | Path, device: str | torch.device = "cpu") -> None:
        self.spec = read_spec(run_dir)
        if self.spec.task == "text":
            raise ConfigError(
                f"run {self.spec.run_dir} ({self.spec.recipe}) classifies texts, not images: "
                "tamrin.text_inference.TextPredictor(RUN).predict(texts)"
            )
        if self.spec.task not in IMAGE_TASKS:
            raise ConfigError(
                f"run {self.spec.run_dir} ({self.spec.recipe}) answers questions, not images: "
                "tamrin.load(RUN).model()(story, question) takes word ids (tamrin.data.babi)"
            )
        self.device = torch.device(device)
        self.module = Preprocessed(load_model(run_dir, self.device), self.spec).to(self.device)
        self.module.eval()

    @property
    def classes(self) -> list[str]:
        return list(self.spec.classes)

    @torch.inference_mode()
    def predict(self, images: Any, batch_size: int = 256) -> np.ndarray:
        """(N, K) float32 class probabilities — (N, D) embeddings for an embedding run, (N, K,
        H, W) per-pixel probabilities for a segmentation run — of `images` (see `pixels` for the
        shapes and value ranges taken)."""
        x = pixels(images, self.spec)
        parts = [
            self.module.from_pixels(x[i : i + batch_size].to(self.device)).float().cpu()
            for i in range(0, x.shape[0], batch_size)
        ]
        return torch.cat(parts).numpy()

    def check_classifier(self) -> None:
        """ConfigError unless the model outputs classes (an embedding run has none to rank)."""
        if self.spec.task != "classify":
            raise ConfigError(
                f"run {self.spec.run_dir} ({self.spec.recipe}) outputs {self.spec.out_dim}-d "
                "embeddings, not classes; tamrin.load(RUN).predict(images) returns them"
            )

    def top_k(self, images: Any, k: int = 5) -> list[list[tuple[str, float]]]:
        """Per image, the `k` most probable (class name, probability), most probable first."""
        self.check_classifier()
        if k < 1:
            raise ConfigError(f"--top-k must be >= 1; got {k}")
        proba = self.predict(images)
        order = np.argsort(-proba, axis=1, kind="stable")[:, : min(k, proba.shape[1])]
        names = self.classes or [str(i) for i in range(proba.shape[1])]
        return [[(names[j], float(p[j])) for j in row] for p, row in zip(proba, order, strict=True)]


def read_images(paths: Sequence[str | Path], spec: InferenceSpec) -> tuple[np.ndarray, list[str]]:
    """PNG/JPEG files as a uint8 batch the run takes: converted to L (1 channel) or RGB and
    resized (bilinear) to its (H, W); with one note per image (its size before and after)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise MissingDependencyError(
            "reading images needs Pillow: pip install 'tamrin[predict]' (or pip install pillow)"
        ) from None
    h, w = spec.size
    mode = "L" if spec.channels == 1 else "RGB"
    if spec.channels not in (1, 3):
        raise ConfigError(f"run takes {spec.channels}-channel images; files can give 1 or 3")
    batch, notes = [], []
    for p in map(Path, paths):
        if not p.is_file():
            raise ConfigError(f"image not found: {p}")
        try:
            with Image.open(p) as im:
                im.load()
                before = f"{im.width}x{im.height} {im.mode}"
                conv = im.convert(mode)
                if conv.size != (w, h):
                    conv = conv.resize((w, h), Image.Resampling.BILINEAR)
                batch.append(np.asarray(conv, dtype=np.uint8))
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(
                f"cannot read {p} as an image ({exc}); give PNG or JPEG files"
            ) from None
        after = f"{w}x{h} {mode}"
        notes.append(before if before == after else f"{before} -> {after}")
    return np.stack(batch), notes


# ----------------------------------------------------------------------------- export


@dataclass(frozen=True)
class Exported:
    """An exported model file and how far it is from the eager model on a random batch."""

    path: Path
    format: str
    max_abs_diff: float | None  # None when the checker (onnxruntime) is not installed


def _need(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{what} needs {module}: pip install 'tamrin[export]' (onnx, onnxscript, onnxruntime)"
        ) from None


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' deprecation warnings and progress logs (not errors)."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def export(
    run_dir: str | Path, fmt: str = "onnx", out: str | Path | None = None, *, check: bool = True
) -> Exported:
    """Write the run's model with its preprocessing (`Preprocessed`) as ONNX or TorchScript.

    The file takes float32 (N, C, H, W) pixels in [0, 1] (uint8 / 255, channels as the run
    trained: 1 gray or 3 RGB) with any batch size N, and returns (N, K) class probabilities
    ("probabilities") or (N, D) embeddings ("embeddings"). Class names and the input description
    are stored in the file (ONNX metadata_props; TorchScript extra file tamrin.json). `out`
    defaults to RUN_DIR/model.onnx or RUN_DIR/model.torchscript.pt. With `check`, the file is
    run on a random batch (onnxruntime, torch.jit.load) and compared with the eager model.
    """
    if fmt not in FORMATS:
        raise ConfigError(
            f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)} (--format onnx)"
        )
    spec = read_spec(run_dir)
    module = Preprocessed(load_model(run_dir), spec).eval()
    path = Path(out) if out is not None else spec.run_dir / f"model{SUFFIX[fmt]}"
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a file name, e.g. {path / 'model'}")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {path}: folder {path.parent} does not exist")
    output = "probabilities" if spec.task == "classify" else "embeddings"
    meta = {
        "recipe": spec.recipe,
        "run": str(spec.run_dir),
        "input": EXPORT_INPUT,
        "input_shape": ["N", *spec.in_shape],
        "output": output,
        "classes": spec.classes,
    }
    example = torch.rand(2, *spec.in_shape)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if fmt == "onnx":
            _export_onnx(module, example, tmp, output, meta)
        else:
            with _quiet_exporter(), torch.no_grad():
                traced = torch.jit.trace(module, example)
                torch.jit.save(traced, str(tmp), _extra_files={"tamrin.json": json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    diff = _check(path, fmt, module, spec) if check else None
    return Exported(path, fmt, diff)


def _export_onnx(
    module: nn.Module, example: torch.Tensor, path: Path, output: str, meta: Mapping[str, Any]
) -> None:
    onnx = _need("onnx", "tamrin export --format onnx")
    _need("onnxscript", "tamrin export --format onnx")  # torch's dynamo exporter uses it
    with _quiet_exporter():
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=True,
            input_names=["pixels"],
            output_names=[output],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            external_data=False,  # one file: these models are far below protobuf's 2 GB
            verbose=False,
        )
    model = onnx.load(str(path))
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.save(model, str(path))


@torch.no_grad()
def _check(path: Path, fmt: str, module: nn.Module, spec: InferenceSpec) -> float | None:
    """Max |exported - eager| on 5 random images (None when onnxruntime is missing)."""
    x = torch.rand(5, *spec.in_shape, generator=torch.Generator().manual_seed(0))
    want = module(x).numpy()
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    else:
        with _quiet_exporter():
            got = torch.jit.load(str(path)).eval()(x).numpy()
    return float(np.abs(np.asarray(got) - want).max())


# ----------------------------------------------------------------------------- history


class HistoryTable(list):  # type: ignore[type-arg]
    """history.csv: a list of one dict per epoch (as before), that prints as a table.

    `columns` in file order, `column(name)` one column as a list, `to_frame()` a pandas
    DataFrame (pandas is optional).
    """

    MAX_ROWS = 12  # rows shown by repr: the first and last half of them

    @property
    def columns(self) -> list[str]:
        cols: list[str] = []
        for row in self:
            cols += [k for k in row if k not in cols]
        return cols

    def column(self, name: str) -> list[Any]:
        """One column (None where an epoch lacks it); ConfigError for a name no row has."""
        cols = self.columns
        if name not in cols:
            raise ConfigError(
                f"history has no column {name!r}{did_you_mean(name, cols)}; "
                f"columns: {', '.join(cols)}"
            )
        return [row.get(name) for row in self]

    def to_frame(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependencyError(
                "history_frame() needs pandas: pip install pandas (or use .history, a list)"
            ) from None
        return pd.DataFrame(list(self), columns=self.columns)

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        cols = self.columns
        rows = list(self)
        if len(rows) > self.MAX_ROWS:
            half = self.MAX_ROWS // 2
            rows = [*rows[:half], {}, *rows[-half:]]
        body = [[_cell(r.get(c)) for c in cols] if r else ["…" for _ in cols] for r in rows]
        return cols, body

    def __repr__(self) -> str:
        if not self:
            return "HistoryTable(no epochs)"
        cols, body = self._cells()
        widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(cols)]
        lines = ["  ".join(c.rjust(wd) for c, wd in zip(cols, widths, strict=True))]
        lines += ["  ".join(v.rjust(wd) for v, wd in zip(r, widths, strict=True)) for r in body]
        return "\n".join(lines) + f"\n[{len(self)} epochs × {len(cols)} columns]"

    def _repr_html_(self) -> str:
        if not self:
            return "<i>no epochs</i>"
        cols, body = self._cells()
        head = "".join(f"<th>{c}</th>" for c in cols)
        rows = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>" for r in body)
        return f"<table><tr>{head}</tr>{rows}</table>"


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
