"""The real-noise cases of issue 20: a noisy photo and its clean reference, as float arrays.

- ``cc``: ``CC_real/NAME_real.png``, one shot of a Canon 5D / Nikon D600 / D800 at ISO
  1600-6400 as the camera wrote it; reference ``NAME_mean.png``, the mean of ~500 shots.
- ``ccjpeg``: the same shot saved again as JPEG quality 88 (what a phone or a web upload does).
- ``sim``: a scikit-image photo (public domain / CC0) through a simulated camera (linear light,
  an RGGB mosaic, shot + read noise, bilinear demosaicing, sRGB, JPEG quality 92); reference:
  the photo.
- ``white``: CBM3D9 with white Gaussian noise of sigma 25; ``skwhite``: the scikit-image photos
  with it.

Every case is a centre crop (``crop`` px a side); noise is seeded by the image's name.
"""
from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from common import DEFAULT_DATA, BenchError, centre_crop

SK_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
SETS = ("cc", "ccjpeg", "sim", "white", "skwhite")


def _load(p: Path) -> np.ndarray:
    return np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)


def jpeg_again(a: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(_u8(a)).save(buf, "JPEG", quality=quality)
    return _load(io.BytesIO(buf.getvalue()))


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def _srgb_to_linear(a: np.ndarray) -> np.ndarray:
    return np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(a: np.ndarray) -> np.ndarray:
    a = np.clip(a, 0, 1)
    return np.where(a <= 0.0031308, 12.92 * a, 1.055 * a ** (1 / 2.4) - 0.055)


def _conv3(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    p = np.pad(a, 1, mode="reflect")
    h, w = a.shape
    return sum(k[i, j] * p[i:i + h, j:j + w] for i in range(3) for j in range(3))


def simulated_camera(clean: np.ndarray, seed: int, shot: float = 0.0008, read: float = 0.00008,
                     quality: int = 92) -> np.ndarray:
    """A sensor's noise as a camera hands it on: Poisson-like shot noise (variance ``shot`` x
    signal) and read noise on an RGGB mosaic in linear light, bilinear demosaicing (which
    correlates it over ~2 px and across colours), the sRGB curve (which makes it depend on
    brightness) and JPEG."""
    rng = np.random.default_rng(seed)
    lin = _srgb_to_linear(clean.astype(np.float64))
    h, w, _ = lin.shape
    cfa = np.zeros((h, w, 3), bool)
    cfa[0::2, 0::2, 0] = True
    cfa[0::2, 1::2, 1] = True
    cfa[1::2, 0::2, 1] = True
    cfa[1::2, 1::2, 2] = True
    raw = (lin * cfa).sum(axis=2)
    raw = raw + rng.normal(size=raw.shape) * np.sqrt(shot * np.clip(raw, 0, None) + read)
    k_rb = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    k_g = np.array([[0.0, 0.25, 0.0], [0.25, 1.0, 0.25], [0.0, 0.25, 0.0]])
    out = np.stack([_conv3(raw * cfa[..., c], k_g if c == 1 else k_rb) for c in range(3)], axis=2)
    return jpeg_again(_linear_to_srgb(out).astype(np.float32), quality)


def _sk_photo(name: str) -> np.ndarray:
    from skimage import data
    return np.asarray(getattr(data, name)(), np.float32) / 255.0


def _white(clean: np.ndarray, name: str) -> np.ndarray:
    from engine.degrade import add_noise
    return add_noise(clean, 25, seed=_seed(name))


def smoke_cases() -> list[dict]:
    """Two 48 px made-up photos: white noise, and noise correlated over ~2 px."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:48] / 48
    ref = np.stack([0.3 + 0.4 * x, 0.6 - 0.3 * y, 0.5 + 0.2 * np.sin(6 * x)], -1).astype(np.float32)
    white = np.clip(ref + rng.normal(0, 0.04, ref.shape), 0, 1).astype(np.float32)
    n = rng.normal(size=(50, 50, 3))
    corr = sum(n[i:i + 48, j:j + 48] for i in range(3) for j in range(3))
    corr = np.clip(ref + corr / corr.std() * 0.03, 0, 1).astype(np.float32)
    return [{"name": "white", "set": "smoke", "image": white, "reference": ref},
            {"name": "correlated", "set": "smoke", "image": corr, "reference": ref}]


def cases_for(which: str, crop: int, names: str | None = None, data: Path | None = None) -> list[dict]:
    """The cases of one set: dicts with name, set, image (noisy) and reference, H x W x 3 in [0, 1]."""
    if which not in SETS:
        raise BenchError(f"unknown set '{which}': choose one of {', '.join(SETS)}")
    data = Path(data) if data else DEFAULT_DATA
    wanted = None if not names else {n.strip().lower() for n in names.split(",") if n.strip()}
    out = []
    if which in ("cc", "ccjpeg"):
        folder = data / "CC_real"
        if not folder.is_dir():
            raise BenchError(f"{folder} not found (../shared/datasets/CC_real beside the project root)")
        for p in sorted(folder.glob("*_real.png")):
            name = p.name[:-len("_real.png")]
            if wanted and name.lower() not in wanted:
                continue
            noisy = centre_crop(_load(p), crop)
            ref = centre_crop(_load(folder / f"{name}_mean.png"), crop)
            if which == "ccjpeg":
                noisy = jpeg_again(noisy, 88)
            out.append({"name": name, "set": which, "image": noisy, "reference": ref})
    elif which in ("sim", "skwhite"):
        for name in SK_PHOTOS:
            if wanted and name not in wanted:
                continue
            ref = centre_crop(_sk_photo(name), crop)
            noisy = simulated_camera(ref, _seed(name)) if which == "sim" else _white(ref, name)
            out.append({"name": name, "set": which, "image": noisy, "reference": ref})
    else:
        folder = data / "CBM3D9"
        for p in sorted(folder.glob("*.png")):
            if wanted and p.stem.lower() not in wanted:
                continue
            ref = centre_crop(_load(p), crop)
            out.append({"name": p.stem, "set": which, "image": _white(ref, p.stem), "reference": ref})
    if not out:
        raise BenchError(f"no cases in set '{which}'" + (f" named {names}" if names else ""))
    return out
