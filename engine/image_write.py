"""Encoding a result: the format from the extension, the source's mode kept (grey stays
grey, 16 bits, alpha, ICC profile), 16-bit colour PNG/TIFF written by hand where Pillow
cannot (engine/imageio.py re-exports)."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .atomic import atomic_write
from .errors import ImageError
from .pixels import (
    _ALPHA_FORMATS, _SIXTEEN_BIT_FORMATS, SAVE_FORMATS, Loaded, _as_hwc, _luma, _reason, format_for, to_uint8,
    to_uint16,
)

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
    fmt = format_for(p, SAVE_FORMATS, "image")
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
