"""BERT's masking on a large sample: 15 % of the real tokens chosen, 80/10/10 of those masked /
random / kept, specials never chosen; dynamic masks reproducible by (seed, epoch, batch); the
objective's loss counts only the chosen positions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tamrin.data.batches import Batches, ShuffleSampler, generator
from tamrin.models.bert import BertConfig, BertForMaskedLM
from tamrin.train.mlm import MaskedLM, MaskedTokens, Masking, fill_masks, mask_tokens, mlm_validator

PAD, CLS, SEP, MASK = 0, 2, 3, 4
MASKING = Masking(vocab_size=1000, mask_id=MASK, special_ids=(PAD, CLS, SEP), first_normal=5)


def _ids(rows: int = 2000, length: int = 128) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (rows, length), generator=g)
    ids[:, 0] = CLS
    ids[:, -1] = SEP
    ids[: rows // 2, length // 2 :] = PAD  # half the rows padded
    return ids


def test_proportions_on_a_large_sample() -> None:
    ids = _ids()  # ~190k real tokens: each rate within ~0.5 % of its target
    masked, chosen = mask_tokens(ids, MASKING, generator(1))
    real = (ids != PAD) & (ids != CLS) & (ids != SEP)
    assert not (chosen & ~real).any()  # specials never chosen
    rate = chosen.sum().item() / real.sum().item()
    assert abs(rate - 0.15) < 0.003
    picked, original = masked[chosen], ids[chosen]
    to_mask = (picked == MASK).float().mean().item()
    changed = ((picked != MASK) & (picked != original)).float().mean().item()
    kept = (picked == original).float().mean().item()
    assert abs(to_mask - 0.8) < 0.01
    # a random replacement equals the original with probability ~1/995: "kept" includes those
    assert abs(changed - 0.1) < 0.01 and abs(kept - 0.1) < 0.01
    assert torch.equal(masked[~chosen], ids[~chosen])  # nothing else is touched
    assert masked[chosen & (masked != MASK)].min() >= MASKING.first_normal


def test_dynamic_masks_are_reproducible_per_batch() -> None:
    ids = _ids(64, 16)
    batches = MaskedTokens(Batches({"ids": ids}, ShuffleSampler(64, 16, seed=3)), MASKING)
    first = [b["chosen"] for b in batches.epoch(0)]
    again = [b["chosen"] for b in batches.epoch(0)]
    other = [b["chosen"] for b in batches.epoch(1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    resumed = [b["chosen"] for b in batches.epoch(0, start_batch=2)]
    assert all(torch.equal(a, b) for a, b in zip(first[2:], resumed, strict=True))
    batch = next(iter(batches.epoch(0)))
    assert set(batch) >= {"ids", "target", "chosen"}
    assert torch.equal(batch["target"][~batch["chosen"]], batch["ids"][~batch["chosen"]])


def test_objective_loss_is_on_chosen_positions_only() -> None:
    torch.manual_seed(0)
    model = BertForMaskedLM(
        BertConfig(vocab_size=1000, hidden=16, layers=1, heads=2, intermediate=32)
    ).eval()
    batch = next(
        iter(MaskedTokens(Batches({"ids": _ids(8, 16)}, ShuffleSampler(8, 8)), MASKING).epoch(0))
    )
    out = MaskedLM().step(model, batch)
    logits = model(batch["ids"])  # (B, L, V)
    want = F.cross_entropy(logits[batch["chosen"]], batch["target"][batch["chosen"]])
    torch.testing.assert_close(out.loss, want, atol=1e-5, rtol=1e-5)
    assert out.count == int(batch["chosen"].sum())


def test_validator_and_fill_ins() -> None:
    torch.manual_seed(0)
    model = BertForMaskedLM(
        BertConfig(vocab_size=1000, hidden=16, layers=1, heads=2, intermediate=32)
    )
    row = mlm_validator(_ids(40, 16), MASKING, batch_size=16)(model)
    assert set(row) == {"val_loss", "val_acc"} and 0 <= row["val_acc"] <= 1
    assert abs(row["val_loss"] - torch.log(torch.tensor(1000.0)).item()) < 1.0  # untrained
    ids = _ids(1, 16)[0]
    guesses = fill_masks(model, ids, [3, 5], top=4)
    assert len(guesses) == 2 and all(len(g) == 4 for g in guesses)
    assert guesses[0][0][1] >= guesses[0][-1][1]


def test_training_curve_is_the_mean_of_each_window() -> None:
    torch.manual_seed(0)
    model = BertForMaskedLM(
        BertConfig(vocab_size=1000, hidden=16, layers=1, heads=2, intermediate=32)
    )
    batches = MaskedTokens(Batches({"ids": _ids(32, 16)}, ShuffleSampler(32, 8)), MASKING)
    objective = MaskedLM(every=2)
    outs = [objective.step(model, b) for b in batches.epoch(0)]  # 4 steps -> 2 points
    assert [p["step"] for p in objective.curve] == [2, 4]
    first = outs[:2]
    want = sum(o.loss.item() * o.count for o in first) / sum(o.count for o in first)
    assert abs(objective.curve[0]["loss"] - want) < 1e-4
    assert 0 <= objective.curve[1]["acc"] <= 1
