"""Turn a noise-free phantom into a CT image: slice thickness, kernel sharpness and noise.

* **Slice thickness** is the slice sensitivity profile: a Gaussian blur along z whose FWHM is the
  nominal thickness (a 5 mm slice averages a small nodule away; 1.25 mm slices on a 5 mm grid
  keep it sharp but can miss it between slices).
* **Kernel**: ``soft`` / ``standard`` / ``sharp`` blur the slice in-plane (Gaussian σ = 0.8 /
  0.55 / 0.3 pixels) and shape the noise the same way (correlated for soft kernels, white for
  sharp ones).
* **Noise**: Gaussian, with the drawn SD (HU) after shaping, inside the body (and, with
  ``air_noise``, in the air around it too: this doubles the compressed size). Voxels outside the
  circular scan field of view are −1024, as scanners pad them. The image is rounded to
  ``int16`` and clipped to [−1024, 3071].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from kgdx.synth.config import VolumeConfig

__all__ = ["Acquisition", "sample_acquisition", "acquire", "KERNEL_SIGMA"]

#: In-plane blur (pixels) of each reconstruction kernel.
KERNEL_SIGMA = {"soft": 0.8, "standard": 0.55, "sharp": 0.3}


@dataclass(frozen=True)
class Acquisition:
    """How a case was 'scanned'."""

    slice_thickness_mm: float
    kernel: str
    noise_sd_hu: float

    def to_dict(self) -> dict:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def sample_acquisition(cfg: VolumeConfig, rng: np.random.Generator) -> Acquisition:
    """Draw thickness, kernel and noise for one case from the config's choices."""
    thickness = float(cfg.slice_thickness_mm[int(rng.integers(len(cfg.slice_thickness_mm)))])
    kernel = str(cfg.kernels[int(rng.integers(len(cfg.kernels)))])
    lo, hi = cfg.noise_sd_hu
    return Acquisition(thickness, kernel, round(float(rng.uniform(lo, hi)), 2))


def acquire(
    hu: np.ndarray,
    spacing: tuple[float, float, float],
    acq: Acquisition,
    rng: np.random.Generator,
    body: np.ndarray | None = None,
) -> np.ndarray:
    """The ``int16`` CT image of a noise-free HU volume ``(z, y, x)``.

    Args:
        hu: Noise-free HU.
        spacing: mm ``(z, y, x)``.
        acq: Thickness, kernel and noise.
        rng: The case's image generator.
        body: Where noise goes (e.g. the body, dilated); ``None`` means everywhere.

    Example:
        >>> img = acquire(np.full((4, 8, 8), -1000.0, np.float32), (5, 2, 2), Acquisition(5.0, "soft", 0.0),
        ...               np.random.default_rng(0))
        >>> img.dtype.name, int(img[0, 4, 4]), int(img[0, 0, 0])  # centre; a corner outside the scan circle
        ('int16', -1000, -1024)
    """
    sz = acq.slice_thickness_mm / 2.3548 / spacing[0]
    sxy = KERNEL_SIGMA[acq.kernel]
    img = ndimage.gaussian_filter(
        hu.astype(np.float32), sigma=(sz if sz > 0.15 else 0.0, sxy, sxy), mode="nearest", truncate=3.0
    )
    if acq.noise_sd_hu > 0:
        noise = rng.standard_normal(hu.shape, dtype=np.float32)
        if acq.kernel != "sharp":
            noise = ndimage.gaussian_filter(noise, sigma=(0.0, sxy, sxy), truncate=3.0)
            noise /= float(noise.std()) or 1.0
        if body is not None:
            noise *= body
        img += acq.noise_sd_hu * noise
    nz, ny, nx = hu.shape
    y = (np.arange(ny) - (ny - 1) / 2) * spacing[1]
    x = (np.arange(nx) - (nx - 1) / 2) * spacing[2]
    r = min(ny * spacing[1], nx * spacing[2]) / 2
    outside = (y[:, None] ** 2 + x[None, :] ** 2) > r * r  # beyond the circular scan field of view
    img[:, outside] = -1024.0
    return np.clip(np.rint(img), -1024, 3071).astype(np.int16)
