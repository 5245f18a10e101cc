"""The pixels <-> files seam: every image and mask enters and leaves the program here.

Inside, the engine sees ``float32`` H x W x C arrays in [0, 1] (C = 1 for grayscale
sources, 3 otherwise) and ``bool`` H x W masks (True = known = white). The rest (Pillow
modes, EXIF orientation, 16-bit files, alpha, size limits, and writing without ever leaving
a half-written file behind) lives in four rooms behind this door, so callers keep one name:
engine/image_read.py (reading), engine/masks.py (masks), engine/atomic.py (all-or-nothing
writes) and engine/image_write.py (encoding), over engine/pixels.py (the pixels and formats).
"""
from __future__ import annotations

from .atomic import atomic_write, check_writable, remove_temporaries, write_all
from .errors import ImageError, MaskError
from .image_read import image_size, load_image
from .image_write import image_writer, save_image
from .masks import (
    MASK_EXTENSIONS, MASK_SUFFIXES, check_inpainting_mask, load_mask, mask_from_array, mask_writer, save_mask,
    sibling_mask,
)
from .pixels import (
    DEFAULT_MAX_PIXELS, MASK_FORMATS, OPEN_EXTENSIONS, SAVE_FORMATS, Loaded, from_uint8, from_uint16, to_uint8,
    to_uint16,
)

__all__ = [
    "DEFAULT_MAX_PIXELS", "MASK_EXTENSIONS", "MASK_FORMATS", "MASK_SUFFIXES", "OPEN_EXTENSIONS", "SAVE_FORMATS",
    "ImageError", "Loaded", "MaskError", "atomic_write", "check_inpainting_mask", "check_writable", "from_uint8",
    "from_uint16", "image_size", "image_writer", "load_image", "load_mask", "mask_from_array", "mask_writer",
    "remove_temporaries", "save_image", "save_mask", "sibling_mask", "to_uint8", "to_uint16", "write_all",
]
