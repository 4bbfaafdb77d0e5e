"""Encoders: the MedMPT-style CT encoder, the text encoder and linker, the lab encoder, pretraining.

Public API (imported lazily, so ``import encoders`` and ``encoders.ct_findings`` need no torch):

* :func:`create_encoder`, :func:`list_models`, :func:`get_model_config`, :func:`load_checkpoint`,
  :func:`save_checkpoint`: build encoders by name (``ct-tiny``, ``ct-small``, ``ct-base``,
  ``text-minilm``, ``lab-tiny``, ``lab-base``) and load weights;
* :class:`CTEncoder` / :class:`CTEncoderOutput`, :class:`CTPreprocessor`, :func:`preprocess_volume`;
* :data:`CT_FINDINGS` / :data:`CT_FINDING_IDS`: the HPO terms of the CT-finding head;
* :class:`TextEncoder`, :class:`ConceptLinker` / :class:`LinkedConcept`;
* :class:`LabEncoder`, :data:`DEFAULT_PANEL`;
* :mod:`encoders.pretrain` for self-supervised pretraining.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "create_encoder",
    "list_models",
    "get_model_config",
    "load_checkpoint",
    "save_checkpoint",
    "CTEncoder",
    "CTEncoderOutput",
    "CTPreprocessor",
    "preprocess_volume",
    "CT_FINDINGS",
    "CT_FINDING_IDS",
    "TextEncoder",
    "ConceptLinker",
    "LinkedConcept",
    "LabEncoder",
    "DEFAULT_PANEL",
    "CTEncoderCfg",
    "TextEncoderCfg",
    "LabEncoderCfg",
    "PreprocessCfg",
    "AugmentCfg",
]

_WHERE = {
    "create_encoder": "encoders.factory",
    "list_models": "encoders.factory",
    "get_model_config": "encoders.factory",
    "load_checkpoint": "encoders.factory",
    "save_checkpoint": "encoders.factory",
    "CTEncoder": "encoders.ct_encoder",
    "CTEncoderOutput": "encoders.ct_encoder",
    "CTPreprocessor": "encoders.preprocess",
    "preprocess_volume": "encoders.preprocess",
    "CT_FINDINGS": "encoders.ct_findings",
    "CT_FINDING_IDS": "encoders.ct_findings",
    "TextEncoder": "encoders.text",
    "ConceptLinker": "encoders.linking",
    "LinkedConcept": "encoders.linking",
    "LabEncoder": "encoders.labs",
    "DEFAULT_PANEL": "encoders.lab_panel",
    "CTEncoderCfg": "encoders.config",
    "TextEncoderCfg": "encoders.config",
    "LabEncoderCfg": "encoders.config",
    "PreprocessCfg": "encoders.config",
    "AugmentCfg": "encoders.config",
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'encoders' has no attribute {name!r}")
    return getattr(import_module(mod), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
