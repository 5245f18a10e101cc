"""The low-level half of a project file (app/project.py): arrays as lossless PNGs, and a zip
reader that refuses hostile archives before it allocates for them. No Qt, no pickle.

Pixels: Pillow writes 16-bit PNGs only for one grey channel ('I;16'), so an array is stored
  * as one 8-bit PNG ('L' or 'RGB') when every value is exactly k/255 (the common case of a
    photo that was never processed: exact, and a third of the 16-bit size), else
  * as one 16-bit grey PNG per channel, value = round(x * 65535): within 0.5/65535 of the
    float, and exact for k/255 values too (65535 = 257 * 255).
Values outside [0, 1] (the engine's contract) are clipped; NaN or infinity is refused.
Masks are 1-bit PNGs (white = known), exact.
"""
from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib
from typing import BinaryIO

import numpy as np
from PIL import Image

from engine.imageio import DEFAULT_MAX_PIXELS, from_uint8, from_uint16, to_uint8, to_uint16

MAX_PIXELS = DEFAULT_MAX_PIXELS                # per stored image: what the app opens at all
MAX_MEMBERS = 4096                             # a project holds a few + one or three per run
MAX_DIRECTORY_BYTES = 1 << 20                  # the zip's central directory (names are short)
MAX_JSON_BYTES = 64 << 20                      # project.json: curves of many long runs
MAX_DECODED_BYTES = 8 * 3 * 4 * MAX_PIXELS     # all arrays as float32: eight full-size colour images
_PLANES = "rgb"
_EOCD = struct.Struct("<4s4H2LH")              # end of central directory record
_EOCD_SIG, _ZIP64_LOCATOR_SIG = b"PK\x05\x06", b"PK\x06\x07"
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


class Bad(Exception):
    """Why something cannot be (part of) a project, in words: app.project adds the path."""


# ---------------------------------------------------------------- descriptors and names

def member_names(key: str, desc: dict) -> list[str]:
    """The zip members holding the array ``key`` described by ``desc`` (writer and reader
    both derive them here, so no name is ever taken from the file)."""
    shape, bits = desc["shape"], desc["bits"]
    if bits == 16 and len(shape) == 3 and shape[2] == 3:
        return [f"{key}.{p}.png" for p in _PLANES]
    return [f"{key}.png"]


def decoded_bytes(desc: dict) -> int:
    shape = desc["shape"]
    return int(np.prod(shape, dtype=np.int64)) * (1 if desc["bits"] == 1 else 4)


def check_descriptor(value: object, key: str, name: str, mask: bool = False) -> dict:
    """``{"shape": [H, W, C], "bits": 8|16}`` (a mask: ``[H, W]`` and 1) with sane numbers;
    ``key`` is where it sits in project.json, ``name`` what it is in words."""
    if not isinstance(value, dict):
        raise Bad(f"project.json: {key} must be an object such as {{\"shape\": [...], \"bits\": ...}}")
    shape, bits = value.get("shape"), value.get("bits")
    rank = 2 if mask else 3
    if not (isinstance(shape, list) and len(shape) == rank
            and all(type(v) is int and 1 <= v <= MAX_PIXELS for v in shape)):
        raise Bad(f"project.json: {key}.shape must be {rank} positive whole numbers, got {_show(shape)}")
    if not mask and shape[2] not in (1, 3):
        raise Bad(f"project.json: {key} must have 1 or 3 channels, got {shape[2]}")
    if type(bits) is not int or bits not in ((1,) if mask else (8, 16)):
        raise Bad(f"project.json: {key}.bits must be {'1' if mask else '8 or 16'}, got {_show(bits)}")
    check_pixels(name, shape[0], shape[1])
    return {"shape": list(shape), "bits": bits}


def check_pixels(name: str, h: int, w: int) -> None:
    if h * w > MAX_PIXELS:
        raise Bad(f"{name} is {w} x {h} = {h * w / 1e6:.3g} megapixels, more than the limit of "
                  f"{MAX_PIXELS / 1e6:.3g} megapixels")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------- writing

