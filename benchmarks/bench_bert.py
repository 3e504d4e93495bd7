"""Tokens/s of tamrin's BERT encoder vs `transformers`' BertModel, the same MiniLM weights.

Both models hold all-MiniLM-L6-v2 (6 layers, 384 hidden, 12 heads) and see the same batches of
random token ids (a quarter of the rows padded to half length, as real reviews are). Timed in
one process, arms interleaved round by round (so drift and contention hit both), on `--threads`
cores:

    forward     eval mode, no grad (inference, the test pass)
    train       forward + backward + AdamW step, train mode

each in fp32 and under bf16 autocast, for the checkpoint's own dropout (attention dropout 0.1,
both models) and for attention dropout 0 (both; tamrin's fine-tuning default, which lets
torch's fused attention kernel run). Reported: median tokens/s per arm and the ratio
tamrin / transformers (target >= 1.0), with the machine's CPU flags.

    python benchmarks/bench_bert.py --out benchmarks/results/bert-tokens-x86_64-2cores.json
    python benchmarks/bench_bert.py --rounds 2 --length 64    # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench_kerastuner import machine
from tamrin.models.bert import BertEncoder
from tamrin.train.hf_checkpoint import checkpoint_folder, load_bert


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per arm (median)")
    p.add_argument("--steps", type=int, default=3, help="steps per round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path)
    return p.parse_args()


def batch(size: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 29000, (size, length), generator=g)
    ids[:, 0] = 101
    ids[: size // 4, length // 2 :] = 0  # a quarter of the rows padded
    return ids, (ids != 0).long()


def models(attention_dropout: float) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(tamrin, transformers) with MiniLM's weights and the same dropout."""
    from transformers import AutoModel

    theirs = AutoModel.from_pretrained(
        checkpoint_folder("minilm"), attention_probs_dropout_prob=attention_dropout
    )
    cfg, state = load_bert("minilm", attention_dropout=attention_dropout)
    ours = BertEncoder(cfg)
    ours.load_state_dict(state)
    return ours, theirs


def agreement(ids: torch.Tensor, mask: torch.Tensor, tol: float = 1e-4) -> dict[str, Any]:
    """Both encoders' fp32 eval outputs on the batch's real (unpadded) tokens must agree: a
    tokens/s ratio only compares two implementations of the same function."""
    ours, theirs = models(0.1)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        a = ours(ids)[0]
        b = theirs(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    diff = float((a[real] - b[real]).abs().max())
    return {
        "ok": diff <= tol,
        "checked": f"fp32 eval hidden states on unpadded tokens, max |diff| <= {tol}",
        "detail": f"max |diff| {diff:.2e}",
    }


def step_fn(
    model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, train: bool, bf16: bool, hf: bool
) -> Callable[[], None]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5) if train else None
    model.train(train)

    def forward() -> torch.Tensor:
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            if hf:
                return model(input_ids=ids, attention_mask=mask).last_hidden_state
            return model(ids)[0]

    def step() -> None:
        if opt is None:
            with torch.no_grad():
                forward()
            return
        forward().float().pow(2).mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def main() -> None:
    args = parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    ids, mask = batch(args.batch, args.length)
    tokens = int(ids.numel()) * args.steps
    results: list[dict[str, Any]] = []
    for dropout in (0.1, 0.0):
        ours, theirs = models(dropout)
        for train in (False, True):
            if not train and dropout != 0.1:
                continue  # eval mode: dropout is off, the forward arm is the same
            for bf16 in (False, True):
                arms = {
                    "tamrin": step_fn(ours, ids, mask, train, bf16, hf=False),
                    "transformers": step_fn(theirs, ids, mask, train, bf16, hf=True),
                }
                for fn in arms.values():
                    fn()  # warm-up (allocations, autocast caches, oneDNN kernels)
                times: dict[str, list[float]] = {k: [] for k in arms}
                for _ in range(args.rounds):
                    for name, fn in arms.items():
                        start = time.perf_counter()
                        for _ in range(args.steps):
                            fn()
                        times[name].append(time.perf_counter() - start)
                rate = {k: tokens / statistics.median(v) for k, v in times.items()}
                row = {
                    "mode": "train" if train else "forward",
                    "precision": "bf16" if bf16 else "fp32",
                    "attention_dropout": dropout if train else None,
                    "tokens_per_s": {k: round(v) for k, v in rate.items()},
                    "ratio": round(rate["tamrin"] / rate["transformers"], 3),
                }
                print(json.dumps(row), flush=True)
                results.append(row)
    record = {
        "benchmark": "bert-tokens",
        "model": "all-MiniLM-L6-v2 (same weights in both)",
        "batch": args.batch,
        "length": args.length,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "machine": machine(args.threads),
        "results": results,
        "agreement": agreement(ids, mask),
    }
    print(f"agreement: {record['agreement']['detail']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
