"""Reading image files: Pillow modes, EXIF orientation, 16-bit files, alpha, palettes and
size limits checked from the header, every failure one line (engine/imageio.py re-exports)."""
from __future__ import annotations

import functools
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .pixels import DEFAULT_MAX_PIXELS, Loaded, _megapixels, _reason, from_uint8, from_uint16

# ---------------------------------------------------------------- reading

def _open(path: str | os.PathLike, what: str) -> tuple[Image.Image, Path]:
    """Open (header only) with a one-line ImageError for every way it can fail."""
    p = Path(path)
    try:
        there = p.exists()
    except OSError as e:            # e.g. a name over 255 bytes
        raise ImageError(f"cannot open {what} {_short(p)}: {e.strerror or _reason(e)}") from e
    if not there:
        raise ImageError(f"cannot open {what} {p}: no such file")
    if p.is_dir():
        raise ImageError(f"cannot open {what} {p}: it is a folder, not an image file")
    try:
        # our own limit (checked from the header before decoding) replaces Pillow's warning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p)
    except Image.DecompressionBombError as e:
        raise ImageError(_bomb_message(e, p, what)) from e
    except UnidentifiedImageError as e:
        raise ImageError(f"cannot open {what} {p}: not an image file, or a format Pillow cannot read") from e
    except PermissionError as e:
        raise ImageError(f"cannot open {what} {p}: permission denied") from e
    except Exception as e:  # noqa: BLE001 - file parsers fail in many ways on hostile input
        raise ImageError(f"cannot open {what} {p}: {_reason(e)}") from e
    w, h = im.size
    if w <= 0 or h <= 0:
        im.close()
        raise ImageError(f"{what} {p} has no pixels ({w} x {h})")
    return im, p


def _short(p: Path) -> str:
    text = str(p)
    return text if len(text) <= 80 else text[:40] + "..." + text[-24:]


def _bomb_message(e: BaseException, p: Path, what: str) -> str:
    """Pillow refuses headers that declare a huge image before we can read the size; say it
    in our terms (megapixels and our limit) rather than Pillow's."""
    found = re.search(r"\((\d+) pixels\)", str(e))
    declared = f"it declares {_megapixels(int(found.group(1)))} megapixels, " if found else ""
    return (f"{what} {p} is too large to open safely: {declared}the limit is "
            f"{_megapixels(DEFAULT_MAX_PIXELS)} megapixels; downscale it or crop a region first")



def _oriented_size(im: Image.Image) -> tuple[int, int]:
    """(W, H) after EXIF orientation, read from the header without decoding."""
    w, h = im.size
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block just means no rotation
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _decode(im: Image.Image, p: Path, what: str) -> Image.Image:
    """Fully decode (a truncated file must fail here, not later) and apply EXIF orientation."""
    try:
        im.load()
    except Image.DecompressionBombError as e:
        raise ImageError(_bomb_message(e, p, what)) from e
    except MemoryError as e:
        raise ImageError(f"not enough memory to load {what} {p}") from e
    except Exception as e:  # noqa: BLE001 - OSError, SyntaxError, ValueError, EOFError, struct.error...
        raise ImageError(f"cannot read {what} {p}: the file is truncated or corrupt ({_reason(e)})") from e
    try:
        out = ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - malformed EXIF: keep the pixels as stored
        out = im
    return out if out is not None else im


def _pixels(im: Image.Image, p: Path, what: str) -> tuple[np.ndarray, np.ndarray | None, int]:
    """A decoded Pillow image -> (float32 H x W x C in [0, 1], alpha or None, bit depth)."""
    mode = im.mode
    if mode.startswith("I;16"):
        # np.asarray honours the byte order of I;16B / I;16L
        return np.asarray(im).astype(np.float32)[:, :, None] / np.float32(65535.0), None, 16
    if mode == "I":
        a = np.clip(np.asarray(im).astype(np.float32) / np.float32(65535.0), 0.0, 1.0)
        return a[:, :, None], None, 16
    if mode == "F":
        return _float_pixels(np.asarray(im, dtype=np.float32), p, what)[:, :, None], None, 16
    has_alpha = _has_alpha(im)
    gray = mode in ("1", "L", "LA", "La")
    try:
        target = ("LA" if has_alpha else "L") if gray else ("RGBA" if has_alpha else "RGB")
        conv = im if im.mode == target else im.convert(target)
    except (ValueError, OSError) as e:
        raise ImageError(f"{what} {p}: colour mode {mode} is not supported ({_reason(e)})") from e
    a = from_uint8(np.asarray(conv))
    if a.ndim == 2:
        a = a[:, :, None]
    if has_alpha:
        return np.ascontiguousarray(a[:, :, :-1]), np.ascontiguousarray(a[:, :, -1]), 8
    return a, None, 8


