"""NumPy image arrays -> QImage, for the canvas and the run's previews and thumbnails.

No widgets here: the run's worker thread converts previews with ``display_qimage``
off the GUI thread.
"""
from __future__ import annotations

import sys

import numpy as np
from PySide6.QtGui import QImage

from engine.errors import ImageError


def _to_u8(a: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 with rounding; uint8 passes through."""
    if a.dtype == np.uint8:
        return a
    f = np.multiply(a, np.float32(255.0), dtype=np.float32)
    f += np.float32(0.5)
    np.fmax(f, np.float32(0.0), out=f)  # fmax, unlike clip, also maps NaN to 0
    np.minimum(f, np.float32(255.0), out=f)
    return f.astype(np.uint8)


def array_to_qimage(array: np.ndarray) -> QImage:
    """A float32 HxWxC [0, 1] (C = 1 or 3, or HxW) or uint8 array as an owning QImage."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or a.size == 0:
        raise ImageError(f"cannot show an array of shape {a.shape}: expected HxW, HxWx1 or HxWx3")
    a = np.ascontiguousarray(_to_u8(a))
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if a.ndim == 2 else QImage.Format.Format_RGB888
    # .copy() detaches from the NumPy buffer, which dies with this function.
    return QImage(a.data, w, h, a.strides[0], fmt).copy()


def display_qimage(array: np.ndarray) -> QImage:
    """A float32 [0, 1] (or uint8) HxW, HxWx1 or HxWx3 array as an owning QImage in the
    format the screen's pixmaps use (RGB32), so ``QPixmap.fromImage`` is a cheap share
    instead of a conversion. The run's worker calls it in its own thread: a 4000x3000
    preview costs ~0.2 s there and nothing on the GUI thread (see app/worker.py)."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3) or a.size == 0:
        raise ImageError(f"cannot show an array of shape {a.shape}: expected HxW, HxWx1 or HxWx3")
    a = _to_u8(a)
    h, w, c = a.shape
    buf = np.empty((h, w, 4), np.uint8)
    # RGB32 is 0xffRRGGBB per native-endian 32-bit word
    order = (2, 1, 0, 3) if sys.byteorder == "little" else (3, 0, 1, 2)
    for dst, src in zip(order[:3], (0, 1, 2)):
        buf[:, :, dst] = a[:, :, src if c == 3 else 0]
    buf[:, :, order[3]] = 255
    # .copy() detaches from the NumPy buffer, which dies with this function.
    return QImage(buf.data, w, h, 4 * w, QImage.Format.Format_RGB32).copy()
