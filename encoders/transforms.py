"""The MedMPT-specific MONAI transforms; the generic steps (pad, resize, flips, blur) are MONAI's own.

Layout: between these transforms a volume travels as a channel-first 2-D stack, shape
``(S, H, W)`` for HU slices and ``(S * K, H, W)`` after :class:`HUWindows` (slice-major: the ``K``
windows of slice 0, then of slice 1 ...). Treating slices as channels makes every 2-D MONAI
transform, random ones included, act identically on all slices of a volume, which is what the
pretraining views need.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.transforms import SpatialPad, Transform

__all__ = ["UniformSliceSample", "PadToSquare", "HUWindows", "ToSliceTensor"]


def _as_tensor(img: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = torch.as_tensor(img)
    return t.as_tensor() if hasattr(t, "as_tensor") else t  # drop MONAI MetaTensor wrapping


class UniformSliceSample(Transform):
    """Pick ``num_slices`` axial slices at uniformly spaced indices: ``(Z, Y, X) → (S, Y, X)``.

    MedMPT selects by index, not by millimetre: indices ``round(linspace(0, Z - 1, S))``. A volume
    with fewer than ``S`` slices repeats some, so every scan yields exactly ``S``.
    """

    def __init__(self, num_slices: int) -> None:
        if num_slices < 1:
            raise ValueError(f"'num_slices' must be >= 1, got {num_slices}")
        self.num_slices = num_slices

    @staticmethod
    def indices(depth: int, num_slices: int) -> np.ndarray:
        return np.round(np.linspace(0, depth - 1, num_slices)).astype(np.int64)

    def __call__(self, img: torch.Tensor | np.ndarray) -> torch.Tensor:
        t = _as_tensor(img)
        if t.ndim != 3:
            raise ValueError(f"expected (Z, Y, X), got shape {tuple(t.shape)}")
        idx = torch.from_numpy(self.indices(t.shape[0], self.num_slices))
        return t.index_select(0, idx)  # (S, Y, X)

    def __repr__(self) -> str:
        return f"UniformSliceSample(num_slices={self.num_slices})"


class PadToSquare(Transform):
    """Pad ``(C, Y, X)`` symmetrically with ``value`` so that ``Y == X``, keeping the aspect ratio."""

    def __init__(self, value: float = -1024.0) -> None:
        self.value = value

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        side = max(img.shape[-2:])
        if img.shape[-2] == img.shape[-1]:
            return _as_tensor(img)
        return _as_tensor(SpatialPad((side, side), method="symmetric", mode="constant", value=self.value)(img))

    def __repr__(self) -> str:
        return f"PadToSquare(value={self.value})"


class HUWindows(Transform):
    """Window HU slices into one channel per ``(width, level)``: ``(S, H, W) → (S * K, H, W)``.

    Each window clips to ``[level - width/2, level + width/2]`` and scales to ``[0, 1]``, as
    MedMPT does; normalisation to mean 0.5 / std 0.5 comes after any augmentation, so that
    zero padding from crops and rotations reads as air in every window.
    """

    def __init__(self, windows: Sequence[tuple[float, float]]) -> None:
        if not windows:
            raise ValueError("'windows' must hold at least one (width, level) pair")
        for w, _ in windows:
            if w <= 0:
                raise ValueError(f"window width must be positive, got {w}")
        self.windows = tuple((float(w), float(lvl)) for w, lvl in windows)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        t = _as_tensor(img).float()
        if t.ndim != 3:
            raise ValueError(f"expected (S, H, W) HU slices, got shape {tuple(t.shape)}")
        chans = [((t - (lvl - w / 2)) / w).clamp_(0.0, 1.0) for w, lvl in self.windows]
        return torch.stack(chans, dim=1).flatten(0, 1)  # (S, K, H, W) -> (S*K, H, W)

    def __repr__(self) -> str:
        return f"HUWindows(windows={list(self.windows)})"


class ToSliceTensor(Transform):
    """Unflatten ``(S * K, H, W)`` to the encoder's ``(S, K, H, W)`` float32 tensor."""

    def __init__(self, channels: int) -> None:
        self.channels = channels

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        t = _as_tensor(img).float()
        if t.shape[0] % self.channels:
            raise ValueError(f"first dim {t.shape[0]} is not a multiple of {self.channels} channels")
        return t.reshape(t.shape[0] // self.channels, self.channels, *t.shape[1:]).contiguous()

    def __repr__(self) -> str:
        return f"ToSliceTensor(channels={self.channels})"
