"""The lab encoder: panel codes, reference scaling, masking of missing tests, shapes and repr."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgdx.encoders.config import LabEncoderCfg
from kgdx.encoders.factory import create_encoder
from kgdx.encoders.lab_panel import DEFAULT_PANEL, DEFAULT_TESTS, lab_flags, reference_range
from kgdx.encoders.labs import LabEncoder
from kgdx.ingest.labs import LabResult, is_valid_loinc


@pytest.fixture(scope="module")
def enc() -> LabEncoder:
    torch.manual_seed(0)
    return create_encoder("lab-tiny").eval()


def test_panel_codes_are_valid_loinc() -> None:
    assert len(DEFAULT_TESTS) == len(set(DEFAULT_TESTS)) == 46
    assert [t.loinc for t in DEFAULT_PANEL if not is_valid_loinc(t.loinc)] == []


def test_tensorize_scales_to_reference(enc: LabEncoder) -> None:
    rows = [
        LabResult("718-7", 9.1, "g/dL", 12.0, 17.5),  # own range
        LabResult("2160-0", 1.3, "mg/dL"),  # default range 0.6-1.3 -> +1
        LabResult("9999-4", 3.0, "U"),  # not in the panel
        LabResult("1988-5", None, "mg/L", None, 5.0),  # not measured
    ]
    b = enc.tensorize([rows, []])
    i, j = enc.index["718-7"], enc.index["2160-0"]
    assert b.values[0, i].item() == pytest.approx(2 * (9.1 - 12) / 5.5 - 1)
    assert b.values[0, j].item() == pytest.approx(1.0)
    assert b.present[0].sum() == 2 and b.present[1].sum() == 0
    assert b.unknown == [["9999-4"], []]
    with pytest.raises(
        ValueError, match=r"panel 0 \(line 7\): LOINC 2160-0 .* unit 'umol/L' is not the default range's 'mg/dL'"
    ):
        enc.tensorize([[LabResult("2160-0", 80.0, "umol/L", line=7)]])


def test_missing_tests_do_not_change_the_embedding(enc: LabEncoder) -> None:
    b = enc.tensorize([[LabResult("718-7", 9.1, "g/dL", 12.0, 17.5)]])
    out = enc(b.values, b.present).embedding
    junk = b.values.clone()
    junk[~b.present] = 7.0  # values under the mask must be ignored
    torch.testing.assert_close(enc(junk, b.present).embedding, out)
    other = enc.tensorize([[LabResult("718-7", 16.0, "g/dL", 12.0, 17.5)]])
    assert not torch.allclose(enc(other.values, other.present).embedding, out)


def test_shapes_empty_panels_and_checks(enc: LabEncoder) -> None:
    emb = enc.encode([[], [LabResult("718-7", 13.0, "g/dL", 12.0, 17.5)]])
    assert emb.shape == (2, 32) and np.isfinite(emb).all()
    out = enc(torch.zeros(3, 46), torch.zeros(3, 46, dtype=torch.bool))
    assert out.tokens.shape == (3, 46, 32)
    with pytest.raises(ValueError, match=r"shape \(B, 46\), got \(3, 45\)"):
        enc(torch.zeros(3, 45), torch.zeros(3, 45, dtype=torch.bool))
    assert repr(enc).startswith("LabEncoder(\n  tests=46, width=32, depth=1, heads=4\n")
    with pytest.raises(ValueError, match=r"lab.width \(got 30\) must be divisible by heads \(got 4\)"):
        LabEncoderCfg(width=30, heads=4)


def test_custom_tests_and_base_depth() -> None:
    e = LabEncoder(LabEncoderCfg(tests=("718-7", "2160-0"), width=16, depth=1, heads=2, ffn=32))
    assert e.num_tests == 2
    assert len(create_encoder("lab-base").encoder.layers) == 4  # MedMPT: 4 layers


def test_flags_and_reference_fallback() -> None:
    rows = [
        LabResult("718-7", 9.1, "g/dL", 12.0, 17.5),
        LabResult("1988-5", 40.0, "mg/L"),
        LabResult("2951-2", 140.0, "mmol/L"),
    ]
    assert lab_flags(rows) == {"718-7": "low", "1988-5": "high", "2951-2": "normal"}
    assert reference_range(LabResult("1988-5", 1.0, "MG/L")) == (None, 5.0)
    with pytest.raises(ValueError, match="none by default"):
        reference_range(LabResult("9999-4", 1.0, "U"))
