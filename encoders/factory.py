"""Build encoders by name (``create_encoder("ct-tiny")``), list them, save and load checkpoints.

Names are the JSON files in ``encoders/model_configs/`` (``ct-tiny``, ``ct-small``, ``ct-base``,
``text-minilm``, ``lab-tiny``, ``lab-base``); a path to a JSON file works too, which is how a user
adds a size without touching the package.

Checkpoints (``.pt``, :mod:`kgdx.checkpoints`) carry the config they were trained with, so
``load_checkpoint`` needs nothing else. A checkpoint *name* is looked up as ``<name>.pt`` in
``$KGDX_HOME/checkpoints`` (default ``~/.kgdx/checkpoints``) and then in ``encoders/checkpoints/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kgdx import checkpoints
from kgdx.encoders.config import (
    CTEncoderCfg,
    EncoderCfg,
    LabEncoderCfg,
    TextEncoderCfg,
    config_from_dict,
    load_config_file,
)
from kgdx.errors import ModelError

__all__ = [
    "list_models",
    "get_model_config",
    "create_encoder",
    "save_checkpoint",
    "load_checkpoint",
    "describe_weights",
    "finding_head_trained",
]


def _config_dir() -> Path:
    return Path(str(resources.files("kgdx.encoders") / "model_configs"))


def list_models() -> list[str]:
    """Names of the packaged model configs, sorted."""
    return sorted(p.stem for p in _config_dir().glob("*.json"))


def get_model_config(name_or_path: str | Path) -> EncoderCfg:
    """The config for a packaged model name or a JSON file path.

    Raises:
        ModelError: naming the known models when ``name_or_path`` is neither.
    """
    p = Path(name_or_path)
    if p.suffix == ".json" and p.is_file():
        return load_config_file(p)
    packaged = _config_dir() / f"{name_or_path}.json"
    if packaged.is_file():
        return load_config_file(packaged)
    raise ModelError(f"unknown model {str(name_or_path)!r}; known: {list_models()} (or pass a .json path)")


def _build(cfg: EncoderCfg, **kwargs: Any) -> nn.Module:
    if isinstance(cfg, CTEncoderCfg):
        from kgdx.encoders.ct_encoder import CTEncoder

        return CTEncoder(cfg, **kwargs)
    if isinstance(cfg, TextEncoderCfg):
        from kgdx.encoders.text import TextEncoder

        return TextEncoder(cfg, **kwargs)
    if isinstance(cfg, LabEncoderCfg):
        from kgdx.encoders.labs import LabEncoder

        return LabEncoder(cfg, **kwargs)
    raise ModelError(f"cannot build an encoder from {type(cfg).__name__}")  # pragma: no cover


def create_encoder(
    name_or_path: str | Path | EncoderCfg,
    *,
    pretrained: str | Path | None = None,
    device: str | torch.device | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build an encoder from a model name, a config JSON path or a config object.

    Args:
        name_or_path: ``"ct-tiny"``, ``"text-minilm"``, ``"lab-base"`` ..., a ``.json`` path, or a
            config dataclass.
        pretrained: A checkpoint name or path whose weights to load (its config must match).
        device: Where to put the model.
        seed: Seed the random initialisation (``torch.manual_seed``), so that two calls give the
            same weights; ``None`` draws from torch's current state.
        **kwargs: Passed to the model class, e.g. ``finding_head=False`` for a CT encoder.

    Example:
        >>> enc = create_encoder("ct-tiny")
        >>> type(enc).__name__, enc.embed_dim
        ('CTEncoder', 64)
    """
    cfg = (
        name_or_path
        if isinstance(name_or_path, (CTEncoderCfg, TextEncoderCfg, LabEncoderCfg))
        else get_model_config(name_or_path)
    )
    if seed is not None:
        torch.manual_seed(seed)
    model = _build(cfg, **kwargs)
    model.init_seed = seed  # type: ignore[assignment]
    if pretrained is not None:
        blob = checkpoints.read(pretrained, kinds=("encoder", "pretrain"), shipped=_shipped())
        _load_state(model, blob)
        model.weights = _checkpoint_weights(model, blob)  # type: ignore[assignment]
    if device is not None:
        model.to(device)
    return model


