"""Every class of bad input gets one line and exit status 1 from the CLI, never a traceback; good
input that scanners really write is accepted."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kgdx.app import cli

pytest.importorskip("torch")
nib = pytest.importorskip("nibabel")

PHENOPACKET = {
    "id": "case-1",
    "subject": {"id": "s1", "sex": "FEMALE"},
    "phenotypicFeatures": [{"type": {"id": "HP:0002090", "label": "Pneumonia"}}],
    "metaData": {"created": "2024-01-01T00:00:00Z", "createdBy": "test", "phenopacketSchemaVersion": "2.0"},
}


def run_cli(*args: str) -> tuple[int, str, str]:
    """``kgdx ARGS`` through its real entry point, in this process."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["kgdx", *args]
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as e:
                code = e.code
    finally:
        sys.argv = old
    return int(code or 0), out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("kgdx: warning:")]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("kgdx: error: "), (code, err)
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture
def case_args(env):
    return ["--model", str(env / "run" / "best.pt")]


# ------------------------------------------------------------------------- text and JSON


@pytest.mark.parametrize(
    ("name", "data", "ok"),
    [
        ("latin1.txt", "Fièvre et toux sèche; pas d'hémoptysie.".encode("latin-1"), True),
        ("utf16.txt", "Dry cough and fever; no haemoptysis.".encode("utf-16"), True),
        ("cp1252.txt", "Patient’s cough — worse at night.".encode("cp1252"), True),
        ("binary.txt", bytes(range(256)) * 64, False),
        ("zeros.txt", b"\x00" * 4096, False),
    ],
)
def test_notes_in_any_encoding_or_refused(env, case_args, tmp_path, name, data, ok):
    pp = tmp_path / "case.json"
    pp.write_text(json.dumps(PHENOPACKET))
    note = tmp_path / name
    note.write_bytes(data)
    code, out, err = run_cli("diagnose", str(pp), "--note", str(note), "--json", *case_args)
    if ok:
        assert code == 0 and "Traceback" not in err, err
        json.loads(out)
    else:
        assert_one_line_error(code, err, name, "not text")


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("latin1.json", json.dumps({**PHENOPACKET, "id": "café"}, ensure_ascii=False).encode("latin-1"), None),
        ("utf16.json", json.dumps(PHENOPACKET).encode("utf-16"), None),
        ("binary.json", bytes(range(256)) * 16, "not text"),
        ("deep.json", ("[" * 100_000 + "]" * 100_000).encode(), "nested"),
        ("deep-object.json", ('{"a":' * 500 + "1" + "}" * 500).encode(), "nested"),
        ("noid.json", json.dumps({k: v for k, v in PHENOPACKET.items() if k != "id"}).encode(), "'id'"),
        ("badfeatures.json", json.dumps({**PHENOPACKET, "phenotypicFeatures": "HP:1"}).encode(), "phenotypicFeatures"),
        ("truncated.json", json.dumps(PHENOPACKET)[:40].encode(), "invalid JSON"),
    ],
)
def test_phenopackets(env, case_args, tmp_path, name, content, needle):
    pp = tmp_path / name
    pp.write_bytes(content)
    code, out, err = run_cli("diagnose", str(pp), "--json", *case_args)
    if needle is None:
        assert code == 0 and "Traceback" not in err, err
    else:
        assert_one_line_error(code, err, name, needle)


# ------------------------------------------------------------------------------- volumes


def _hu(z=16, y=32, x=32) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(-700, 200, size=(z, y, x))).astype(np.float32)


def _nifti(path: Path, arr: np.ndarray, zooms=(0.7, 0.7, 2.5)) -> Path:
    img = nib.Nifti1Image(arr.transpose(2, 1, 0), np.diag([*zooms, 1.0]))
    nib.save(img, str(path))
    return path


def _encode(path: Path) -> tuple[int, str, str]:
    return run_cli("encode", str(path), "--model", "ct-tiny", "--kind", "volume")


