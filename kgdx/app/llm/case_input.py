"""A case as the LLM tools, the retriever and the web report take it: HPO ids, a note and a
phenopacket, checked up front and built into a :class:`~kgdx.ingest.case.PatientCase`."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kgdx.errors import DataError
from kgdx.files import MAX_JSON_DEPTH, json_depth

if TYPE_CHECKING:
    from kgdx.ingest.case import PatientCase
    from kgdx.reasoning import CaseBuilder, Diagnoser

__all__ = ["CaseInput", "build_case", "parse_case_text"]

_HPO = re.compile(r"HP:\d{7}")
_NEGATED_ID = re.compile(r"(?:\bnot|\bno|\bwithout|\bexcluded:?|-|!)\s*(HP:\d{7})", re.I)


class CaseInput(BaseModel):
    """What a tool or the web page may say about a patient; at least one part is needed."""

    model_config = ConfigDict(extra="forbid")

    observed: list[str] = Field(default_factory=list, max_length=1000, description="HPO ids present, e.g. HP:0001945.")
    excluded: list[str] = Field(default_factory=list, max_length=1000, description="HPO ids looked for and absent.")
    note: str | None = Field(None, max_length=100_000, description="A clinical note; its findings are linked.")
    phenopacket: dict[str, Any] | None = Field(None, description="A GA4GH phenopacket (v2 JSON object).")
    drugs: list[str] = Field(default_factory=list, max_length=1000, description="Current drugs (DrugBank ids).")
    conditions: list[str] = Field(default_factory=list, max_length=1000, description="Known conditions (disease ids).")

    @classmethod
    def parse(cls, data: dict[str, Any]) -> CaseInput:
        """Validate ``data``; a problem is a :class:`~kgdx.errors.DataError` naming the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or None
            raise DataError(str(err.get("msg", "invalid case")).removeprefix("Value error, "), field=where) from None

    @model_validator(mode="after")
    def _something(self) -> CaseInput:
        if not (self.observed or self.excluded or (self.note or "").strip() or self.phenopacket):
            raise ValueError("give at least one of 'observed', 'excluded', 'note' or 'phenopacket'")
        for name in ("observed", "excluded"):
            bad = [i for i in getattr(self, name) if not _HPO.fullmatch(i)]
            if bad:
                raise ValueError(f"'{name}' holds {bad[0]!r}, which is not an HPO id like HP:0001945")
        return self


def build_case(dx: Diagnoser, builder: CaseBuilder, case: CaseInput) -> PatientCase:
    """The patient case, through the same path as ``POST /diagnose``."""
    from kgdx.ingest.case import PatientCase

    start = PatientCase(id=str((case.phenopacket or {}).get("id") or "case"))
    if case.phenopacket is not None:
        if json_depth(case.phenopacket) > MAX_JSON_DEPTH:
            raise DataError(f"the phenopacket nests more than {MAX_JSON_DEPTH} levels", field="phenopacket")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "case.json"
            path.write_text(json.dumps(case.phenopacket))
            start = dx.load_case(path)
    return builder.build(
        start,
        observed=case.observed,
        excluded=case.excluded,
        drugs=case.drugs,
        conditions=case.conditions,
        note=(case.note or "").strip() or None,
    )


def parse_case_text(text: str) -> CaseInput:
    """A case from one string, as a retriever gets it: HPO ids (``not HP:…`` or ``-HP:…`` for an
    excluded one) and, with the ids taken out, the rest as a note.

    Example:
        >>> c = parse_case_text("HP:0001945 HP:0012735 not HP:0002105")
        >>> c.observed, c.excluded
        (['HP:0001945', 'HP:0012735'], ['HP:0002105'])
    """
    excluded = _NEGATED_ID.findall(text)
    rest = _NEGATED_ID.sub(" ", text)
    observed = [i for i in _HPO.findall(rest) if i not in excluded]
    note = " ".join(_HPO.sub(" ", rest).split())
    return CaseInput.parse(
        {"observed": observed, "excluded": excluded, "note": note if re.search(r"[A-Za-z]{3}", note) else None}
    )
