"""nn.Modules only; no file I/O.

Importing this package imports every model module, and each registers its builders (timm
style), so `build_model` / `list_models` see every model whatever was imported first.
"""

from tamrin.models import (  # noqa: F401
    attention,
    bert,
    cnn,
    embedding,
    factory,
    fastnet,
    layers,
    memnet,
    mlp,
    norm,
    resnet,
    rotnet,
    segmenter,
    tunable,
    vit,
)
from tamrin.models.registry import (
    ModelSpec,
    build_model,
    get_model_spec,
    list_models,
    register_model,
)

__all__ = ["ModelSpec", "build_model", "get_model_spec", "list_models", "register_model"]
