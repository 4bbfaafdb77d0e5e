"""GA4GH Phenopackets (schema v2 JSON) read into a :class:`~kgdx.ingest.case.PatientCase`.

Each file is first parsed as JSON (a syntax error names the line), then validated against the
GA4GH schema with the ``phenopackets`` package (an unknown or mistyped field is named), then
read: observed and excluded phenotypic features, sex and age, the diagnosis, the causal genes,
measurements (LOINC) as labs, medical actions as current drugs, and linked files.

HPO ids pass through a resolver (usually the KG: ``store.node(id)`` knows alt and obsolete ids),
so obsolete ids are mapped and unknown ids are reported in ``case.unknown_ids``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kgdx.errors import DataError
from kgdx.files import parse_json, read_text
from kgdx.ingest.case import Finding, PatientCase
from kgdx.ingest.labs import LabResult

__all__ = ["read_phenopacket", "iter_phenopackets", "parse_iso_age", "validate_phenopacket"]

_HP = re.compile(r"^HP:\d{7}$")
#: Largest phenopacket file read (real ones are a few KiB to a few hundred KiB).
MAX_PHENOPACKET_BYTES = 20_000_000
_AGE = re.compile(r"^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T.*)?$")

Resolver = Callable[[str], str | None]


def parse_iso_age(text: str) -> float | None:
    """An ISO 8601 duration such as ``P3Y6M`` in years, or ``None`` if it is not one."""
    m = _AGE.match(text or "")
    if not m or text == "P":
        return None
    y, mo, w, d = (float(g) if g else 0.0 for g in m.groups())
    return round(y + mo / 12 + w / 52.18 + d / 365.25, 3)


def validate_phenopacket(doc: dict[str, Any], where: str | Path | None = None) -> None:
    """Check ``doc`` against the GA4GH Phenopacket v2 schema (``phenopackets`` package).

    Raises:
        DataError: naming the problem (and ``where``) when the schema refuses it.
        ImportError: when the ``phenopackets`` package is not installed.
    """
    from google.protobuf import json_format
    from phenopackets.schema.v2.phenopackets_pb2 import Phenopacket

    try:
        json_format.ParseDict(doc, Phenopacket(), ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise DataError(f"not a valid GA4GH Phenopacket v2: {e}", file=where) from None


def _validate_schema(doc: dict, path: Path) -> None:
    try:
        validate_phenopacket(doc, path)
    except ImportError:  # the schema package is optional; the reader below still checks fields
        return


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def read_phenopacket(path: str | Path, resolve: Resolver | None = None, *, validate: bool = True) -> PatientCase:
    """Read one phenopacket file.

    Args:
        path: A phenopacket v2 JSON file.
        resolve: Maps an HPO id to the current id, or ``None`` if unknown (e.g. a KG's
            ``lambda i: (n := store.node(i)) and n.id``). Without it ids are kept as written.
        validate: Check the file against the GA4GH schema first.

    Raises:
        DataError: naming the file, and the line or field, for invalid JSON, a schema violation,
            or a feature without an id.
    """
    path = Path(path)
    doc = parse_json(read_text(path, what="phenopacket", max_bytes=MAX_PHENOPACKET_BYTES), file=path)
    if not isinstance(doc, dict):
        raise DataError("a phenopacket must be a JSON object", file=path, line=1)
    # Required by the GA4GH schema: without an id a case cannot be told apart in results.
    if not isinstance(doc.get("id"), str) or not doc["id"].strip():
        raise DataError("a phenopacket needs a non-empty string 'id'", file=path, field="id")
    for key in ("subject", "metaData"):
        if key in doc and not isinstance(doc[key], dict):
            raise DataError(f"'{key}' must be an object", file=path, field=key)
    for key in ("phenotypicFeatures", "interpretations", "diseases", "measurements", "medicalActions", "files"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], list):
            raise DataError(f"'{key}' must be a list", file=path, field=key)
    if validate:
        _validate_schema(doc, path)
    case = PatientCase(id=doc["id"].strip(), source=str(path))
    subject = doc.get("subject") or {}
    case.sex = subject.get("sex", "UNKNOWN_SEX") or "UNKNOWN_SEX"
    case.age_years = parse_iso_age(_get(subject, "timeAtLastEncounter", "age", "iso8601duration") or "")

    seen: set[tuple[str, bool]] = set()
    for name in ("phenotypicFeatures", "diseases", "files"):
        for i, item in enumerate(doc.get(name) or []):
            if not isinstance(item, dict):
                raise DataError("must be an object", file=path, field=f"{name}[{i}]")
    for i, feat in enumerate(doc.get("phenotypicFeatures") or []):
        term = _get(feat, "type", "id")
        field = f"phenotypicFeatures[{i}].type.id"
        if not isinstance(term, str) or not term:
            raise DataError("a phenotypic feature has no id", file=path, field=field)
        excluded = bool(feat.get("excluded", False))
        if not _HP.match(term):
            case.unknown_ids[term] = "not an HPO id"
            continue
        current = resolve(term) if resolve else term
        if current is None:
            case.unknown_ids[term] = "unknown or obsolete in the installed HPO"
            continue
        if (current, excluded) in seen:
            continue
        seen.add((current, excluded))
        finding = Finding(
            current, _get(feat, "type", "label"), 1.0, "phenopacket", original_id=term if current != term else None
        )
        (case.excluded if excluded else case.observed).append(finding)
    observed = {f.id for f in case.observed}
    case.excluded = [f for f in case.excluded if f.id not in observed]  # contradictions: keep "observed"

    for interp in doc.get("interpretations") or []:
        disease = _get(interp, "diagnosis", "disease", "id")
        if disease and disease not in case.diagnoses:
            case.diagnoses.append(disease)
        for gi in _get(interp, "diagnosis", "genomicInterpretations") or []:
            gene = _get(gi, "variantInterpretation", "variationDescriptor", "geneContext", "symbol") or _get(
                gi, "gene", "symbol"
            )
            if gene and gene not in case.genes:
                case.genes.append(gene)
    # The interpretations carry the diagnosis; other diseases the individual has are known
    # conditions (comorbidities). Without interpretations, the diseases are the diagnoses.
    for d in doc.get("diseases") or []:
        did = _get(d, "term", "id")
        if not did or d.get("excluded") or did in case.diagnoses or did in case.conditions:
            continue
        (case.conditions if doc.get("interpretations") else case.diagnoses).append(did)

    for m in doc.get("measurements") or []:
        loinc = _get(m, "assay", "id")
        q = _get(m, "value", "quantity")
        if loinc and isinstance(q, dict) and isinstance(q.get("value"), (int, float)):
            rr = q.get("referenceRange") or {}
            case.labs.append(
                LabResult(
                    loinc,
                    float(q["value"]),
                    _get(q, "unit", "label"),
                    rr.get("low"),
                    rr.get("high"),
                    _get(m, "assay", "label"),
                )
            )
    for a in doc.get("medicalActions") or []:
        agent = _get(a, "treatment", "agent", "id")
        if agent and agent not in case.drugs:
            case.drugs.append(agent)
    for f in doc.get("files") or []:
        uri, kind = f.get("uri"), _get(f, "fileAttributes", "kind") or _get(f, "fileAttributes", "fileFormat")
        if uri:
            case.files[str(kind or f"file{len(case.files)}")] = uri
    return case


def iter_phenopackets(
    folder: str | Path, resolve: Resolver | None = None, *, validate: bool = True
) -> Iterator[PatientCase]:
    """Every ``*.json`` phenopacket under ``folder`` (recursively), in sorted path order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("not a folder of phenopackets", file=folder)
    for p in sorted(folder.rglob("*.json")):
        yield read_phenopacket(p, resolve, validate=validate)
