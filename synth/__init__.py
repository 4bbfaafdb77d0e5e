"""A synthetic multimodal chest cohort grounded in the KG: CT phantoms with lesion masks,
radiology reports, labs, symptoms and drugs, written as GA4GH phenopackets with gold labels.

The KG's respiratory module is the source of truth (diseases, phenotype frequencies, lab tests
and ``INDICATES``, ``TREATS``, contraindications and interactions); see
``docs/synthetic-cohort.md`` for what is generated and how hard it is.

This package imports numpy, scipy and pydantic; nibabel is needed to write volumes, the
``phenopackets`` package to validate, matplotlib only for :func:`render_montage`. No torch.

Example:
    >>> from kgdx.synth import SynthConfig, VolumeConfig, generate_cohort             # doctest: +SKIP
    >>> from kgdx.ingest.cohort import read_cohort                                     # doctest: +SKIP
    >>> cfg = SynthConfig(volume=VolumeConfig(shape=(32, 64, 64)))                       # doctest: +SKIP
    >>> generate_cohort("cohort", 10, seed=0, cfg=cfg, workers=2)                        # doctest: +SKIP
    >>> read_cohort("cohort").case("synth-000000").labs[:2]                              # doctest: +SKIP
"""

from kgdx.synth.cohort import (
    CohortSummary,
    SynthCase,
    generate_cohort,
    make_case,
    write_case,
)
from kgdx.synth.config import DifficultyConfig, SplitConfig, SynthConfig, VolumeConfig, parse_size
from kgdx.synth.findings import CT_CATALOGUE, LABEL_OF, RENDERED, modality_of
from kgdx.synth.kg_source import KgSource, load_kg_source
from kgdx.synth.montage import render_case_montage, render_montage
from kgdx.synth.patient import Patient, PatientSampler

__all__ = [
    "SynthConfig",
    "VolumeConfig",
    "DifficultyConfig",
    "SplitConfig",
    "parse_size",
    "generate_cohort",
    "make_case",
    "write_case",
    "CohortSummary",
    "SynthCase",
    "KgSource",
    "load_kg_source",
    "Patient",
    "PatientSampler",
    "CT_CATALOGUE",
    "RENDERED",
    "LABEL_OF",
    "modality_of",
    "render_montage",
    "render_case_montage",
]
