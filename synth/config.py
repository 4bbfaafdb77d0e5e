"""The synthetic cohort's configuration: volume geometry, difficulty knobs and splits.

Every knob has a documented default; ``docs/synthetic-cohort.md`` explains what each one does to
a case. A config is frozen, refuses unknown keys, and round-trips through JSON, so a cohort's
``manifest.json`` holds the exact config that made it and ``SynthConfig.from_file`` reads it back.

Example:
    >>> cfg = SynthConfig(volume=VolumeConfig(shape=(16, 48, 48)))
    >>> cfg.volume.spacing
    (20.0, 7.5, 7.5)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from kgdx.errors import ConfigError
from kgdx.files import read_text
from kgdx.kg.schema import FrozenModel

__all__ = ["VolumeConfig", "DifficultyConfig", "SplitConfig", "SynthConfig", "parse_size", "DEFAULT_HELD_OUT"]

#: Diseases held out of training by default (see docs/synthetic-cohort.md, "Splits"): an
#: opportunistic infection, an exposure-related ILD and a mycobacterial infection, each with a
#: sibling that stays in training (viral pneumonia, NSIP/IPF, tuberculosis), so a model can only
#: rank them from their KG neighbourhood.
DEFAULT_HELD_OUT: tuple[str, ...] = (
    "MONDO:0019121",  # Pneumocystis pneumonia
    "MONDO:0017853",  # hypersensitivity pneumonitis
    "MONDO:0018469",  # non-tuberculous mycobacterial lung disease
)


def _range(v: tuple[float, float], name: str) -> tuple[float, float]:
    lo, hi = v
    if lo > hi:
        raise ValueError(f"'{name}' must be (low, high) with low <= high, got {v}")
    return v


class VolumeConfig(FrozenModel):
    """CT phantom geometry and acquisition variants.

    The volume covers ``fov_mm`` = (z extent, in-plane square field of view); the voxel size
    follows from ``shape``. The default 64 × 128 × 128 at 320 mm × 360 mm gives 5.0 mm slices and
    2.81 mm pixels: a whole adult chest in about 0.5 MB per compressed case.
    """

    shape: tuple[int, int, int] = Field(default=(64, 128, 128), description="Voxels (z, y, x).")
    fov_mm: tuple[float, float] = Field(default=(320.0, 360.0), description="(z extent, in-plane FOV) in mm.")
    noise_sd_hu: tuple[float, float] = Field(
        default=(4.0, 16.0),
        description="Per-case image noise SD in HU, drawn uniformly from this range (dose variants).",
    )
    slice_thickness_mm: tuple[float, ...] = Field(
        default=(1.25, 2.5, 5.0),
        description="Nominal reconstructed slice thicknesses, one drawn per case; the z blur's FWHM.",
    )
    kernels: tuple[Literal["soft", "standard", "medium", "sharp", "lung"], ...] = Field(
        default=("soft", "standard", "sharp"),
        description="Reconstruction kernels, one drawn per case (blur, edge enhancement and noise texture; "
        "kgdx.synth.acquisition.KERNELS).",
    )
    fov_xy_mm: tuple[float, float] | None = Field(
        default=None,
        description="In-plane field of view (mm) drawn per case from this range, which sets the pixel size; "
        "None keeps fov_mm[1] for every case.",
    )
    air_noise: bool = Field(
        default=False, description="Add image noise to the air around the body too (about doubles the file size)."
    )
    compress: bool = Field(default=True, description="Write .nii.gz (gzip with mtime 0) instead of .nii.")
    compress_level: int = Field(default=6, ge=1, le=9, description="gzip level of .nii.gz files.")

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(v) < 8 or max(v) > 1024:
            raise ValueError(f"'shape' (got {v}) must have 8 to 1024 voxels per axis")
        return v

    @field_validator("fov_mm")
    @classmethod
    def _fov(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (150 <= v[0] <= 600 and 250 <= v[1] <= 600):
            raise ValueError(f"'fov_mm' (got {v}) must be (150-600 mm in z, 250-600 mm in-plane) to hold a chest")
        return v

    @field_validator("fov_xy_mm")
    @classmethod
    def _fov_xy(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (250 <= v[0] <= v[1] <= 600):
            raise ValueError(f"'fov_xy_mm' (got {v}) must be (low, high) with 250 <= low <= high <= 600 mm")
        return v

    @field_validator("noise_sd_hu")
    @classmethod
    def _noise(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] < 0:
            raise ValueError(f"'noise_sd_hu' (got {v}) must be >= 0")
        return _range(v, "noise_sd_hu")

    @field_validator("slice_thickness_mm", "kernels")
    @classmethod
    def _nonempty(cls, v: tuple) -> tuple:
        if not v:
            raise ValueError("needs at least one choice")
        return v

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm, ``(z, y, x)``, at the nominal field of view ``fov_mm``."""
        return self.spacing_for(self.fov_mm[1])

    def spacing_for(self, fov_xy: float) -> tuple[float, float, float]:
        """Voxel size in mm, ``(z, y, x)``, for an in-plane field of view of ``fov_xy`` mm."""
        z, y, x = self.shape
        return (self.fov_mm[0] / z, fov_xy / y, fov_xy / x)


