"""PrimeKG kg.csv → records through the bundled mapping file."""

from __future__ import annotations

import pytest

from kgdx.errors import DataError, SchemaError
from kgdx.ingest.primekg import COLUMNS, load_primekg_mapping, read_primekg
from kgdx.kg.memory_store import MemoryStore
from kgdx.kg.schema import core_schema

HEADER = ",".join(COLUMNS)
# As PrimeKG writes it (pandas to_csv): bare integer MONDO/HPO/UBERON ids, each edge in both
# directions, names with commas quoted.
ROWS = """\
indication,indication,14012,DB01235,drug,Levodopa,DrugBank,27165,5180,disease,Parkinson disease,MONDO
indication,indication,27165,5180,disease,Parkinson disease,MONDO,14012,DB01235,drug,Levodopa,DrugBank
contraindication,contraindication,14013,DB00502,drug,Haloperidol,DrugBank,27165,5180,disease,Parkinson disease,MONDO
disease_phenotype_positive,phenotype present,27165,5180,disease,Parkinson disease,MONDO,22874,1337,effect/phenotype,Tremor,HPO
disease_phenotype_positive,phenotype present,22874,1337,effect/phenotype,Tremor,HPO,27165,5180,disease,Parkinson disease,MONDO
disease_phenotype_negative,phenotype absent,27166,11764,disease,"Parkinson disease 6, autosomal recessive early-onset",MONDO,22875,1250,effect/phenotype,Seizure,HPO
disease_protein,associated with,27165,5180,disease,Parkinson disease,MONDO,6000,6622,gene/protein,SNCA,NCBI
disease_protein,associated with,6000,6622,gene/protein,SNCA,NCBI,27165,5180,disease,Parkinson disease,MONDO
disease_disease,parent-child,27165,5180,disease,Parkinson disease,MONDO,27166,11764,disease,"Parkinson disease 6, autosomal recessive early-onset",MONDO
phenotype_phenotype,parent-child,22876,1336,effect/phenotype,Involuntary movements,HPO,22874,1337,effect/phenotype,Tremor,HPO
phenotype_phenotype,parent-child,22874,1337,effect/phenotype,Tremor,HPO,22876,1336,effect/phenotype,Involuntary movements,HPO
anatomy_anatomy,parent-child,30000,2038,anatomy,substantia nigra,UBERON,30001,1891,anatomy,midbrain,UBERON
drug_drug,synergistic interaction,14012,DB01235,drug,Levodopa,DrugBank,14013,DB00502,drug,Haloperidol,DrugBank
protein_protein,ppi,6000,6622,gene/protein,SNCA,NCBI,6001,7157,gene/protein,TP53,NCBI
bioprocess_bioprocess,parent-child,40000,6915,biological_process,apoptotic process,GO,40001,8219,biological_process,cell death,GO
disease_phenotype_positive,phenotype present,29000,13924_12592,disease,grouped parkinsonism,MONDO_grouped,22874,1337,effect/phenotype,Tremor,HPO
"""


def write(tmp_path, rows=ROWS, header=HEADER):
    p = tmp_path / "kg.csv"
    p.write_text(header + "\n" + rows, encoding="utf-8")
    return p


def test_records_exact(tmp_path):
    p = write(tmp_path)
    prime = read_primekg(p)
    assert [(n.type, n.id, n.props) for n in prime.nodes] == [
        ("Drug", "DRUGBANK:DB00502", {"name": "Haloperidol"}),
        ("Drug", "DRUGBANK:DB01235", {"name": "Levodopa"}),
        ("Phenotype", "HP:0001250", {"name": "Seizure"}),
        ("Phenotype", "HP:0001336", {"name": "Involuntary movements"}),
        ("Phenotype", "HP:0001337", {"name": "Tremor"}),
        ("Disease", "MONDO:0005180", {"name": "Parkinson disease"}),
        ("Disease", "MONDO:0011764", {"name": "Parkinson disease 6, autosomal recessive early-onset"}),
        ("Gene", "NCBIGene:6622", {"name": "SNCA", "symbol": "SNCA"}),
        ("Gene", "NCBIGene:7157", {"name": "TP53", "symbol": "TP53"}),
        ("Anatomy", "UBERON:0001891", {"name": "midbrain"}),
        ("Anatomy", "UBERON:0002038", {"name": "substantia nigra"}),
    ]
    assert [(e.type, e.src, e.dst, e.props) for e in prime.edges] == [
        (
            "ASSOCIATED_WITH",
            "NCBIGene:6622",
            "MONDO:0005180",
            {"source": "PrimeKG kg.csv disease_protein (NCBI, MONDO)"},
        ),
        (
            "CONTRAINDICATED_IN",
            "DRUGBANK:DB00502",
            "MONDO:0005180",
            {"severity": "absolute", "source": "PrimeKG kg.csv contraindication (DrugBank, MONDO)"},
        ),
        (
            "EXCLUDES_PHENOTYPE",
            "MONDO:0011764",
            "HP:0001250",
            {"source": "PrimeKG kg.csv disease_phenotype_negative (MONDO, HPO)"},
        ),
        (
            "HAS_PHENOTYPE",
            "MONDO:0005180",
            "HP:0001337",
            {"source": "PrimeKG kg.csv disease_phenotype_positive (MONDO, HPO)"},
        ),
        ("IS_A", "MONDO:0011764", "MONDO:0005180", {"source": "PrimeKG kg.csv disease_disease (MONDO, MONDO)"}),
        ("IS_A", "UBERON:0002038", "UBERON:0001891", {"source": "PrimeKG kg.csv anatomy_anatomy (UBERON, UBERON)"}),
        ("TREATS", "DRUGBANK:DB01235", "MONDO:0005180", {"source": "PrimeKG kg.csv indication (DrugBank, MONDO)"}),
    ]
    treats = prime.edges[-1]
    assert treats.origin.file == str(p) and treats.origin.line == 2
    MemoryStore(core_schema()).write(prime)


