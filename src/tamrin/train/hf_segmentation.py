"""A Hugging Face `BeitForSemanticSegmentation` checkpoint run on image tensors (course HW5).

HW5 ran a pretrained BEiT segmenter and showed its masks beside the labels; the `segment` recipe
does the same next to its own ViT segmenter. `load_segmenter(name_or_path)` takes a local folder
written by `save_pretrained` (config.json + weights, optionally preprocessor_config.json) or a
Hub id (default `microsoft/beit-base-finetuned-ade-640-640`, ADE20k's 150 classes; it needs a
network once, then the Hugging Face cache). `tiny_beit_folder` writes a tiny random checkpoint of
the same layout for tests and smoke runs, so nothing here needs the network to be tested.

`transformers` is optional and imported only inside the functions that need it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tamrin.errors import ConfigError, DataCorruptError, DataNotFoundError, MissingDependencyError

DEFAULT_BEIT = "microsoft/beit-base-finetuned-ade-640-640"
BEIT_MEAN = BEIT_STD = (0.5, 0.5, 0.5)  # BEiT's own normalisation, when no preprocessor file
TINY_MEAN, TINY_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # tiny folder: not BEiT's
PREPROCESSOR = "preprocessor_config.json"


@dataclass
class HfSegmenter:
    """A BEiT segmentation model and the preprocessing its checkpoint expects."""

    model: Any  # transformers BeitForSemanticSegmentation, eval mode
    image_size: int  # side of the square input the checkpoint was trained at (config.image_size)
    mean: tuple[float, ...]  # per-channel mean of [0, 1] pixels (preprocessor_config.json)
    std: tuple[float, ...]  # per-channel std of [0, 1] pixels
    labels: list[str]  # class names, config.id2label in id order

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
        """(B, C, H, W) uint8 or float-in-[0, 255] images -> (B, H, W) int64 class ids.

        Grey images (C == 1) are repeated to 3 channels, resized (bilinear) to image_size,
        scaled to [0, 1] and normalised with mean/std; the logits (B, K, h, w) are upsampled
        bilinearly back to (H, W) and the class with the highest logit is taken.
        """
        x = self._check(images, batch_size)
        b, _, h, w = x.shape
        out = torch.empty((b, h, w), dtype=torch.int64, device=images.device)
        for start in range(0, b, batch_size):
            logits = self.logits(x[start : start + batch_size])  # (b', K, h', w')
            # one image at a time: at 640 x 640 with 150 classes a batch of upsampled logits
            # would be 2 GB; one image's is 250 MB
            for i, one in enumerate(logits):
                up = F.interpolate(one[None].float(), size=(h, w), mode="bilinear")
                out[start + i] = up[0].argmax(0).to(images.device)
        return out

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) pixels in [0, 255] -> (B, 3, S, S) normalised float32, S = image_size."""
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grey -> RGB, as an image processor's convert does
        if x.shape[-2:] != (self.image_size, self.image_size):
            # antialias: a large photo shrunk to 640 is averaged, not point-sampled (as PIL
            # does); for upsampling (CIFAR-size images) it is plain bilinear
            x = F.interpolate(
                x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True
            )
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x / 255.0 - mean) / std

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """One batch (B, C, H, W) in [0, 255] -> the model's logits (B, K, S/4, S/4)."""
        param = next(self.model.parameters())
        x = self.preprocess(images.to(param.device)).to(param.dtype)
        return self.model(pixel_values=x).logits

    def _check(self, images: torch.Tensor, batch_size: int) -> torch.Tensor:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ConfigError(
                f"images must be (B, C, H, W) with C 1 or 3; got shape {list(images.shape)}"
            )
        if images.dtype != torch.uint8 and not images.dtype.is_floating_point:
            raise ConfigError(f"images must be uint8 or float pixels; got dtype {images.dtype}")
        return images


