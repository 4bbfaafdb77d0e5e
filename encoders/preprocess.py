"""MedMPT preprocessing as a MONAI transform chain: :class:`~kgdx.ingest.volume.Volume` → ``(S, 3, H, W)``.

The chain, in order:

1. optional physical resampling to ``target_spacing`` (SimpleITK, in :mod:`kgdx.ingest.volume`);
   with ``crop: chest``, a crop to the body in-plane and the lungs' slices
   (:class:`~kgdx.encoders.transforms.ChestBox`, MONAI ``SpatialCrop``);
2. :class:`~kgdx.encoders.transforms.UniformSliceSample` to ``num_slices`` axial slices, picked
   or (``slices: slab``) averaged over equal slabs;
3. :class:`~kgdx.encoders.transforms.PadToSquare` with air, then MONAI ``Resize`` to ``image_size``;
4. :class:`~kgdx.encoders.transforms.HUWindows`: lung (1500/−400), wide (2000/−500), mediastinal
   (400/60), each clipped and scaled to [0, 1];
5. pretraining only: MONAI ``RandScaleCrop`` + ``Resize`` (RandomResizedCrop, area 0.6–1),
   ``RandFlip`` (left–right), ``RandAffine`` (±20°), ``RandGaussianSmooth``;
6. MONAI ``NormalizeIntensity`` with mean 0.5, std 0.5, then reshape to ``(S, 3, H, W)``.

Steps 2–3 do not depend on chance, so :meth:`CTPreprocessor.base` can be cached per volume and
:meth:`CTPreprocessor.finish` applied per view.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.transforms import (
    Compose,
    NormalizeIntensity,
    RandAffine,
    RandFlip,
    RandGaussianSmooth,
    RandScaleCrop,
    Resize,
)

from kgdx.encoders.config import AugmentCfg, PreprocessCfg
from kgdx.encoders.transforms import ChestBox, HUWindows, PadToSquare, ToSliceTensor, UniformSliceSample
from kgdx.ingest.volume import AIR_HU, Volume, resample_volume

__all__ = ["CTPreprocessor", "preprocess_volume"]


class CTPreprocessor:
    """Turn volumes into encoder input, deterministically or with pretraining augmentation.

    Args:
        cfg: Slice count, size, windows and normalisation.
        augment: Pretraining augmentations; ``None`` for inference.
        seed: Seed of the random transforms (each process should pass its own).

    Example:
        >>> import numpy as np
        >>> from kgdx.ingest.volume import Volume
        >>> pre = CTPreprocessor(PreprocessCfg(num_slices=4, image_size=32))
        >>> pre(Volume(np.full((10, 40, 30), -1000, np.float32))).shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(self, cfg: PreprocessCfg, augment: AugmentCfg | None = None, *, seed: int | None = None) -> None:
        self.cfg = cfg
        self.augment = augment
        size = (cfg.image_size, cfg.image_size)
        slab = cfg.slices == "slab"
        base = [UniformSliceSample(cfg.num_slices, "mean" if slab else "pick")]
        if cfg.pad_to_square:
            base.append(PadToSquare(AIR_HU))
        base.append(Resize(size, mode="bilinear", anti_aliasing=True))
        self.base_chain = Compose(base)
        self.chest = ChestBox() if cfg.crop == "chest" else None
        labels = [UniformSliceSample(cfg.num_slices, "max" if slab else "pick")]
        if cfg.pad_to_square:
            labels.append(PadToSquare(0.0))
        labels.append(Resize(size, mode="nearest"))
        self.label_chain = Compose(labels)
        finish: list = [HUWindows(cfg.windows)]
        if augment is not None:
            side = math.sqrt(augment.crop_scale[0])  # per-axis scale whose product is the area fraction
            finish += [
                RandScaleCrop(roi_scale=side, max_roi_scale=math.sqrt(augment.crop_scale[1]), random_size=True),
                Resize(size, mode="bilinear"),
                RandFlip(prob=augment.hflip_prob, spatial_axis=1),  # axis 1 of (H, W) is x: left-right
                RandAffine(
                    prob=augment.affine_prob, rotate_range=(math.radians(augment.rotate_deg),), padding_mode="zeros"
                ),
                RandGaussianSmooth(sigma_x=augment.blur_sigma, sigma_y=augment.blur_sigma, prob=augment.blur_prob),
            ]
        finish += [
            NormalizeIntensity(subtrahend=cfg.mean, divisor=cfg.std),
            ToSliceTensor(len(cfg.windows)),
        ]
        self.finish_chain = Compose(finish)
        if seed is not None:
            self.finish_chain.set_random_state(seed=seed)

    def box(self, volume: Volume) -> tuple[int, int, int, int, int, int] | None:
        """The chest crop of ``volume`` as ``(z0, z1, y0, y1, x0, x1)``, or ``None`` without ``crop``."""
        return None if self.chest is None else self.chest(volume.array)

    def base(self, volume: Volume, box: tuple[int, int, int, int, int, int] | None = None) -> torch.Tensor:
        """The deterministic part: ``(S, H, W)`` HU slices, resampled, cropped, selected, padded and
        resized; ``box`` overrides the crop :meth:`box` would find."""
        if self.cfg.target_spacing is not None:
            volume = resample_volume(volume, self.cfg.target_spacing)
        arr = torch.from_numpy(np.ascontiguousarray(volume.array))
        if self.chest is not None:
            arr = ChestBox.crop(arr, box if box is not None else self.chest(volume.array))
        out = self.base_chain(arr)
        return torch.as_tensor(out).float().contiguous()  # (S, H, W)

    def labels(self, labels: np.ndarray, box: tuple[int, int, int, int, int, int] | None) -> torch.Tensor:
        """A label map on the volume's grid through the same crop, slices, padding and (nearest)
        resizing as the volume: ``(S, H, W)`` ``int64``, aligned with the encoder input."""
        if self.cfg.target_spacing is not None:
            raise ValueError("labels cannot follow a physical resampling (target_spacing); use none")
        arr = torch.from_numpy(np.ascontiguousarray(labels).astype(np.float32))
        if box is not None:
            arr = ChestBox.crop(arr, box)
        return torch.as_tensor(self.label_chain(arr)).round().long()

    def finish(self, base: torch.Tensor) -> torch.Tensor:
        """Window, augment (if configured), normalise: ``(S, H, W)`` → ``(S, 3, H, W)``."""
        return self.finish_chain(base)

    def __call__(self, volume: Volume) -> torch.Tensor:
        return self.finish(self.base(volume))

    def __repr__(self) -> str:
        return f"CTPreprocessor(base={self.base_chain.transforms}, finish={self.finish_chain.transforms})"


def preprocess_volume(volume: Volume, cfg: PreprocessCfg | None = None) -> torch.Tensor:
    """Deterministic MedMPT preprocessing of one volume: ``(S, 3, H, W)`` float32, about [−1, 1]."""
    return CTPreprocessor(cfg or PreprocessCfg())(volume)
