"""The two real chest CTs in ../shared/data/ct go through read → preprocess → encode."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from kgdx.encoders.config import PreprocessCfg
from kgdx.encoders.factory import create_encoder
from kgdx.encoders.preprocess import CTPreprocessor
from kgdx.ingest.volume import read_volume

REPO = Path(__file__).resolve().parents[2]
# <repo>/../shared/data/ct, or $KGDX_SHARED_DATA/ct; never copied into the repo.
CT = Path(os.environ.get("KGDX_SHARED_DATA") or REPO.parent / "shared" / "data") / "ct"
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(
        not (CT / "lung1_image.nrrd").is_file(),
        reason=f"real CTs not found at {CT} (set KGDX_SHARED_DATA to the folder holding ct/)",
    ),
]


@pytest.mark.parametrize(
    ("name", "shape", "xy"), [("lung1", (48, 512, 512), 0.5703125), ("lung2", (61, 512, 512), 0.627)]
)
def test_read_preprocess_encode(name: str, shape: tuple[int, int, int], xy: float) -> None:
    vol = read_volume(CT / f"{name}_image.nrrd")
    assert vol.shape == shape and vol.orientation == "LPS"
    assert vol.spacing == pytest.approx((5.0, xy, xy), abs=1e-3)  # thick 5 mm slices
    assert vol.array.min() >= -1100 and vol.array.max() > 1000  # HU: air and bone
    # lungs are air-like: the middle slice has a large share of voxels below -500 HU
    assert (vol.array[shape[0] // 2] < -500).mean() > 0.3
    enc = create_encoder("ct-tiny").eval()
    x = CTPreprocessor(enc.cfg.preprocess)(vol)
    assert x.shape == (32, 3, 128, 128) and x.min() >= -1.0 and x.max() <= 1.0
    with torch.no_grad():
        out = enc(x[None])
    assert out.scan_embedding.shape == (1, 64) and torch.isfinite(out.scan_embedding).all()
    emb, probs = enc.embed(vol)
    np.testing.assert_allclose(emb, out.scan_embedding.numpy(), atol=1e-5)
    assert len(probs[0]) == 16


def test_medmpt_preprocessing_on_a_real_scan() -> None:
    vol = read_volume(CT / "lung2_image.nrrd")
    x = CTPreprocessor(PreprocessCfg())(vol)  # MedMPT defaults: 32 x 3 x 224 x 224
    assert x.shape == (32, 3, 224, 224) and np.isfinite(x.numpy()).all()
    # anterior is up: the top rows of a mid-chest slice are air outside the body (about -1000 HU,
    # which is 0.1 in the lung window and -0.8 after normalisation); the mediastinum is brighter
    mid = x[16, 0]
    assert mid[:5].mean() < -0.7 and mid[100:124, 60:164].mean() > mid[:5].mean()
