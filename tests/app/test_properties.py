"""Property-based tests (hypothesis) of the input readers and the Cypher guard: whatever the
input, they return a value or raise a KgdxError, never anything else."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgdx.errors import KgdxError, ReadOnlyQueryError
from kgdx.files import decode_text, parse_json
from kgdx.kg.cypher_guard import check_query

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
feature = st.fixed_dictionaries(
    {"type": st.fixed_dictionaries({"id": st.from_regex(r"HP:\d{7}", fullmatch=True) | st.text(max_size=12)})},
    optional={"excluded": st.booleans() | json_values},
)
phenopacket = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=12) | json_values,
        "subject": st.fixed_dictionaries({}, optional={"id": st.text(max_size=5), "sex": st.text(max_size=8)})
        | json_values,
        "phenotypicFeatures": st.lists(feature | json_values, max_size=5) | json_values,
        "diseases": st.lists(json_values, max_size=3),
        "interpretations": st.lists(json_values, max_size=3),
        "measurements": st.lists(json_values, max_size=3),
        "medicalActions": st.lists(json_values, max_size=3),
        "files": st.lists(json_values, max_size=3),
    },
)


@FAST
@given(doc=phenopacket | json_values)
def test_phenopacket_reader_returns_a_case_or_a_data_error(tmp_path_factory, doc):
    from kgdx.ingest.phenopackets import read_phenopacket

    path = tmp_path_factory.mktemp("pp") / "case.json"
    path.write_text(json.dumps(doc))
    try:
        case = read_phenopacket(path, validate=False)
    except KgdxError:
        return
    assert isinstance(case.id, str) and case.id
    assert all(f.id.startswith("HP:") for f in case.observed + case.excluded)


@FAST
@given(data=st.binary(max_size=400))
def test_any_bytes_decode_or_give_a_data_error(data):
    try:
        text = decode_text(data)
    except KgdxError:
        return
    assert isinstance(text, str)


@FAST
@given(text=st.text(max_size=300) | st.from_regex(r"[\[\{\"\]\}:,0-9a-z ]{0,300}", fullmatch=True))
def test_parse_json_returns_or_raises_data_error(text):
    with contextlib.suppress(KgdxError):  # a DataError is the only failure allowed
        parse_json(text, max_depth=20)


@pytest.fixture(scope="module")
def linker():
    pytest.importorskip("torch")
    from kgdx.encoders.linking import ConceptLinker
    from kgdx.kg.records import Node

    vocab = [
        Node("Phenotype", "HP:0002202", {"name": "Pleural effusion"}),
        Node("Phenotype", "HP:0012735", {"name": "Cough", "synonyms": ["Coughing"]}),
        Node("Phenotype", "HP:0001945", {"name": "Fever"}),
    ]
    return ConceptLinker(vocab)


@FAST
@given(
    text=st.text(max_size=400)
    | st.lists(
        st.sampled_from(["no", "cough", "fever", ".", "not", "effusion", "pleural", "\n", "denies"]), max_size=60
    ).map(" ".join)
)
def test_note_linker_spans_point_into_the_text(linker, text):
    for c in linker.link(text):
        start, end = c.span
        assert 0 <= start < end <= len(text)
        assert c.status in ("present", "absent", "uncertain")


@FAST
@given(
    manifest=st.dictionaries(
        st.sampled_from(["name", "version", "description", "schema", "data", "requires", "extra"]),
        json_values,
        max_size=6,
    )
    | json_values
)
def test_module_loader_returns_a_module_or_a_schema_error(tmp_path_factory, manifest):
    import yaml

    from kgdx.kg.module import load_module

    folder: Path = tmp_path_factory.mktemp("module")
    (folder / "module.yaml").write_text(yaml.safe_dump(manifest))
    with contextlib.suppress(KgdxError):  # a SchemaError is the only failure allowed
        load_module(folder)


cypher_words = st.sampled_from(
    [
        "MATCH",
        "(n)",
        "RETURN",
        "n",
        "CALL",
        "apoc.cypher.run",
        "apoc.text.join",
        "db.labels",
        "(",
        ")",
        "{",
        "}",
        "'x'",
        '"y"',
        "`apoc`",
        ".",
        "cypher",
        "runFirstColumnMany",
        "LOAD",
        "CSV",
        "FROM",
        "CREATE",
        "SET",
        "//",
        "/*",
        "*/",
        "\\",
        ",",
        "range(1, 10)",
        "reduce(a = [1], x IN [1,2] | a + a)",
        "SHOW",
        "INDEXES",
        "USE",
        "TRANSACTIONS",
        "IN",
        "WITH",
        "$p",
        "|",
        "[",
        "]",
        "\n",
    ]
)
DANGEROUS = ("apoc.cypher.", "apoc.periodic.", "apoc.export.", "apoc.load.", "dbms.", "apoc.do.")


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(cypher_words, max_size=25), raw=st.text(max_size=80))
def test_cypher_guard_refuses_or_passes_never_crashes(parts, raw):
    from kgdx.kg.cypher_guard import called_names

    for query in (" ".join(parts), raw, " ".join(parts) + raw):
        try:
            check_query(query, {"p": 1})
        except KgdxError:
            continue
        # What the guard passed calls nothing dangerous, whatever the spelling.
        for name, _ in called_names(query):
            assert not name.lower().startswith(DANGEROUS), (query, name)


@settings(max_examples=200, deadline=None)
@given(
    ns=st.sampled_from(
        ["apoc.cypher.runFirstColumnMany", "apoc.periodic.submit", "apoc.export.csv.all", "dbms.listConfig"]
    ),
    sep=st.sampled_from([".", " . ", "./* c */", ".\n"]),
    quote=st.booleans(),
    upper=st.booleans(),
)
def test_cypher_guard_sees_through_spelling(ns, sep, quote, upper):
    parts = ns.split(".")
    if quote:
        parts = [f"`{p}`" for p in parts]
    name = sep.join(parts)
    if upper:
        name = name.upper()
    for query in (f"RETURN {name}('RETURN 1', {{}}) AS x", f"CALL {name}('x')"):
        with pytest.raises(ReadOnlyQueryError):
            check_query(query)
