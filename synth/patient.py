"""Sample one synthetic patient from the KG: diseases, phenotypes by modality, labs and drugs.

How a patient is drawn (every probability below comes from the KG or a documented knob):

1. **Diseases.** A primary disease (uniform over the module's diagnoses, or ``disease_weights``),
   and with ``second_disease_rate`` a second one. Two diseases never share a specific IS_A
   parent (two infectious pneumonias, two NSCLC types), only broad ones such as *lung disorder*.
2. **Severity** ``s`` ~ Beta(a, b). A ``HAS_PHENOTYPE`` frequency ``p`` becomes
   ``p * (1 - gain/2 + gain * s)`` (capped at 1); frequencies of 0.95 or more (the findings that
   define the disease, e.g. the effusion of *pleural effusion*) are always present.
3. **Phenotypes** are drawn per disease and pooled, then split by where they are observed
   (:func:`kgdx.synth.findings.modality_of`): CT findings go to the image and the report,
   lab phenotypes to lab values, symptoms and signs to the phenopacket.
4. **Ambiguity.** With ``ct_ambiguity`` the CT findings are drawn from the primary disease's
   profile merged (max per finding) with that of its *CT mimic*: the other disease whose CT
   profile in the KG is most similar (cosine). The image then fits both, and only symptoms, labs
   and the KG tell them apart (e.g. bacterial against viral pneumonia).
5. **Noise.** CT findings are dropped with ``ct_finding_dropout``, but a disease with drawn CT
   findings in the KG always shows at least one (drawn by frequency); incidental CT findings and
   unrelated symptoms are added (Poisson means); a comorbid condition from the history is added
   with ``condition_rate`` (a phenotype a KG ``CONTRAINDICATED_IN`` edge points to that no
   disease of the module presents with: prolonged QT, hepatic failure, CKD stage 5, …).
6. **Recording.** True symptoms are left unrecorded with ``symptom_dropout``; absent symptoms of
   the patient's diseases and of the CT mimic are recorded as excluded with ``excluded_rate``.
7. **Labs** and **drugs**: :mod:`kgdx.synth.labs` and :mod:`kgdx.synth.meds`.

Each case has its own generator seeded from ``(seed, case index)`` (separate streams for the
patient, the image and the report), so a case does not depend on which worker made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kgdx.synth.config import SynthConfig
from kgdx.synth.findings import CT_CATALOGUE, LABEL_OF, modality_of, spec
from kgdx.synth.kg_source import KgSource
from kgdx.synth.labs import LabValue, phenotypes_from_labs, sample_labs
from kgdx.synth.meds import DrugPlan, plan_drugs

__all__ = ["PhenotypeTruth", "Patient", "PatientSampler", "case_rngs", "case_id"]

#: Drawn findings that may turn up incidentally, unrelated to the diseases.
INCIDENTAL_KEYS = ("nodule", "emphysema", "atelectasis", "cyst", "pleural_thickening")
_DEFINING = 0.95


def case_id(index: int) -> str:
    return f"synth-{index:06d}"


def case_rngs(seed: int, index: int) -> dict[str, np.random.Generator]:
    """Independent generators for one case: ``patient``, ``image``, ``report``."""
    kids = np.random.SeedSequence([int(seed), int(index)]).spawn(3)
    return {name: np.random.default_rng(k) for name, k in zip(("patient", "image", "report"), kids)}


@dataclass
class PhenotypeTruth:
    """One phenotype's truth for a patient.

    Attributes:
        id: HP id.
        label: HPO label.
        modality: ``ct``, ``hidden``, ``lab``, ``other`` or ``clinical``.
        present: Whether the patient has it.
        sources: Why: disease ids, ``mimic:<id>``, ``incidental``, ``noise``, ``condition``,
            ``requires``, ``labs`` (a lab value shows it).
        recorded: For clinical phenotypes, what the phenopacket says: ``observed``, ``excluded``
            or ``None`` (not recorded).
    """

    id: str
    label: str
    modality: str
    present: bool
    sources: list[str] = field(default_factory=list)
    recorded: str | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "modality": self.modality,
            "present": self.present,
            "sources": self.sources,
            "recorded": self.recorded,
        }


@dataclass
class Patient:
    """A sampled patient, before the image and report are made."""

    id: str
    index: int
    sex: str
    age: int
    severity: float
    diseases: list[tuple[str, str]]
    ct_mimic: str | None
    phenotypes: dict[str, PhenotypeTruth]
    labs: list[LabValue]
    drugs: DrugPlan
    hints: set[str]

    def present(self, modality: str | None = None) -> list[str]:
        return sorted(
            p.id for p in self.phenotypes.values() if p.present and (modality is None or p.modality == modality)
        )

    @property
    def ct_findings(self) -> list[str]:
        """Present CT findings, drawn and report-only."""
        return self.present("ct")

    @property
    def drawn_findings(self) -> list[str]:
        return [h for h in self.ct_findings if h in LABEL_OF]


class PatientSampler:
    """Draws patients; built once per cohort (it precomputes the KG-derived tables) and pickled to workers."""

    def __init__(self, kg: KgSource, cfg: SynthConfig):
        self.kg = kg
        self.cfg = cfg
        self.by_hp = kg.indicated_phenotypes()
        self.lab_targets = frozenset(self.by_hp)
        self.diseases = kg.disease_ids
        weights = cfg.disease_weights or {}
        unknown = sorted(set(weights) - set(self.diseases))
        if unknown:
            from kgdx.errors import ConfigError

            raise ConfigError(
                f"disease_weights names diseases the module does not have: {unknown}", field="disease_weights"
            )
        w = np.array([float(weights.get(d, 1.0 if not weights else 0.0)) for d in self.diseases])
        if w.sum() <= 0:
            from kgdx.errors import ConfigError

            raise ConfigError(
                "disease_weights must give at least one disease a positive weight", field="disease_weights"
            )
        self.weights = w / w.sum()
        self.ct_ids = [s.hpo_id for s in CT_CATALOGUE]
        self.mimic = self._mimics()
        self.pairs = self._compatible_pairs()
        profiles = {h for d in self.diseases for h, _ in kg.diseases[d].phenotypes}
        self.clinical_pool = sorted(h for h in profiles if self.modality(h) == "clinical")
        contra_targets = {c.target for c in kg.contraindications if c.target.startswith("HP:")}
        self.condition_pool = sorted(h for h in contra_targets if h not in profiles and self.modality(h) == "clinical")
        self.incidental = sorted(s.hpo_id for s in CT_CATALOGUE if s.key in INCIDENTAL_KEYS)

    def modality(self, hp: str) -> str:
        return modality_of(hp, self.lab_targets)

    def _mimics(self) -> dict[str, str]:
        """Each disease's nearest other disease by cosine similarity of KG CT-finding frequencies."""
        prof = np.stack([self.kg.ct_profile(d, self.ct_ids) for d in self.diseases])
        norm = np.linalg.norm(prof, axis=1, keepdims=True)
        unit = prof / np.where(norm > 0, norm, 1.0)
        sim = unit @ unit.T
        np.fill_diagonal(sim, -1.0)
        return {d: self.diseases[int(np.argmax(sim[i]))] for i, d in enumerate(self.diseases)}

    def _compatible_pairs(self) -> dict[str, list[str]]:
        n = len(self.diseases)
        anc = {d: self.kg.ancestors(d) for d in self.diseases}
        cover: dict[str, int] = {}
        for a in anc.values():
            for x in a:
                cover[x] = cover.get(x, 0) + 1
        broad = {x for x, c in cover.items() if c >= n / 3}
        out = {}
        for d in self.diseases:
            out[d] = [
                e
                for e in self.diseases
                if e != d and not ((anc[d] & anc[e]) - broad) and d not in anc[e] and e not in anc[d]
            ]
        return out

    # ------------------------------------------------------------------------------ sampling

    def sample(self, index: int, rng: np.random.Generator) -> Patient:
        kg, k = self.kg, self.cfg.difficulty
        sex = "FEMALE" if rng.random() < 0.5 else "MALE"
        age = int(np.clip(rng.normal(60, 15), 18, 95))
        primary = self.diseases[int(rng.choice(len(self.diseases), p=self.weights))]
        diseases = [(primary, "primary")]
        if rng.random() < k.second_disease_rate and self.pairs[primary]:
            opts = self.pairs[primary]
            diseases.append((opts[int(rng.integers(len(opts)))], "secondary"))
        severity = float(rng.beta(*k.severity_beta))
        gain = 1 - k.severity_gain / 2 + k.severity_gain * severity
        mimic = self.mimic[primary] if rng.random() < k.ct_ambiguity else None

        truth: dict[str, PhenotypeTruth] = {}

        def add(hp: str, source: str) -> None:
            t = truth.get(hp)
            if t is None:
                t = truth[hp] = PhenotypeTruth(hp, kg.name(hp), self.modality(hp), True)
            t.present = True
            if source not in t.sources:
                t.sources.append(source)

        for d, _ in diseases:
            for hp, f in kg.diseases[d].phenotypes:
                p = 1.0 if f >= _DEFINING else min(1.0, f * gain)
                if rng.random() < p:
                    add(hp, d)
        if mimic is not None:
            mine = dict(kg.diseases[primary].phenotypes)
            for hp, f in kg.diseases[mimic].phenotypes:
                if self.modality(hp) == "ct" and f > mine.get(hp, 0.0) and hp not in truth:
                    # Draw with the mimic's (higher) frequency: the image fits both diseases.
                    p_extra = (min(1.0, f * gain) - min(1.0, mine.get(hp, 0.0) * gain)) / max(
                        1e-9, 1 - min(1.0, mine.get(hp, 0.0) * gain)
                    )
                    if rng.random() < p_extra:
                        add(hp, f"mimic:{mimic}")
        for hp in sorted(truth):
            t = truth[hp]
            if t.modality == "ct" and rng.random() < k.ct_finding_dropout:
                defining = any(kg.diseases[d].frequency(hp) >= _DEFINING for d, _ in diseases)
                if not defining:
                    del truth[hp]
        # A disease with drawn CT findings in the KG shows at least one of them: draw one by its
        # frequency when sampling and dropout left none (a squamous cell carcinoma without a mass,
        # a node or a nodule would be a case with nothing to see).
        for d, _ in diseases:
            own = [(hp, f) for hp, f in kg.diseases[d].phenotypes if hp in LABEL_OF and f > 0]
            if own and not any(hp in truth for hp, _ in own):
                w = np.array([f for _, f in own], np.float64)
                add(own[int(rng.choice(len(own), p=w / w.sum()))][0], d)
        for _ in range(int(rng.poisson(k.incidental_ct_findings))):
            hp = self.incidental[int(rng.integers(len(self.incidental)))]
            if hp not in truth:
                add(hp, "incidental")
        for hp in sorted(truth):  # a finding that lies inside another brings it along
            req = spec(hp).requires if truth[hp].modality == "ct" else None
            if req and req not in truth:
                add(req, "requires")
        own = {h for d, _ in diseases for h, _ in kg.diseases[d].phenotypes}
        unrelated = [h for h in self.clinical_pool if h not in own]
        for _ in range(int(rng.poisson(k.noise_symptoms))):
            if unrelated:
                add(unrelated[int(rng.integers(len(unrelated)))], "noise")
        if self.condition_pool and rng.random() < k.condition_rate:
            add(self.condition_pool[int(rng.integers(len(self.condition_pool)))], "condition")

        # Labs: the lab phenotypes drawn above set directions; the values then decide the truth.
        wanted: dict[str, str] = {}
        by_hp = self.by_hp
        primary_lab = {h for h, _ in kg.diseases[primary].phenotypes}
        for hp in sorted(h for h, t in truth.items() if t.modality == "lab"):
            for loinc, direction in by_hp.get(hp, []):
                if loinc in wanted and wanted[loinc] != direction and hp not in primary_lab:
                    continue  # conflicting directions: the primary disease wins
                wanted[loinc] = direction
        labs = sample_labs(kg, wanted, severity, rng, k)
        shown = phenotypes_from_labs(kg, labs)
        for hp in [h for h, t in truth.items() if t.modality == "lab"]:
            if hp not in shown:
                del truth[hp]
        for hp in shown:
            add(hp, "labs")

        # Recording in the phenopacket: dropout of true symptoms, excluded pertinent negatives.
        for hp in sorted(truth):
            t = truth[hp]
            if t.modality == "clinical":
                keep = "condition" in t.sources or rng.random() >= k.symptom_dropout
                t.recorded = "observed" if keep else None
        looked_for = sorted(
            {
                h
                for d in [x for x, _ in diseases] + ([mimic] if mimic else [])
                for h, _ in kg.diseases[d].phenotypes
                if self.modality(h) == "clinical"
            }
        )
        for hp in looked_for:
            if hp not in truth and rng.random() < k.excluded_rate:
                truth[hp] = PhenotypeTruth(hp, kg.name(hp), "clinical", False, [], "excluded")
        # Every drawn CT finding that is absent is an explicit negative in the labels.
        for s in CT_CATALOGUE:
            if s.label is not None and s.hpo_id not in truth:
                truth[s.hpo_id] = PhenotypeTruth(s.hpo_id, kg.name(s.hpo_id), "ct", False)

        present = {h for h, t in truth.items() if t.present}
        drugs = plan_drugs(
            kg, diseases, present, rng, unsafe_rate=k.unsafe_drug_rate, background_mean=k.background_drugs
        )
        hints = set()
        if "HP:0032176" in present:  # apical opacity: draw the lesions in the upper zones
            hints.add("apical")
        if "HP:0034388" in present or "HP:0031041" in present:  # hilar nodes / SVC: a central mass
            hints.add("central")
        if "HP:0032971" in present:
            hints.add("halo")
        if rng.random() < 0.25:
            hints.add("multiple")
        return Patient(
            case_id(index),
            index,
            sex,
            age,
            round(severity, 3),
            diseases,
            mimic,
            dict(sorted(truth.items())),
            labs,
            drugs,
            hints,
        )
