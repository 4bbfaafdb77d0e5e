"""The synthetic CT phantom: HU per tissue, geometry, and a NIfTI that ingest reads back as LPS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nibabel")
pytest.importorskip("SimpleITK")

import nibabel as nib

from kgdx.ingest.volume import read_volume, write_volume
from kgdx.synth.acquisition import Acquisition, acquire
from kgdx.synth.config import VolumeConfig
from kgdx.synth.phantom import TISSUE_HU, Tissue, make_phantom

SHAPE = (32, 64, 64)
SPACING = VolumeConfig(shape=SHAPE).spacing


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(SHAPE, SPACING, np.random.default_rng(3))


def test_every_tissue_is_drawn_in_its_hu_range(phantom) -> None:
    hu, t = phantom.hu, phantom.tissue
    for tissue in (
        Tissue.AIR,
        Tissue.FAT,
        Tissue.SOFT,
        Tissue.BONE,
        Tissue.MARROW,
        Tissue.LUNG_R,
        Tissue.LUNG_L,
        Tissue.BLOOD,
        Tissue.LIVER,
    ):
        vals = hu[t == tissue]
        assert vals.size > 0, tissue.name
        lo, hi = TISSUE_HU[tissue]
        # Lung voxels next to vessels are partial-volume blends; the rest sit in the range.
        share = np.mean((vals >= lo) & (vals <= hi))
        assert share > (0.95 if tissue in (Tissue.LUNG_R, Tissue.LUNG_L) else 0.999), (tissue.name, share)


def test_issue_hu_targets(phantom) -> None:
    hu, t = phantom.hu, phantom.tissue
    med = {k: float(np.median(hu[t == k])) for k in Tissue if (t == k).any()}
    assert med[Tissue.AIR] == -1000
    assert -850 <= med[Tissue.LUNG_R] <= -700 and -850 <= med[Tissue.LUNG_L] <= -700
    assert -120 <= med[Tissue.FAT] <= -80
    assert 30 <= med[Tissue.SOFT] <= 60
    assert hu[t == Tissue.BONE].min() >= TISSUE_HU[Tissue.BONE][0]
    # Dependent (posterior) lung is denser than anterior lung.
    lung = (t == Tissue.LUNG_R) | (t == Tissue.LUNG_L)
    y = np.broadcast_to(phantom.grid.y[None, :, None], hu.shape)
    assert hu[lung & (y > 20)].mean() > hu[lung & (y < -40)].mean()


def test_anatomy_is_where_it_belongs(phantom) -> None:
    t = phantom.tissue
    x = phantom.grid.x
    right = (t == Tissue.LUNG_R).any(axis=(0, 1))
    left = (t == Tissue.LUNG_L).any(axis=(0, 1))
    assert x[right].max() < 0 < x[left].min()  # right lung on the patient's right (-x in LPS)
    z_lung = np.nonzero(((t == Tissue.LUNG_R) | (t == Tissue.LUNG_L)).any(axis=(1, 2)))[0]
    z_liver = np.nonzero((t == Tissue.LIVER).any(axis=(1, 2)))[0]
    assert z_liver.min() < z_lung.min()  # the liver is below the lungs (z grows superior)
    spine_y = np.nonzero((t == Tissue.BONE).any(axis=(0, 2)))[0]
    assert phantom.grid.y[spine_y].max() > 0  # the spine is posterior
    assert (t == Tissue.AIRWAY).sum() > 0 and (t == Tissue.VESSEL).sum() > 0


def test_acquisition_noise_thickness_and_dtype(phantom) -> None:
    rng = np.random.default_rng(0)
    clean = acquire(phantom.hu, SPACING, Acquisition(1.0, "standard", 0.0), rng)
    noisy = acquire(phantom.hu, SPACING, Acquisition(1.0, "standard", 20.0), np.random.default_rng(0))
    thick = acquire(phantom.hu, SPACING, Acquisition(20.0, "soft", 0.0), rng)
    assert clean.dtype == np.int16 and clean.min() >= -1024
    soft = phantom.tissue == Tissue.SOFT
    assert 15 < float(np.std(noisy[soft].astype(float) - clean[soft])) < 25
    assert np.abs(np.diff(thick.astype(float), axis=0)).mean() < np.abs(np.diff(clean.astype(float), axis=0)).mean()


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nii"])
def test_nifti_reads_back_as_the_same_lps_volume(tmp_path: Path, phantom, name: str) -> None:
    img = acquire(phantom.hu, SPACING, Acquisition(2.5, "standard", 10.0), np.random.default_rng(1))
    p = tmp_path / name
    write_volume(p, img, SPACING, phantom.grid.origin_lps)
    assert nib.aff2axcodes(nib.load(str(p)).affine) == ("L", "P", "S")
    v = read_volume(p)
    assert v.orientation == "LPS"
    assert v.shape == SHAPE
    assert v.spacing == pytest.approx(SPACING)
    assert v.origin == pytest.approx(phantom.grid.origin_lps)
    np.testing.assert_array_equal(v.array, img.astype(np.float32))
    # Same bytes for the same array (gzip without a time stamp).
    q = tmp_path / ("again_" + name)
    write_volume(q, img, SPACING, phantom.grid.origin_lps)
    assert p.read_bytes() == q.read_bytes()
