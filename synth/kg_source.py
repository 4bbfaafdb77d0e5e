"""The facts a synthetic patient is drawn from, read straight from a KG module.

The module's curated files are the source of truth: diseases (``category: respiratory``), their
phenotypes with frequencies, lab tests with units, reference ranges and ``INDICATES`` edges,
``TREATS`` with lines of therapy, and the safety edges (``CONTRAINDICATED_IN``,
``INTERACTS_WITH``). Nothing here restates a clinical fact; change the module and the cohort
changes with it. HPO labels come from the installed HPO release (``hpo3``), as in the KG build.

:class:`KgSource` is a plain frozen dataclass, so it pickles cheaply into worker processes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from kgdx.errors import ConfigError, DataError
from kgdx.kg.module import Module, builtin_modules, load_module
from kgdx.kg.records import Edge, Node
from kgdx.kg.vocab import NodeLabel, RelType

__all__ = [
    "DiseaseInfo",
    "LabInfo",
    "Treatment",
    "Contraindication",
    "Interaction",
    "KgSource",
    "load_kg_source",
]


@dataclass(frozen=True)
class DiseaseInfo:
    """A module diagnosis with its phenotype profile ``{HP id: frequency}`` (sorted by id)."""

    id: str
    name: str
    synonyms: tuple[str, ...]
    phenotypes: tuple[tuple[str, float], ...]

    def frequency(self, hp: str) -> float:
        return dict(self.phenotypes).get(hp, 0.0)


@dataclass(frozen=True)
class LabInfo:
    """A ``LabTest`` node and where its abnormal results point (``(direction, HP id)``)."""

    id: str
    name: str
    unit: str
    ref_low: float
    ref_high: float
    indicates: tuple[tuple[str, str], ...]

    @property
    def qualitative(self) -> bool:
        """A positive/negative test coded 0/1 with the zero-width range [0, 0]."""
        return self.ref_low == 0 and self.ref_high == 0


@dataclass(frozen=True)
class Treatment:
    """A ``TREATS`` edge: the drug, the disease, the line of therapy (``None`` if unstated) and the note."""

    drug: str
    disease: str
    line: int | None
    note: str


@dataclass(frozen=True)
class Contraindication:
    """A ``CONTRAINDICATED_IN`` edge from a drug to a disease or phenotype."""

    drug: str
    target: str
    severity: str
    reason: str


@dataclass(frozen=True)
class Interaction:
    """An ``INTERACTS_WITH`` pair (stored once, ``a < b``)."""

    a: str
    b: str
    severity: str
    mechanism: str

    def other(self, drug: str) -> str:
        return self.b if drug == self.a else self.a


@dataclass(frozen=True)
class KgSource:
    """Everything the generator reads from the KG, indexed for sampling.

    Iteration orders are sorted by id everywhere, so sampling never depends on hash order.
    """

    module: str
    version: str
    diseases: dict[str, DiseaseInfo]
    disease_names: dict[str, str]
    phenotype_names: dict[str, str]
    labs: dict[str, LabInfo]
    drug_names: dict[str, str]
    treatments: tuple[Treatment, ...]
    contraindications: tuple[Contraindication, ...]
    interactions: tuple[Interaction, ...]
    disease_parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _by_drug: dict[str, tuple[Interaction, ...]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_drug: dict[str, list[Interaction]] = defaultdict(list)
        for it in self.interactions:
            by_drug[it.a].append(it)
            by_drug[it.b].append(it)
        object.__setattr__(self, "_by_drug", {k: tuple(v) for k, v in sorted(by_drug.items())})

    # ----------------------------------------------------------------------------- lookups

    @property
    def disease_ids(self) -> list[str]:
        return sorted(self.diseases)

    def name(self, curie: str) -> str:
        """The label of any id the module or the HPO knows (the id itself otherwise)."""
        for table in (self.disease_names, self.phenotype_names, self.drug_names):
            if curie in table:
                return table[curie]
        lab = self.labs.get(curie)
        return lab.name if lab else curie

    def indicated_phenotypes(self) -> dict[str, list[tuple[str, str]]]:
        """HP id → ``[(LOINC id, direction)]`` for every ``INDICATES`` target."""
        out: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for lab in sorted(self.labs.values(), key=lambda x: x.id):
            for direction, hp in lab.indicates:
                out[hp].append((lab.id, direction))
        return dict(out)

    def treatments_for(self, disease: str) -> list[Treatment]:
        return [t for t in self.treatments if t.disease == disease]

    def contraindications_of(self, drug: str) -> list[Contraindication]:
        return [c for c in self.contraindications if c.drug == drug]

    def interactions_of(self, drug: str) -> tuple[Interaction, ...]:
        return self._by_drug.get(drug, ())

    def interaction(self, a: str, b: str) -> Interaction | None:
        for it in self.interactions_of(a):
            if it.other(a) == b:
                return it
        return None

    def ancestors(self, disease: str) -> set[str]:
        """Every IS_A ancestor of a module disease (parents first read from the module)."""
        seen: set[str] = set()
        todo = list(self.disease_parents.get(disease, ()))
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(self.disease_parents.get(d, ()))
        return seen

    def ct_profile(self, disease: str, ct_ids: list[str]) -> np.ndarray:
        """The disease's frequencies over ``ct_ids``, in that order."""
        freq = dict(self.diseases[disease].phenotypes)
        return np.array([freq.get(h, 0.0) for h in ct_ids], dtype=np.float64)