def _load_state(model: nn.Module, blob: dict[str, Any]) -> None:
    try:
        missing, unexpected = model.load_state_dict(blob["state_dict"], strict=False)
    except RuntimeError as e:  # shape mismatches: a checkpoint of another size
        detail = " ".join(str(e).split())
        raise ModelError(f"checkpoint does not fit the model: {detail[:400]}", file=blob["path"]) from None
    # A checkpoint from pretraining has no finding head; a model built with one keeps its init.
    missing = [k for k in missing if not k.startswith("finding_head.")]
    if missing or unexpected:
        raise ModelError(
            f"checkpoint does not fit the model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}",
            file=blob["path"],
        )


def _sha256(path: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _checkpoint_weights(model: nn.Module, blob: dict[str, Any]) -> dict[str, Any]:
    """What ``describe_weights`` reports for a model loaded from ``blob``: the file, its SHA-256,
    and whether its finding head (if the model has one) was trained."""
    meta = dict(blob.get("meta") or {})
    has_head = any(k.startswith("finding_head.") for k in blob["state_dict"])
    return {
        "source": "checkpoint",
        "checkpoint": str(blob["path"]),
        "sha256": _sha256(blob["path"]),
        "kind": blob.get("kind"),
        "finding_head": "none"
        if getattr(model, "finding_head", None) is None
        else ("trained" if has_head and _head_was_trained(meta) else "untrained"),
        "meta": meta,
    }


def _head_was_trained(meta: dict[str, Any]) -> bool:
    """A checkpoint's finding head is trained when its training said so (``kgdx train-ct-head``
    writes ``finding_head: trained``); a saved random or hand-set head is not."""
    return meta.get("finding_head") == "trained" or meta.get("trained_by") == "kgdx.encoders.train_ct_head"


def describe_weights(model: nn.Module) -> dict[str, Any]:
    """Where an encoder's weights came from: ``source`` (``checkpoint`` or ``random``), the
    checkpoint file and its SHA-256, the seed of a random one, and ``finding_head``: ``trained``,
    ``untrained`` (random or never fitted: its probabilities mean nothing) or ``none``."""
    w = getattr(model, "weights", None)
    if isinstance(w, dict):
        return {k: v for k, v in w.items() if k != "meta"}
    head = getattr(model, "finding_head", None)
    return {
        "source": "random",
        "model": getattr(getattr(model, "cfg", None), "name", None),
        "seed": getattr(model, "init_seed", None),
        "finding_head": "none" if head is None else "untrained",
    }


def finding_head_trained(model: nn.Module) -> bool:
    """Whether ``model`` has a finding head that was trained (see :func:`describe_weights`)."""
    return describe_weights(model)["finding_head"] == "trained"


def _shipped() -> Path:
    return Path(str(resources.files("kgdx.encoders") / "checkpoints"))


def save_checkpoint(model: nn.Module, path: str | Path, *, meta: dict[str, Any] | None = None) -> Path:
    """Save an encoder's weights with its config, loadable by :func:`load_checkpoint`."""
    cfg = getattr(model, "cfg", None)
    if cfg is None or not hasattr(cfg, "to_dict"):
        raise ValueError(f"'model' must be a kgdx encoder with a config, got {type(model).__name__}")
    return checkpoints.save(path, kind="encoder", config=cfg.to_dict(), state_dict=model.state_dict(), meta=meta)


def load_checkpoint(name_or_path: str | Path, *, device: str | torch.device | None = None, **kwargs: Any) -> nn.Module:
    """Rebuild an encoder from a checkpoint name or path (see the module docstring).

    Accepts both encoder checkpoints (:func:`save_checkpoint`) and pretraining checkpoints
    (``kgdx.encoders.pretrain``), which hold the online encoder under the same key.

    Raises:
        ModelError: naming the file when it is missing, unreadable or does not fit its config.
    """
    blob = checkpoints.read(name_or_path, kinds=("encoder", "pretrain"), shipped=_shipped())
    cfg = config_from_dict(blob["config"], where=blob["path"])
    has_head = any(k.startswith("finding_head.") for k in blob["state_dict"])
    if isinstance(cfg, CTEncoderCfg) and not has_head:
        kwargs.setdefault("finding_head", False)
    model = _build(cfg, **kwargs)
    _load_state(model, blob)
    model.eval()
    model.weights = _checkpoint_weights(model, blob)  # type: ignore[assignment]
    if device is not None:
        model.to(device)
    return model
