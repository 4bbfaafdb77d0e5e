"""Model checkpoints: one file format and one name lookup for every kgdx model.

A checkpoint is a torch file holding a dict::

    {"format": "kgdx-checkpoint/1", "kind": "encoder", "config": {...}, "state_dict": {...},
     "meta": {...}, ...}

``kind`` says which model it rebuilds (``encoder``, ``pretrain``, ``phenotype-model``) and
``config`` is everything needed to build that model before loading ``state_dict``; a training
run may add more keys (optimizer state, a step) that only it reads. Files are written atomically,
so a crash never leaves half a checkpoint under the real name.

A checkpoint *name* (not a path) is looked up as ``<name>.pt`` in ``$KGDX_HOME/checkpoints``,
then among the checkpoints that ship with the package that owns the model. Errors are
:class:`~kgdx.errors.ModelError` and name the file. torch is imported on first use only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kgdx.errors import ModelError

__all__ = ["FORMAT", "save", "resolve", "read", "search_dirs"]

#: Format tag of every checkpoint kgdx writes.
FORMAT = "kgdx-checkpoint/1"


def search_dirs(shipped: Path | None = None) -> list[Path]:
    """Where names are looked up, in order: the user's checkpoints, then ``shipped``."""
    from kgdx.settings import get_settings

    return [get_settings().checkpoints_dir, *([shipped] if shipped is not None else [])]


def resolve(name_or_path: str | Path, *, shipped: Path | None = None) -> Path:
    """The file of a checkpoint path or name.

    Raises:
        ModelError: if it is neither an existing file nor a known name.
    """
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    if p.suffix or os.sep in str(name_or_path):
        raise ModelError("no such checkpoint file", file=p)
    dirs = search_dirs(shipped)
    for d in dirs:
        cand = d / f"{name_or_path}.pt"
        if cand.is_file():
            return cand
    raise ModelError(f"no checkpoint named {str(name_or_path)!r} in {[str(d) for d in dirs]}; pass a path")


def save(
    path: str | Path,
    *,
    kind: str,
    config: dict[str, Any],
    state_dict: dict[str, Any],
    meta: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """Write a checkpoint atomically; returns its path."""
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT,
        "kind": kind,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "meta": dict(meta or {}),
        **extra,
    }
    tmp = p.with_suffix(p.suffix + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, p)
    return p


def read(name_or_path: str | Path, *, kinds: Iterable[str], shipped: Path | None = None) -> dict[str, Any]:
    """A checkpoint's dict, checked to be one of ``kinds``; ``"path"`` holds the file it came from.

    Raises:
        ModelError: naming the file when it is missing, unreadable, or of another kind.
    """
    import torch

    path = resolve(name_or_path, shipped=shipped)
    kinds = tuple(kinds)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ModelError(
            f"cannot read the checkpoint (corrupt or truncated?): {type(e).__name__}: {e}", file=path
        ) from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelError(f"not a kgdx checkpoint (expected format {FORMAT!r})", file=path)
    if blob.get("kind") not in kinds:
        raise ModelError(f"a {blob.get('kind')!r} checkpoint, not {' or '.join(map(repr, kinds))}", file=path)
    blob["path"] = str(path)
    return blob
