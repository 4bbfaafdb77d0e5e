"""Saving and loading the phenotype model by name or path (:mod:`kgdx.checkpoints` format).

A checkpoint holds the model's config and weights, and in ``meta`` the settings it was trained
with and its validation history, so one can say exactly how a shipped checkpoint was made. It
holds nothing specific to one KG: the model scores diseases from their neighbourhood, so the same
checkpoint ranks a KG extended by modules. The shipped checkpoint is named ``default``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from kgdx import checkpoints
from kgdx.errors import ModelError
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_path", "KIND"]

KIND = "phenotype-model"


def _shipped() -> Path:
    return Path(str(resources.files("kgdx.reasoning") / "checkpoints"))


def checkpoint_path(name_or_path: str | Path) -> Path:
    """The file of a checkpoint name (``default``: the shipped one) or path.

    Raises:
        ModelError: if it is neither.
    """
    return checkpoints.resolve(name_or_path, shipped=_shipped())


def save_checkpoint(model: EvidenceGNN, path: str | Path, *, meta: dict[str, Any] | None = None, **extra: Any) -> Path:
    """Save the model; ``meta`` describes how it was made, ``extra`` holds training state."""
    return checkpoints.save(
        path, kind=KIND, config=model.config_dict(), state_dict=model.state_dict(), meta=meta, **extra
    )


def load_checkpoint(name_or_path: str | Path = "default") -> tuple[EvidenceGNN, dict[str, Any]]:
    """The model, in eval mode, and the ``meta`` saved with it."""
    blob = checkpoints.read(name_or_path, kinds=(KIND,), shipped=_shipped())
    try:
        model = EvidenceGNN(EvidenceGNNConfig(**blob["config"]))
        model.load_state_dict(blob["state_dict"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise ModelError(f"the checkpoint does not fit the phenotype model: {e}", file=blob["path"]) from None
    model.eval()
    return model, blob["meta"]
