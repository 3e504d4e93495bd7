"""Memory networks for bAbI question answering: End-To-End Memory Networks and the homework's.

Both take `forward(story, question) -> (B, vocab)` answer logits, with `story` (B, M, W) word
ids (slot 0 the most recent sentence, PAD = 0 after the real ones) and `question` (B, Q)
(`tamrin.data.babi.encode`), and `attention(story, question)` for the report.

`MemN2N` (Sukhbaatar, Szlam, Weston & Fergus 2015): K hops; adjacent weight tying (A^{k+1} = C^k,
B = A^1, the answer matrix W = C^K transposed); position encoding (PE) of the words of a
sentence; temporal encoding (TE) of a memory's age, with random noise (RN: during training the
ages skip, as if 10 % empty memories were inserted); linear start (LS: no softmax over the
memories until `linear` is switched off). Padded memories get exactly zero attention.

`HomeworkMemNet` is HW13's Keras model (the Keras `babi_memnn` example): story words embedded
twice (A: 64-d, C: question-length-d), the question once (B: 64-d); match = A·B per
(story word, question word), softmax over the question words (the homework: relu), add C,
permute, concatenate with the question embedding, LSTM(32), dropout, dense over the vocabulary.
It reads the story as one sequence of words (the sentences joined).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tamrin.config import require
from tamrin.models.registry import register_model

NEG = -1e9  # masked score: exp() underflows to exactly 0, also in bf16


def position_encoding(lengths: torch.Tensor, words: int, dim: int) -> torch.Tensor:
    """The paper's l_kj = (1 - j/J) - (k/d)(1 - 2j/J) for word j of a J-word sentence.

    `lengths` (...,) real words per sentence; returns (..., words, dim) weights, zero on
    padding words (j > J). j and k count from 1, as in the paper.
    """
    j = torch.arange(1, words + 1, dtype=torch.float32, device=lengths.device)
    k = torch.arange(1, dim + 1, dtype=torch.float32, device=lengths.device)
    big_j = lengths.clamp(min=1).to(torch.float32)[..., None, None]  # (..., 1, 1)
    jj = j[:, None]  # (W, 1)
    weights = (1 - jj / big_j) - (k / dim) * (1 - 2 * jj / big_j)
    return weights * (jj <= lengths[..., None, None]).to(weights.dtype)


def _position_terms(words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a_j, b_j) = (1 - j/J, 1 - 2j/J) per word of (N, W) sentences; 0 on padding."""
    lengths = (words != 0).sum(-1, keepdim=True).clamp(min=1).to(torch.float32)
    j = torch.arange(1, words.shape[-1] + 1, dtype=torch.float32, device=words.device)
    real = (j <= lengths).to(torch.float32)
    return (1 - j / lengths) * real, (1 - 2 * j / lengths) * real


@dataclass
class MemN2NConfig:
    """An End-To-End Memory Network (the paper's PE LS RN configuration by default)."""

    dim: int = 20  # embedding size d (the paper: 20 per task, 50 joint)
    hops: int = 3  # memory hops K
    position_encoding: bool = True  # PE: word order within a sentence (False: bag of words)
    temporal: bool = True  # TE: a learnt vector per memory age
    time_noise: float = 0.1  # RN: chance per memory that an empty one precedes it (training)
    max_memories: int = 50  # rows of the temporal tables (ages beyond share the last row)
    init_std: float = 0.1  # embeddings ~ N(0, std), as in the paper

    def validate(self) -> None:
        require(self.dim >= 1, f"model.dim must be >= 1; got {self.dim}")
        require(self.hops >= 1, f"model.hops must be >= 1; got {self.hops}")
        require(
            0 <= self.time_noise < 1, f"model.time_noise must be in [0, 1); got {self.time_noise}"
        )
        require(self.max_memories >= 1, f"model.max_memories must be >= 1; got {self.max_memories}")
        require(self.init_std > 0, f"model.init_std must be > 0; got {self.init_std}")


