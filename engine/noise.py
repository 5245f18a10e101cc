"""What the noise of a photo looks like, measured on the photo itself: its level and how far
it is correlated (issue 20).

Synthetic noise is white: each pixel's noise is independent of its neighbours'. A camera's is
not: demosaicing, in-camera noise reduction and JPEG spread it over a few pixels, and the
level depends on brightness. The finest-scale wavelet estimate (:func:`noise_sigma`, the
noise-level wait's) sees only the part of such noise that differs from pixel to pixel, about a
third of it on real photos (benchmarks/README.md), and a held-out pixel can be predicted from
its neighbours' noise. So the run first measures the noise where the photo is flattest:

- **where**: 16 x 16 patches (every 8 px) ranked by the gradient energy of a smoothed copy (the
  picture's structure, not its noise); the flattest ``FLAT_SHARE`` of them are kept;
- **level**: in each kept patch, the variance left after removing a fitted plane (shading);
  the median over patches, per channel (an edge that slipped in is an outlier), over the
  degrees of freedom the plane leaves;
- **correlation**: the same residuals' autocorrelation at 1, 2, 3 px (horizontal and
  vertical, averaged): ``rho[d - 1]``. The correlation length is the first lag where it falls
  under ``DECORRELATED`` (0 for white noise).

Not measured: how the level follows brightness (one level is reported). Pure NumPy on the
host, once per run (tens of ms; a large photo is sampled, ``SAMPLE``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

PATCH = 16           # side of the patches the noise is measured in (8 px: too few pairs at 2-3 px lags)
STRIDE = 8
FLAT_SHARE = 0.3     # share of the patches, the flattest, that are measured
DECORRELATED = 0.2   # a correlation under this counts as gone
CORRELATED = 0.45    # rho at 1 px above this (white: ~0; real photos: 0.54-0.82) ...
FINE_SHARE = 0.65    # ... and the fine-scale estimate under this share of the level (real: 0.19-0.60;
                     # white: ~1): texture leaking into a weakly noisy photo's patches raises its rho,
                     # but not the fine-scale share
MAX_LAG = 3
STRUCTURE_RHO = 0.45 # rho at 3 px at or above this: what varies is the picture itself, not noise
STRUCTURE_FINE = 0.1 # (real noise: 0.12-0.32 at 3 px, fine share >= 0.18; a clean smooth picture:
                     # 0.55 and 0.03)
SAMPLE = 4, 128      # a larger photo is measured on a 4 x 4 grid of 128 px crops (a few ms, not seconds)


@dataclass(frozen=True)
class NoiseProfile:
    """The noise measured on a photo: standard deviation (range 0..1), the autocorrelation at
    1..3 px, and the correlation length in px (0: white)."""

    sigma: float
    rho: tuple[float, ...]
    length: int
    patches: int
    fine: float = 0.0    # the fine-scale (Haar) estimate: white noise's level, a share of a camera's

    @property
    def structure(self) -> bool:
        """What was measured is the picture, not noise: its correlation does not decay by 3 px,
        or the finest scale holds almost none of it (a clean, smooth photo)."""
        return bool(self.rho) and (self.rho[-1] >= STRUCTURE_RHO or self.fine < STRUCTURE_FINE * self.sigma)

    @property
    def correlated(self) -> bool:
        return (bool(self.rho) and not self.structure and self.rho[0] > CORRELATED
                and self.fine < FINE_SHARE * self.sigma)

    def words(self) -> str:
        """'noise: about 5 levels (of 255), correlated over ~2 px' / '... , independent from
        pixel to pixel' / 'no noise to speak of'."""
        if 255 * self.sigma < 0.5 or self.structure:
            return "no noise to speak of"
        return f"noise: about {255 * self.sigma:.0f} levels (of 255), {self._how()}"

    def short(self) -> str:
        """'about 5 levels, correlated over ~2 px' (for a stop reason)."""
        return f"about {255 * self.sigma:.0f} levels, {self._how()}"

    def _how(self) -> str:
        return f"correlated over ~{self.length} px" if self.correlated else "independent from pixel to pixel"

    def to_dict(self) -> dict:
        return {"sigma": self.sigma, "rho": list(self.rho), "length": self.length,
                "patches": self.patches, "fine_sigma": self.fine, "correlated": self.correlated,
                "words": self.words()}


