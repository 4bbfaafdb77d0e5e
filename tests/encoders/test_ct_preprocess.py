"""MedMPT preprocessing: slice selection, windows, normalisation, size, and augmentations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgdx.encoders.config import AugmentCfg, PreprocessCfg
from kgdx.encoders.preprocess import CTPreprocessor, preprocess_volume
from kgdx.encoders.transforms import HUWindows, PadToSquare, ToSliceTensor, UniformSliceSample
from kgdx.ingest.volume import Volume


def test_uniform_slice_indices() -> None:
    assert UniformSliceSample.indices(61, 32)[[0, 1, -1]].tolist() == [0, 2, 60]
    assert UniformSliceSample.indices(10, 4).tolist() == [0, 3, 6, 9]
    assert UniformSliceSample.indices(3, 5).tolist() == [0, 0, 1, 2, 2]  # fewer slices: repeats
    assert UniformSliceSample(4)(torch.arange(10.0)[:, None, None].expand(10, 2, 2))[:, 0, 0].tolist() == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="got 0"):
        UniformSliceSample(0)
    assert repr(UniformSliceSample(32)) == "UniformSliceSample(num_slices=32, reduce='pick')"


def test_slabs_keep_what_picking_drops() -> None:
    """A one-slice lesion between picked slices vanishes with "pick" and survives as a slab."""
    hu = torch.full((12, 4, 4), -1000.0)
    hu[5, 1:3, 1:3] = 40.0  # picking 4 of 12 takes slices 0, 4, 7 and 11
    assert UniformSliceSample(4)(hu).max() == -1000.0
    slab = UniformSliceSample(4, "mean")(hu)  # slabs [0, 3), [3, 6), [6, 9), [9, 12)
    assert slab[1, 1, 1].item() == pytest.approx((40.0 - 2000.0) / 3) and slab[0].max() == -1000.0
    labels = torch.zeros(12, 4, 4)
    labels[5, 1, 1] = 3.0
    assert UniformSliceSample(4, "max")(labels)[1, 1, 1] == 3.0
    assert UniformSliceSample(20, "mean")(hu).shape == (20, 4, 4)  # fewer slices than slabs: repeats
    with pytest.raises(ValueError, match="'reduce'"):
        UniformSliceSample(4, "median")
    pre = CTPreprocessor(PreprocessCfg(num_slices=4, image_size=4, slices="slab"))
    assert pre.base(Volume(hu.numpy())).amax() > -1000.0
    assert pre.labels(labels.numpy(), None)[1, 1, 1] == 3
    with pytest.raises(ValueError, match="preprocess.slices"):
        PreprocessCfg(slices="thick")


def test_windows_match_medmpt() -> None:
    hu = torch.tensor([-1000.0, -400.0, 60.0, 3000.0]).view(4, 1, 1)
    out = HUWindows([(1500, -400), (2000, -500), (400, 60)])(hu).view(4, 3)
    # lung window [-1150, 350]; wide [-1500, 500]; mediastinal [-140, 260]
    expected = torch.tensor([[0.1, 0.25, 0.0], [0.5, 0.55, 0.0], [1210 / 1500, 0.78, 0.5], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="width must be positive, got -5"):
        HUWindows([(-5, 0)])


def test_pad_to_square_with_air_and_unflatten() -> None:
    out = PadToSquare(-1024.0)(torch.zeros(2, 4, 6))
    assert out.shape == (2, 6, 6) and out[0, 0, 0] == -1024.0 and out[0, 3, 3] == 0.0
    assert ToSliceTensor(3)(torch.zeros(6, 5, 5)).shape == (2, 3, 5, 5)


def test_volume_to_encoder_input() -> None:
    vol = Volume(np.full((10, 40, 30), -1000.0, np.float32), spacing=(5.0, 0.7, 0.7))
    x = preprocess_volume(vol, PreprocessCfg(num_slices=8, image_size=32))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32
    # -1000 HU in the lung window is 0.1 -> (0.1 - 0.5) / 0.5 = -0.8 in the middle of the slice
    assert x[0, 0, 16, 16].item() == pytest.approx(-0.8, abs=1e-4)
    # padding to square is air (-1024 HU): (126 / 1500 - 0.5) / 0.5 at the edge
    assert x[0, 0, 16, 0].item() == pytest.approx(2 * 126 / 1500 - 1, abs=1e-3)
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_physical_resampling_option() -> None:
    vol = Volume(np.zeros((4, 16, 16), np.float32), spacing=(5.0, 1.0, 1.0))
    pre = CTPreprocessor(PreprocessCfg(num_slices=4, image_size=16, target_spacing=(2.5, 1.0, 1.0)))
    assert pre.base(vol).shape == (4, 16, 16)


def test_augmentations_vary_and_are_seeded(phantom) -> None:
    vol = Volume(phantom.array, spacing=phantom.spacing)
    cfg, aug = PreprocessCfg(num_slices=8, image_size=32), AugmentCfg(affine_prob=1.0, blur_prob=1.0)
    a = CTPreprocessor(cfg, aug, seed=1)
    b = CTPreprocessor(cfg, aug, seed=1)
    base = a.base(vol)
    v1, v2 = a.finish(base), a.finish(base)
    assert v1.shape == v2.shape == (8, 3, 32, 32)
    assert not torch.allclose(v1, v2)
    torch.testing.assert_close(b.finish(base), v1)  # same seed, same first view
    plain = CTPreprocessor(cfg)(vol)
    torch.testing.assert_close(CTPreprocessor(cfg)(vol), plain)  # deterministic without augment
    assert "RandAffine" in repr(a) and "RandAffine" not in repr(CTPreprocessor(cfg))


def test_augment_config_checks() -> None:
    with pytest.raises(ValueError, match=r"crop_scale must satisfy .* got \(0.0, 1.0\)"):
        AugmentCfg(crop_scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="hflip_prob must be in"):
        AugmentCfg(hflip_prob=2.0)
