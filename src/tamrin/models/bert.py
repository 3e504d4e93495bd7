"""BERT (Devlin et al. 2019) from the course's pieces: embeddings, encoder, MLM and class heads.

Token + learned position + segment embeddings, summed and normalised; a stack of
`tamrin.models.attention.TransformerBlock`s; a padding mask from the [PAD] id. The layout of a
Hugging Face BERT checkpoint converts to these modules with `from_hf_state` (q/k/v fused into
one projection), and the converted encoder gives the same hidden states as `transformers` to
1e-4 (tests/models/test_bert.py, all-MiniLM-L6-v2). Reading checkpoint files is
`tamrin.train.hf_checkpoint`'s job; this module holds modules and pure state-dict maths only.

    bert           the classifier: [CLS] (or mean) pooling -> dropout -> linear; inputs (B, L) ids
    bert-prenorm   the same with pre-norm blocks and a final LayerNorm (ViT / GPT-2 style)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from tamrin.config import require
from tamrin.models.attention import TransformerBlock, key_mask
from tamrin.models.registry import register_model

Pooling = Literal["cls", "mean"]


@dataclass
class BertConfig:
    """A BERT encoder's shape and regularisation (defaults: the course's small BERT)."""

    vocab_size: int = 16000  # set from the tokenizer by the task (the model's in_shape[0])
    hidden: int = 256  # width of every token's state
    layers: int = 4  # transformer blocks
    heads: int = 4  # attention heads per block (hidden / heads wide each)
    intermediate: int = 1024  # feed-forward width (4 x hidden)
    max_positions: int = 512  # learned position embeddings
    type_vocab: int = 2  # segments A / B
    dropout: float = 0.1  # after embeddings and each residual branch
    # 0 by default: torch's fused attention kernel runs only without it (dropout on every
    # L x L weight matrix took a fifth of transformers' MiniLM training step on this CPU)
    attention_dropout: float = 0.0  # dropout on the attention weights (BERT: 0.1)
    eps: float = 1e-12  # LayerNorm epsilon (BERT's)
    norm_first: bool = False  # pre-norm blocks (+ a final LayerNorm)
    pad_id: int = 0  # [PAD]: keys with this id are masked out
    pooling: Pooling = "cls"  # classifier input: the [CLS] state or the mean over real tokens
    classifier_dropout: float = 0.1  # before the class head

    def validate(self) -> None:
        for name in ("vocab_size", "hidden", "layers", "heads", "intermediate", "max_positions"):
            require(getattr(self, name) >= 1, f"{name} must be >= 1; got {getattr(self, name)}")
        require(
            self.hidden % self.heads == 0,
            f"hidden ({self.hidden}) must be divisible by heads ({self.heads})",
        )
        for name in ("dropout", "attention_dropout", "classifier_dropout"):
            value = getattr(self, name)
            require(0 <= value < 1, f"{name} must be in [0, 1); got {value}")
        require(self.pooling in ("cls", "mean"), f"pooling must be cls or mean; got {self.pooling}")


class BertEmbeddings(nn.Module):
    """word + position + segment embeddings, LayerNorm, dropout."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden, padding_idx=cfg.pad_id)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.segment = nn.Embedding(cfg.type_vocab, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(positions)
        x = x + (self.segment.weight[0] if segments is None else self.segment(segments))
        return self.drop(self.norm(x))


class BertEncoder(nn.Module):
    """ids (B, L) -> hidden states (B, L, hidden); attention weights per layer on request."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                cfg.hidden,
                cfg.heads,
                cfg.intermediate,
                dropout=cfg.dropout,
                attention_dropout=cfg.attention_dropout,
                norm_first=cfg.norm_first,
                eps=cfg.eps,
            )
            for _ in range(cfg.layers)
        )
        self.final_norm = nn.LayerNorm(cfg.hidden, eps=cfg.eps) if cfg.norm_first else None
        self.apply(init_bert_weights)

    def forward(
        self,
        ids: torch.Tensor,
        segments: torch.Tensor | None = None,
        *,
        need_weights: bool = False,
        all_layers: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(last hidden state, extras): extras are the per-layer attention weights (B, H, L, L)
        with `need_weights`, or every layer's output (embeddings first) with `all_layers`."""
        if ids.shape[1] > self.cfg.max_positions:
            raise ValueError(f"{ids.shape[1]} tokens > max_positions {self.cfg.max_positions}")
        padded = bool((ids == self.cfg.pad_id).any())
        mask = key_mask(ids, self.cfg.pad_id) if padded else None  # fused kernel: no mask
        x = self.embeddings(ids, segments)
        extras: list[torch.Tensor] = [x] if all_layers else []
        for block in self.blocks:
            x, weights = block(x, mask, need_weights=need_weights)
            if weights is not None:
                extras.append(weights)
            elif all_layers:
                extras.append(x)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, extras


def init_bert_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: N(0, 0.02) weights, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class MaskedLMHead(nn.Module):
    """hidden -> dense -> GELU -> LayerNorm -> logits over the vocabulary (decoder tied to the
    word embeddings, as BERT's)."""

    def __init__(self, cfg: BertConfig, word: nn.Embedding) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden, cfg.hidden)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
        self.word = word  # the tied decoder weight (not a copy)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        init_bert_weights(self.dense)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.dense(hidden))) @ self.word.weight.T + self.bias


