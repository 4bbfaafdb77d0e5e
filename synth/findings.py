"""How each phenotype shows up in a synthetic case: on the CT, in the labs, or in the history.

This is the generator's own knowledge of *where* a phenotype is observed, not a clinical fact
about a disease (those come from the KG): a CT finding is drawn in the volume with a mask label
and described in the report; a phenotype an ``INDICATES`` edge points to is expressed through
that lab test's value; anything else is a symptom or sign from the history and examination and
goes into the phenopacket.

Mask label values (one label map per case, ``uint8``; 0 is no finding):

====  ==========  ===============================================
 1    HP:0025179  ground-glass opacity
 2    HP:0032177  consolidation
 3    HP:0033608  pulmonary nodule (solid, part-solid or ground-glass)
 4    HP:0033821  pulmonary mass
 5    HP:0002097  emphysema (low-attenuation areas)
 6    HP:0025175  honeycombing
 7    HP:0025390  reticulation
 8    HP:0032174  tree-in-bud
 9    HP:0033655  cavity (wall and lumen)
10    HP:0002202  pleural effusion
11    HP:0100721  mediastinal lymphadenopathy
12    HP:0002110  bronchiectasis (dilated lumen and wall)
13    HP:0002107  pneumothorax (pleural air)
14    HP:6000317  mosaic attenuation (the lucent lobules)
15    HP:0033662  air bronchogram (air-filled bronchi inside consolidation)
16    HP:0030879  interlobular septal thickening
17    HP:0034388  hilar lymph node enlargement
18    HP:0100750  atelectasis
19    HP:0032445  pulmonary cyst
20    HP:0031944  pleural thickening
21    HP:0001640  cardiomegaly (the enlarged heart)
====  ==========  ===============================================

Values 1–16 follow the order of the CT finding head (:data:`kgdx.encoders.ct_findings.CT_FINDINGS`),
so ``label - 1`` is the head's output index for those.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CTFindingSpec",
    "CT_CATALOGUE",
    "RENDERED",
    "LABEL_OF",
    "HIDDEN_ON_NONCONTRAST",
    "OTHER_TESTS",
    "modality_of",
    "spec",
]


@dataclass(frozen=True)
class CTFindingSpec:
    """A phenotype seen on chest CT.

    Attributes:
        hpo_id: The HPO term.
        key: Short name, used for the renderer and in labels.
        label: Mask value, or ``None`` when the finding is only described in the report.
        phrases: English ways to say it (the first is the plain term), plural-ready nouns.
        zh: The Chinese term.
        compartment: ``lung``, ``airway``, ``pleura``, ``mediastinum`` or ``heart``: where the
            report speaks of it.
        negatable: Whether a report states it as a pertinent negative ("no effusion").
        requires: Another CT finding that must be present for this one to exist (an air
            bronchogram lies inside a consolidation).
    """

    hpo_id: str
    key: str
    label: int | None
    phrases: tuple[str, ...]
    zh: str
    compartment: str
    negatable: bool = False
    requires: str | None = None


CT_CATALOGUE: tuple[CTFindingSpec, ...] = (
    CTFindingSpec(
        "HP:0025179",
        "ggo",
        1,
        (
            "ground-glass opacities",
            "ground-glass opacification",
            "areas of ground-glass attenuation",
            "hazy ground-glass opacity",
        ),
        "磨玻璃影",
        "lung",
        True,
    ),
    CTFindingSpec(
        "HP:0032177",
        "consolidation",
        2,
        ("consolidation", "airspace consolidation", "parenchymal consolidation", "dense airspace opacity"),
        "实变影",
        "lung",
        True,
    ),
    CTFindingSpec(
        "HP:0033608",
        "nodule",
        3,
        ("pulmonary nodule", "nodule", "nodular opacity", "lung nodule"),
        "肺结节",
        "lung",
        True,
    ),
    CTFindingSpec(
        "HP:0033821", "mass", 4, ("pulmonary mass", "mass", "soft-tissue mass", "lung mass"), "肺肿块", "lung", True
    ),
    CTFindingSpec(
        "HP:0002097",
        "emphysema",
        5,
        ("emphysema", "emphysematous change", "centrilobular emphysema", "low-attenuation areas of emphysema"),
        "肺气肿",
        "lung",
        True,
    ),
    CTFindingSpec(
        "HP:0025175", "honeycombing", 6, ("honeycombing", "honeycomb cysts", "honeycomb lung"), "蜂窝肺", "lung", True
    ),
    CTFindingSpec(
        "HP:0025390",
        "reticulation",
        7,
        ("reticulation", "reticular opacities", "subpleural reticular pattern", "fine reticular change"),
        "网格影",
        "lung",
        False,
    ),
    CTFindingSpec(
        "HP:0032174",
        "tree_in_bud",
        8,
        ("tree-in-bud opacities", "tree-in-bud nodularity", "tree-in-bud pattern"),
        "树芽征",
        "lung",
        True,
    ),
    CTFindingSpec(
        "HP:0033655",
        "cavity",
        9,
        ("cavity", "cavitary lesion", "thick-walled cavity", "cavitation"),
        "空洞",
        "lung",
        True,
    ),
    CTFindingSpec(
        "HP:0002202",
        "effusion",
        10,
        ("pleural effusion", "effusion", "pleural fluid", "layering pleural effusion"),
        "胸腔积液",
        "pleura",
        True,
    ),
    CTFindingSpec(
        "HP:0100721",
        "mediastinal_ln",
        11,
        ("mediastinal lymphadenopathy", "enlarged mediastinal lymph nodes", "mediastinal adenopathy"),
        "纵隔淋巴结肿大",
        "mediastinum",
        True,
    ),
    CTFindingSpec(
        "HP:0002110",
        "bronchiectasis",
        12,
        ("bronchiectasis", "dilated bronchi", "cylindrical bronchiectasis", "bronchial dilatation"),
        "支气管扩张",
        "airway",
        True,
    ),
    CTFindingSpec(
        "HP:0002107", "pneumothorax", 13, ("pneumothorax", "pleural air", "apical pneumothorax"), "气胸", "pleura", True
    ),
    CTFindingSpec(
        "HP:6000317",
        "mosaic",
        14,
        ("mosaic attenuation", "mosaic attenuation pattern", "heterogeneous lobular attenuation"),
        "马赛克征",
        "lung",
        True,
    ),
    CTFindingSpec(
        "HP:0033662",
        "air_bronchogram",
        15,
        ("air bronchograms", "air bronchogram", "air-filled bronchi"),
        "支气管充气征",
        "lung",
        False,
        requires="HP:0032177",
    ),
    CTFindingSpec(
        "HP:0030879",
        "septal",
        16,
        ("interlobular septal thickening", "thickened interlobular septa", "septal thickening"),
        "小叶间隔增厚",
        "lung",
        True,
    ),
    CTFindingSpec(
        "HP:0034388",
        "hilar_ln",
        17,
        ("hilar lymphadenopathy", "enlarged hilar lymph nodes", "hilar adenopathy"),
        "肺门淋巴结肿大",
        "mediastinum",
        True,
    ),
    CTFindingSpec(
        "HP:0100750",
        "atelectasis",
        18,
        ("atelectasis", "subsegmental atelectasis", "atelectatic change"),
        "肺不张",
        "lung",
        True,
    ),
    CTFindingSpec(
        "HP:0032445", "cyst", 19, ("pulmonary cyst", "thin-walled cyst", "lung cyst"), "肺囊肿", "lung", False
    ),
    CTFindingSpec(
        "HP:0031944", "pleural_thickening", 20, ("pleural thickening", "thickened pleura"), "胸膜增厚", "pleura", True
    ),
    CTFindingSpec(
        "HP:0001640",
        "cardiomegaly",
        21,
        ("cardiomegaly", "enlarged heart", "cardiac enlargement"),
        "心影增大",
        "heart",
        True,
    ),
    # Described in the report only: below what the default voxel size can draw faithfully, or a
    # feature of another finding's shape or of perfusion.
    CTFindingSpec("HP:0025391", "crazy_paving", None, ("crazy-paving pattern", "crazy paving"), "铺路石征", "lung"),
    CTFindingSpec("HP:0032971", "halo", None, ("halo sign", "surrounding ground-glass halo"), "晕征", "lung"),
    CTFindingSpec("HP:0033661", "air_crescent", None, ("air crescent sign", "air crescent"), "空气新月征", "lung"),
    CTFindingSpec(
        "HP:0032969", "traction_bronchiectasis", None, ("traction bronchiectasis",), "牵拉性支气管扩张", "airway"
    ),
    CTFindingSpec(
        "HP:0033542",
        "bronchial_wall_thickening",
        None,
        ("bronchial wall thickening", "thickened bronchial walls"),
        "支气管壁增厚",
        "airway",
        True,
    ),
    CTFindingSpec(
        "HP:0033663", "air_trapping", None, ("air trapping", "expiratory air trapping"), "空气潴留", "airway"
    ),
    CTFindingSpec(
        "HP:0025180",
        "centrilobular_ggo",
        None,
        ("centrilobular ground-glass nodules", "centrilobular ground-glass opacities"),
        "小叶中心磨玻璃结节",
        "lung",
    ),
    CTFindingSpec(
        "HP:0025398",
        "perilymphatic",
        None,
        ("perilymphatic nodules", "perilymphatic nodularity"),
        "淋巴管周围结节",
        "lung",
    ),
    CTFindingSpec(
        "HP:0032176", "apical_opacity", None, ("apical opacity", "apical scarring and opacity"), "肺尖阴影", "lung"
    ),
    CTFindingSpec(
        "HP:0550005",
        "basal_fibrosis",
        None,
        ("bibasilar fibrosis", "basal predominant fibrosis"),
        "双下肺纤维化",
        "lung",
    ),
    CTFindingSpec(
        "HP:0005133",
        "rv_dilatation",
        None,
        ("right ventricular dilatation", "enlarged right ventricle"),
        "右心室扩大",
        "heart",
    ),
    CTFindingSpec("HP:0025695", "mucus_plug", None, ("mucus plugging", "mucoid impaction"), "黏液栓", "airway"),
    CTFindingSpec(
        "HP:0031041",
        "svc_obstruction",
        None,
        ("superior vena cava compression", "narrowing of the superior vena cava"),
        "上腔静脉受压",
        "mediastinum",
    ),
)

#: Phenotypes a non-contrast CT cannot show (an embolus needs contrast in the pulmonary arteries):
#: true in the patient, but in no modality of the case.
HIDDEN_ON_NONCONTRAST: frozenset[str] = frozenset({"HP:0002204"})  # Pulmonary embolism

#: Results of tests this cohort has no value for (spirometry pattern, cultures, IgE, sputum
#: cytology): true in the patient, kept in the labels, shown nowhere.
OTHER_TESTS: frozenset[str] = frozenset(
    {
        "HP:0002091",  # Restrictive ventilatory defect
        "HP:0003212",  # Increased circulating IgE concentration
        "HP:0032017",  # Sputum eosinophilia
        "HP:0430108",  # Positive Mycobacterium avium sputum culture
    }
)

_BY_ID = {s.hpo_id: s for s in CT_CATALOGUE}
#: The findings drawn in the volume, by mask label value.
RENDERED: tuple[CTFindingSpec, ...] = tuple(
    sorted((s for s in CT_CATALOGUE if s.label is not None), key=lambda s: s.label)
)
#: HPO id → mask label value, for the drawn findings.
LABEL_OF: dict[str, int] = {s.hpo_id: s.label for s in RENDERED}


def spec(hpo_id: str) -> CTFindingSpec:
    """The catalogue entry of a CT finding.

    Raises:
        KeyError: naming the id when it is not a CT finding here.
    """
    try:
        return _BY_ID[hpo_id]
    except KeyError:
        raise KeyError(f"{hpo_id!r} is not a CT finding of the synthetic cohort") from None


def modality_of(hpo_id: str, lab_targets: set[str] | frozenset[str]) -> str:
    """Where a phenotype is observed: ``ct``, ``hidden`` (on CT but not without contrast), ``lab``
    (an ``INDICATES`` target: expressed by a lab value), ``other`` (no test here) or ``clinical``
    (history and examination)."""
    if hpo_id in _BY_ID:
        return "ct"
    if hpo_id in HIDDEN_ON_NONCONTRAST:
        return "hidden"
    if hpo_id in lab_targets:
        return "lab"
    if hpo_id in OTHER_TESTS:
        return "other"
    return "clinical"
