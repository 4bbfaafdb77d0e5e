"""The MedMPT-specific MONAI transforms; the generic steps (crop, pad, resize, flips, blur) are MONAI's own.

Layout: between these transforms a volume travels as a channel-first 2-D stack, shape
``(S, H, W)`` for HU slices and ``(S * K, H, W)`` after :class:`HUWindows` (slice-major: the ``K``
windows of slice 0, then of slice 1 ...). Treating slices as channels makes every 2-D MONAI
transform, random ones included, act identically on all slices of a volume, which is what the
pretraining views need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from monai.transforms import SpatialPad, Transform

__all__ = ["ChestBox", "UniformSliceSample", "PadToSquare", "HUWindows", "ToSliceTensor"]


def _as_tensor(img: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = torch.as_tensor(img)
    return t.as_tensor() if hasattr(t, "as_tensor") else t  # drop MONAI MetaTensor wrapping


class ChestBox(Transform):
    """Find the chest in a volume of HU ``(Z, Y, X)``: the body's box in-plane and the lungs' slices.

    Scans differ in what they cover (from the neck to the abdomen, or only part of the lungs) and
    in field of view; cropping to the chest makes the encoder's 32 slices span the lungs and its
    pixels cover the patient, whatever the scan. The box is found on a copy subsampled to about
    160 pixels in-plane:

    * **body**: the largest connected region of the in-plane projection of ``HU > body_hu``
      (the table and the air round the patient fall outside);
    * **lungs**: air-like voxels (``HU < lung_hu``) inside the body (each slice's body outline
      with its holes filled), in 3-D connected components at least ``min_part`` of the largest
      (so that stomach or bowel gas does not count); the slices kept are those whose lung area is
      at least ``min_share`` of the largest slice's.

    ``__call__`` returns the box as ``(z0, z1, y0, y1, x0, x1)`` (end-exclusive), widened by
    ``margin`` voxels in-plane and one slice in z; a volume without a body or lungs gives the
    whole volume. :meth:`crop` applies a box with MONAI's ``SpatialCrop``, to the CT or to a
    label map of the same grid.
    """

    def __init__(
        self,
        body_hu: float = -400.0,
        lung_hu: float = -400.0,
        min_part: float = 0.2,
        min_share: float = 0.1,
        margin: int = 3,
    ) -> None:
        self.body_hu, self.lung_hu = float(body_hu), float(lung_hu)
        self.min_part, self.min_share, self.margin = float(min_part), float(min_share), int(margin)

    def __call__(self, img: torch.Tensor | np.ndarray) -> tuple[int, int, int, int, int, int]:
        from scipy import ndimage

        a = np.asarray(_as_tensor(img).detach().cpu().numpy() if not isinstance(img, np.ndarray) else img)
        if a.ndim != 3:
            raise ValueError(f"expected (Z, Y, X), got shape {tuple(a.shape)}")
        nz, ny, nx = a.shape
        whole = (0, nz, 0, ny, 0, nx)
        st = max(1, int(round(max(ny, nx) / 160)))
        small = a[:, ::st, ::st]
        body = small > self.body_hu
        comp, n = ndimage.label(body.any(axis=0))
        if n == 0:
            return whole
        sizes = np.bincount(comp.ravel())[1:]
        keep2d = comp == (1 + int(sizes.argmax()))
        rows, cols = np.nonzero(keep2d)
        y0, y1 = max(0, rows.min() * st - self.margin), min(ny, (rows.max() + 1) * st + self.margin)
        x0, x1 = max(0, cols.min() * st - self.margin), min(nx, (cols.max() + 1) * st + self.margin)
        filled = np.stack([ndimage.binary_fill_holes(s & keep2d) for s in body])
        lungs = (small < self.lung_hu) & filled
        lab, n = ndimage.label(lungs)
        if n == 0:
            return (0, nz, y0, y1, x0, x1)
        vol = np.bincount(lab.ravel())[1:]
        big = 1 + np.flatnonzero(vol >= self.min_part * vol.max())
        area = np.isin(lab, big).sum(axis=(1, 2))
        zs = np.flatnonzero(area >= self.min_share * area.max())
        z0, z1 = max(0, int(zs.min()) - 1), min(nz, int(zs.max()) + 2)
        return (z0, z1, int(y0), int(y1), int(x0), int(x1))

    @staticmethod
    def crop(img: torch.Tensor | np.ndarray, box: tuple[int, int, int, int, int, int]) -> torch.Tensor:
        """``img (Z, Y, X)`` cropped to ``box`` with MONAI's ``SpatialCrop``."""
        from monai.transforms import SpatialCrop

        z0, z1, y0, y1, x0, x1 = box
        t = _as_tensor(torch.as_tensor(img))[None]  # (1, Z, Y, X): channel first
        return _as_tensor(SpatialCrop(roi_start=(z0, y0, x0), roi_end=(z1, y1, x1))(t))[0]

    def __repr__(self) -> str:
        return f"ChestBox(body_hu={self.body_hu}, lung_hu={self.lung_hu}, margin={self.margin})"


class UniformSliceSample(Transform):
    """Reduce a volume to ``num_slices`` axial slices: ``(Z, Y, X) → (S, Y, X)``.

    ``reduce="pick"`` is MedMPT's selection by index, not by millimetre: indices
    ``round(linspace(0, Z - 1, S))``. Picking drops the slices in between, and with them any
    lesion thinner than the gap (300 slices of 1 mm picked down to 32 leave 9 mm gaps). ``"mean"``
    averages each of ``S`` equal slabs of the z-range instead, as a thick-slab reconstruction
    does, so every slice contributes; ``"max"`` takes the slab's maximum (for label maps: a
    voxel of the slab shows a lesion if any of its slices does). A volume with fewer than ``S``
    slices repeats some, so every scan yields exactly ``S``.
    """

    def __init__(self, num_slices: int, reduce: Literal["pick", "mean", "max"] = "pick") -> None:
        if num_slices < 1:
            raise ValueError(f"'num_slices' must be >= 1, got {num_slices}")
        if reduce not in ("pick", "mean", "max"):
            raise ValueError(f"'reduce' must be 'pick', 'mean' or 'max', got {reduce!r}")
        self.num_slices = num_slices
        self.reduce = reduce

    @staticmethod
    def indices(depth: int, num_slices: int) -> np.ndarray:
        return np.round(np.linspace(0, depth - 1, num_slices)).astype(np.int64)

    def __call__(self, img: torch.Tensor | np.ndarray) -> torch.Tensor:
        t = _as_tensor(img)
        if t.ndim != 3:
            raise ValueError(f"expected (Z, Y, X), got shape {tuple(t.shape)}")
        depth, n = t.shape[0], self.num_slices
        if self.reduce == "pick" or depth <= n:
            return t.index_select(0, torch.from_numpy(self.indices(depth, n)))  # (S, Y, X)
        edges = np.round(np.linspace(0, depth, n + 1)).astype(np.int64)
        slabs = [t[a:b] for a, b in zip(edges[:-1], edges[1:])]
        if self.reduce == "mean":
            return torch.stack([s.float().mean(0) for s in slabs])
        return torch.stack([s.amax(0) for s in slabs])

    def __repr__(self) -> str:
        return f"UniformSliceSample(num_slices={self.num_slices}, reduce={self.reduce!r})"


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