def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def encode_image(key: str, array: object, name: str) -> tuple[dict, list[tuple[str, bytes]]]:
    """A float image -> (descriptor, [(member, PNG bytes)]); 2-D arrays count as one channel."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3) or 0 in a.shape[:2]:
        raise Bad(f"{name} must be an H x W x 1 or H x W x 3 array, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise Bad(f"{name} must hold floats in [0, 1], got {a.dtype} values")
    if not np.isfinite(a).all():
        raise Bad(f"{name} contains NaN or infinite values")
    h, w, c = a.shape
    check_pixels(name, h, w)
    a = np.clip(a.astype(np.float32), 0.0, 1.0)
    u8 = to_uint8(a)
    if np.array_equal(from_uint8(u8), a):
        desc = {"shape": [h, w, c], "bits": 8}
        return desc, [(f"{key}.png", _png(u8[:, :, 0] if c == 1 else u8))]
    u16 = to_uint16(a)
    desc = {"shape": [h, w, c], "bits": 16}
    return desc, [(m, _png(np.ascontiguousarray(u16[:, :, i])))
                  for i, m in enumerate(member_names(key, desc))]


def encode_mask(key: str, mask: object, name: str) -> tuple[dict, list[tuple[str, bytes]]]:
    m = np.asarray(mask)
    if m.dtype != np.bool_ or m.ndim != 2 or 0 in m.shape:
        raise Bad(f"{name} must be a non-empty H x W bool array, got {m.dtype} of shape {m.shape}")
    check_pixels(name, *m.shape)
    return {"shape": list(m.shape), "bits": 1}, [(f"{key}.png", _png(np.ascontiguousarray(m)))]


# ---------------------------------------------------------------- reading

def _check_directory(f: BinaryIO) -> None:
    """Refuse an archive whose central directory is too big before zipfile parses it into
    ZipInfo objects (zipfile reads all of it, whatever the member count says)."""
    f.seek(0, 2)
    size = f.tell()
    tail_len = min(size, _EOCD.size + 0xFFFF + 20)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    # zipfile's own search order: a record without comment at the very end, else the last one
    at = len(tail) - _EOCD.size
    if at < 0 or tail[at:at + 4] != _EOCD_SIG or tail[-2:] != b"\0\0":
        at = tail.rfind(_EOCD_SIG)
    if at < 0 or at + _EOCD.size > len(tail):
        raise Bad("it is not a zip archive, or it is truncated")
    count, dir_bytes = _EOCD.unpack_from(tail, at)[4:6]
    if at >= 20 and tail[at - 20:at - 16] == _ZIP64_LOCATOR_SIG:
        raise Bad("it is a ZIP64 archive, which DIP Studio never writes")
    if count > MAX_MEMBERS or dir_bytes > MAX_DIRECTORY_BYTES:
        raise Bad(f"its zip directory lists {count} members in {dir_bytes} bytes, more than a "
                  f"project can have ({MAX_MEMBERS} members)")


def _unsafe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or ":" in name


class ProjectZip:
    """Reads members of an open project file by name, within size limits, into memory only."""

    def __init__(self, f: BinaryIO):
        _check_directory(f)
        try:
            self._zip = zipfile.ZipFile(f)
            infos = self._zip.infolist()
        except Exception as e:  # noqa: BLE001 - BadZipFile, OSError, struct/Unicode errors...
            raise Bad(f"it is not a zip archive, or it is truncated or damaged ({_reason(e)})") from e
        if len(infos) > MAX_MEMBERS:
            raise Bad(f"it has {len(infos)} members, more than a project can have ({MAX_MEMBERS})")
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if _unsafe(info.orig_filename) or _unsafe(info.filename):
                raise Bad(f"it contains a member with an unsafe name ({_show(info.orig_filename)})")
            if info.filename in self._members:
                raise Bad(f"it contains the member {info.filename} twice")
            self._members[info.filename] = info
        self.total = 0          # bytes decompressed so far

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def read(self, name: str, limit: int) -> bytes:
        info = self._members.get(name)
        if info is None:
            raise Bad(f"{name} is missing")
        if info.flag_bits & 0x1:
            raise Bad(f"{name} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Bad(f"{name} uses a compression method DIP Studio does not write")
        if info.file_size > limit:   # declared size, checked before decompressing anything
            raise Bad(f"{name} declares {info.file_size} bytes, more than the {limit} it can need")
        try:
            with self._zip.open(info) as member:
                # zipfile stops at the declared size (and asks zlib for no more than we ask
                # for): a stream that holds more than it says fails its CRC check instead of
                # growing past the limit
                data = member.read(info.file_size + 1)
        except zipfile.BadZipFile as e:
            what = "its checksum does not match" if "CRC" in str(e) else _reason(e)
            raise Bad(f"{name} is damaged ({what})") from e
        except (EOFError, OSError, ValueError, zlib.error, struct.error) as e:
            raise Bad(f"{name} is truncated or damaged ({_reason(e)})") from e
        if len(data) > limit or len(data) != info.file_size:
            raise Bad(f"{name} holds {len(data)} bytes but declares {info.file_size}")
        self.total += len(data)
        return data


def _reason(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _png_size(data: bytes, name: str) -> tuple[int, int]:
    """(W, H) from the IHDR chunk, which a PNG must start with: read here rather than by
    Pillow, which refuses very large headers with an error that would not say what is wrong."""
    if len(data) < 24 or data[:8] != _PNG_SIG or data[12:16] != b"IHDR":
        raise Bad(f"{name} is not a PNG image")
    return struct.unpack(">2L", data[16:24])


def _read_png(zf: ProjectZip, name: str, h: int, w: int, mode: str, row_bytes: int) -> np.ndarray:
    raw = h * (row_bytes + 1)                          # a PNG's raw rows, filter byte included
    data = zf.read(name, raw + raw // 100 + 65536)     # stored-deflate and chunk overhead
    pw, ph = _png_size(data, name)
    if (pw, ph) != (w, h):                             # from the header, before any decoding
        raise Bad(f"{name} is {pw} x {ph} pixels, but project.json says {w} x {h}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                # our limits replace Pillow's bomb warning
        try:
            im = Image.open(io.BytesIO(data), formats=["PNG"])
        except Exception as e:  # noqa: BLE001 - any parser complaint means "not our PNG"
            raise Bad(f"{name} is not a PNG image") from e
        with im:
            if im.size != (w, h):                      # cannot differ from IHDR; never decode if so
                raise Bad(f"{name} is {im.size[0]} x {im.size[1]} pixels, but project.json says {w} x {h}")
            if im.mode != mode:
                raise Bad(f"{name} has pixel format {im.mode}, but project.json implies {mode}")
            try:
                im.load()
            except Exception as e:  # noqa: BLE001 - truncated/corrupt streams fail in many ways
                raise Bad(f"{name} is truncated or corrupt ({_reason(e)})") from e
            return np.array(im)


def decode_image(zf: ProjectZip, key: str, desc: dict) -> np.ndarray:
    """The float32 H x W x C array written by :func:`encode_image` (``desc`` already checked)."""
    h, w, c = desc["shape"]
    names = member_names(key, desc)
    if desc["bits"] == 8:
        u8 = _read_png(zf, names[0], h, w, "L" if c == 1 else "RGB", w * c)
        return np.ascontiguousarray(from_uint8(u8.reshape(h, w, c)))
    planes = [_read_png(zf, n, h, w, "I;16", 2 * w) for n in names]
    return from_uint16(np.stack(planes, axis=2))


def decode_mask(zf: ProjectZip, key: str, desc: dict) -> np.ndarray:
    h, w = desc["shape"]
    return _read_png(zf, f"{key}.png", h, w, "1", (w + 7) // 8).astype(bool)