class BertForMaskedLM(nn.Module):
    """The encoder with the MLM head; `forward(ids)` -> (B, L, V) logits.

    `masked_logits(ids, chosen)` scores only the chosen positions (n, V): 15 % of the tokens,
    so the vocabulary product — the step's largest at a 16k vocabulary — costs 15 % as much.
    """

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.encoder = BertEncoder(cfg)
        self.head = MaskedLMHead(cfg, self.encoder.embeddings.word)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(ids)[0])

    def masked_logits(self, ids: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(ids)[0][chosen])


class BertClassifier(nn.Module):
    """ids (B, L) -> class logits (B, K) from the pooled encoder output."""

    def __init__(self, cfg: BertConfig, classes: int) -> None:
        super().__init__()
        self.encoder = BertEncoder(cfg)
        self.drop = nn.Dropout(cfg.classifier_dropout)
        self.classifier = nn.Linear(cfg.hidden, classes)
        init_bert_weights(self.classifier)

    def pool(self, ids: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        if self.encoder.cfg.pooling == "cls":
            return hidden[:, 0]
        real = (ids != self.encoder.cfg.pad_id).unsqueeze(-1).to(hidden.dtype)
        return (hidden * real).sum(1) / real.sum(1).clamp_min(1.0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.encoder(ids)
        return self.classifier(self.drop(self.pool(ids, hidden)))

    def attention(self, ids: torch.Tensor) -> torch.Tensor:
        """Attention weights (B, layers, heads, L, L) of the written-out path (for the viewer)."""
        _, weights = self.encoder(ids, need_weights=True)
        return torch.stack(weights, dim=1)


def _bert_builder(cfg: BertConfig, in_shape: Sequence[int], out_dim: int) -> BertClassifier:
    """in_shape = (vocabulary size, sequence length): the tokenizer and the truncation."""
    vocab, length = in_shape[0], in_shape[-1]
    if length > cfg.max_positions:
        raise ValueError(f"sequence length {length} > max_positions {cfg.max_positions}")
    cfg.vocab_size = vocab
    return BertClassifier(cfg, out_dim)


SMOKE = {"hidden": 16, "layers": 2, "heads": 2, "intermediate": 32, "max_positions": 64}

register_model(
    "bert",
    config=BertConfig,
    summary="BERT encoder + [CLS] linear head (post-norm blocks); token ids in",
    inputs="tokens",
    fixed={"norm_first": False},
    smoke=SMOKE,
)(_bert_builder)
register_model(
    "bert-prenorm",
    config=BertConfig,
    summary="BERT with pre-norm blocks and a final LayerNorm; token ids in",
    inputs="tokens",
    fixed={"norm_first": True},
    smoke=SMOKE,
)(_bert_builder)


# --------------------------------------------------------------- Hugging Face checkpoints

HF_CONFIG_FIELDS = {  # BertConfig field <- config.json key
    "vocab_size": "vocab_size",
    "hidden": "hidden_size",
    "layers": "num_hidden_layers",
    "heads": "num_attention_heads",
    "intermediate": "intermediate_size",
    "max_positions": "max_position_embeddings",
    "type_vocab": "type_vocab_size",
    "eps": "layer_norm_eps",
    "pad_id": "pad_token_id",
}


def config_from_hf(hf: Mapping[str, object], **overrides: object) -> BertConfig:
    """Our config for a Hugging Face BERT `config.json` (absolute positions, GELU only)."""
    if hf.get("model_type", "bert") != "bert":
        raise ValueError(f"not a BERT checkpoint: model_type {hf.get('model_type')!r}")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")
    if hf.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"only the exact GELU is supported; got {hf.get('hidden_act')!r}")
    values = {ours: hf[theirs] for ours, theirs in HF_CONFIG_FIELDS.items() if theirs in hf}
    return BertConfig(**{**values, **overrides})  # type: ignore[arg-type]


def from_hf_state(state: Mapping[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """A Hugging Face BertModel state dict -> `BertEncoder`'s (q, k, v fused; pooler dropped).

    Accepts the `bert.` prefix of task checkpoints and the old gamma/beta LayerNorm names.
    """
    clean = {}
    for key, value in state.items():
        key = key.removeprefix("bert.").replace("LayerNorm.gamma", "LayerNorm.weight")
        clean[key.replace("LayerNorm.beta", "LayerNorm.bias")] = value
    out = {
        "embeddings.word.weight": clean["embeddings.word_embeddings.weight"],
        "embeddings.position.weight": clean["embeddings.position_embeddings.weight"],
        "embeddings.segment.weight": clean["embeddings.token_type_embeddings.weight"],
        "embeddings.norm.weight": clean["embeddings.LayerNorm.weight"],
        "embeddings.norm.bias": clean["embeddings.LayerNorm.bias"],
    }
    for i in range(layers):
        theirs, ours = f"encoder.layer.{i}.", f"blocks.{i}."
        for part in ("weight", "bias"):
            out[f"{ours}attention.qkv.{part}"] = torch.cat(
                [clean[f"{theirs}attention.self.{n}.{part}"] for n in ("query", "key", "value")]
            )
            pairs = {
                "attention.out": "attention.output.dense",
                "norm1": "attention.output.LayerNorm",
                "ff.0": "intermediate.dense",
                "ff.2": "output.dense",
                "norm2": "output.LayerNorm",
            }
            for mine, hf_name in pairs.items():
                out[f"{ours}{mine}.{part}"] = clean[f"{theirs}{hf_name}.{part}"]
    return out
