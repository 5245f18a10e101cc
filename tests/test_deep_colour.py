"""16-bit colour photos keep their 16 bits (issue 22): Pillow reads a 16-bit RGB or RGBA
PNG / TIFF as 8 bits, so an inpainted photo's known pixels used to change by up to 252/65535.
The inputs here are written by an independent encoder (a bare PNG, tifffile for TIFF)."""
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from engine.cli import main
from engine.imageio import load_image, save_image, to_uint16

TINY = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
        "--set", "input_channels=8", "--device", "cpu", "--quiet"]


def _bare_png(path, a):
    """A 16-bit PNG with no filtering, written without Pillow or the code under test."""
    h, w, c = a.shape
    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return path


def _write(path, a):
    if path.suffix == ".png":
        return _bare_png(path, a)
    tifffile.imwrite(path, a)
    return path


def _samples(loaded):
    full = loaded.array if loaded.alpha is None else np.concatenate([loaded.array, loaded.alpha[:, :, None]], 2)
    return to_uint16(full)


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_is_read_and_written_with_all_its_bits(tmp_path, ext, channels):
    a = np.random.default_rng(channels).integers(0, 65536, (20, 30, channels), dtype=np.uint16)
    a[0, 0, :3] = [1, 255, 65534]                      # values 8 bits cannot hold
    src = _write(tmp_path / f"in{ext}", a)
    img = load_image(src)
    assert img.bit_depth == 16 and img.array.shape == (20, 30, 3)
    assert np.array_equal(_samples(img), a)
    out = tmp_path / f"out{ext}"
    save_image(out, img.array, like=img)
    back = load_image(out)
    assert back.bit_depth == 16 and np.array_equal(_samples(back), a)
    if ext == ".tif":                                  # a reader that is not ours agrees
        assert np.array_equal(tifffile.imread(out), a)
    else:
        with Image.open(out) as im:                    # Pillow reads the file (its 8 bits)
            assert im.mode == ("RGB" if channels == 3 else "RGBA") and im.size == (30, 20)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_inpainting_a_16_bit_colour_photo_keeps_every_known_pixel(tmp_path, ext):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 65536, (32, 32, 3), dtype=np.uint16)
    src = _write(tmp_path / f"photo{ext}", a)
    known = np.ones((32, 32), bool)
    known[10:16, 12:20] = False
    Image.fromarray(np.where(known, 255, 0).astype(np.uint8)).save(tmp_path / "mask.png")
    out = tmp_path / f"filled{ext}"
    assert main(["restore", "--task", "inpaint", "--input", str(src), "--mask", str(tmp_path / "mask.png"),
                 "--output", str(out), "--iterations", "5", "--stop", "never", *TINY]) == 0
    back = load_image(out)
    assert back.bit_depth == 16
    assert np.array_equal(_samples(back)[known], a[known])