# Pillow decodes 16-bit colour (RGB, RGBA) to 8 bits, keeping each sample's
# high byte; decoding the same data again as the other byte order keeps the low byte, so the
# two decodes (Pillow's own unfiltering and codecs both times) give the 16 bits back
_DEEP_RAWMODE = re.compile(r"^(RGBA?);16([BLN])$")


def _rawmode(tile) -> str | None:
    args = tile.args
    raw = args if isinstance(args, str) else (args[0] if args else None)
    return raw if isinstance(raw, str) else None


def _deep_tiles(im: Image.Image) -> list | None:
    """``im``'s tiles when it is 16-bit colour that Pillow would read as 8 bits, else None."""
    tiles = list(getattr(im, "tile", None) or [])
    if not tiles or not all(_DEEP_RAWMODE.match(_rawmode(t) or "") for t in tiles):
        return None
    return tiles


def _other_byte(tile):
    raw = _rawmode(tile)
    order = raw[-1] if raw[-1] != "N" else ("L" if sys.byteorder == "little" else "B")
    swapped = raw[:-1] + ("B" if order == "L" else "L")
    args = swapped if isinstance(tile.args, str) else (swapped, *tile.args[1:])
    return tile._replace(args=args)


def _low_bytes(p: Path, tiles: list, what: str) -> np.ndarray:
    """The low byte of each 16-bit sample of ``p`` (oriented like the file's high bytes)."""
    im, _ = _open(p, what)
    with im:
        im.tile = [_other_byte(t) for t in tiles]
        return np.asarray(_decode(im, p, what))


def _deep_pixels(high: np.ndarray, low: np.ndarray, alpha: np.ndarray | None):
    """(array, alpha, 16) from the two byte planes of a 16-bit colour image."""
    a = from_uint16(high.astype(np.uint16) * 256 + low)
    if a.ndim == 2:
        a = a[:, :, None]
    channels = 1 if a.shape[2] <= 2 else 3
    if a.shape[2] > channels:              # its own 16-bit alpha
        return np.ascontiguousarray(a[:, :, :channels]), np.ascontiguousarray(a[:, :, channels]), 16
    return a, alpha, 16


def _has_alpha(im: Image.Image) -> bool:
    # Pillow's own has_transparency_data changed from method to property across versions
    if im.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in im.info:
        return True
    return im.mode == "P" and im.palette is not None and im.palette.mode == "RGBA"


def _float_pixels(a: np.ndarray, p: Path, what: str) -> np.ndarray:
    # Float files carry no declared range; take [0, 1] data as is and scale data that is
    # obviously on the 8- or 16-bit scale, so a float TIFF of 0..255 does not load all white.
    if not np.isfinite(a).all():
        raise ImageError(f"{what} {p} contains NaN or infinite values")
    top = float(a.max()) if a.size else 0.0
    if top > 255.0:
        a = a / np.float32(65535.0)
    elif top > 1.0:
        a = a / np.float32(255.0)
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def _quiet(fn):
    """Pillow warns (to stderr) about corrupt EXIF and the like while reading hostile files;
    the error, if any, is ours and one line, so its warnings are not shown."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    return wrapper


@_quiet
def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Loaded:
    """Read an image file into a :class:`Loaded` (float32 H x W x C in [0, 1], the right way up).

    Multi-frame files (animated GIF, multi-page TIFF) give their first frame. 16-bit files
    (grey, grey + alpha, RGB, RGBA; PNG or TIFF) come back with all 16 bits and ``bit_depth`` 16.
    """
    im, p = _open(path, "image")
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise ImageError(
                f"image {p} is {w} x {h} = {_megapixels(w * h)} megapixels, which exceeds the limit of "
                f"{_megapixels(max_pixels)} megapixels; downscale it or crop a region first"
            )
        src_mode, fmt = im.mode, im.format
        icc = im.info.get("icc_profile") or None
        deep = _deep_tiles(im)
        dec = _decode(im, p, "image")
        array, alpha, depth = _pixels(dec, p, "image")
        if deep is not None and dec.mode == src_mode:
            array, alpha, depth = _deep_pixels(np.asarray(dec), _low_bytes(p, deep, "image"), alpha)
    # a CMYK (or Lab, HSV) profile no longer describes the converted RGB pixels
    if src_mode in ("CMYK", "LAB", "HSV"):
        icc = None
    return Loaded(
        array=np.ascontiguousarray(array, dtype=np.float32),
        mode=src_mode,
        bit_depth=depth,
        alpha=alpha,
        path=str(p),
        format=fmt,
        icc_profile=icc,
    )


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(W, H) of an image file after EXIF orientation, from its header (nothing decoded)."""
    im, _ = _open(path, "image")
    with im:
        return _oriented_size(im)

