"""Patient features for the learned fusion baselines of ``benchmarks/chest.py``: the CT scan
embedding, the report's MiniLM embedding and the lab vector, taken from cases that
:class:`kgdx.reasoning.case_builder.CaseBuilder` built with ``embed=True``; and modality ablations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np

from kgdx.ingest.case import PatientCase, loinc_curie
from kgdx.ingest.labs import LabResult, scale_to_reference

__all__ = ["lab_vector", "patient_features", "select_modalities"]


def select_modalities(case: PatientCase, origins: Iterable[str], *, labs: bool = True) -> PatientCase:
    """A copy of ``case`` with only the findings whose ``origin`` is in ``origins`` (e.g.
    ``{"phenopacket", "report"}``) and, unless ``labs``, no lab results, for ablations by modality.
    Lab-derived findings (``origin="labs"``) are added again by the Diagnoser when ``labs``."""
    keep = set(origins)
    return replace(
        case,
        observed=[f for f in case.observed if f.origin in keep],
        excluded=[f for f in case.excluded if f.origin in keep],
        labs=list(case.labs) if labs else [],
        unknown_ids=dict(case.unknown_ids),
        extra=dict(case.extra),
    )


def _scaled(value: float, low: float | None, high: float | None) -> float:
    if low is not None and high is not None and high <= low:  # qualitative test, range [0, 0]
        return 2.0 if value > high else 0.0
    if low is None and high is None:
        return 0.0
    return scale_to_reference(value, low, high)


def lab_vector(
    labs: Sequence[LabResult], tests: Sequence[str], ranges: dict[str, tuple[float | None, float | None]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lab values over ``tests`` (``LOINC:`` ids) scaled to their reference range (``low → −1``,
    ``high → +1``; a positive qualitative test is 2), and a presence mask.

    The last value of a test wins. A row's own range is used, else ``ranges[test]``.

    Returns:
        ``values (T,)`` float32 and ``present (T,)`` bool.
    """
    index = {t: i for i, t in enumerate(tests)}
    values = np.zeros(len(tests), np.float32)
    present = np.zeros(len(tests), bool)
    for lab in labs:
        code = loinc_curie(lab.loinc)
        i = index.get(code)
        if i is None or lab.value is None:
            continue
        lo, hi = lab.ref_low, lab.ref_high
        if lo is None and hi is None and ranges:
            lo, hi = ranges.get(code, (None, None))
        values[i] = _scaled(lab.value, lo, hi)
        present[i] = True
    return values, present


def patient_features(store, cases: Sequence[PatientCase]) -> dict[str, np.ndarray]:  # noqa: ANN001 - a KGStore
    """``ct (N, D)``, ``report (N, 384)``, ``labs (N, T)`` and ``labs_present (N, T)`` over the
    store's ``LabTest`` nodes, in id order. Every case must carry its CT and report embeddings."""
    tests = sorted(store.iter_nodes("LabTest"), key=lambda n: n.id)
    ids = [n.id for n in tests]
    ranges = {n.id: (n.props.get("ref_low"), n.props.get("ref_high")) for n in tests}
    labs = [lab_vector(c.labs, ids, ranges) for c in cases]
    return {
        "ct": np.stack([c.embeddings["ct"] for c in cases]),
        "report": np.stack([c.embeddings["report"] for c in cases]),
        "labs": np.stack([v for v, _ in labs]),
        "labs_present": np.stack([p for _, p in labs]),
    }
