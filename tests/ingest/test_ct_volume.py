"""Reading NIfTI/NRRD/MetaImage volumes: HU, geometry, canonical LPS (z, y, x), and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("SimpleITK")
pytest.importorskip("nibabel")

import SimpleITK as sitk

from kgdx.encoders.testing import make_phantom
from kgdx.errors import DataError
from kgdx.ingest.volume import Volume, check_voxels, read_volume, resample_volume, write_volume


@pytest.fixture
def arr() -> np.ndarray:
    return make_phantom((10, 32, 40), seed=1).array


def _write(path: Path, arr: np.ndarray, direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1)) -> Path:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.7, 0.8, 2.5))
    img.SetOrigin((-10.0, -20.0, 30.0))
    img.SetDirection(direction)
    sitk.WriteImage(img, str(path))
    return path


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii", "v.nrrd", "v.mha"])
def test_formats_read_to_the_same_lps_volume(tmp_path: Path, arr: np.ndarray, name: str) -> None:
    # Stored with x pointing to the patient's right (RPS); reading must flip x to reach LPS.
    v = read_volume(_write(tmp_path / name, arr))
    assert v.orientation == "LPS"
    assert v.shape == (10, 32, 40)
    assert v.spacing == pytest.approx((2.5, 0.8, 0.7))
    assert v.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    np.testing.assert_allclose(v.array, arr[:, :, ::-1], atol=1e-3)
    # Voxel [0,0,0] after the flip is the former last column: x = -10 - 39 * 0.7.
    assert v.origin == pytest.approx((-10.0 - 39 * 0.7, -20.0, 30.0), abs=1e-4)
    assert v.array.dtype == np.float32


def test_orient_false_keeps_file_axes(tmp_path: Path, arr: np.ndarray) -> None:
    v = read_volume(_write(tmp_path / "v.nrrd", arr), orient=False)
    assert v.orientation == "RPS"
    np.testing.assert_allclose(v.array, arr, atol=1e-3)


@pytest.mark.parametrize("name", ["t.nii", "t.nii.gz", "t.nrrd", "t.mha"])
def test_truncated_files_are_refused_naming_the_file(tmp_path: Path, arr: np.ndarray, name: str) -> None:
    full = write_volume(tmp_path / ("full" + name[1:]), arr)
    data = full.read_bytes()
    bad = tmp_path / name
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or truncated") as e:
        read_volume(bad)
    assert e.value.file == str(bad)


def test_garbage_and_unknown_suffix(tmp_path: Path) -> None:
    g = tmp_path / "g.nii.gz"
    g.write_bytes(b"not an image" * 10)
    with pytest.raises(DataError, match="g.nii.gz"):
        read_volume(g)
    u = tmp_path / "v.png"
    u.write_bytes(b"x")
    with pytest.raises(DataError, match="unknown volume format '.png'"):
        read_volume(u)
    with pytest.raises(DataError, match="no such file"):
        read_volume(tmp_path / "missing.nii.gz")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_voxels_are_refused(tmp_path: Path, arr: np.ndarray, bad: float) -> None:
    a = arr.copy()
    a[3, 4, 5] = bad
    p = write_volume(tmp_path / "nan.nii.gz", a)
    with pytest.raises(
        DataError, match=r"1 voxel\(s\) are NaN or infinite \(first at \(z, y, x\) = \(3, 4, 5\)\)"
    ) as e:
        read_volume(p)
    assert e.value.file == str(p)


def test_volume_checks_its_arguments() -> None:
    with pytest.raises(DataError, match=r"must be 3-D \(z, y, x\), got shape \(4, 4\)"):
        Volume(np.zeros((4, 4), np.float32))
    with pytest.raises(DataError, match="spacing must be three positive"):
        Volume(np.zeros((2, 4, 4), np.float32), spacing=(1.0, 0.0, 1.0))
    with pytest.raises(DataError, match="empty"):
        Volume(np.zeros((0, 4, 4), np.float32))
    with pytest.raises(DataError, match="NaN"):
        check_voxels(np.array([1.0, np.nan]), "x.nii")


def test_volume_repr_and_roundtrip() -> None:
    v = Volume(np.full((4, 8, 6), -1000, np.float32), spacing=(5.0, 0.7, 0.6), source=Path("/a/b/scan.nii.gz"))
    assert repr(v) == "Volume(shape=(4, 8, 6), spacing=(5, 0.7, 0.6), HU=[-1000, -1000], source='scan.nii.gz')"
    back = Volume.from_sitk(v.to_sitk())
    assert back.shape == v.shape and back.spacing == pytest.approx(v.spacing)


def test_four_d_single_volume_is_squeezed(tmp_path: Path, arr: np.ndarray) -> None:
    import nibabel as nib

    p = tmp_path / "v4.nii.gz"
    nib.save(nib.Nifti1Image(arr.transpose(2, 1, 0)[..., None], np.eye(4)), str(p))
    assert read_volume(p).shape == arr.shape


def test_resample_to_physical_spacing() -> None:
    v = Volume(np.zeros((10, 20, 20), np.float32), spacing=(5.0, 1.0, 1.0))
    r = resample_volume(v, (2.5, 2.0, 2.0))
    assert r.shape == (20, 10, 10)
    assert r.spacing == pytest.approx((2.5, 2.0, 2.0))
    with pytest.raises(ValueError, match=r"three positive mm values \(z, y, x\), got \(1.0, -1.0\)"):
        resample_volume(v, (1.0, -1.0))  # type: ignore[arg-type]
