"""The pixels <-> files seam: every image and mask enters and leaves the program here.

Inside, the engine sees ``float32`` H x W x C arrays in [0, 1] (C = 1 for grayscale
sources, 3 otherwise) and ``bool`` H x W masks (True = known = white). This module knows
the rest: Pillow modes, EXIF orientation, 16-bit files, alpha, size limits, and writing
without ever leaving a half-written file behind.
"""
from __future__ import annotations

import functools
import os
import re
import struct
import sys
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError, MaskError

DEFAULT_MAX_PIXELS = 40_000_000

# extension -> Pillow format name for writing
SAVE_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
# masks must survive bit for bit, so no lossy formats
MASK_FORMATS: dict[str, str] = {k: v for k, v in SAVE_FORMATS.items() if v in ("PNG", "TIFF", "BMP")}
# what the app's open dialogs offer (Pillow reads more; these are the common ones)
OPEN_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".ppm", ".pgm", ".pnm", ".tga",
)
_ALPHA_FORMATS = ("PNG", "TIFF", "WEBP")
_SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")
# ITU-R BT.601 luma, the weights Pillow itself uses for RGB -> L
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class Loaded:
    """A decoded image plus what is needed to write a result back "in its own mode"."""

    array: np.ndarray              # float32 H x W x C in [0, 1], C = 1 or 3
    mode: str                      # the source's Pillow mode ('L', 'RGB', 'I;16', 'P', ...)
    bit_depth: int                 # 8 or 16 (16 for I;16 / I / F sources)
    alpha: np.ndarray | None       # float32 H x W in [0, 1], or None
    path: str
    format: str | None             # Pillow's format name ('PNG', 'JPEG', ...)
    icc_profile: bytes | None = None   # kept only when it still describes `array`'s colours

    @property
    def size(self) -> tuple[int, int]:
        """(W, H), Pillow's order."""
        return int(self.array.shape[1]), int(self.array.shape[0])

    @property
    def shape_hw(self) -> tuple[int, int]:
        return int(self.array.shape[0]), int(self.array.shape[1])

    @property
    def channels(self) -> int:
        return int(self.array.shape[2])


# ---------------------------------------------------------------- conversions

def to_uint8(array: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 by rounding; out-of-range values are clipped."""
    return np.clip(np.rint(np.asarray(array, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def from_uint8(array: np.ndarray) -> np.ndarray:
    """uint8 (or any 0..255 data) -> float32 in [0, 1]."""
    return np.asarray(array, dtype=np.float32) / np.float32(255.0)


def to_uint16(array: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint16 by rounding (exact for k/255 values: 65535 = 257 x 255)."""
    return np.clip(np.rint(np.asarray(array, dtype=np.float64) * 65535.0), 0, 65535).astype(np.uint16)


def from_uint16(array: np.ndarray) -> np.ndarray:
    """uint16 (or any 0..65535 data) -> float32 in [0, 1]."""
    return np.asarray(array).astype(np.float32) / np.float32(65535.0)


def _as_hwc(array: np.ndarray, what: str = "image") -> np.ndarray:
    """Validate an engine image and give it an explicit channel axis."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ImageError(f"{what} must be H x W, H x W x 1 or H x W x 3, got shape {np.shape(array)}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"{what} has no pixels (shape {a.shape})")
    if a.dtype == np.uint8:
        return from_uint8(a)
    if a.dtype == np.uint16:
        return from_uint16(a)
    return a.astype(np.float32, copy=False)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3] @ _LUMA


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


def _reason(e: BaseException) -> str:
    """The first line of an exception's text, so messages stay one line."""
    return str(e).splitlines()[0] if str(e) else type(e).__name__


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


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.3g}"


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


# ---------------------------------------------------------------- writing

def _umask() -> int:
    # read once: os.umask can only be read by setting it, which is not thread-safe later
    old = os.umask(0o022)
    os.umask(old)
    return old


_UMASK = _umask()


