"""Memory-network attention as heat maps: sentences (oldest on top) × hops, supporting facts marked.

The plot data is plain JSON (`attention_examples` builds it from a task's test questions and
the model's attention), registered as plot kind "memory-attention", so `tamrin report` redraws
the figure from figures/<name>.json alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from tamrin.eval.figures import register_drawer

MAX_SENTENCES = 12  # the most recent memories drawn per question


def attention_examples(
    task: Any, attention: torch.Tensor, predicted: torch.Tensor, answers: Sequence[str], n: int
) -> list[dict[str, Any]]:
    """Up to `n` test questions of `task` (a `BabiTask`) with their attention per hop.

    `attention` (N, K, M) is over memory slots (slot 0 = most recent); each example lists its
    real sentences oldest first (the `MAX_SENTENCES` most recent), their attention per hop, and
    which are supporting facts. The
    questions are spread over the test split (every N/n-th), not the first few stories only.
    """
    total = len(task.test_questions)
    picks = sorted({int(i) for i in np.linspace(0, total - 1, num=min(n, total))}) if n else []
    out = []
    for i in picks:
        q = task.test_questions[i]
        real = int((task.test["story"][i] != 0).any(-1).sum())
        shown = min(real, MAX_SENTENCES)
        kept = list(zip(q.story, q.lines, strict=True))[-shown:] if shown else []
        att = attention[i, :, :shown].flip(-1)  # oldest first, as the kept sentences
        out.append(
            {
                "task": int(task.task),
                "question": " ".join(q.question) + "?",
                "answer": q.answer,
                "predicted": answers[int(predicted[i])],
                "sentences": [" ".join(s) for s, _ in kept],
                "support": [line in q.supporting for _, line in kept],
                "attention": att.tolist(),  # [hop][sentence]
                "older": real - shown,  # memories not drawn (their attention is not shown)
            }
        )
    return out


@register_drawer("memory-attention")
def draw_memory_attention(data: dict[str, Any]) -> Figure:
    examples = data["examples"]
    n = max(len(examples), 1)
    heights = [max(len(e["sentences"]), 1) for e in examples] or [1]
    fig = Figure(figsize=(7.5, 1.2 + 0.28 * sum(heights) + 0.6 * n), layout="constrained")
    axes = fig.subplots(n, 1, gridspec_kw={"height_ratios": heights}, squeeze=False)[:, 0]
    for ax, ex in zip(axes, examples, strict=False):
        values = np.asarray(ex["attention"], dtype=float).T  # (sentences, hops)
        if values.size == 0:
            values = np.zeros((1, 1))
        ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
        hops = values.shape[1]
        ax.set_xticks(range(hops), labels=[f"hop {h + 1}" for h in range(hops)], fontsize=8)
        labels = [
            ("★ " if s else "") + text
            for text, s in zip(ex["sentences"], ex["support"], strict=False)
        ]
        ax.set_yticks(range(len(labels)), labels=labels, fontsize=7)
        for tick, s in zip(ax.get_yticklabels(), ex["support"], strict=False):
            if s:
                tick.set_fontweight("bold")
        for (r, c), v in np.ndenumerate(values):
            if v >= 0.05:
                ax.text(
                    c,
                    r,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if v > 0.6 else "black",
                )
        mark = "✓" if ex["predicted"] == ex["answer"] else "✗"
        older = f"\n({ex['older']} older sentences not drawn)" if ex.get("older") else ""
        ax.set_title(
            f"task {ex['task']}: {ex['question']}  answer {ex['answer']}, "
            f"predicted {ex['predicted']} {mark}{older}",
            fontsize=9,
        )
    return fig
