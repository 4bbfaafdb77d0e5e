"""Saving and loading the phenotype model by name or path.

A checkpoint holds the model's config and weights, the settings it was trained with and its
validation history, so ``kgdx train`` can say exactly how a shipped checkpoint was made. It holds
nothing specific to one KG: the model scores diseases from their neighbourhood, so the same
checkpoint ranks a KG extended by modules.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch

from kgdx.errors import ModelError
from kgdx.reasoning.model import EvidenceGNN, EvidenceGNNConfig

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_path", "CHECKPOINTS"]

#: Checkpoints that ship with kgdx, by name.
CHECKPOINTS = {"default": "evidence-gnn-default.pt"}


def checkpoint_path(name_or_path: str | Path) -> Path:
    """The file of a named checkpoint, or ``name_or_path`` itself if it is a file.

    Raises:
        ModelError: if it is neither.
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    name = str(name_or_path)
    if name in CHECKPOINTS:
        ref = resources.files("kgdx.reasoning") / "checkpoints" / CHECKPOINTS[name]
        with resources.as_file(ref) as f:
            if f.is_file():
                return f
        raise ModelError(f"the shipped checkpoint {name!r} is missing from the install; rebuild it with `kgdx train`")
    raise ModelError(f"no checkpoint named or at {name!r} (known names: {sorted(CHECKPOINTS)})")


def save_checkpoint(model: EvidenceGNN, path: str | Path, **info: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": 1, "config": model.config_dict(), "state_dict": model.state_dict(), "info": info}, path)
    return path


def load_checkpoint(name_or_path: str | Path = "default") -> tuple[EvidenceGNN, dict[str, Any]]:
    """The model and the info saved with it."""
    path = checkpoint_path(name_or_path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
        model = EvidenceGNN(EvidenceGNNConfig(**blob["config"]))
        model.load_state_dict(blob["state_dict"])
    except (KeyError, RuntimeError, TypeError, EOFError, OSError, ValueError) as e:
        raise ModelError(f"not a kgdx phenotype-model checkpoint: {e}", file=path) from None
    model.eval()
    return model, blob.get("info", {})
