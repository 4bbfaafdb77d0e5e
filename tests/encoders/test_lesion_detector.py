"""The finding head's lesion detector: off until fitted, the same under chunked inference, and
able to find a lesion that fills one patch of one slice, which the scan head averages away."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from kgdx.encoders.ct_encoder import CTEncoder
from kgdx.encoders.factory import create_encoder
from kgdx.encoders.train_ct_head import CohortInputs, finding_auroc, fit_detector, predict
from kgdx.errors import ConfigError, DataError


def _with_detector(enc: CTEncoder, detector: bool = True) -> CTEncoder:
    """The same weights, with a fresh (unfitted) detector or none."""
    cfg = copy.deepcopy(enc.cfg)
    cfg.finding_head.detector = detector
    out = CTEncoder(cfg)
    out.load_state_dict(
        {k: v for k, v in enc.state_dict().items() if "detector" not in k and "stack_" not in k}, strict=False
    )
    return out.eval()


@pytest.fixture(scope="module")
def pair() -> tuple[CTEncoder, CTEncoder]:
    """ct-tiny (which has a detector) without one, and with a fresh one."""
    torch.manual_seed(0)
    base = _with_detector(create_encoder("ct-tiny"), detector=False)
    return base, _with_detector(base)


def test_an_unfitted_detector_scores_as_the_scan_head_alone(pair) -> None:
    base, det = pair
    x = torch.randn(2, 32, 3, 128, 128)
    with torch.no_grad():
        a, b = base(x), det(x)
    assert a.patch_logits is None and b.patch_logits.shape == (2, 32, 64, 16)
    torch.testing.assert_close(b.finding_logits, a.finding_logits)
    with torch.no_grad():  # chunked inference keeps the patch tokens the detector reads
        torch.testing.assert_close(det(x, chunk=7).finding_logits, b.finding_logits, atol=1e-5, rtol=1e-4)


def test_the_detector_score_is_the_mean_of_the_top_k_patches(pair) -> None:
    head = copy.deepcopy(pair[1].finding_head)
    head.cfg = dataclasses.replace(head.cfg, detector_topk=4)
    logits = torch.zeros(1, 2, 3, 16)
    logits[0, 0, :, 5] = torch.tensor([1.0, 2.0, 3.0])
    logits[0, 1, :, 5] = torch.tensor([4.0, -1.0, 0.0])
    head.cfg.detector_topk = 4
    assert head.pool(logits)[0, 5].item() == pytest.approx((4 + 3 + 2 + 1) / 4)
    with torch.no_grad():
        head.stack_weight[5] = torch.tensor([0.5, 2.0])
        head.stack_bias[5] = -1.0
    scan = torch.ones(1, 16)
    assert head.stacked(scan, logits)[0, 5].item() == pytest.approx(0.5 + 2.0 * 2.5 - 1.0)
    head.reset_parameters()
    assert head.stack_weight[5].tolist() == [1.0, 0.0]


def _lesions(n: int, seed: int) -> CohortInputs:
    """Aerated lung everywhere; every other case has one soft-tissue 16 px square (one patch of
    one slice) at a random place, labelled as finding 0 at scan and patch level."""
    rng = np.random.default_rng(seed)
    base = torch.full((n, 32, 128, 128), -850, dtype=torch.int16)
    patches = torch.zeros(n, 32, 64, 16, dtype=torch.uint8)
    y = torch.zeros(n, 16)
    for i in range(0, n, 2):
        s, r, c = rng.integers(32), rng.integers(8), rng.integers(8)
        base[i, s, r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16] = 40
        patches[i, s, r * 8 + c, 0] = 1
        y[i, 0] = 1
    base += torch.from_numpy(rng.normal(0, 20, base.shape).astype(np.int16))
    return CohortInputs([f"c{i}" for i in range(n)], base, patches, y)


def test_fit_detector_finds_a_one_patch_lesion(pair) -> None:
    base, _ = pair
    det = _with_detector(base)
    train, val, test = _lesions(16, 1), _lesions(12, 2), _lesions(12, 3)
    before = finding_auroc(predict(base, test.base)[1], test.y.numpy(), base.findings)["per_finding"]
    fit = fit_detector(det, train, val, epochs=60, lr=3e-3, progress=False)
    after = finding_auroc(predict(det, test.base)[1], test.y.numpy(), det.findings)["per_finding"]
    finding = det.findings[0]
    assert after[finding] >= 0.95 and after[finding] > before[finding]
    assert fit["stack_weight"][0][1] > 0.1  # stacking leans on the detector where it helps
    assert fit["detector_loss"][-1] < fit["detector_loss"][0]


def test_fit_detector_says_what_is_missing(pair) -> None:
    base, det = pair
    data = _lesions(2, 0)
    with pytest.raises(ConfigError, match="no lesion detector"):
        fit_detector(base, data, data, progress=False)
    with pytest.raises(DataError, match="lesion masks"):
        fit_detector(det, CohortInputs(data.ids, data.base, None, data.y), data, progress=False)