def test_volumes_with_no_ct_geometry_are_refused(tmp_path):
    cases = {
        "one-slice.nii.gz": (_hu(1, 64, 64), (0.7, 0.7, 2.5), "at least 8 slices"),
        "four-slices.nii.gz": (_hu(4, 64, 64), (0.7, 0.7, 2.5), "at least 8 slices"),
        "tiny-slices.nii.gz": (_hu(16, 8, 8), (0.7, 0.7, 2.5), "at least 16x16"),
        "absurd-spacing.nii.gz": (_hu(), (0.7, 0.7, 5000.0), "slice spacing"),
        "absurd-pixels.nii.gz": (_hu(), (1e-5, 1e-5, 2.5), "pixel spacing"),
        "not-hu.nii.gz": (np.full((16, 32, 32), 30000, np.float32), (0.7, 0.7, 2.5), "Hounsfield"),
    }
    for name, (arr, zooms, needle) in cases.items():
        code, _, err = _encode(_nifti(tmp_path / name, arr, zooms))
        assert_one_line_error(code, err, name, needle)


def test_corrupt_nifti_and_nrrd_headers(tmp_path):
    good = _nifti(tmp_path / "good.nii", _hu())
    raw = bytearray(good.read_bytes())
    bad = tmp_path / "sizeof.nii"
    bad.write_bytes(struct.pack("<i", 1234) + raw[4:])
    code, _, err = _encode(bad)
    assert_one_line_error(code, err, "sizeof.nii")
    overflow = tmp_path / "dims.nii"
    dims = bytearray(raw)
    dims[40:56] = struct.pack("<8h", 3, 32767, 32767, 32767, 1, 1, 1, 1)
    overflow.write_bytes(dims)
    code, _, err = _encode(overflow)
    assert_one_line_error(code, err, "dims.nii")
    nrrd = tmp_path / "bad.nrrd"
    nrrd.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 32 32 -16\nencoding: raw\n\n" + b"\x00" * 100)
    code, _, err = _encode(nrrd)
    assert_one_line_error(code, err, "bad.nrrd")


def test_dicom_corrupt_pixels_single_file_and_duplicates(tmp_path):
    from kgdx.encoders.testing import write_dicom_series

    hu = _hu(9, 24, 28)
    files = write_dicom_series(tmp_path / "corrupt", hu)
    ds_raw = bytearray(files[4].read_bytes())
    rng = np.random.default_rng(1)
    n = 24 * 28 * 2
    ds_raw[-n:] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()  # pixel data overwritten with noise
    for f in files:
        raw = bytearray(f.read_bytes())
        raw[-n:] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        f.write_bytes(raw)
    code, _, err = _encode(tmp_path / "corrupt")
    assert_one_line_error(code, err, "Hounsfield")

    one = write_dicom_series(tmp_path / "single", hu[:1])
    code, _, err = _encode(one[0])
    assert_one_line_error(code, err, "single DICOM slice")

    stack = np.concatenate([hu[:4], hu[3:4], hu[4:8]])
    write_dicom_series(tmp_path / "dupe", stack, positions=[0, 2.5, 5, 7.5, 7.5, 10, 12.5, 15, 17.5])
    code, out, err = _encode(tmp_path / "dupe")
    assert code == 0 and "Traceback" not in err, err
    assert "kgdx: warning: " in err and "duplicate slice" in err


# ------------------------------------------------------------------------ a lost server


def test_lost_neo4j_connection_is_one_line(monkeypatch):
    from neo4j.exceptions import ServiceUnavailable

    from kgdx.errors import StoreError
    from kgdx.kg.neo4j_store import Neo4jStore

    store = Neo4jStore.__new__(Neo4jStore)
    store.uri = "bolt://127.0.0.1:7999"
    store.database = "neo4j"

    class Dead:
        def execute_query(self, *a, **k):
            raise ServiceUnavailable("Failed to read from defunct connection")

        def session(self, *a, **k):
            raise ServiceUnavailable("Failed to read from defunct connection")

    store._driver = Dead()
    for call in (
        lambda: store._read("RETURN 1"),
        lambda: store._write_tx("RETURN 1"),
        lambda: list(store._stream("RETURN 1")),
    ):
        with pytest.raises(
            StoreError, match=r"lost the connection to Neo4j at bolt://127.0.0.1:7999; rerun when it is back"
        ):
            call()


def test_unreachable_neo4j_from_the_cli_is_one_line(env, tmp_path):
    import os

    r = subprocess.run(
        [sys.executable, "-m", "kgdx", "kg", "cypher", "RETURN 1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "KGDX_HOME": str(env),
            "KGDX_NEO4J_URI": "bolt://127.0.0.1:9",
            "KGDX_NEO4J_PASSWORD": "x" * 8,
        },
    )
    assert_one_line_error(r.returncode, r.stderr, "cannot reach Neo4j at bolt://127.0.0.1:9")