def load_segmenter(
    name_or_path: str = DEFAULT_BEIT, *, cache_dir: str | None = None
) -> HfSegmenter:
    """The BEiT segmenter in local folder or Hub id `name_or_path`, in eval mode on the CPU."""
    transformers = _transformers()
    folder = _local_folder(name_or_path)
    config = _read_json(folder / "config.json") if folder else _hub_config(name_or_path, cache_dir)
    where = str(folder) if folder else f"'{name_or_path}'"
    if config.get("model_type") != "beit":
        raise DataCorruptError(
            f"{where} is a '{config.get('model_type')}' checkpoint, not BEiT (config.json "
            f"model_type); give a BeitForSemanticSegmentation checkpoint, e.g. {DEFAULT_BEIT}"
        )
    source = str(folder) if folder else name_or_path
    try:
        model, info = transformers.BeitForSemanticSegmentation.from_pretrained(
            source, cache_dir=cache_dir, output_loading_info=True
        )
    except OSError as exc:  # weights absent locally, or not downloadable
        raise (_no_weights(folder) if folder else _hub_error(name_or_path, exc)) from None
    except Exception as exc:  # truncated or foreign weight files fail in many ways
        raise DataCorruptError(
            f"the weights of {where} cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    missing = [k for k in info.get("missing_keys", ()) if "auxiliary_head" not in k]
    if missing:
        raise DataCorruptError(
            f"{where} has no trained segmentation head ({len(missing)} weights missing, e.g. "
            f"{sorted(missing)[0]}); give a BeitForSemanticSegmentation checkpoint, e.g. "
            f"{DEFAULT_BEIT}"
        )
    model.eval()
    mean, std = _normalisation(_preprocessor(folder, name_or_path, cache_dir), where)
    return HfSegmenter(
        model=model,
        image_size=_image_size(model.config.image_size, where),
        mean=mean,
        std=std,
        labels=[str(model.config.id2label[i]) for i in sorted(model.config.id2label)],
    )


def tiny_beit_folder(
    path: Path, *, num_labels: int = 5, image_size: int = 32, seed: int = 0
) -> Path:
    """Write a tiny random BeitForSemanticSegmentation (about 170k weights) to `path`.

    The layout of a real checkpoint: config.json, model.safetensors, preprocessor_config.json
    (ImageNet's mean/std, so a reader that ignores the file is caught). The same seed writes the
    same weights; the global torch RNG is left as it was.
    """
    transformers = _transformers()
    config = transformers.BeitConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=image_size,
        patch_size=8,  # image_size / 8 patches a side; the FPN makes 4x, 2x, 1x, 1/2x of that
        out_indices=[1, 2, 3, 4],  # the segmentation head takes exactly 4 feature maps
        use_relative_position_bias=True,  # as the ADE20k checkpoints: input must be image_size
        use_auxiliary_head=False,  # only used for training losses
        initializer_range=0.1,  # logits of order 1, not 1e-3: argmax is not decided by rounding
        num_labels=num_labels,
        id2label={i: f"class-{i}" for i in range(num_labels)},
        label2id={f"class-{i}": i for i in range(num_labels)},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.BeitForSemanticSegmentation(config).eval()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    preprocessor = {
        "image_processor_type": "BeitImageProcessor",
        "do_resize": True,
        "size": {"height": image_size, "width": image_size},
        "do_center_crop": False,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(TINY_MEAN),
        "image_std": list(TINY_STD),
        "do_reduce_labels": False,
    }
    (path / PREPROCESSOR).write_text(json.dumps(preprocessor, indent=2) + "\n")
    return path


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise MissingDependencyError(
            "Hugging Face BEiT segmenters need transformers: pip install 'tamrin[vision]' "
            "(transformers and safetensors)"
        ) from None
    return transformers


def _local_folder(name: str) -> Path | None:
    """The folder `name` names, or None when it reads as a Hub id ('org/model' or 'model')."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise DataNotFoundError(
                f"no BEiT checkpoint at {path} (no config.json); "
                "give a folder written by save_pretrained or a Hugging Face Hub id"
            )
        return path
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or ":" in name:
        raise DataNotFoundError(
            f"no BEiT checkpoint folder at {path}; give a folder written by save_pretrained "
            f"or a Hugging Face Hub id, e.g. {DEFAULT_BEIT}"
        )
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataCorruptError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise DataCorruptError(f"{path} is not a JSON object; got {type(data).__name__}")
    return data


def _hub_download(name: str, filename: str, cache_dir: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id=name, filename=filename, cache_dir=cache_dir))


def _hub_failures() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    # offline / not cached is a LocalEntryNotFoundError (an OSError and an EntryNotFoundError);
    # a bad repo id is an HFValidationError (a ValueError)
    return (OSError, ValueError, EntryNotFoundError, HfHubHTTPError)


def _hub_config(name: str, cache_dir: str | None) -> dict[str, Any]:
    try:
        path = _hub_download(name, "config.json", cache_dir)
    except _hub_failures() as exc:
        raise _hub_error(name, exc) from None
    return _read_json(path)


def _hub_error(name: str, exc: BaseException) -> DataNotFoundError:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if isinstance(exc, RepositoryNotFoundError | GatedRepoError):
        return DataNotFoundError(
            f"no model '{name}' on the Hugging Face Hub (or it is private/gated); "
            f"give a Hub id such as {DEFAULT_BEIT} or a local folder written by save_pretrained"
        )
    return DataNotFoundError(
        f"cannot get Hugging Face checkpoint '{name}': not in the cache and not downloadable "
        f"({type(exc).__name__}; no network or HF_HUB_OFFLINE=1?)\n"
        "fix: download it once with network access, or pass a local folder written by "
        "save_pretrained"
    )


def _no_weights(folder: Path) -> DataNotFoundError:
    return DataNotFoundError(
        f"no model.safetensors or pytorch_model.bin in {folder}; "
        "give a folder written by save_pretrained"
    )


def _preprocessor(folder: Path | None, name: str, cache_dir: str | None) -> dict[str, Any] | None:
    """The checkpoint's preprocessor_config.json, or None when it has none."""
    if folder is not None:
        path = folder / PREPROCESSOR
        return _read_json(path) if path.is_file() else None
    try:  # the config and weights came through, so a failure here means "no such file"
        return _read_json(_hub_download(name, PREPROCESSOR, cache_dir))
    except _hub_failures():
        return None


def _normalisation(
    preprocessor: dict[str, Any] | None, where: str
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if preprocessor is None:
        return BEIT_MEAN, BEIT_STD
    pair = []
    for key, default in (("image_mean", BEIT_MEAN), ("image_std", BEIT_STD)):
        value = preprocessor.get(key, default)
        values = [value] * 3 if isinstance(value, int | float) else value
        if (
            not isinstance(values, list | tuple)
            or len(values) != 3
            or not all(isinstance(v, int | float) for v in values)
        ):
            raise DataCorruptError(
                f"{PREPROCESSOR} of {where}: {key} must be 3 numbers; got {value!r}"
            )
        pair.append(tuple(float(v) for v in values))
    if any(s <= 0 for s in pair[1]):
        raise DataCorruptError(f"{PREPROCESSOR} of {where}: image_std must be > 0; got {pair[1]}")
    return pair[0], pair[1]


def _image_size(size: Any, where: str) -> int:
    sizes = list(size) if isinstance(size, list | tuple) else [size]
    if len(set(sizes)) != 1 or not isinstance(sizes[0], int) or sizes[0] < 1:
        raise DataCorruptError(
            f"{where}: config.json image_size must be one positive side; got {size!r}"
        )
    return sizes[0]
