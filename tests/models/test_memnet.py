"""Memory networks: position encoding against the paper's formula, attention that sums to 1
over the real memories and is exactly 0 on padding, adjacent weight tying, linear start, time
noise only in training, and the homework model's relu flag really changing the match."""

from __future__ import annotations

import pytest
import torch

from tamrin.models import build_model
from tamrin.models.memnet import (
    HomeworkMemNetConfig,
    MemN2N,
    MemN2NConfig,
    position_encoding,
)

VOCAB, M, W, Q = 30, 6, 5, 4


def _story(batch: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stories with 1..M real sentences of 1..W words, padding after them; questions."""
    g = torch.Generator().manual_seed(seed)
    story = torch.zeros(batch, M, W, dtype=torch.int64)
    for b in range(batch):
        for s in range(1 + b % M):
            n = 1 + (b + s) % W
            story[b, s, :n] = torch.randint(2, VOCAB, (n,), generator=g)
    question = torch.randint(2, VOCAB, (batch, Q), generator=g)
    question[:, -1] = 0  # padded questions too
    return story, question


def test_position_encoding_is_the_papers_formula() -> None:
    lengths = torch.tensor([3, 5, 1])
    d = 4
    pe = position_encoding(lengths, words=5, dim=d)
    for n, J in enumerate(lengths.tolist()):
        for j in range(1, 6):
            for k in range(1, d + 1):
                want = (1 - j / J) - (k / d) * (1 - 2 * j / J) if j <= J else 0.0
                assert pe[n, j - 1, k - 1].item() == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("pe", [True, False])
def test_sentence_vectors_match_the_direct_sum(pe: bool) -> None:
    """The fused bag-of-words matmul equals Σ_j l_j ⊙ E[x_j] written out per table."""
    torch.manual_seed(0)
    net = MemN2N(MemN2NConfig(dim=6, hops=2, position_encoding=pe), VOCAB)
    story, _ = _story()
    got = net._lookup(story)  # (B, M, K + 1, d)
    lengths = (story != 0).sum(-1)
    weights = position_encoding(lengths, W, 6) if pe else (story != 0).float()[..., None]
    for table in range(3):
        emb = net.embed[:, table][story]  # (B, M, W, d)
        want = (emb * weights).sum(-2)
        torch.testing.assert_close(got[:, :, table], want, atol=1e-5, rtol=1e-5)


def test_attention_sums_to_one_over_real_memories_and_is_zero_on_padding() -> None:
    torch.manual_seed(0)
    net = MemN2N(MemN2NConfig(dim=8, hops=3), VOCAB).eval()
    story, question = _story(batch=6)
    att = net.attention(story, question)  # (B, K, M)
    real = (story != 0).any(-1)
    assert att.shape == (6, 3, M)
    torch.testing.assert_close(att.sum(-1), torch.ones(6, 3))
    assert (att[~real[:, None, :].expand_as(att)] == 0).all()  # exactly zero, not tiny


def test_padding_memories_change_nothing() -> None:
    """More padded slots (a longer memory) give the same answer logits."""
    torch.manual_seed(0)
    net = MemN2N(MemN2NConfig(dim=8, hops=2, time_noise=0.0), VOCAB).eval()
    story, question = _story()
    longer = torch.cat([story, torch.zeros(4, 3, W, dtype=torch.int64)], 1)
    torch.testing.assert_close(net(story, question), net(longer, question))


def test_adjacent_tying_reuses_tables_and_the_answer_matrix_is_the_last() -> None:
    torch.manual_seed(0)
    net = MemN2N(MemN2NConfig(dim=5, hops=3), VOCAB)
    assert net.embed.shape == (VOCAB, 4, 5)  # K + 1 tables, not 2K + 2
    assert net.time.shape == (4, 50, 5)
    story, question = _story()
    u, _ = net.hops(story, question)
    torch.testing.assert_close(net(story, question), u @ net.embed[:, -1].t())
    assert (net.embed[0] == 0).all()  # PAD embeds to zero


def test_linear_start_removes_the_softmax() -> None:
    torch.manual_seed(0)
    net = MemN2N(MemN2NConfig(dim=8, hops=1), VOCAB).eval()
    story, question = _story()
    soft = net.attention(story, question)
    net.linear = True
    lin = net.attention(story, question)
    real = (story != 0).any(-1)
    assert not torch.allclose(soft, lin)
    assert (lin[:, 0][~real] == 0).all()
    assert not torch.allclose(lin.sum(-1), torch.ones(4, 1))  # no longer a distribution


def test_time_noise_acts_in_training_only() -> None:
    torch.manual_seed(0)
    net = MemN2N(MemN2NConfig(dim=8, hops=2, time_noise=0.5), VOCAB)
    story, question = _story()
    net.eval()
    assert torch.equal(net(story, question), net(story, question))
    net.train()
    torch.manual_seed(1)
    a = net(story, question)
    torch.manual_seed(2)
    assert not torch.allclose(a, net(story, question))


def test_without_temporal_encoding_the_time_tables_stay_zero_and_frozen() -> None:
    net = MemN2N(MemN2NConfig(dim=4, temporal=False), VOCAB)
    assert not net.time.requires_grad and (net.time == 0).all()


def test_homework_relu_flag_really_changes_the_match() -> None:
    story, question = _story()
    shape = (M, W, Q)
    torch.manual_seed(0)
    soft = build_model("memnet-homework", HomeworkMemNetConfig(), in_shape=shape, out_dim=VOCAB)
    torch.manual_seed(0)
    relu = build_model(
        "memnet-homework", HomeworkMemNetConfig(match="relu"), in_shape=shape, out_dim=VOCAB
    )
    soft.eval()
    relu.eval()
    a, b = soft.attention(story, question), relu.attention(story, question)
    assert a.shape == (4, M * W, Q)
    torch.testing.assert_close(a.sum(-1), torch.ones(4, M * W))  # softmax over question words
    assert (b >= 0).all() and not torch.allclose(a, b)
    assert not torch.allclose(soft(story, question), relu(story, question))


def test_homework_model_has_the_keras_shapes() -> None:
    """LSTM input = story length + 64 (Keras: concatenate(response (Q, L), question (Q, 64)))."""
    net = build_model("memnet-homework", in_shape=(M, W, Q), out_dim=VOCAB)
    assert net.lstm.input_size == M * W + 64 and net.lstm.hidden_size == 32
    assert net.embed_c.embedding_dim == Q
    assert net.out.out_features == VOCAB
