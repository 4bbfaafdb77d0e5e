"""Encoders: the MedMPT-style CT encoder, the text encoder and linker, the lab encoder, pretraining.

Public API (imported lazily, so ``import kgdx.encoders`` and ``kgdx.encoders.ct_findings`` need no torch):

* :func:`create_encoder`, :func:`list_models`, :func:`get_model_config`, :func:`load_checkpoint`,
  :func:`save_checkpoint`: build encoders by name (``ct-tiny``, ``ct-small``, ``ct-base``,
  ``text-minilm``, ``lab-tiny``, ``lab-base``) and load weights;
* :class:`CTEncoder` / :class:`CTEncoderOutput`, :class:`CTPreprocessor`, :func:`preprocess_volume`;
* :data:`CT_FINDINGS` / :data:`CT_FINDING_IDS`: the HPO terms of the CT-finding head;
* :class:`TextEncoder`, :class:`ConceptLinker` / :class:`LinkedConcept`;
* :class:`LabEncoder`, :data:`DEFAULT_PANEL`;
* :mod:`kgdx.encoders.pretrain` for self-supervised pretraining.
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
    "ClinicalVocabulary",
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
    "create_encoder": "kgdx.encoders.factory",
    "list_models": "kgdx.encoders.factory",
    "get_model_config": "kgdx.encoders.factory",
    "load_checkpoint": "kgdx.encoders.factory",
    "save_checkpoint": "kgdx.encoders.factory",
    "CTEncoder": "kgdx.encoders.ct_encoder",
    "CTEncoderOutput": "kgdx.encoders.ct_encoder",
    "CTPreprocessor": "kgdx.encoders.preprocess",
    "preprocess_volume": "kgdx.encoders.preprocess",
    "CT_FINDINGS": "kgdx.encoders.ct_findings",
    "CT_FINDING_IDS": "kgdx.encoders.ct_findings",
    "TextEncoder": "kgdx.encoders.text",
    "ClinicalVocabulary": "kgdx.encoders.clinical_vocab",
    "ConceptLinker": "kgdx.encoders.linking",
    "LinkedConcept": "kgdx.encoders.linking",
    "LabEncoder": "kgdx.encoders.labs",
    "DEFAULT_PANEL": "kgdx.encoders.lab_panel",
    "CTEncoderCfg": "kgdx.encoders.config",
    "TextEncoderCfg": "kgdx.encoders.config",
    "LabEncoderCfg": "kgdx.encoders.config",
    "PreprocessCfg": "kgdx.encoders.config",
    "AugmentCfg": "kgdx.encoders.config",
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'encoders' has no attribute {name!r}")
    return getattr(import_module(mod), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
