"""The paper's degradations, to make test inputs for the app, the CLI and benchmarks.

Every function takes a float32 H x W x C (or H x W) image in [0, 1], returns the same
layout, and is deterministic given its seed (a NumPy ``Generator``).
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from .errors import ConfigError, ImageError
from .imageio import from_uint8, to_uint8

MAX_SEED = 2**63 - 1


class DegradeError(ConfigError, ValueError):
    """A degradation parameter out of range (a ValueError for library callers, and a
    one-line DIPError for the CLI and the app)."""


def _seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise DegradeError(f"seed must be a whole number in 0..{MAX_SEED} (0..2**63-1), got {seed}")
    return int(seed)


def _image(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float32)
    if a.ndim not in (2, 3) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"expected a non-empty H x W or H x W x C image, got shape {np.shape(img)}")
    return a


def add_noise(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Additive white Gaussian noise; ``sigma`` on the 0-255 scale (the paper uses 25).

    The result is clipped to [0, 1], as in the authors' code.
    """
    a = _image(img)
    if not (isinstance(sigma, (int, float, np.number)) and math.isfinite(sigma) and sigma >= 0):
        raise DegradeError(f"noise sigma must be a finite number >= 0 (0-255 scale), got {sigma}")
    rng = np.random.default_rng(_seed(seed))
    noise = rng.normal(0.0, sigma / 255.0, size=a.shape)
    return np.clip(a + noise, 0.0, 1.0).astype(np.float32)


def drop_pixels(img: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Drop each pixel (all its channels together) independently with probability ``fraction``.

    Returns the degraded image (dropped pixels are 0) and the bool mask, True = kept.
    """
    a = _image(img)
    if not 0.0 <= fraction <= 1.0:
        raise DegradeError(f"drop fraction must be in [0, 1], got {fraction}")
    rng = np.random.default_rng(_seed(seed))
    mask = rng.random(a.shape[:2]) >= fraction
    keep = mask if a.ndim == 2 else mask[:, :, None]
    return np.where(keep, a, np.float32(0.0)).astype(np.float32), mask


def crop_to_multiple(img: np.ndarray, factor: int) -> np.ndarray:
    """Top-left crop to height and width divisible by ``factor`` (what the references do
    before making a low-resolution input), so that the high-res image matches it exactly."""
    a = _image(img)
    f = _factor(factor)
    h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    if h == 0 or w == 0:
        raise ImageError(f"a {a.shape[1]} x {a.shape[0]} image is smaller than the factor {f}")
    return a[:h, :w].copy()


def _factor(factor: int) -> int:
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)) \
            or not math.isfinite(factor) or int(factor) != factor or factor < 1:
        raise DegradeError(f"scale factor must be a whole number >= 1, got {factor}")
    return int(factor)


def resize(img: np.ndarray, width: int, height: int,
           resample: Image.Resampling = Image.Resampling.BICUBIC) -> np.ndarray:
    """An H x W x C float image resized to ``height`` x ``width``, channel by channel as
    32-bit float images ('F': no 8-bit quantisation), overshoot clipped back to [0, 1]."""
    size = (int(width), int(height))
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(img[:, :, c], dtype=np.float32), mode="F")
                         .resize(size, resample)) for c in range(img.shape[2])]
    return np.clip(np.stack(planes, axis=2), 0.0, 1.0).astype(np.float32)


def downscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Low-resolution version: crop to a multiple of ``factor``, then Pillow LANCZOS by 1/factor.

    Each channel is resized as a 32-bit float image ('F'), so there is no 8-bit
    quantisation; Lanczos overshoot is clipped back to [0, 1].
    """
    hr = crop_to_multiple(img, factor)
    f = _factor(factor)
    planes = hr[:, :, None] if hr.ndim == 2 else hr
    out = resize(planes, hr.shape[1] // f, hr.shape[0] // f, Image.Resampling.LANCZOS)
    return out[:, :, 0] if hr.ndim == 2 else out


def jpeg(img: np.ndarray, quality: int = 10) -> np.ndarray:
    """Compress with Pillow's JPEG encoder at ``quality`` (1..100) in memory and decode."""
    a = _image(img)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise DegradeError(f"JPEG quality must be a whole number in 1..100, got {quality}")
    if a.ndim == 3 and a.shape[2] not in (1, 3):
        raise ImageError(f"JPEG needs 1 or 3 channels, got {a.shape[2]}")
    u8 = to_uint8(a)
    pil = Image.fromarray(u8[:, :, 0] if u8.ndim == 3 and u8.shape[2] == 1 else u8)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as dec:
        out = from_uint8(np.asarray(dec))
    return out.reshape(a.shape)