def noise_sigma(image: np.ndarray) -> float:
    """The noise standard deviation of an H x W x C image in [0, 1], estimated robustly
    (Donoho): the median absolute finest diagonal Haar coefficient / 0.6745, per channel,
    averaged. Texture barely moves it; clipping at 0 and 1 makes it a little low."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    if h < 2 or w < 2:
        return 0.0
    x = np.asarray(image[:h, :w], dtype=np.float64).reshape(h, w, -1)
    hh = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2
    return float(np.mean(np.median(np.abs(hh), axis=(0, 1))) / 0.6745)


def _sampled(a: np.ndarray) -> np.ndarray:
    """``a`` itself, or for a photo over (4 x 128)^2 px a mosaic of 4 x 4 crops of 128 px spread
    over it: patches straddling two crops see an edge and rank as structure, not as flat."""
    n, side = SAMPLE
    h, w = a.shape[:2]
    if h * w <= (n * side) ** 2 or h < side or w < side:
        return a
    ys = np.linspace(0, h - side, n).astype(int)
    xs = np.linspace(0, w - side, n).astype(int)
    return np.concatenate([np.concatenate([a[y:y + side, x:x + side] for x in xs], axis=1) for y in ys], axis=0)


def _patches(a: np.ndarray, stride: int) -> np.ndarray:
    """The PATCH x PATCH windows of an H x W x C array every ``stride`` px: N x PATCH x PATCH x C."""
    w = np.lib.stride_tricks.sliding_window_view(a, (PATCH, PATCH), axis=(0, 1))
    w = w[::stride, ::stride]                           # ny, nx, C, P, P
    return np.moveaxis(w, 2, -1).reshape(-1, PATCH, PATCH, a.shape[2])


def _smoothed(a: np.ndarray) -> np.ndarray:
    """A 5x5 binomial blur per channel (edges replicated): structure survives, noise mostly not."""
    k = np.array([1, 4, 6, 4, 1], np.float64) / 16
    p = np.pad(a, ((2, 2), (2, 2), (0, 0)), mode="edge")
    h, w = a.shape[:2]
    rows = sum(k[i] * p[i:i + h] for i in range(5))
    return sum(k[j] * rows[:, j:j + w] for j in range(5))


def _plane_basis() -> np.ndarray:
    y, x = np.mgrid[0:PATCH, 0:PATCH].astype(np.float64)
    b = np.stack([np.ones_like(x), x - x.mean(), y - y.mean()], -1).reshape(-1, 3)
    q, _ = np.linalg.qr(b)
    return q                                             # P*P x 3, orthonormal


class FlatPatches(NamedTuple):
    resid: np.ndarray      # K x PATCH*PATCH x C: the pixels less their fitted plane (shading)
    mean: np.ndarray       # K x C: each patch's mean (its brightness)
    smoothed: np.ndarray   # H x W x C: the smoothed copy the patches were ranked on


def flattest_patches(a: np.ndarray, share: float = FLAT_SHARE) -> FlatPatches:
    """The ``share`` of the PATCH x PATCH patches (every STRIDE px) of an H x W x C float64
    array where the picture is flattest: ranked by the gradient energy of a smoothed copy (the
    picture's structure, not its noise), flattest first."""
    s = _smoothed(a)
    gy, gx = np.gradient(s.mean(axis=2))
    energy = _patches((gx * gx + gy * gy)[:, :, None], STRIDE).sum(axis=(1, 2, 3))
    keep = np.argsort(energy)[:max(1, int(round(share * energy.size)))]
    flat = _patches(a, STRIDE)[keep].reshape(len(keep), PATCH * PATCH, a.shape[2])   # K x P*P x C
    q = _plane_basis()
    return FlatPatches(flat - q @ np.einsum("pk,npc->nkc", q, flat), flat.mean(axis=1), s)


def measure_noise(image: np.ndarray) -> NoiseProfile:
    """The :class:`NoiseProfile` of an H x W x C image in [0, 1] (H, W >= PATCH)."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    a = _sampled(a).astype(np.float64)
    h, w, c = a.shape
    if h < PATCH or w < PATCH:
        return NoiseProfile(0.0, (), 0, 0)
    flat = flattest_patches(a)
    resid, n_keep = flat.resid, len(flat.resid)
    dof = PATCH * PATCH - 3
    var = (resid ** 2).sum(axis=1) / dof                 # K x C
    # a patch whose edge slipped in is an outlier: the median, not the mean; the median of a
    # chi-square is under its mean by about 2/(9 dof) in relative terms
    sigma = float(np.mean(np.sqrt(np.median(var, axis=0) / (1 - 2 / (9 * dof)) ** 3)))
    r = resid.reshape(n_keep, PATCH, PATCH, c)
    rho = []
    denom = float((r * r).sum())
    for d in range(1, MAX_LAG + 1):
        num = float((r[:, :, d:] * r[:, :, :-d]).sum() + (r[:, d:] * r[:, :-d]).sum())
        n_pairs = 2 * PATCH * (PATCH - d)
        rho.append(0.0 if denom <= 0 else num / n_pairs / (denom / (PATCH * PATCH)))
    length = next((d for d, v in enumerate(rho, 1) if v < DECORRELATED), MAX_LAG + 1) - 1
    if rho and rho[0] > CORRELATED:
        length = max(length, 1)
    # plane removal and the finite patch bias the lag correlations down a little; so does
    # clipping at 0 and 1: good enough to tell white from camera noise and to say roughly how far
    sigma = sigma if math.isfinite(sigma) else 0.0
    return NoiseProfile(sigma, tuple(rho), length, int(n_keep), noise_sigma(a))