class DifficultyConfig(FrozenModel):
    """Knobs that make a case harder. Rates are probabilities; counts are Poisson means."""

    second_disease_rate: float = Field(
        default=0.25, ge=0, le=1, description="Share of patients with a second respiratory disease (comorbidity)."
    )
    condition_rate: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Share of patients with a safety-relevant comorbid condition from the history (a phenotype that "
        "a KG CONTRAINDICATED_IN edge points to, e.g. prolonged QT or hepatic failure).",
    )
    severity_beta: tuple[float, float] = Field(
        default=(2.0, 2.0), description="Beta(a, b) of the per-patient severity in [0, 1]."
    )
    severity_gain: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="How much severity scales a KG frequency: p' = p * (1 - gain/2 + gain * severity), capped at 1.",
    )
    ct_ambiguity: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Share of patients whose CT findings are drawn from the KG profile of the primary disease merged "
        "(max per finding) with that of its nearest CT mimic, so the image alone fits both.",
    )
    ct_finding_dropout: float = Field(
        default=0.1, ge=0, le=1, description="Share of sampled CT findings too subtle to show (left out of the case)."
    )
    incidental_ct_findings: float = Field(
        default=0.3, ge=0, description="Mean number of incidental CT findings unrelated to the diseases."
    )
    noise_symptoms: float = Field(
        default=0.8, ge=0, description="Mean number of unrelated symptoms or signs (true, but from no disease)."
    )
    symptom_dropout: float = Field(
        default=0.15, ge=0, le=1, description="Share of a patient's true symptoms and signs not recorded."
    )
    excluded_rate: float = Field(
        default=0.35,
        ge=0,
        le=1,
        description="Share of absent symptoms of the patient's diseases and their mimics recorded as excluded.",
    )
    lab_missing_rate: float = Field(default=0.2, ge=0, le=1, description="Share of lab values missing (at random).")
    lab_noise_cv: float = Field(default=0.05, ge=0, le=1, description="Analytical noise of a lab value (CV).")
    lab_false_abnormal_rate: float = Field(
        default=0.02, ge=0, le=1, description="Chance that a test no disease moves is mildly abnormal anyway."
    )
    report_omission_rate: float = Field(
        default=0.05, ge=0, le=1, description="Chance that the report leaves out a CT finding that is present."
    )
    report_error_rate: float = Field(
        default=0.03,
        ge=0,
        le=1,
        description="Chance that a statement is wrong: a present finding called absent, or a finding called "
        "present that is not there.",
    )
    report_uncertainty_rate: float = Field(
        default=0.15, ge=0, le=1, description="Chance that a present finding is hedged ('possible', 'cannot exclude')."
    )
    report_negatives: float = Field(
        default=2.5, ge=0, description="Mean number of pertinent negative statements ('no effusion')."
    )
    zh_report_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of reports written in Chinese, as MedMPT's were."
    )
    unsafe_drug_rate: float = Field(
        default=0.35,
        ge=0,
        le=1,
        description="Share of patients given one current drug that a KG safety edge flags (contraindicated in one of "
        "their conditions, or interacting with a first-line treatment).",
    )
    background_drugs: float = Field(default=1.5, ge=0, description="Mean number of other current drugs.")

    @field_validator("severity_beta")
    @classmethod
    def _beta(cls, v: tuple[float, float]) -> tuple[float, float]:
        if min(v) <= 0:
            raise ValueError(f"'severity_beta' (got {v}) must be two positive numbers")
        return v


