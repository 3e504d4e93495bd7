"""A text run's model on new texts: probabilities and the attention page of each text.

`TextPredictor(run_dir)` reads model.json (task "text"): the registered network, its weights,
the tokenizer the run kept (artifacts/tokenizer.json) and its truncation (max_len, head), so a
text is cut and encoded exactly as the run's test reviews were. `attention_page(text, path)`
writes the offline viewer (`tamrin.eval.attention_viewer`) for one text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tamrin.data import wordpiece
from tamrin.errors import ConfigError
from tamrin.eval.attention_viewer import write_attention_page
from tamrin.inference import load_model, read_spec
from tamrin.tasks.text_classification import text_logits


class TextPredictor:
    """A text classifier run, loaded once: `predict(texts)`, `attention_page(text, path)`."""

    def __init__(self, run_dir: str | Path, device: str | torch.device = "cpu") -> None:
        self.spec = read_spec(run_dir)
        if self.spec.task != "text" or self.spec.text is None:
            raise ConfigError(
                f"run {self.spec.run_dir} ({self.spec.recipe}) does not classify texts "
                f"(its model takes {self.spec.task} inputs); tamrin predict RUN IMAGE..."
            )
        self.device = torch.device(device)
        self.model = load_model(run_dir, self.device)
        self.tokenizer = wordpiece.load_tokenizer(self.spec.run_dir / self.spec.text["tokenizer"])
        self.pad = wordpiece.special_ids(self.tokenizer).pad

    @property
    def classes(self) -> list[str]:
        return list(self.spec.classes)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, max_len) ids, head + tail truncated as the run's reviews were."""
        if isinstance(texts, str):
            texts = [texts]
        assert self.spec.text is not None
        return wordpiece.encode_texts(
            self.tokenizer, list(texts), max_len=self.spec.text["max_len"],
            head=self.spec.text["head"],
        )  # fmt: skip

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(N, K) float32 class probabilities (fp32, in length-sorted, trimmed batches)."""
        logits = text_logits(self.model, self.encode(texts), pad=self.pad, batch_size=batch_size)
        return logits.softmax(1).numpy()

    @torch.inference_mode()
    def attention_page(self, text: str, path: str | Path, *, title: str = "") -> Path:
        """The offline head view / model view of `text` under this run's model."""
        ids = self.encode([text])[0]
        ids = ids[ids != self.pad][None].to(self.device)
        weights = self.model.attention(ids)[0]  # type: ignore[operator]
        proba = self.model(ids).float().softmax(1)[0]
        tokens = [str(self.tokenizer.id_to_token(int(t))) for t in ids[0]]
        note = ", ".join(
            f"p({c}) = {p:.3f}" for c, p in zip(self.classes, proba.tolist(), strict=True)
        )
        return write_attention_page(
            path, tokens, weights, title=title or text, note=f"{self.spec.recipe}: {note}"
        )
