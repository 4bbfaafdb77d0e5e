"""Module folders: manifest validation and the built-in modules."""

from __future__ import annotations

import pytest

from kgdx.errors import SchemaError
from kgdx.kg.module import builtin_modules, load_module


def test_module_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.yaml").write_text("nodes:\n  - {type: Drug, id: 'DRUGBANK:DB00254', name: Doxycycline}\n")
    (tmp_path / "schema.yaml").write_text("name: demo\nversion: '1'\nnode_types: {}\n")
    (tmp_path / "module.yaml").write_text("name: demo\nversion: '0.1'\nschema: schema.yaml\ndata: [data/a.yaml]\n")
    m = load_module(tmp_path)
    assert (m.name, m.version) == ("demo", "0.1")
    assert m.schema_additions().name == "demo"
    assert [r.id for r in m.records()] == ["DRUGBANK:DB00254"]


@pytest.mark.parametrize(
    ("manifest", "match"),
    [
        ("name: Bad Name\nversion: '1'\n", "name"),
        ("name: ok\n", "version"),
        ("name: ok\nversion: '1'\ndata: [missing.yaml]\n", "missing.yaml"),
        ("name: ok\nversion: '1'\ncolour: red\n", "colour"),
    ],
)
def test_bad_manifests(tmp_path, manifest, match):
    (tmp_path / "module.yaml").write_text(manifest)
    with pytest.raises(SchemaError, match=match) as e:
        load_module(tmp_path)
    assert e.value.file.endswith("module.yaml")


def test_not_a_module(tmp_path):
    with pytest.raises(SchemaError, match="not a module"):
        load_module(tmp_path)


def test_builtin_modules_load():
    for m in builtin_modules():
        assert m.data, m.name
        assert all(p.is_file() for p in m.data_files())