def test_report_counts_what_was_skipped(tmp_path):
    report = read_primekg(write(tmp_path), version="2.0").report
    d = report.to_dict()
    assert d["name"] == "PrimeKG 2.0 (kg.csv)" and d["version"] == "2.0"
    assert d["skipped"] == {
        "duplicate row (PrimeKG lists each edge in both directions)": 3,
        "hierarchy pair listed in both directions: the parent is unknown": 2,
        "relation skipped: drug_drug (severity and mechanism are not in PrimeKG; INTERACTS_WITH requires both)": 1,
        "relation skipped: protein_protein (protein interactions have no relationship type in the core schema)": 1,
        "relation not mapped: bioprocess_bioprocess": 1,
        "node type not mapped: biological_process|GO": 2,
        "node type not mapped: disease|MONDO_grouped": 1,
        "edge to an unmapped node type": 1,
    }
    assert d["records"]["TREATS"] == 1 and d["records"]["Disease"] == 2
    assert report.examples["hierarchy pair listed in both directions: the parent is unknown"]


def test_source_names_version(tmp_path):
    prime = read_primekg(write(tmp_path), version="2.0")
    assert prime.edges[-1].props["source"] == "PrimeKG 2.0 kg.csv indication (DrugBank, MONDO)"


@pytest.mark.parametrize(
    "row, column",
    [
        ("indication,indication,1,DB01235,drug,Levodopa,DrugBank,2,5180,disease", None),
        ("indication,indication,1,DB01235,drug,Levodopa,DrugBank,2,,disease,Parkinson disease,MONDO", "y_id"),
        (
            "disease_phenotype_positive,phenotype present,1,5180,disease,PD,MONDO,2,HP:0001337,effect/phenotype,Tremor,HPO",
            "y_id",
        ),
        ("indication,indication,1,12345,drug,Levodopa,DrugBank,2,5180,disease,Parkinson disease,MONDO", "x_id"),
    ],
)
def test_malformed_row_names_file_line_column(tmp_path, row, column):
    rows = ROWS.splitlines()
    rows.insert(3, row)
    p = write(tmp_path, "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_primekg(p)
    assert e.value.file == str(p) and e.value.line == 5 and e.value.field == column


def test_lenient_skips_and_counts(tmp_path):
    rows = ROWS.splitlines()
    rows.insert(3, "indication,indication,1,DB01235,drug,Levodopa,DrugBank,2,5180,disease")
    rows.insert(4, "indication,indication,1,12345,drug,Levodopa,DrugBank,2,5180,disease,Parkinson disease,MONDO")
    p = write(tmp_path, "\n".join(rows) + "\n")
    prime = read_primekg(p, strict=False)
    assert prime.report.skipped["wrong number of columns"] == 1
    assert prime.report.skipped["bad id for drug|DrugBank"] == 1
    assert prime.report.examples["wrong number of columns"] == [f"{p}:5"]
    assert len(prime.edges) == 7
    MemoryStore(core_schema()).write(prime)


def test_multiline_quoted_name_keeps_line_numbers(tmp_path):
    rows = (
        'indication,indication,1,DB01235,drug,"Levo\ndopa",DrugBank,2,5180,disease,Parkinson disease,MONDO\n'
        "indication,indication,1,DB00502,drug,Haloperidol,DrugBank,2,5180,disease,Parkinson disease\n"
    )
    p = write(tmp_path, rows)
    with pytest.raises(DataError) as e:
        read_primekg(p)
    assert e.value.line == 4


def test_not_a_primekg_file(tmp_path):
    p = write(tmp_path, "a,b\n", header="head_id,relation,tail_id")
    with pytest.raises(DataError, match="not a PrimeKG kg.csv") as e:
        read_primekg(p)
    assert e.value.line == 1


def test_mapping_file_checked_against_schema(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text(
        "nodes:\n  drug|DrugBank: {to: Drug, prefix: DRUGBANK}\n"
        "relations:\n  drug_drug: {to: INTERACTS_WITH, src: drug, dst: drug}\n"
    )
    with pytest.raises(SchemaError, match="requires 'severity'") as e:
        load_primekg_mapping(m)
    assert e.value.field == "relations.drug_drug.props"
    m.write_text("nodes:\n  disease|MONDO: {to: Disease, prefix: HP}\n")
    with pytest.raises(SchemaError, match="prefix 'HP'"):
        load_primekg_mapping(m)
    m.write_text("nodes:\n  disease|MONDO: {to: Disease, prefix: MONDO, curie: true}\n")
    with pytest.raises(SchemaError, match="exactly one") as e:
        load_primekg_mapping(m)
    assert e.value.file == str(m)


def test_a_mapping_that_supplies_required_values_maps_drug_drug(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text(
        "nodes:\n  drug|DrugBank: {to: Drug, prefix: DRUGBANK}\n"
        "relations:\n  drug_drug: {to: INTERACTS_WITH, src: drug, dst: drug,"
        " props: {severity: moderate, mechanism: unspecified (PrimeKG)}}\n"
    )
    prime = read_primekg(write(tmp_path), m)
    assert [(e.type, e.src, e.dst, e.props["severity"]) for e in prime.edges] == [
        ("INTERACTS_WITH", "DRUGBANK:DB00502", "DRUGBANK:DB01235", "moderate")
    ]
    MemoryStore(core_schema()).write(prime)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_primekg(tmp_path / "kg.csv")