class SplitConfig(FrozenModel):
    """Train/validation/test fractions, and the diseases held out of training."""

    train: float = Field(default=0.7, gt=0, le=1)
    validation: float = Field(default=0.15, ge=0, le=1)
    test: float = Field(default=0.15, ge=0, le=1)
    held_out_diseases: tuple[str, ...] = Field(
        default=DEFAULT_HELD_OUT,
        description="Every case with one of these diseases goes to the 'held_out' split, never to train/validation/test.",
    )

    @model_validator(mode="after")
    def _sum(self) -> SplitConfig:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must be 1, got {total:g}")
        return self


class SynthConfig(FrozenModel):
    """Everything that decides a synthetic cohort besides its size and seed."""

    module: str = Field(default="respiratory", description="Built-in module name, or a module folder path.")
    volume: VolumeConfig = VolumeConfig()
    difficulty: DifficultyConfig = DifficultyConfig()
    splits: SplitConfig = SplitConfig()
    disease_weights: dict[str, float] | None = Field(
        default=None, description="Relative weight of each primary disease (default: uniform over the module's)."
    )
    created: str = Field(
        default="2025-01-01T00:00:00Z",
        description="The phenopackets' metaData.created; fixed so the same seed gives the same bytes.",
    )

    @classmethod
    def from_file(cls, path: str | Path) -> SynthConfig:
        """Read a YAML or JSON config (a cohort's ``manifest.json`` works too: its ``config`` key).

        Raises:
            ConfigError: naming the file and the first bad key.
        """
        p = Path(path)
        text = read_text(p, what="config", error=ConfigError)
        try:
            if p.suffix.lower() == ".json":
                doc = json.loads(text)
            else:
                import yaml

                doc = yaml.safe_load(text)
        except Exception as e:  # JSON or YAML syntax
            raise ConfigError(f"not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {e}", file=p) from None
        if isinstance(doc, dict) and "config" in doc and "counts" in doc:
            doc = doc["config"]
        if not isinstance(doc, dict):
            raise ConfigError("a synth config must be a mapping", file=p)
        return cls.parse(doc, source=p)

    @classmethod
    def parse(cls, doc: dict, source: str | Path | None = None) -> SynthConfig:
        """Validate a mapping, raising :class:`ConfigError` with the key at fault."""
        try:
            return cls.model_validate(doc)
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{err['msg']} (got {err.get('input')!r})", file=source, field=key) from None

    def with_volume(self, **changes: object) -> SynthConfig:
        """A copy with volume settings changed (validated)."""
        return SynthConfig.parse({**self.model_dump(), "volume": {**self.volume.model_dump(), **changes}})


def parse_size(text: str) -> tuple[int, int, int]:
    """``"64x128x128"`` (z, y, x) or ``"128"`` (64 slices, 128 × 128) as a shape.

    Raises:
        ConfigError: for anything else.
    """
    parts = [p for p in text.lower().replace("×", "x").split("x") if p.strip()]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) == 1:
        nums = [max(8, nums[0] // 2), nums[0], nums[0]]
    if len(nums) != 3 or min(nums) < 8:
        raise ConfigError(f"--size must be ZxYxX (e.g. 64x128x128) or one in-plane size (e.g. 128), got {text!r}")
    return (nums[0], nums[1], nums[2])
