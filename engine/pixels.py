"""The engine's pixels and the formats it knows, shared by reading, masks and writing
(engine/imageio.py is the door the rest of the program uses).

Inside, the engine sees ``float32`` H x W x C arrays in [0, 1] (C = 1 for grayscale
sources, 3 otherwise) and ``bool`` H x W masks (True = known = white).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ImageError

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


def _reason(e: BaseException) -> str:
    """The first line of an exception's text, so messages stay one line."""
    return str(e).splitlines()[0] if str(e) else type(e).__name__



def _megapixels(n: int) -> str:
    return f"{n / 1e6:.3g}"


def format_for(p: Path, table: dict[str, str], what: str) -> str:
    fmt = table.get(p.suffix.lower())
    if fmt is None:
        choices = ", ".join(sorted(table))
        ext = p.suffix or "(no extension)"
        raise ImageError(f"cannot write {what} {p}: unsupported extension {ext}; use one of {choices}")
    return fmt

