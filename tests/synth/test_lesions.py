"""Lesion patterns: each drawn finding has mask voxels with the right label, HU and place; nothing else does."""

from __future__ import annotations

import numpy as np
import pytest

from kgdx.encoders.ct_findings import CT_FINDINGS
from kgdx.synth.config import VolumeConfig
from kgdx.synth.findings import CT_CATALOGUE, LABEL_OF, RENDERED, modality_of
from kgdx.synth.lesions import DRAW_ORDER, draw_findings
from kgdx.synth.phantom import Tissue, make_phantom

SHAPE = (32, 64, 64)
SPACING = VolumeConfig(shape=SHAPE).spacing
ALL = [s.hpo_id for s in RENDERED]


@pytest.fixture(scope="module")
def drawn():
    rng = np.random.default_rng(11)
    ph = make_phantom(SHAPE, SPACING, rng, heart_scale=1.3)
    lung_y = float(np.mean(np.nonzero(ph.lung())[1]))
    labels, infos = draw_findings(ph, ALL, 0.6, rng, {"halo"})
    return ph, labels, infos, lung_y


def test_label_values_are_unique_and_cover_the_ct_head() -> None:
    values = [s.label for s in RENDERED]
    assert values == list(range(1, len(values) + 1))
    for i, f in enumerate(CT_FINDINGS):  # 1..16 follow the finding head's order
        assert LABEL_OF[f.hpo_id] == i + 1
    assert {s.key for s in RENDERED} - {"air_bronchogram"} <= set(DRAW_ORDER)
    assert all(modality_of(s.hpo_id, frozenset()) == "ct" for s in CT_CATALOGUE)


def test_every_drawn_finding_has_voxels_with_its_label(drawn) -> None:
    ph, labels, infos, _ = drawn
    counts = np.bincount(labels.ravel(), minlength=32)
    for s in RENDERED:
        assert counts[s.label] > 0, s.key
        assert infos[s.hpo_id].voxels == counts[s.label]
        assert infos[s.hpo_id].sides or s.key == "cardiomegaly" or s.key == "mediastinal_ln"
    assert set(np.unique(labels)) == {0} | {s.label for s in RENDERED}


def test_patterns_have_their_attenuation(drawn) -> None:
    ph, labels, _, _ = drawn
    hu = ph.hu

    def med(key: str) -> float:
        return float(np.median(hu[labels == LABEL_OF[_id(key)]]))

    assert -750 < med("ggo") < -300
    assert med("consolidation") > -100
    assert med("air_bronchogram") < -300
    assert med("emphysema") < -940
    assert med("pneumothorax") <= -990
    assert -10 < med("effusion") < 40
    assert 20 < med("mediastinal_ln") < 70
    assert med("cavity") < 60 and hu[labels == LABEL_OF[_id("cavity")]].min() < -800  # air lumen in a wall
    assert hu[labels == LABEL_OF[_id("honeycombing")]].min() < -800


def test_patterns_are_where_they_belong(drawn) -> None:
    ph, labels, _, lung_y = drawn
    rho = ph.rho()
    h = np.broadcast_to(ph.height(), labels.shape)

    def where(key: str) -> tuple[np.ndarray, ...]:
        return np.nonzero(labels == LABEL_OF[_id(key)])

    assert np.mean(where("effusion")[1]) > lung_y  # dependent: posterior in a supine patient
    assert np.mean(where("pneumothorax")[1]) < lung_y  # non-dependent: anterior
    hc = labels == LABEL_OF[_id("honeycombing")]
    assert np.mean(h[hc]) < 0.5  # basal
    assert np.mean(ph.wall_depth()[hc]) < 20  # subpleural
    em = labels == LABEL_OF[_id("emphysema")]
    assert np.mean(h[em]) > 0.4  # upper-zone predominant
    ln = labels == LABEL_OF[_id("mediastinal_ln")]
    assert np.all(np.abs(ph.grid.x[np.nonzero(ln)[2]]) < 60)  # in the mediastinum
    lesion = (labels > 0) & (labels != LABEL_OF[_id("cardiomegaly")])
    assert np.all(rho[lesion] < 1.05)  # inside the thoracic cavity
    assert not np.any(lesion & np.isin(ph.tissue, (Tissue.AIR, Tissue.BONE, Tissue.LIVER)))


def test_only_requested_findings_are_drawn() -> None:
    rng = np.random.default_rng(5)
    ph = make_phantom(SHAPE, SPACING, rng)
    want = [_id("nodule"), _id("effusion"), _id("tree_in_bud"), "HP:0025391"]  # crazy paving is report-only
    labels, infos = draw_findings(ph, want, 0.3, rng)
    assert set(np.unique(labels)) == {
        0,
        LABEL_OF[_id("nodule")],
        LABEL_OF[_id("effusion")],
        LABEL_OF[_id("tree_in_bud")],
    }
    assert set(infos) == {_id("nodule"), _id("effusion"), _id("tree_in_bud")}
    empty, none = draw_findings(make_phantom(SHAPE, SPACING, rng), [], 0.5, rng)
    assert not empty.any() and none == {}


def test_severity_grows_the_extent() -> None:
    sizes = []
    for s in (0.05, 0.95):
        rng = np.random.default_rng(2)
        ph = make_phantom(SHAPE, SPACING, rng)
        labels, _ = draw_findings(ph, [_id("effusion")], s, rng)
        sizes.append(int((labels > 0).sum()))
    assert sizes[1] > sizes[0] > 0


def _id(key: str) -> str:
    return next(s.hpo_id for s in CT_CATALOGUE if s.key == key)
