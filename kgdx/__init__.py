"""kgdx: knowledge-graph-grounded clinical reasoning.

The front door: what a notebook needs, imported lazily so that ``import kgdx`` stays fast and
does not load torch until a model is first used::

    import kgdx

    kg = kgdx.open_kg()                                   # the embedded KG, built on first use
    dx = kgdx.Diagnoser.from_pretrained(store=kg)         # the shipped model over it
    case = kgdx.CaseBuilder(dx).build("case.json", note="Dry cough for a week; no fever.")
    diagnosis = dx.diagnose(case, k=10)                   # ranking, KG-path explanations, drugs
    kgdx.extend_kg("modules/parkinsons")                  # a disease module: schema and data

=====================  ===========================================================================
``build_kg``           build the default KG offline into ``$KGDX_HOME/kg/default``
``open_kg``            the KG store (``memory`` or ``neo4j``), the embedded one built on first use
``load_kg``            load a KG snapshot into Neo4j
``extend_kg``          validate and apply a disease module (memory, Neo4j or both)
``remove_module``      remove an applied module exactly
``list_modules``       the modules in the KG, built in and applied
``Diagnoser``          rank every disease, explain with KG paths, suggest safe drugs
``CaseBuilder``        a case from a phenopacket, HPO ids, a note, a report, a CT and labs
``create_encoder``     an encoder by name (``ct-tiny``, ``text-minilm``, ``lab-base``, ...)
``KgdxError``          the root of every error a user can cause
=====================  ===========================================================================

The packages below (``kgdx.kg``, ``kgdx.ingest``, ``kgdx.synth``, ``kgdx.encoders``,
``kgdx.reasoning``, ``kgdx.app``) hold the rest; ``docs/architecture.md`` maps them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "build_kg",
    "open_kg",
    "load_kg",
    "extend_kg",
    "remove_module",
    "list_modules",
    "Diagnoser",
    "CaseBuilder",
    "create_encoder",
    "KgdxError",
]

_WHERE = {
    "build_kg": ("kgdx.app.build", "build_default_kg"),
    "open_kg": ("kgdx.app.stores", "open_store"),
    "load_kg": ("kgdx.app.stores", "load_kg"),
    "extend_kg": ("kgdx.app.modules", "extend_kg"),
    "remove_module": ("kgdx.app.modules", "remove_module"),
    "list_modules": ("kgdx.app.modules", "list_modules"),
    "Diagnoser": ("kgdx.reasoning.diagnoser", "Diagnoser"),
    "CaseBuilder": ("kgdx.reasoning.case_builder", "CaseBuilder"),
    "create_encoder": ("kgdx.encoders.factory", "create_encoder"),
    "KgdxError": ("kgdx.errors", "KgdxError"),
}

if TYPE_CHECKING:
    from kgdx.app.build import build_default_kg as build_kg
    from kgdx.app.modules import extend_kg, list_modules, remove_module
    from kgdx.app.stores import load_kg
    from kgdx.app.stores import open_store as open_kg
    from kgdx.encoders.factory import create_encoder
    from kgdx.errors import KgdxError
    from kgdx.reasoning.case_builder import CaseBuilder
    from kgdx.reasoning.diagnoser import Diagnoser


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'kgdx' has no attribute {name!r}")
    value = getattr(import_module(where[0]), where[1])
    globals()[name] = value  # once found, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
