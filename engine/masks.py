"""Masks (white = known): found beside their photo, read at the image's size, checked for
inpainting, written bit for bit (engine/imageio.py re-exports)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .atomic import atomic_write
from .errors import MaskError
from .image_read import _decode, _open, _oriented_size, _pixels, _quiet
from .pixels import MASK_FORMATS, _luma, format_for


# a mask lying beside its photo: photo_mask.png (or photo.mask.png, photo-mask.png; png/tif/bmp)
MASK_SUFFIXES = ("_mask", ".mask", "-mask")
MASK_EXTENSIONS = (".png", ".tif", ".tiff", ".bmp")


def sibling_mask(path: str | os.PathLike) -> Path | None:
    """``photo_mask.png`` (or ``photo.mask.png``, ``photo-mask.png``; png/tif/bmp) beside ``photo.*``."""
    p = Path(path)
    for suffix in MASK_SUFFIXES:
        for ext in MASK_EXTENSIONS:
            cand = p.with_name(p.stem + suffix + ext)
            if cand.is_file() and cand != p:
                return cand
    return None


def mask_from_array(arr: np.ndarray) -> np.ndarray:
    """Any mask-like array -> bool H x W, True = known (white).

    ``bool`` is taken as is. ``uint8`` / ``uint16`` are scaled by their full range; floats
    and other integers are read as values in [0, 1] (so 0/1 integer masks work). With 2 or 4
    channels the last is alpha and the mask is the luminance composited on black: a
    transparent pixel is unknown. The result is binarised at half range (> 0.5).
    """
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise MaskError(f"a mask must be H x W or H x W x 1..4, got shape {np.shape(arr)}")
    if a.dtype == np.bool_:
        return a.copy() if a.ndim == 2 else a.all(axis=2)
    if a.dtype == np.uint8:
        v = a.astype(np.float32) / np.float32(255.0)
    elif a.dtype == np.uint16:
        v = a.astype(np.float32) / np.float32(65535.0)
    else:
        v = a.astype(np.float32)
    if v.ndim == 3:
        c = v.shape[2]
        lum = v[:, :, 0] if c in (1, 2) else _luma(v)
        if c in (2, 4):
            lum = lum * v[:, :, -1]
        v = lum
    return v > 0.5


@_quiet
def load_mask(path: str | os.PathLike, shape_hw: tuple[int, int]) -> np.ndarray:
    """Read a mask file (white = known) that must match an image of ``shape_hw`` = (H, W)."""
    h, w = int(shape_hw[0]), int(shape_hw[1])
    im, p = _open(path, "mask")
    with im:
        # checked from the header so a huge or wrong file is never decoded
        mw, mh = _oriented_size(im)
        if (mw, mh) != (w, h):
            raise MaskError(f"mask {p} is {mw}x{mh} but the image is {w}x{h} (W x H)")
        dec = _decode(im, p, "mask")
        array, alpha, _ = _pixels(dec, p, "mask")
    if array.shape[:2] != (h, w):  # EXIF said one thing, the pixels another
        raise MaskError(f"mask {p} is {array.shape[1]}x{array.shape[0]} but the image is {w}x{h} (W x H)")
    if alpha is not None:
        array = np.concatenate([array, alpha[:, :, None]], axis=2)
    return mask_from_array(array)


def check_inpainting_mask(mask: np.ndarray, name: str | os.PathLike) -> np.ndarray:
    """One rule for the CLI, a batch and the app: a mask that marks nothing to fill (all
    white) or nothing known (all black) is bad input, said in one line, not a run."""
    if not mask.any():
        raise MaskError(f"mask {name} marks every pixel as unknown (all black): nothing to fit")
    if mask.all():
        raise MaskError(f"mask {name} marks no pixel to fill (it is all white): nothing to inpaint")
    return mask


def save_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a known-mask as an 8-bit grayscale file: 255 = known, 0 = unknown."""
    atomic_write(path, mask_writer(path, mask))


def mask_writer(path: str | os.PathLike, mask: np.ndarray) -> Callable[[str], None]:
    """Validates and encodes a mask for :func:`save_mask`; returns the ``write_fn``."""
    p = Path(path)
    fmt = format_for(p, MASK_FORMATS, "mask")
    m = np.asarray(mask)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise MaskError(f"a mask must be a non-empty H x W array, got shape {m.shape}")
    im = Image.fromarray(np.where(m.astype(bool), 255, 0).astype(np.uint8))
    return lambda tmp: im.save(tmp, format=fmt)
