"""Turn a noise-free phantom into a CT image: field of view, slice thickness, kernel and noise.

The acquisition is a chain of MONAI transforms whose parameters are drawn per case
(:func:`sample_acquisition`), the way MONAI's and TorchIO's random intensity transforms
(``RandGaussianSmooth``, ``RandomBlur``, ``RandomNoise``) are built, but with the physics of CT:

* **Field of view** sets the in-plane pixel size: the phantom is drawn on the case's own grid
  (:attr:`Acquisition.fov_mm` over the configured matrix), so a small FOV gives small pixels and a
  large patient fills more of the image.
* **Slice thickness** is the slice sensitivity profile: MONAI ``GaussianSmooth`` along z with the
  nominal thickness as its FWHM (a 5 mm slice averages a small nodule away; 1.25 mm slices on a
  5 mm grid keep it sharp but can miss it between slices).
* **Reconstruction kernel** (:data:`KERNELS`): an in-plane blur (the kernel's MTF) and, for sharp
  and lung kernels, MONAI ``GaussianSharpen`` edge enhancement (the overshoot at fissures and
  vessel walls that lung kernels show); the noise gets the same shaping, so soft kernels have
  low, blotchy noise and sharp ones high, fine-grained noise (their noise power spectrum).
* **Noise** is quantum noise: Gaussian with the case's dose-dependent SD times the kernel's noise
  gain, higher where the patient is thicker (the slice's body area: shoulders, upper abdomen)
  and towards the centre of the body, inside the body (and, with ``air_noise``, round it too).

Voxels outside the circular scan field of view are −1024, as scanners pad them. The image is
rounded to ``int16`` and clipped to [−1024, 3071].

The default cohort draws kernels ``soft``, ``standard`` and ``sharp``; ``medium`` and ``lung``
exist so that a test cohort can be scanned with kernels no training case saw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from kgdx.synth.config import VolumeConfig

__all__ = ["Acquisition", "Kernel", "KERNELS", "sample_acquisition", "acquire", "noise_sd_map"]


@dataclass(frozen=True)
class Kernel:
    """A reconstruction kernel, in pixels of the image grid.

    Attributes:
        blur: In-plane Gaussian σ of the kernel's point spread (px).
        sharpen: Edge-enhancement strength (MONAI ``GaussianSharpen`` alpha; 0 for none).
        noise_grain: In-plane σ (px) of the noise correlation (larger is blotchier).
        noise_gain: Noise SD relative to a standard kernel at the same dose.
    """

    blur: float
    sharpen: float
    noise_grain: float
    noise_gain: float


#: Kernels by name: soft tissue (``soft``, B30-like), ``standard``, ``sharp`` (B50-like), and two
#: that the default cohort does not draw: ``medium`` (between standard and sharp) and ``lung``
#: (B70-like: strongest edge enhancement and noise).
KERNELS: dict[str, Kernel] = {
    "soft": Kernel(0.85, 0.0, 0.9, 0.75),
    "standard": Kernel(0.6, 0.0, 0.6, 1.0),
    "medium": Kernel(0.45, 0.3, 0.45, 1.2),
    "sharp": Kernel(0.35, 0.6, 0.35, 1.45),
    "lung": Kernel(0.3, 1.0, 0.25, 1.9),
}


@dataclass(frozen=True)
class Acquisition:
    """How a case was 'scanned'.

    Attributes:
        slice_thickness_mm: Nominal reconstructed thickness (the z blur's FWHM).
        kernel: A :data:`KERNELS` name.
        noise_sd_hu: Noise SD at the body's centre for a standard kernel (the dose).
        fov_mm: In-plane field of view (mm); ``None`` keeps the config's.
    """

    slice_thickness_mm: float
    kernel: str
    noise_sd_hu: float
    fov_mm: float | None = None

    def to_dict(self) -> dict:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def sample_acquisition(cfg: VolumeConfig, rng: np.random.Generator) -> Acquisition:
    """Draw thickness, kernel, noise and field of view for one case from the config's choices."""
    thickness = float(cfg.slice_thickness_mm[int(rng.integers(len(cfg.slice_thickness_mm)))])
    kernel = str(cfg.kernels[int(rng.integers(len(cfg.kernels)))])
    lo, hi = cfg.noise_sd_hu
    noise = round(float(rng.uniform(lo, hi)), 2)
    fov = cfg.fov_mm[1] if cfg.fov_xy_mm is None else round(float(rng.uniform(*cfg.fov_xy_mm)), 1)
    return Acquisition(thickness, kernel, noise, fov)


def noise_sd_map(body: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Relative noise SD ``(z, y, x)``: √(slice body area / its median) × (1 + 0.25 (1 − r²)),
    with ``r`` the in-plane distance from the body's centre over its radius; 0 outside ``body``.

    Quantum noise grows with the attenuation a ray crosses, so thicker slices of the patient
    (shoulders) are noisier, and so is the middle of the body, which every ray crosses.
    """
    area = body.sum(axis=(1, 2)).astype(np.float32)
    ref = float(np.median(area[area > 0])) if (area > 0).any() else 1.0
    per_slice = np.sqrt(np.maximum(area, 1.0) / ref)[:, None, None]
    ny, nx = body.shape[1:]
    y = (np.arange(ny) - (ny - 1) / 2) * spacing[1]
    x = (np.arange(nx) - (nx - 1) / 2) * spacing[2]
    r_body = np.sqrt(np.maximum(area, 1.0) * spacing[1] * spacing[2] / np.pi)[:, None, None]
    r2 = (y[None, :, None] ** 2 + x[None, None, :] ** 2) / r_body**2
    return (per_slice * (1.0 + 0.25 * np.clip(1.0 - r2, 0.0, 1.0)) * body).astype(np.float32)


def acquire(
    hu: np.ndarray,
    spacing: tuple[float, float, float],
    acq: Acquisition,
    rng: np.random.Generator,
    body: np.ndarray | None = None,
) -> np.ndarray:
    """The ``int16`` CT image of a noise-free HU volume ``(z, y, x)``.

    Args:
        hu: Noise-free HU, drawn on the grid of ``spacing``.
        spacing: mm ``(z, y, x)``.
        acq: Thickness, kernel and noise.
        rng: The case's image generator.
        body: Where noise goes (e.g. the body, dilated); ``None`` means everywhere, uniformly.

    Example:
        >>> img = acquire(np.full((4, 8, 8), -1000.0, np.float32), (5, 2, 2), Acquisition(5.0, "soft", 0.0),
        ...               np.random.default_rng(0))
        >>> img.dtype.name, int(img[0, 4, 4]), int(img[0, 0, 0])  # centre; a corner outside the scan circle
        ('int16', -1000, -1024)
    """
    from monai.transforms import GaussianSharpen, GaussianSmooth

    if acq.kernel not in KERNELS:
        raise ValueError(f"unknown kernel {acq.kernel!r}; known: {sorted(KERNELS)}")
    k = KERNELS[acq.kernel]
    sz = acq.slice_thickness_mm / 2.3548 / spacing[0]
    sz = sz if sz > 0.15 else 0.0
    x = hu.astype(np.float32)[None]  # (1, z, y, x): MONAI's channel-first layout
    if k.sharpen > 0:
        blur = GaussianSharpen(sigma1=(sz, k.blur, k.blur), sigma2=(0.0, 1.2, 1.2), alpha=k.sharpen)
    else:
        blur = GaussianSmooth(sigma=(sz, k.blur, k.blur))
    img = np.asarray(blur(x))[0]
    if acq.noise_sd_hu > 0:
        white = rng.standard_normal(hu.shape, dtype=np.float32)[None]
        if k.sharpen > 0:
            shaped = GaussianSharpen(
                sigma1=(0.0, k.noise_grain, k.noise_grain), sigma2=(0.0, 1.2, 1.2), alpha=k.sharpen
            )
        else:
            shaped = GaussianSmooth(sigma=(0.0, k.noise_grain, k.noise_grain))
        noise = np.asarray(shaped(white))[0]
        noise /= float(noise.std()) or 1.0
        sd = noise_sd_map(body, spacing) if body is not None else 1.0
        img += acq.noise_sd_hu * k.noise_gain * noise * sd
    nz, ny, nx = hu.shape
    y = (np.arange(ny) - (ny - 1) / 2) * spacing[1]
    x_ = (np.arange(nx) - (nx - 1) / 2) * spacing[2]
    r = min(ny * spacing[1], nx * spacing[2]) / 2
    outside = (y[:, None] ** 2 + x_[None, :] ** 2) > r * r  # beyond the circular scan field of view
    img[:, outside] = -1024.0
    return np.clip(np.rint(img), -1024, 3071).astype(np.int16)
