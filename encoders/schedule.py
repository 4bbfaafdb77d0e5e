"""The learning-rate schedule every kgdx training loop uses: linear warm-up, then cosine decay."""

from __future__ import annotations

import math

__all__ = ["cosine_warmup"]


def cosine_warmup(step: int, warmup: int, total: int, min_ratio: float = 0.0, peak: float = 1.0) -> float:
    """The learning rate at ``step``: linear warm-up to ``peak`` over ``warmup`` steps, then cosine
    decay to ``min_ratio × peak`` at ``total``. With ``peak=1`` it is a multiplier (``LambdaLR``)."""
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