def _find_module(module: str | Path) -> Module:
    p = Path(module)
    if p.exists():
        return load_module(p)
    for m in builtin_modules():
        if m.name == str(module):
            return m
    known = [m.name for m in builtin_modules()]
    raise ConfigError(f"no built-in module {str(module)!r} and no such folder (built-in: {known})", field="module")


def _hpo_labels(ids: set[str]) -> dict[str, str]:
    """Labels from the installed HPO (``hpo3``); an id it does not know keeps the id as label."""
    try:
        from kgdx.ingest.hpo3 import hpo3

        onto = hpo3().Ontology
    except (DataError, ImportError):
        return {i: i for i in ids}
    out = {}
    for i in sorted(ids):
        try:
            out[i] = onto.hpo(int(i.split(":")[1])).name
        except Exception:  # unknown or malformed in this release
            out[i] = i
    return out


@lru_cache(maxsize=4)
def load_kg_source(module: str = "respiratory") -> KgSource:
    """Read a module (built-in name or folder) into a :class:`KgSource`.

    Only diseases with ``category`` equal to the module name are sampled (the module's
    diagnoses); parent classes are kept for names and IS_A.

    Raises:
        ConfigError: when there is no such module.
        DataError: when the module has no diagnoses, or a diagnosis has no phenotype.
    """
    mod = _find_module(module)
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    for r in mod.records():
        if isinstance(r, Node):
            nodes[r.id] = r
        else:
            edges.append(r)
    diag = sorted(i for i, n in nodes.items() if n.type == NodeLabel.DISEASE and n.props.get("category") == mod.name)
    if not diag:
        raise DataError(f"module {mod.name!r} has no diseases with category {mod.name!r}", file=mod.root)
    pheno: dict[str, dict[str, float]] = defaultdict(dict)
    parents: dict[str, list[str]] = defaultdict(list)
    indicates: dict[str, list[tuple[str, str]]] = defaultdict(list)
    treatments, contra, inter = [], [], []
    for e in edges:
        if e.type == RelType.HAS_PHENOTYPE and e.src in diag:
            pheno[e.src][e.dst] = float(e.props.get("frequency", 0.5))
        elif e.type == RelType.IS_A and nodes.get(e.src) is not None and nodes[e.src].type == NodeLabel.DISEASE:
            parents[e.src].append(e.dst)
        elif e.type == RelType.INDICATES:
            indicates[e.src].append((str(e.props["direction"]), e.dst))
        elif e.type == RelType.TREATS:
            line = e.props.get("line")
            treatments.append(
                Treatment(e.src, e.dst, int(line) if line is not None else None, str(e.props.get("note", "")))
            )
        elif e.type == RelType.CONTRAINDICATED_IN:
            contra.append(Contraindication(e.src, e.dst, str(e.props["severity"]), str(e.props.get("reason", ""))))
        elif e.type == RelType.INTERACTS_WITH:
            a, b = sorted((e.src, e.dst))
            inter.append(Interaction(a, b, str(e.props["severity"]), str(e.props.get("mechanism", ""))))
    for d in diag:
        if not pheno.get(d):
            raise DataError(f"disease {d} has no HAS_PHENOTYPE edge", file=mod.root)
    diseases = {
        d: DiseaseInfo(
            d, str(nodes[d].props["name"]), tuple(nodes[d].props.get("synonyms") or ()), tuple(sorted(pheno[d].items()))
        )
        for d in diag
    }
    labs = {
        i: LabInfo(
            i,
            str(n.props["name"]),
            str(n.props.get("unit", "")),
            float(n.props.get("ref_low", 0.0)),
            float(n.props.get("ref_high", 0.0)),
            tuple(sorted(indicates.get(i, ()))),
        )
        for i, n in sorted(nodes.items())
        if n.type == NodeLabel.LAB_TEST
    }
    hp_ids = {h for p in pheno.values() for h in p} | {d for _, d in (x for v in indicates.values() for x in v)}
    hp_ids |= {c.target for c in contra if c.target.startswith("HP:")}
    src = KgSource(
        module=mod.name,
        version=mod.version,
        diseases=diseases,
        disease_names={i: str(n.props["name"]) for i, n in sorted(nodes.items()) if n.type == NodeLabel.DISEASE},
        phenotype_names=_hpo_labels(hp_ids),
        labs=labs,
        drug_names={i: str(n.props["name"]) for i, n in sorted(nodes.items()) if n.type == NodeLabel.DRUG},
        treatments=tuple(sorted(treatments, key=lambda t: (t.disease, t.line or 9, t.drug))),
        contraindications=tuple(sorted(contra, key=lambda c: (c.drug, c.target))),
        interactions=tuple(sorted(inter, key=lambda i: (i.a, i.b))),
        disease_parents={k: tuple(sorted(v)) for k, v in sorted(parents.items())},
    )
    return src
