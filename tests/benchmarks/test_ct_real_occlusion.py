"""The occlusion map of benchmarks/ct_real.py: one score per block, zero where nothing changes."""

from __future__ import annotations

import torch

from benchmarks.ct_real import occlusion
from kgdx.encoders.factory import create_encoder


def test_occlusion_scores_every_block_and_finds_the_one_that_matters() -> None:
    enc = create_encoder("ct-tiny", seed=0).eval()
    pcfg = enc.cfg.preprocess
    base = torch.full((32, 128, 128), -850.0)  # all aerated lung: occluding with -850 HU changes nothing ...
    p0, drops = occlusion(enc, base, pcfg, 3, grid=(2, 2, 2))
    assert drops.shape == (2, 2, 2) and 0.0 <= p0 <= 1.0
    assert abs(drops).max() < 1e-5
    base[:16, :64, :64] = 40.0  # ... except where a soft-tissue block is erased
    _, drops = occlusion(enc, base, pcfg, 3, grid=(2, 2, 2))
    assert abs(drops[0, 0, 0]) > 1e-6 and abs(drops).argmax() == 0


def test_the_tumour_is_measured_across_its_longest_axial_diameter() -> None:
    import numpy as np

    from benchmarks.ct_real import MASS_MIN_MM, longest_axial_mm

    mask = np.zeros((3, 40, 40), np.uint8)
    mask[1, 10, 5:25] = 1  # 20 voxels along x on one slice: 19 steps of 2 mm
    mask[2, 5:10, 5] = 1  # shorter, and z spacing never counts
    assert longest_axial_mm(mask, (10.0, 1.0, 2.0)) == 38.0
    assert longest_axial_mm(mask, (10.0, 1.0, 2.0)) > MASS_MIN_MM  # a mass by the Fleischner glossary
    assert longest_axial_mm(np.zeros((2, 4, 4), np.uint8), (1.0, 1.0, 1.0)) == 0.0
