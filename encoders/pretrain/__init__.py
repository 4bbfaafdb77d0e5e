"""Self-supervised pretraining of the CT encoder on (CT, report) pairs, MedMPT-style.

Objectives (each switchable and weighted in the run config): MoCo at slice and scan level,
image–report contrastive, MAE on slices and report generation. Entry points:
:func:`~kgdx.encoders.pretrain.trainer.pretrain` in Python, ``kgdx pretrain --config FILE`` on the
command line, and ``torchrun --nproc_per_node N -m kgdx.encoders.pretrain --config FILE`` for DDP.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PretrainConfig", "load_pretrain_config", "pretrain", "PretrainResult"]


def __getattr__(name: str) -> Any:
    # Lazy, so that reading a config does not import torch.
    if name in ("PretrainConfig", "load_pretrain_config"):
        from kgdx.encoders.pretrain import config

        return getattr(config, name)
    if name in ("pretrain", "PretrainResult"):
        from kgdx.encoders.pretrain import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'kgdx.encoders.pretrain' has no attribute {name!r}")