def _folder_of(p: Path) -> Path:
    return p.parent if str(p.parent) else Path(".")


def _temp_in(folder: Path, p: Path) -> str:
    """A new empty temporary file beside ``p`` (its name ends with ``p``'s extension)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{p.name}.", suffix=f".tmp{p.suffix}")
    os.close(fd)
    return tmp


def _check_destination(p: Path, what: str) -> Path:
    label = f"{what} {p}" if what else str(p)
    if p.is_dir():
        raise ImageError(f"cannot write {label}: it is a folder; give a file name")
    folder = _folder_of(p)
    if not folder.is_dir():
        if folder.exists():
            raise ImageError(f"cannot write {label}: {folder} is a file, not a folder")
        raise ImageError(f"cannot write {label}: the folder {folder} does not exist")
    return folder


def remove_temporaries(path: str | os.PathLike) -> int:
    """Remove what a killed write of ``path`` left beside it (``_temp_in``'s names); a run
    calls it for its own destinations before writing them. Returns how many went."""
    p = Path(path)
    folder = _folder_of(p)
    own = re.compile(rf"\.{re.escape(p.name)}\.[A-Za-z0-9_]{{8}}\.tmp{re.escape(p.suffix)}")
    gone = 0
    try:
        names = [q for q in folder.iterdir() if own.fullmatch(q.name) and q.is_file()]
    except OSError:
        return 0
    for q in names:
        _remove_quietly(str(q))
        gone += not q.exists()
    return gone


def check_writable(path: str | os.PathLike, what: str = "image",
                   formats: dict[str, str] | None = SAVE_FORMATS) -> Path:
    """Everything about writing ``path`` that can be known before there is anything to write:
    a known extension (when ``formats`` is given), not a folder, an existing folder in which a
    file can really be created (probed with the same temporary name a write will use, then
    removed). Raises a one-line :class:`ImageError`; returns the path."""
    p = Path(path)
    folder = _check_destination(p, what)
    if formats is not None:
        _format_for(p, formats, what)
    try:
        tmp = _temp_in(folder, p)
    except OSError as e:
        raise ImageError(f"cannot write {what} {p}: no new file can be created in the folder {folder} "
                         f"({e.strerror or _reason(e)}); choose another folder") from e
    os.remove(tmp)
    return p


def _stage(p: Path, write_fn: Callable[[str], None]) -> str:
    """Write ``p``'s new content to a synced temporary file beside it; return its path."""
    folder = _check_destination(p, "")
    try:
        tmp = _temp_in(folder, p)
    except OSError as e:
        raise ImageError(f"cannot write {p}: {e.strerror or e}") from e
    try:
        write_fn(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the permissions a normal save would
        mode = (os.stat(p).st_mode & 0o7777) if p.exists() else (0o666 & ~_UMASK)
        os.chmod(tmp, mode)
    except BaseException as e:
        _remove_quietly(tmp)
        if isinstance(e, OSError):
            raise ImageError(f"cannot write {p}: {e.strerror or _reason(e)}") from e
        raise
    return tmp


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def write_all(items: list[tuple[str | os.PathLike, Callable[[str], None]]]) -> None:
    """Write several files all-or-nothing: every ``write_fn(tmp_path)`` writes a temporary
    file beside its destination; only when all of them succeeded are they renamed over their
    destinations. On any error every temporary file is removed and no destination changes.
    OS errors become :class:`ImageError`.
    """
    paths = [Path(path) for path, _ in items]
    seen: set[str] = set()
    for p in paths:
        key = os.path.normcase(os.path.realpath(p))
        if key in seen:
            raise ImageError(f"cannot write {p} twice in one save")
        seen.add(key)
    staged: list[tuple[str, Path]] = []
    try:
        for p, (_, write_fn) in zip(paths, items):
            staged.append((_stage(p, write_fn), p))
        for i, (tmp, p) in enumerate(staged):
            try:
                os.replace(tmp, p)
            except OSError as e:
                raise ImageError(f"cannot write {p}: {e.strerror or _reason(e)}") from e
            staged[i] = ("", p)
    except BaseException:
        for tmp, _ in staged:
            if tmp:
                _remove_quietly(tmp)
        raise
    for folder in {_folder_of(p) for p in paths}:
        _fsync_dir(folder)


def atomic_write(path: str | os.PathLike, write_fn: Callable[[str], None]) -> None:
    """Write ``path`` all-or-nothing: ``write_fn(tmp_path)`` writes a temporary file in the
    same folder (its name ends with the destination's extension), which is flushed to disk
    and then renamed over ``path``. On any error the temporary file is removed and an
    existing ``path`` is left untouched. OS errors become :class:`ImageError`.
    """
    write_all([(path, write_fn)])


def _fsync_dir(folder: Path) -> None:
    # makes the rename itself durable; not possible on every platform (Windows), so best effort
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _format_for(p: Path, table: dict[str, str], what: str) -> str:
    fmt = table.get(p.suffix.lower())
    if fmt is None:
        choices = ", ".join(sorted(table))
        ext = p.suffix or "(no extension)"
        raise ImageError(f"cannot write {what} {p}: unsupported extension {ext}; use one of {choices}")
    return fmt


def _match_channels(a: np.ndarray, channels: int) -> np.ndarray:
    if a.shape[2] == channels:
        return a
    if channels == 1:
        return _luma(a)[:, :, None].astype(np.float32)
    return np.repeat(a, 3, axis=2)


def save_image(
    path: str | os.PathLike,
    array: np.ndarray,
    like: Loaded | None = None,
    quality: int = 95,
) -> None:
    """Write a float [0, 1] image; the format comes from the extension.

    With ``like`` (the :class:`Loaded` the result came from) the file keeps the source's
    channel count (grayscale stays L), its alpha when the size matches and the format can
    hold it, its ICC profile, and 16-bit depth for PNG/TIFF when the source was 16-bit.
    ``quality`` applies to JPEG and WebP.
    """
    atomic_write(path, image_writer(path, array, like, quality))


def image_writer(
    path: str | os.PathLike,
    array: np.ndarray,
    like: Loaded | None = None,
    quality: int = 95,
) -> Callable[[str], None]:
    """Everything :func:`save_image` does except the writing: validates and encodes, and
    returns the ``write_fn`` for :func:`atomic_write` / :func:`write_all` (so a result and
    its companions can be written all-or-nothing).
    """
    p = Path(path)
    fmt = _format_for(p, SAVE_FORMATS, "image")
    a = _as_hwc(array)
    if not np.isfinite(a).all():
        raise ImageError(f"cannot write {p}: the image contains NaN or infinite values")
    if not 1 <= int(quality) <= 100:
        raise ImageError(f"quality must be 1..100, got {quality}")
    if like is not None:
        a = _match_channels(a, like.channels)
    alpha = None
    if (
        like is not None
        and like.alpha is not None
        and like.alpha.shape == a.shape[:2]
        and fmt in _ALPHA_FORMATS
    ):
        alpha = like.alpha
    sixteen = like is not None and like.bit_depth == 16 and fmt in _SIXTEEN_BIT_FORMATS
    icc = like.icc_profile if like is not None else None
    if sixteen and (a.shape[2] > 1 or alpha is not None):
        # Pillow has no 16-bit colour or grey + alpha mode to write: encoded here
        samples = to_uint16(a if alpha is None else np.concatenate([a, alpha[:, :, None]], axis=2))
        data = _png16(samples, icc) if fmt == "PNG" else _tiff16(samples, icc)

        def write_deep(tmp: str) -> None:
            with open(tmp, "wb") as f:
                f.write(data)

        return write_deep
    if sixteen:
        im = Image.fromarray(to_uint16(a[:, :, 0]))
    else:
        u8 = to_uint8(a if alpha is None else np.concatenate([a, alpha[:, :, None]], axis=2))
        im = Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8)

    params: dict = {}
    if fmt == "JPEG":
        # chroma subsampling would blur the colours of a restored image at high quality
        params.update(quality=int(quality), subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        params.update(quality=int(quality), lossless=quality >= 100)
    if like is not None and like.icc_profile and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        params["icc_profile"] = like.icc_profile

    def write(tmp: str) -> None:
        try:
            im.save(tmp, format=fmt, **params)
        except OSError:
            raise
        except Exception as e:  # noqa: BLE001 - encoder complaints (mode/format) for the user
            raise ImageError(f"cannot write {p} as {fmt}: {_reason(e)}") from e

    return write


def _png16(a: np.ndarray, icc: bytes | None) -> bytes:
    """A 16-bit PNG of uint16 H x W x C (C = 1..4: grey, grey + alpha, RGB, RGBA)."""
    h, w, c = a.shape
    rows = np.ascontiguousarray(a.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    bpp = 2 * c
    filtered = np.empty((h, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 1                     # "Sub": neighbours' differences compress far better
    filtered[:, 1:bpp + 1] = rows[:, :bpp]
    filtered[:, bpp + 1:] = rows[:, bpp:] - rows[:, :-bpp]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    out = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0))]
    if icc:
        out.append(chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc)))
    data = zlib.compress(filtered.tobytes(), 6)
    step = 1 << 20
    out += [chunk(b"IDAT", data[i:i + step]) for i in range(0, len(data), step)] or [chunk(b"IDAT", b"")]
    out.append(chunk(b"IEND", b""))
    return b"".join(out)


