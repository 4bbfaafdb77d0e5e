"""DICOM CT series: sorting, HU, geometry, bad series, and de-identification."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("SimpleITK")

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from kgdx.encoders.testing import PHI, make_phantom, write_dicom_series
from kgdx.errors import DataError
from kgdx.ingest.deid import REMOVE_KEYWORDS, deidentify
from kgdx.ingest.dicom import list_series, read_dicom_series
from kgdx.ingest.volume import read_volume


@pytest.fixture
def hu() -> np.ndarray:
    return np.round(make_phantom((8, 24, 28), seed=2).array)


def test_series_reads_sorted_in_hu(tmp_path: Path, hu: np.ndarray) -> None:
    write_dicom_series(tmp_path / "s", hu, spacing=(2.5, 0.7, 0.8), slope=2.0, intercept=-1000.0, shuffle=True)
    v = read_volume(tmp_path / "s")
    assert v.shape == hu.shape
    assert v.spacing == pytest.approx((2.5, 0.7, 0.8))
    assert v.orientation == "LPS"
    # slope 2 rounds stored values to even steps; HU within 1 of the truth after rescale
    np.testing.assert_allclose(v.array, hu, atol=1.0)
    assert v.metadata["Modality"] == "CT" and v.metadata["num_files"] == 8


def test_a_single_file_path_reads_its_series(tmp_path: Path, hu: np.ndarray) -> None:
    files = write_dicom_series(tmp_path / "s", hu)
    assert read_volume(files[0]).shape == hu.shape


def test_reversed_slice_order_is_sorted_by_position(tmp_path: Path, hu: np.ndarray) -> None:
    # Positions descending with file order: sorting must follow position, not file name.
    write_dicom_series(tmp_path / "s", hu, positions=[-2.5 * k for k in range(8)], shuffle=False)
    v = read_dicom_series(tmp_path / "s")
    np.testing.assert_allclose(v.array, hu[::-1], atol=0.5)


@pytest.mark.parametrize(
    ("positions", "message"),
    [
        ([0, 2.5, 5, 10, 12.5, 15, 17.5, 20], r"missing slice\(s\): a gap of 5.000 mm"),
        ([0, 2.5, 5, 7.5, 9.5, 12, 14.5, 17], "inconsistent slice spacing: 2.000 mm"),
    ],
)
def test_bad_stacks_are_refused_naming_a_file(
    tmp_path: Path, hu: np.ndarray, positions: list[float], message: str
) -> None:
    write_dicom_series(tmp_path / "s", hu, positions=positions)
    with pytest.raises(DataError, match=message) as e:
        read_volume(tmp_path / "s")
    assert e.value.file is not None and e.value.file.endswith(".dcm")
    assert e.value.field == "ImagePositionPatient"


def test_a_duplicated_slice_is_dropped_with_a_warning(tmp_path: Path, hu: np.ndarray) -> None:
    from kgdx.errors import DataWarning

    stack = np.concatenate([hu[:4], hu[3:4], hu[4:]])  # slice 3 written twice, as scanners do
    write_dicom_series(tmp_path / "s", stack, positions=[0, 2.5, 5, 7.5, 7.5, 10, 12.5, 15, 17.5])
    with pytest.warns(DataWarning, match="dropped 1 duplicate slice"):
        v = read_volume(tmp_path / "s", orient=False)
    assert v.shape == hu.shape


def test_non_ct_modality_is_refused(tmp_path: Path, hu: np.ndarray) -> None:
    write_dicom_series(tmp_path / "mr", hu, modality="MR")
    with pytest.raises(DataError, match="modality is 'MR', not 'CT'") as e:
        read_volume(tmp_path / "mr")
    assert e.value.file.endswith(".dcm") and e.value.field == "Modality"


def test_truncated_and_corrupt_files(tmp_path: Path, hu: np.ndarray) -> None:
    files = write_dicom_series(tmp_path / "s", hu)
    raw = files[3].read_bytes()
    files[3].write_bytes(raw[:-300])
    with pytest.raises(DataError, match="cannot decode the pixel data") as e:
        read_volume(tmp_path / "s")
    assert e.value.file == str(files[3])
    files[3].write_bytes(raw[:200])
    with pytest.raises(DataError, match="truncated") as e:
        read_volume(tmp_path / "s")
    assert e.value.file == str(files[3])
    files[3].write_bytes(b"\x00garbage" * 64)
    with pytest.raises(DataError, match="not a DICOM file") as e:
        read_volume(tmp_path / "s")
    assert e.value.file == str(files[3])


def test_corrupt_header_element_is_refused_naming_the_file(tmp_path: Path, hu: np.ndarray) -> None:
    """pydicom decodes an element on first access; a garbled VR must not escape as NotImplementedError."""
    files = write_dicom_series(tmp_path / "s", hu)
    raw = files[5].read_bytes()
    columns = b"\x28\x00\x11\x00US"  # (0028,0011) Columns, explicit VR little endian
    assert raw.count(columns) == 1
    files[5].write_bytes(raw.replace(columns, b"\x28\x00\x11\x00UO"))
    with pytest.raises(DataError, match="corrupt or truncated DICOM") as e:
        read_volume(tmp_path / "s")
    assert e.value.file == str(files[5])


def test_two_series_need_a_choice(tmp_path: Path, hu: np.ndarray) -> None:
    write_dicom_series(tmp_path / "d", hu, series_uid="1.2.3.4")
    write_dicom_series(tmp_path / "d" / "b", np.concatenate([hu, hu[:2]]), series_uid="1.2.3.5")
    assert sorted(len(v) for v in list_series(tmp_path / "d").values()) == [8, 10]
    with pytest.raises(DataError, match="holds 2 series"):
        read_volume(tmp_path / "d")
    assert read_volume(tmp_path / "d", series_uid="1.2.3.5").shape[0] == 10


def test_single_slice_is_not_a_volume(tmp_path: Path, hu: np.ndarray) -> None:
    write_dicom_series(tmp_path / "one", hu[:1])
    with pytest.raises(DataError, match="single DICOM slice.*pass the folder"):
        read_volume(tmp_path / "one")


def _all_values(obj: object) -> str:
    return json.dumps(obj, default=str)


def test_no_phi_survives_ingest(tmp_path: Path, hu: np.ndarray) -> None:
    files = write_dicom_series(tmp_path / "s", hu)
    raw = files[0].read_bytes()
    assert PHI["PatientName"].encode() in raw  # the test data really carries PHI
    v = read_volume(tmp_path / "s")
    kept = _all_values(v.metadata) + repr(v)
    for key, value in PHI.items():
        assert value not in kept, f"{key} survived ingest"
        assert value[:8] not in kept
    assert "Jane" not in kept and "private vendor note" not in kept
    assert v.metadata["PatientIdentityRemoved"] == "YES"
    # UIDs are replaced by hashes in the 2.25 root, the same for every slice of the series.
    assert str(v.metadata["SeriesInstanceUID"]).startswith("2.25.")
    assert str(pydicom.dcmread(files[0]).SeriesInstanceUID) != v.metadata["SeriesInstanceUID"]


def test_deidentify_dataset_recursively(tmp_path: Path) -> None:
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN-1"
    ds.StudyDate = "20230115"
    ds.AcquisitionDateTime = "20230115093412"
    ds.InstitutionName = "Saint Elsewhere"
    ds.Modality = "CT"
    ds.KVP = 120
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4.5.6"
    ds.add_new(0x00111001, "LO", "private: Jane's scanner")
    item = Dataset()
    item.PerformingPhysicianName = "House^Gregory"
    item.ContentDate = "20230116"
    item.CodeValue = "ABC"
    ds.RequestAttributesSequence = Sequence([Dataset()])
    ds.ReferencedImageSequence = Sequence([item])
    out = deidentify(ds)
    text = str(out)
    for needle in ("Doe^Jane", "MRN-1", "20230115", "Saint Elsewhere", "House^Gregory", "20230116", "Jane's scanner"):
        assert needle not in text
    assert out.Modality == "CT" and out.KVP == 120 and out.ReferencedImageSequence[0].CodeValue == "ABC"
    assert out.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # kept: names a kind of object
    assert out.SOPInstanceUID.startswith("2.25.") and out.PatientIdentityRemoved == "YES"
    assert deidentify(Dataset()).PatientIdentityRemoved == "YES"


def test_remove_list_names_real_keywords() -> None:
    from pydicom.datadict import tag_for_keyword

    assert [k for k in sorted(REMOVE_KEYWORDS) if tag_for_keyword(k) is None] == []


def test_padding_value_becomes_air(tmp_path: Path, hu: np.ndarray) -> None:
    files = write_dicom_series(tmp_path / "s", hu, intercept=-1024.0)
    for f in files:
        ds = pydicom.dcmread(f)
        px = ds.pixel_array.copy()
        px[0, 0] = -2000
        ds.add_new(0x00280120, "SS", -2000)  # PixelPaddingValue; its VR depends on PixelRepresentation
        ds.PixelData = px.astype(np.int16).tobytes()
        ds.save_as(f)
    v = read_volume(tmp_path / "s")
    assert (v.array[:, 0, 0] == -1024.0).all()
