"""Masked-language-model pretraining (BERT's): masking, batches and the objective.

`mask_tokens` follows Devlin et al. 2019: 15 % of the real tokens (never [CLS], [SEP] or
[PAD]) are chosen; of those 80 % become [MASK], 10 % a random token, 10 % stay; the loss is
the cross-entropy on the chosen positions only. `MaskedTokens` draws a fresh mask for every
batch from a generator seeded by (seed, epoch, batch) — dynamic masking (RoBERTa), and a
resumed run draws exactly the masks it would have drawn. `MaskedLM` scores only the chosen
positions (`BertForMaskedLM.masked_logits`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tamrin.data.batches import Batches, DrawnBatches, generator
from tamrin.train.inference import autocast
from tamrin.train.objectives import Batch, StepOutput


@dataclass(frozen=True)
class Masking:
    """Which tokens MLM may choose, and what it puts in their place."""

    vocab_size: int
    mask_id: int
    special_ids: tuple[int, ...]  # never chosen ([PAD], [CLS], [SEP], ...)
    first_normal: int = 0  # random replacements are drawn from [first_normal, vocab_size)
    rate: float = 0.15  # fraction of real tokens chosen
    replace_mask: float = 0.8  # of the chosen: -> [MASK]
    replace_random: float = 0.1  # of the chosen: -> a random token (the rest stay)


def mask_tokens(
    ids: torch.Tensor, masking: Masking, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked ids, chosen (bool, same shape)); the targets are `ids[chosen]`."""
    eligible = torch.ones_like(ids, dtype=torch.bool)
    for special in masking.special_ids:
        eligible &= ids != special
    draw = torch.rand(ids.shape, generator=gen)
    chosen = eligible & (draw < masking.rate)
    action = torch.rand(ids.shape, generator=gen)
    to_mask = chosen & (action < masking.replace_mask)
    to_random = chosen & (action >= masking.replace_mask)
    to_random &= action < masking.replace_mask + masking.replace_random
    random_ids = torch.randint(masking.first_normal, masking.vocab_size, ids.shape, generator=gen)
    masked = torch.where(to_mask, masking.mask_id, ids)
    masked = torch.where(to_random, random_ids, masked)
    return masked, chosen


class MaskedTokens(DrawnBatches):
    """Batches of `inner` (field `ids`) with a fresh mask each: fields ids, target, chosen."""

    def __init__(self, inner: Batches, masking: Masking, *, field: str = "ids") -> None:
        if field not in inner.data:
            raise ValueError(f"MaskedTokens: the batches have no field {field!r}")
        self.masking, self.field = masking, field
        super().__init__(inner, self._mask, salt=7)

    def _mask(self, batch: Batch, gen: torch.Generator) -> Batch:
        ids = batch[self.field]
        masked, chosen = mask_tokens(ids, self.masking, gen)
        return {**batch, self.field: masked, "target": ids, "chosen": chosen}


class MaskedLM:
    """Cross-entropy of `model.masked_logits(ids, chosen)` against the original ids there.

    With `every` > 0 it also keeps a training curve: the mean loss and masked-token accuracy
    of each `every` steps (`curve`: [{"step", "loss", "acc"}]), for a pretraining that runs one
    epoch and so has one history row. Steps count from this object's creation: a resumed fit's
    curve starts again at the resumed batch.
    """

    def __init__(self, field: str = "ids", *, every: int = 0) -> None:
        self.field, self.every = field, every
        self.curve: list[dict[str, float]] = []
        self._steps = 0
        self._window: list[torch.Tensor] = []  # (loss sum, hits, count) per step, detached

    def step(self, model: nn.Module, batch: Batch) -> StepOutput:
        chosen = batch["chosen"]
        logits = model.masked_logits(batch[self.field], chosen)  # type: ignore[operator]
        target = batch["target"][chosen]
        loss = F.cross_entropy(logits.float(), target)
        hits = logits.detach().argmax(1) == target
        if self.every:
            self._record(loss.detach(), hits)
        return StepOutput(loss, {"acc": hits.double().mean()}, int(target.numel()))

    def _record(self, loss: torch.Tensor, hits: torch.Tensor) -> None:
        n = hits.numel()
        self._window.append(torch.stack([loss * n, hits.sum().to(loss.dtype), loss.new_tensor(n)]))
        self._steps += 1
        if self._steps % self.every == 0:
            total, right, count = torch.stack(self._window).sum(0).tolist()  # one sync per window
            self.curve.append(
                {"step": self._steps, "loss": total / max(count, 1), "acc": right / max(count, 1)}
            )
            self._window = []

    def epoch_end(self) -> dict[str, float]:
        return {}


def mlm_validator(
    ids: torch.Tensor,
    masking: Masking,
    batch_size: int,
    amp: torch.dtype | None = None,
    seed: int = 0,
) -> Callable[[nn.Module], dict[str, float]]:
    """val_loss / val_acc (masked-token accuracy) on `ids` with one fixed mask (comparable
    across epochs), in batches."""
    masked, chosen = mask_tokens(ids, masking, generator(seed, 0x4D4C4D))

    def run(model: nn.Module) -> dict[str, float]:
        model.eval()
        device = next(model.parameters()).device
        loss_sum, hits, count = 0.0, 0, 0
        with torch.no_grad(), autocast(device, amp):
            for start in range(0, len(ids), batch_size):
                rows = slice(start, start + batch_size)
                pick = chosen[rows].to(device)
                logits = model.masked_logits(masked[rows].to(device), pick)  # type: ignore[operator]
                target = ids[rows].to(device)[pick]
                loss_sum += F.cross_entropy(logits.float(), target, reduction="sum").item()
                hits += int((logits.argmax(1) == target).sum())
                count += int(target.numel())
        return {"val_loss": loss_sum / max(count, 1), "val_acc": hits / max(count, 1)}

    return run


def fill_masks(
    model: nn.Module, ids: torch.Tensor, positions: Sequence[int], top: int = 5
) -> list[list[tuple[int, float]]]:
    """The `top` (token id, probability) guesses at each position of one sequence `ids` (L,)
    whose tokens there are [MASK] (the report's example fill-ins)."""
    model.eval()
    chosen = torch.zeros(1, ids.shape[0], dtype=torch.bool)
    chosen[0, list(positions)] = True
    with torch.no_grad():
        probs = model.masked_logits(ids[None], chosen).float().softmax(-1)  # type: ignore[operator]
    best = probs.topk(top, dim=-1)
    return [
        [(int(i), float(p)) for i, p in zip(idx, val, strict=True)]
        for idx, val in zip(best.indices, best.values, strict=True)
    ]