def _tiff16(a: np.ndarray, icc: bytes | None) -> bytes:
    """A baseline little-endian, uncompressed 16-bit TIFF of uint16 H x W x C (C = 1..4)."""
    h, w, c = a.shape
    pixels = np.ascontiguousarray(a.astype("<u2")).tobytes()
    extra = [(338, 3, [2])] if c in (2, 4) else []          # the last sample is unassociated alpha
    tags = [(256, 4, [w]), (257, 4, [h]), (258, 3, [16] * c), (259, 3, [1]), (262, 3, [2 if c >= 3 else 1]),
            (273, 4, [0]), (277, 3, [c]), (278, 4, [h]), (279, 4, [len(pixels)]), (284, 3, [1]), *extra]
    if icc:
        tags.append((34675, 7, list(icc)))
    ifd_size = 2 + 12 * len(tags) + 4
    tail = bytearray()
    entries = []
    fmt = {3: "<H", 4: "<I", 7: "<B"}
    blobs = []
    for tag, typ, values in tags:
        body = b"".join(struct.pack(fmt[typ], v) for v in values)
        blobs.append((tag, typ, len(values), body))
    offset = 8 + ifd_size
    for tag, typ, count, body in blobs:
        if len(body) <= 4:
            entries.append((tag, typ, count, body.ljust(4, b"\0")))
        else:
            entries.append((tag, typ, count, struct.pack("<I", offset + len(tail))))
            tail += body + (b"\0" if len(body) % 2 else b"")
    strip = offset + len(tail)
    out = bytearray(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, typ, count, value in entries:
        if tag == 273:
            value = struct.pack("<I", strip)
        out += struct.pack("<HHI", tag, typ, count) + value
    out += struct.pack("<I", 0) + tail + pixels
    return bytes(out)


def save_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a known-mask as an 8-bit grayscale file: 255 = known, 0 = unknown."""
    atomic_write(path, mask_writer(path, mask))


def mask_writer(path: str | os.PathLike, mask: np.ndarray) -> Callable[[str], None]:
    """Validates and encodes a mask for :func:`save_mask`; returns the ``write_fn``."""
    p = Path(path)
    fmt = _format_for(p, MASK_FORMATS, "mask")
    m = np.asarray(mask)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise MaskError(f"a mask must be a non-empty H x W array, got shape {m.shape}")
    im = Image.fromarray(np.where(m.astype(bool), 255, 0).astype(np.uint8))
    return lambda tmp: im.save(tmp, format=fmt)