class MemN2N(nn.Module):
    """End-To-End Memory Network with adjacent weight tying: K + 1 embedding tables E_0..E_K.

    E_0 embeds the question (B) and the first hop's input memories (A^1); E_k is hop k's output
    memory C^k and hop k+1's input A^{k+1}; the answer is W = E_K^T. The tables are one
    (V, K + 1, d) tensor, so a story is looked up once for every hop (see `_lookup`).
    """

    def __init__(self, cfg: MemN2NConfig, vocab: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.linear = False  # linear start: True removes the softmax over memories
        tables = cfg.hops + 1
        self.embed = nn.Parameter(torch.randn(vocab, tables, cfg.dim) * cfg.init_std)
        with torch.no_grad():
            self.embed[0].zero_()  # PAD: a zero vector (its gradient is zero, see _lookup)
        time = torch.randn(tables, cfg.max_memories, cfg.dim) * cfg.init_std
        self.time = nn.Parameter(time, requires_grad=cfg.temporal)
        if not cfg.temporal:
            self.time.data.zero_()

    def _ages(self, real: torch.Tensor) -> torch.Tensor:
        """(B, M) age of each slot: its index, plus the empty memories RN inserts."""
        b, m = real.shape
        ages = torch.arange(m, device=real.device).expand(b, m)
        if self.training and self.cfg.time_noise > 0:
            skips = torch.rand(b, m, device=real.device) < self.cfg.time_noise
            ages = ages + skips.long().cumsum(1)
        return ages.clamp(max=self.cfg.max_memories - 1)

    def _lookup(self, words: torch.Tensor) -> torch.Tensor:
        """(..., W) word ids -> (..., K + 1, d): each table's sentence vector (PE or BoW).

        PE's weight l_kj = a_j - (k/d) b_j with a_j = 1 - j/J, b_j = 1 - 2j/J splits into two
        weighted bags of words, Σ_j a_j E[x_j] - (k/d) Σ_j b_j E[x_j]. A bag is a (V,) row of
        word weights and the bags times the tables are one matmul (bAbI's vocabularies have
        under 200 words), whose backward is a matmul, not a scatter: 7.7 ms per training step
        against 12.2 ms for gathering (..., W, K + 1, d) embeddings (batch 128, 50 memories,
        2 CPU threads).
        """
        v, tables, d = self.embed.shape
        flat = words.reshape(-1, words.shape[-1])
        if self.cfg.position_encoding:
            weights = torch.stack(_position_terms(flat))  # (2, N, W)
        else:
            weights = (flat != 0).to(torch.float32)[None]  # (1, N, W)
        bags = weights.new_zeros(weights.shape[0], flat.shape[0], v)
        bags.scatter_add_(2, flat.expand_as(weights), weights)  # (terms, N, V)
        out = (bags.to(self.embed.dtype) @ self.embed.view(v, tables * d)).view(
            -1, *flat.shape[:1], tables, d
        )
        if self.cfg.position_encoding:
            k = torch.arange(1, d + 1, dtype=out.dtype, device=out.device) / d
            out = out[0] - k * out[1]
        else:
            out = out[0]
        return out.view(*words.shape[:-1], tables, d)

    def hops(
        self, story: torch.Tensor, question: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(final state u^K + o^K (B, d), attention over the memories per hop [(B, M)])."""
        real = (story != 0).any(-1)  # (B, M) slots holding a sentence
        ages = self._ages(real)
        memories = self._lookup(story)  # (B, M, K + 1, d)
        ages_1hot = F.one_hot(ages, self.cfg.max_memories).to(self.time.dtype)  # (B, M, T)
        memories = memories + torch.einsum("bmt,ktd->bmkd", ages_1hot, self.time)  # T_k[age]
        u = self._lookup(question)[:, 0]  # (B, d): B = E_0
        attention = []
        for k in range(self.cfg.hops):
            scores = torch.einsum("bmd,bd->bm", memories[:, :, k], u)
            if self.linear:
                p = scores * real.to(scores.dtype)
            else:
                p = scores.masked_fill(~real, NEG).softmax(-1)
            attention.append(p)
            u = u + torch.einsum("bm,bmd->bd", p, memories[:, :, k + 1])
        return u, attention

    def forward(self, story: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        u, _ = self.hops(story, question)
        return u @ self.embed[:, -1].t()  # W = E_K^T

    @torch.no_grad()
    def attention(self, story: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        """(B, K, M) attention over the memory slots per hop."""
        return torch.stack(self.hops(story, question)[1], 1)


@register_model(
    "memn2n",
    config=MemN2NConfig,
    summary="End-To-End Memory Network: K hops, adjacent tying, PE, TE, LS, RN (bAbI)",
    inputs="story",
    smoke={"dim": 8, "hops": 2},
)
def build_memn2n(cfg: MemN2NConfig, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
    """`in_shape` (M, W, Q) is the story/question shape; `out_dim` the vocabulary size."""
    return MemN2N(cfg, out_dim)


@dataclass
class HomeworkMemNetConfig:
    """HW13's Keras memory network (dims as the Keras babi_memnn example)."""

    dim: int = 64  # story embedding A and question embedding B
    lstm: int = 32  # LSTM units over the response
    dropout: float = 0.3  # after the story embeddings and after the LSTM
    match: Literal["softmax", "relu"] = "softmax"  # relu is the homework's bug

    def validate(self) -> None:
        require(self.dim >= 1, f"model.dim must be >= 1; got {self.dim}")
        require(self.lstm >= 1, f"model.lstm must be >= 1; got {self.lstm}")
        require(0 <= self.dropout < 1, f"model.dropout must be in [0, 1); got {self.dropout}")


class HomeworkMemNet(nn.Module):
    """The Keras example's model on (story (B, M, W), question (B, Q)).

    The story is read as one sequence of L = M·W words, padded before the oldest sentence as
    Keras' `pad_sequences` pads (and within sentences): the most recent words come last.
    """

    def __init__(
        self, cfg: HomeworkMemNetConfig, vocab: int, story_words: int, question_words: int
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_a = nn.Embedding(vocab, cfg.dim)  # Keras Embedding: no padding row
        self.embed_c = nn.Embedding(vocab, question_words)
        self.embed_b = nn.Embedding(vocab, cfg.dim)
        for table in (self.embed_a, self.embed_b, self.embed_c):
            nn.init.uniform_(table.weight, -0.05, 0.05)  # Keras' default embedding init
        self.drop = nn.Dropout(cfg.dropout)
        self.lstm = nn.LSTM(story_words + cfg.dim, cfg.lstm, batch_first=True)
        self.out = nn.Linear(cfg.lstm, vocab)

    def _encode(
        self, story: torch.Tensor, question: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(story words (B, L), question embedding (B, Q, dim), match (B, L, Q))."""
        words = story.flip(1).flatten(1)  # oldest sentence first, one word sequence
        a = self.drop(self.embed_a(words))  # (B, L, dim)
        b = self.drop(self.embed_b(question))  # (B, Q, dim)
        scores = a @ b.transpose(1, 2)  # (B, L, Q)
        match = scores.softmax(-1) if self.cfg.match == "softmax" else F.relu(scores)
        return words, b, match

    def forward(self, story: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        words, b, match = self._encode(story, question)
        response = (match + self.drop(self.embed_c(words))).transpose(1, 2)  # (B, Q, L)
        _, (h, _) = self.lstm(torch.cat([response, b], -1))  # over Q steps of L + dim
        return self.out(self.drop(h[-1]))

    @torch.no_grad()
    def attention(self, story: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        """(B, L, Q) the match of every story word with every question word."""
        return self._encode(story, question)[2]


@register_model(
    "memnet-homework",
    config=HomeworkMemNetConfig,
    summary="HW13's Keras memory network (match softmax, or the homework's relu), LSTM(32)",
    inputs="story",
    smoke={"dim": 8, "lstm": 8},
)
def build_homework_memnet(
    cfg: HomeworkMemNetConfig, in_shape: tuple[int, ...], out_dim: int
) -> nn.Module:
    """`in_shape` (M, W, Q) is the story/question shape; `out_dim` the vocabulary size."""
    memories, words, question_words = in_shape
    return HomeworkMemNet(cfg, out_dim, memories * words, question_words)
