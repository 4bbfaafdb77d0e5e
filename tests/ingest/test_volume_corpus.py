"""Generated corpora for the volume readers: valid NIfTI, NRRD and DICOM files mutated at random
(bytes flipped, runs overwritten, files cut short). Each mutant must read as a Volume or give a
DataError; nothing else may escape. Seeded, so a failure reproduces."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from kgdx.errors import DataError, DataWarning

pytest.importorskip("SimpleITK")
pytest.importorskip("nibabel")
pytest.importorskip("pydicom")

MUTANTS = 80
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's notes on broken values


def _mutate(data: bytes, rng: np.random.Generator, header: int) -> bytes:
    """One random mutation, aimed at the header half the time (where parsers break)."""
    buf = bytearray(data)
    kind = rng.integers(0, 4)
    span = min(len(buf), header) if rng.random() < 0.5 else len(buf)
    if kind == 0:  # flip bytes
        for _ in range(int(rng.integers(1, 16))):
            buf[int(rng.integers(0, span))] ^= int(rng.integers(1, 256))
    elif kind == 1:  # overwrite a run with noise
        start = int(rng.integers(0, span))
        n = int(rng.integers(1, 64))
        buf[start : start + n] = rng.integers(0, 256, min(n, len(buf) - start), dtype=np.uint8).tobytes()
    elif kind == 2:  # cut short
        buf = buf[: int(rng.integers(0, len(buf)))]
    else:  # extreme integers in the header
        pos = int(rng.integers(0, max(1, span - 4)))
        buf[pos : pos + 4] = rng.choice([b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\x00\x00\x00\x00"])
    return bytes(buf)


def _check(read, path: Path) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            read(path)
    except DataError:
        return "refused"
    return "read"


@pytest.fixture(scope="module")
def hu() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(-600, 150, size=(10, 20, 20)).astype(np.float32)


@pytest.mark.parametrize("name", ["ct.nii", "ct.nii.gz", "ct.nrrd", "ct.mha"])
def test_mutated_image_files_read_or_refuse(tmp_path, hu, name):
    from kgdx.ingest.volume import read_volume, write_volume

    good = tmp_path / name
    write_volume(good, hu, spacing=(2.5, 0.7, 0.7))
    assert _check(read_volume, good) == "read"
    data = good.read_bytes()
    rng = np.random.default_rng(sum(map(ord, name)))
    outcomes = {"read": 0, "refused": 0}
    for i in range(MUTANTS):
        bad = tmp_path / f"m{i}-{name}"
        bad.write_bytes(_mutate(data, rng, header=352 if ".nii" in name else 300))
        outcomes[_check(read_volume, bad)] += 1
    assert outcomes["refused"] > 0  # the corpus does reach the error paths


def test_mutated_dicom_series_read_or_refuse(tmp_path, hu):
    from kgdx.encoders.testing import write_dicom_series
    from kgdx.ingest.volume import read_volume

    files = write_dicom_series(tmp_path / "good", hu)
    rng = np.random.default_rng(7)
    outcomes = {"read": 0, "refused": 0}
    for i in range(MUTANTS // 2):
        folder = tmp_path / f"m{i}"
        shutil.copytree(tmp_path / "good", folder)
        victim = folder / files[int(rng.integers(0, len(files)))].name
        victim.write_bytes(_mutate(victim.read_bytes(), rng, header=800))
        outcomes[_check(read_volume, folder)] += 1
    assert outcomes["refused"] > 0
