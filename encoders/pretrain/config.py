"""Pretraining configuration: one YAML/JSON file per run (``encoders/pretrain_configs/tiny.yaml`` ...).

Paths inside the file (the manifest) are relative to the file; ``out_dir`` is relative to the
working directory, like any output path on a command line. Unknown keys are errors naming the
file, so a misspelt loss weight never silently trains with the default.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from kgdx.encoders.config import AugmentCfg, _build
from kgdx.errors import ConfigError

__all__ = [
    "PretrainConfig",
    "LossWeights",
    "MoCoCfg",
    "ContrastiveCfg",
    "ReportDecoderCfg",
    "DataCfg",
    "OptimCfg",
    "load_pretrain_config",
]


@dataclass
class LossWeights:
    """Weight of each objective; 0 turns it off (and its modules are not built)."""

    moco_slice: float = 1.0
    moco_scan: float = 1.0
    itc: float = 1.0
    mae: float = 1.0
    report: float = 1.0

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            if v < 0:
                raise ValueError(f"losses.{k} must be >= 0, got {v}")
        if not any(asdict(self).values()):
            raise ValueError("every loss weight is 0: nothing to train")

    def enabled(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v > 0}


@dataclass
class MoCoCfg:
    """MoCo at slice and scan level (MedMPT: m 0.996, queues 65,536 and 2,048, τ 0.07)."""

    momentum: float = 0.996
    temperature: float = 0.07
    slice_queue: int = 65536
    scan_queue: int = 2048
    proj_dim: int = 128

    def __post_init__(self) -> None:
        if not 0 <= self.momentum < 1:
            raise ValueError(f"moco.momentum must be in [0, 1), got {self.momentum}")
        if self.temperature <= 0 or self.slice_queue < 1 or self.scan_queue < 1 or self.proj_dim < 1:
            raise ValueError("moco.temperature, slice_queue, scan_queue and proj_dim must be positive")


@dataclass
class ContrastiveCfg:
    """Image–report InfoNCE (CLIP-style, learnable temperature starting at ``init_temperature``)."""

    proj_dim: int = 256
    init_temperature: float = 0.07

    def __post_init__(self) -> None:
        if self.proj_dim < 1 or self.init_temperature <= 0:
            raise ValueError("itc.proj_dim and itc.init_temperature must be positive")


@dataclass
class ReportDecoderCfg:
    """The report-generation decoder (MedMPT: 6-layer BERT decoder)."""

    width: int = 384
    depth: int = 6
    heads: int = 8
    max_length: int = 120
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"report.width (got {self.width}) must be divisible by heads (got {self.heads})")
        if self.depth < 1 or self.max_length < 4:
            raise ValueError("report.depth must be >= 1 and report.max_length >= 4")


@dataclass
class DataCfg:
    """Where the (volume, report) pairs are and how to load them."""

    manifest: str = ""
    cache: bool = True
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")


@dataclass
class OptimCfg:
    """AdamW with linear warmup and cosine decay to ``min_lr_ratio × lr``."""

    lr: float = 1.5e-4
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.01
    grad_clip: float = 3.0

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        if self.lr <= 0 or self.grad_clip <= 0 or self.warmup_steps < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("optim: lr and grad_clip must be positive, warmup_steps >= 0, min_lr_ratio in [0, 1]")


@dataclass
class PretrainConfig:
    """A pretraining run (see ``encoders/pretrain_configs/tiny.yaml`` for an annotated example).

    Attributes:
        model: CT encoder name or config JSON path (``ct-tiny``, ``ct-small``, ``ct-base``).
        text_model: Text encoder for the report side (``minilm`` or a model folder).
        freeze_text: Keep the text encoder fixed (only projections and decoder learn).
        steps: Optimiser steps in total (a resumed run continues up to this number).
        batch_size: Scans per process per step.
        precision: ``auto`` (bf16 on a GPU that has it, else fp16 on GPU, fp32 on CPU), ``bf16``,
            ``fp16`` or ``fp32``.
        resume: ``auto`` (continue from ``out_dir/checkpoints/last.pt`` if there), ``never``, or a
            checkpoint path.
        find_unused_parameters: Passed to DDP; only needed for exotic loss combinations.
    """

    model: str = "ct-tiny"
    text_model: str = "minilm"
    freeze_text: bool = False
    out_dir: str = "runs/pretrain"
    steps: int = 100
    batch_size: int = 2
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    seed: int = 0
    log_every: int = 1
    ckpt_every: int = 50
    resume: str = "auto"
    find_unused_parameters: bool = False
    data: DataCfg = field(default_factory=DataCfg)
    losses: LossWeights = field(default_factory=LossWeights)
    moco: MoCoCfg = field(default_factory=MoCoCfg)
    itc: ContrastiveCfg = field(default_factory=ContrastiveCfg)
    report: ReportDecoderCfg = field(default_factory=ReportDecoderCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    augment: AugmentCfg = field(default_factory=AugmentCfg)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.log_every < 1 or self.ckpt_every < 1:
            raise ValueError("steps, batch_size, log_every and ckpt_every must be >= 1")
        if self.precision not in ("auto", "bf16", "fp16", "fp32"):
            raise ValueError(f"precision must be auto, bf16, fp16 or fp32, got {self.precision!r}")
        if self.losses.itc > 0 and self.batch_size < 2:
            raise ValueError(f"the image–report loss needs batch_size >= 2 to have negatives, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> PretrainConfig:
        subs = {
            "data": DataCfg,
            "losses": LossWeights,
            "moco": MoCoCfg,
            "itc": ContrastiveCfg,
            "report": ReportDecoderCfg,
            "optim": OptimCfg,
            "augment": AugmentCfg,
        }
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
        d = dict(data)
        for key, sub in subs.items():
            if key in d:
                d[key] = _build(sub, d[key] or {}, f"{where}: {key}", ConfigError)
        return _build(cls, d, where, ConfigError)


def load_pretrain_config(path: str | Path, **overrides: Any) -> PretrainConfig:
    """Read a YAML or JSON pretraining config; ``overrides`` (non-None) replace top-level keys.

    ``data.manifest`` is resolved relative to the config file. Pass ``manifest=...`` to override it.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError("no such pretraining config", file=p)
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 - yaml and json raise different types
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise ConfigError(
            f"cannot parse the config: {e}", file=p, line=(line + 1) if line is not None else None
        ) from None
    data = dict(data or {})
    manifest = overrides.pop("manifest", None)
    for k, v in overrides.items():
        if v is not None:
            data[k] = v
    cfg = PretrainConfig.from_dict(data, where=str(p))
    if manifest is not None:
        cfg.data.manifest = str(Path(manifest).resolve())
    elif cfg.data.manifest:
        m = Path(cfg.data.manifest).expanduser()
        cfg.data.manifest = str(m if m.is_absolute() else (p.parent / m).resolve())
    return cfg
