"""engine.imageio: modes, orientation, bit depth, limits, masks and atomic writes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from engine.errors import ImageError, MaskError
from engine.imageio import (
    Loaded,
    atomic_write,
    from_uint8,
    load_image,
    load_mask,
    mask_from_array,
    save_image,
    save_mask,
    to_uint8,
)


def _rgb_u8(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _write(im: Image.Image, path: Path, **kw) -> Path:
    im.save(path, **kw)
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------- conversions

def test_uint8_conversions_round_and_clip():
    a = np.array([-0.2, 0.0, 0.5 / 255 + 1e-4, 0.4999 / 255, 127.6 / 255, 1.0, 1.3], dtype=np.float32)
    assert to_uint8(a).tolist() == [0, 0, 1, 0, 128, 255, 255]
    u = np.arange(256, dtype=np.uint8)
    f = from_uint8(u)
    assert f.dtype == np.float32 and f[0] == 0.0 and f[-1] == 1.0
    assert np.array_equal(to_uint8(f), u)


# ---------------------------------------------------------------- loading, per mode

def test_rgb_png_round_trip_is_exact(tmp_path):
    u8 = _rgb_u8()
    src = _write(Image.fromarray(u8), tmp_path / "in.png")
    img = load_image(src)
    assert isinstance(img, Loaded)
    assert img.array.dtype == np.float32 and img.array.shape == (24, 32, 3)
    assert img.array.flags["C_CONTIGUOUS"]
    assert img.size == (32, 24) and img.mode == "RGB" and img.bit_depth == 8 and img.alpha is None
    assert img.format == "PNG" and img.path == str(src)
    assert np.array_equal(to_uint8(img.array), u8)
    out = tmp_path / "out.png"
    save_image(out, img.array, like=img)
    with Image.open(out) as back:
        assert back.mode == "RGB"
        assert np.array_equal(np.asarray(back), u8)


def test_grayscale_stays_one_channel_and_l_on_save(tmp_path):
    u8 = _rgb_u8()[:, :, 0]
    img = load_image(_write(Image.fromarray(u8), tmp_path / "g.png"))
    assert img.array.shape == (24, 32, 1) and img.mode == "L"
    assert np.array_equal(to_uint8(img.array[:, :, 0]), u8)
    # a 3-channel result (nets may produce one) is written back as L, by luminance
    rgb = np.repeat(img.array, 3, axis=2)
    rgb[:, :, 0] = 0.0
    out = tmp_path / "g_out.png"
    save_image(out, rgb, like=img)
    with Image.open(out) as back:
        assert back.mode == "L"
        expect = to_uint8(0.587 * img.array[:, :, 0] + 0.114 * img.array[:, :, 0])
        assert np.abs(np.asarray(back).astype(int) - expect).max() <= 1


def test_rgba_alpha_is_kept_apart_and_reattached(tmp_path):
    rgb = _rgb_u8()
    a = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (24, 1))
    src = _write(Image.fromarray(np.dstack([rgb, a])), tmp_path / "a.png")
    img = load_image(src)
    assert img.mode == "RGBA" and img.array.shape == (24, 32, 3)
    assert img.alpha is not None and img.alpha.shape == (24, 32) and img.alpha.dtype == np.float32
    assert np.array_equal(to_uint8(img.alpha), a)
    assert np.array_equal(to_uint8(img.array), rgb)  # colour under transparency untouched
    out = tmp_path / "a_out.png"
    save_image(out, img.array, like=img)
    with Image.open(out) as back:
        assert back.mode == "RGBA"
        assert np.array_equal(np.asarray(back)[:, :, 3], a)
        assert np.array_equal(np.asarray(back)[:, :, :3], rgb)
    # JPEG cannot hold alpha: dropped, not an error
    jpg = tmp_path / "a_out.jpg"
    save_image(jpg, img.array, like=img)
    with Image.open(jpg) as back:
        assert back.mode == "RGB"
    # a result of another size (super-resolution) does not get the source's alpha
    big = np.zeros((48, 64, 3), np.float32)
    save_image(tmp_path / "big.png", big, like=img)
    with Image.open(tmp_path / "big.png") as back:
        assert back.mode == "RGB" and back.size == (64, 48)


def test_la_keeps_alpha_and_gray(tmp_path):
    la = np.dstack([_rgb_u8()[:, :, 1], np.full((24, 32), 100, np.uint8)])
    img = load_image(_write(Image.fromarray(la), tmp_path / "la.png"))
    assert img.array.shape == (24, 32, 1) and img.mode == "LA"
    assert np.array_equal(to_uint8(img.alpha), la[:, :, 1])
    save_image(tmp_path / "la_out.png", img.array, like=img)
    with Image.open(tmp_path / "la_out.png") as back:
        assert back.mode == "LA" and np.array_equal(np.asarray(back), la)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_sixteen_bit_gray_round_trip(tmp_path, ext):
    rng = np.random.default_rng(1)
    u16 = rng.integers(0, 65536, size=(20, 30), dtype=np.uint16)
    u16[0, :3] = [0, 1, 65535]
    src = _write(Image.fromarray(u16), tmp_path / f"d16{ext}")
    img = load_image(src)
    assert img.bit_depth == 16 and img.mode.startswith("I;16") and img.array.shape == (20, 30, 1)
    assert np.abs(img.array[:, :, 0].astype(np.float64) * 65535 - u16).max() < 0.5  # within 1/65535
    out = tmp_path / f"d16_out{ext}"
    save_image(out, img.array, like=img)
    with Image.open(out) as back:
        assert back.mode.startswith("I;16")
        assert np.array_equal(np.asarray(back).astype(np.uint16), u16)
    # 8-bit formats still work from a 16-bit source
    save_image(tmp_path / "d16.jpg", img.array, like=img)
    with Image.open(tmp_path / "d16.jpg") as back:
        assert back.mode == "L"


def test_big_endian_sixteen_bit(tmp_path):
    values = (np.arange(20 * 30, dtype=np.uint32).reshape(20, 30) * 109 % 65536).astype(np.uint16)
    im = Image.frombytes("I;16B", (30, 20), values.astype(">u2").tobytes())
    src = _write(im, tmp_path / "be.tif")
    img = load_image(src)
    assert img.bit_depth == 16
    assert np.abs(img.array[:, :, 0].astype(np.float64) * 65535 - values).max() < 0.5


def test_32bit_integer_mode_scaled_by_65535(tmp_path):
    vals = np.array([[0, 32768, 65535, 70000]], dtype=np.int32)
    src = _write(Image.fromarray(vals), tmp_path / "i32.tif")
    with Image.open(src) as check:
        assert check.mode == "I"
    img = load_image(src)
    assert img.bit_depth == 16
    assert np.allclose(img.array[0, :, 0], [0.0, 32768 / 65535, 1.0, 1.0])


def test_float_mode(tmp_path):
    f = np.linspace(0, 1, 40, dtype=np.float32).reshape(5, 8)
    img = load_image(_write(Image.fromarray(f), tmp_path / "f.tif"))
    assert img.mode == "F" and np.allclose(img.array[:, :, 0], f)
    # a float file on the 8-bit scale is not loaded as all white
    img255 = load_image(_write(Image.fromarray(f * 255), tmp_path / "f255.tif"))
    assert np.allclose(img255.array[:, :, 0], f, atol=1e-6)


def test_palette_gives_rgb_values(tmp_path):
    colours = [(255, 0, 0), (0, 128, 255), (10, 200, 30), (250, 250, 250)]
    pal = [v for c in colours for v in c] + [0] * (768 - 3 * len(colours))
    idx = np.random.default_rng(2).integers(0, 4, size=(12, 16), dtype=np.uint8)
    p = Image.frombytes("P", (16, 12), idx.tobytes())
    p.putpalette(pal)
    img = load_image(_write(p, tmp_path / "p.png"))
    assert img.mode == "P" and img.array.shape == (12, 16, 3) and img.alpha is None
    expect = np.array(colours, np.uint8)[idx]
    assert np.array_equal(to_uint8(img.array), expect)


def test_palette_with_transparency_gives_alpha(tmp_path):
    idx = np.zeros((6, 8), np.uint8)
    idx[:, 4:] = 1
    p = Image.frombytes("P", (8, 6), idx.tobytes())
    p.putpalette([0, 255, 0, 0, 0, 255] + [0] * 762)
    img = load_image(_write(p, tmp_path / "pt.png", transparency=1))
    assert img.alpha is not None
    assert np.array_equal(img.alpha, np.where(idx == 1, 0.0, 1.0).astype(np.float32))
    assert np.allclose(img.array[0, 0], [0, 1, 0])


def test_cmyk_converted_to_rgb(tmp_path):
    cmyk = np.zeros((8, 10, 4), np.uint8)
    cmyk[:, :5] = (0, 255, 255, 0)    # red
    cmyk[:, 5:] = (255, 255, 0, 0)    # blue
    src = _write(Image.frombytes("CMYK", (10, 8), cmyk.tobytes()), tmp_path / "c.tif")
    img = load_image(src)
    assert img.mode == "CMYK" and img.array.shape == (8, 10, 3)
    assert np.allclose(img.array[:, :5], [1, 0, 0]) and np.allclose(img.array[:, 5:], [0, 0, 1])


def test_one_bit(tmp_path):
    bits = np.random.default_rng(3).random((9, 13)) > 0.5
    im = Image.fromarray(np.where(bits, 255, 0).astype(np.uint8)).convert("1")
    img = load_image(_write(im, tmp_path / "b.png"))
    assert img.mode == "1" and img.array.shape == (9, 13, 1)
    assert np.array_equal(img.array[:, :, 0], bits.astype(np.float32))


@pytest.mark.parametrize("orientation, turn", [(6, -1), (8, 1), (3, 2)])
def test_exif_orientation_applied(tmp_path, orientation, turn):
    # stored 40 wide x 20 tall, red block in the stored top-left corner, blue elsewhere
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :, 2] = 255
    stored[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = _write(Image.fromarray(stored), tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    img = load_image(src)
    expect = from_uint8(np.rot90(stored, k=turn))  # k=-1: a quarter turn clockwise
    assert img.array.shape == expect.shape
    assert np.abs(img.array - expect).mean() < 0.03
    if orientation == 6:  # displayed: the red corner is now top-right
        assert img.array[2, -3, 0] > 0.8 and img.array[2, -3, 2] < 0.2


def test_icc_profile_travels_to_the_output(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    img = load_image(_write(Image.fromarray(_rgb_u8()), tmp_path / "icc.png", icc_profile=icc))
    assert img.icc_profile == icc
    save_image(tmp_path / "icc_out.png", img.array, like=img)
    with Image.open(tmp_path / "icc_out.png") as back:
        assert back.info.get("icc_profile") == icc


# ---------------------------------------------------------------- loading errors

def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="no such file") as e:
        load_image(tmp_path / "nope.png")
    assert "nope.png" in str(e.value)
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_text_file_is_not_an_image(tmp_path):
    f = tmp_path / "notes.png"
    f.write_text("hello, not pixels\n")
    with pytest.raises(ImageError, match="not an image") as e:
        load_image(f)
    assert "notes.png" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_truncated_file(tmp_path, ext):
    full = tmp_path / f"full{ext}"
    Image.fromarray(_rgb_u8(64, 64)).save(full)
    cut = tmp_path / f"cut{ext}"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt") as e:
        load_image(cut)
    assert cut.name in str(e.value) and "\n" not in str(e.value)


def test_over_the_pixel_limit_is_refused_from_the_header(tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(_rgb_u8(48, 64)).save(big)
    with pytest.raises(ImageError) as e:
        load_image(big, max_pixels=1000)
    msg = str(e.value)
    assert "64 x 48" in msg and "3072" not in msg and "megapixels" in msg and "downscale" in msg
    assert "0.00307" in msg and "0.001 megapixels" in msg
    # a truncated body behind an over-limit header: the size is reported, so nothing was decoded
    cut = tmp_path / "bigcut.png"
    cut.write_bytes(big.read_bytes()[:200])
    with pytest.raises(ImageError, match="exceeds the limit"):
        load_image(cut, max_pixels=1000)
    assert load_image(big, max_pixels=3072).size == (64, 48)


def test_pillow_decompression_bomb_becomes_image_error(tmp_path, monkeypatch):
    src = tmp_path / "bomb.png"
    Image.fromarray(_rgb_u8(48, 64)).save(src)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow raises above twice this
    with pytest.raises(ImageError, match="too large"):
        load_image(src)


def test_zero_size_image(tmp_path, monkeypatch):
    src = tmp_path / "empty.png"
    Image.fromarray(_rgb_u8(4, 4)).save(src)  # Pillow refuses to write 0 x N: fake the header
    monkeypatch.setattr(Image, "open", lambda p: Image.new("L", (0, 5)))
    with pytest.raises(ImageError, match="no pixels"):
        load_image(src)


# ---------------------------------------------------------------- saving

@pytest.mark.parametrize("ext, exact", [(".png", True), (".tif", True), (".tiff", True), (".bmp", True),
                                        (".jpg", False), (".jpeg", False), (".webp", False)])
def test_save_formats(tmp_path, ext, exact):
    yy, xx = np.mgrid[0:32, 0:48]
    arr = np.dstack([xx / 47, yy / 31, (xx + yy) / 78]).astype(np.float32)
    out = tmp_path / f"o{ext}"
    save_image(out, arr)
    back = load_image(out)
    assert back.array.shape == arr.shape
    err = np.abs(back.array - arr).max()
    assert (err <= 0.5 / 255 + 1e-6) if exact else (err < 0.1)
    assert _files(tmp_path) == [out.name]  # no temporary left over


def test_save_rounds_and_clips(tmp_path):
    arr = np.array([[[-0.5], [0.2], [1.7]]], np.float32)
    save_image(tmp_path / "r.png", arr)
    with Image.open(tmp_path / "r.png") as back:
        assert back.mode == "L" and np.asarray(back).tolist() == [[0, 51, 255]]


def test_save_refuses_nan_and_keeps_the_old_file(tmp_path):
    dest = tmp_path / "keep.png"
    Image.fromarray(_rgb_u8()).save(dest)
    before = dest.read_bytes()
    bad = np.full((24, 32, 3), 0.5, np.float32)
    bad[3, 4, 1] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        save_image(dest, bad)
    assert dest.read_bytes() == before
    assert _files(tmp_path) == ["keep.png"]


def test_unsupported_extension(tmp_path):
    with pytest.raises(ImageError, match=r"\.gif"):
        save_image(tmp_path / "x.gif", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ImageError, match="extension"):
        save_image(tmp_path / "noext", np.zeros((4, 4, 3), np.float32))
    assert _files(tmp_path) == []


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        save_image(tmp_path / "nowhere" / "x.png", np.zeros((4, 4, 3), np.float32))


def test_atomic_write_failure_leaves_destination_and_no_temp(tmp_path):
    dest = tmp_path / "report.json"
    dest.write_text("old")

    def half_then_fail(tmp: str) -> None:
        Path(tmp).write_text("new but incomplete")
        raise RuntimeError("encoder died")

    with pytest.raises(RuntimeError):
        atomic_write(dest, half_then_fail)
    assert dest.read_text() == "old"
    assert _files(tmp_path) == ["report.json"]

    def os_failure(tmp: str) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(ImageError, match="No space left"):
        atomic_write(dest, os_failure)
    assert dest.read_text() == "old" and _files(tmp_path) == ["report.json"]


def test_atomic_write_replaces_and_uses_normal_permissions(tmp_path):
    new = tmp_path / "fresh.txt"
    atomic_write(new, lambda tmp: Path(tmp).write_text("hello"))
    assert new.read_text() == "hello"
    umask = os.umask(0o022)
    os.umask(umask)
    assert (new.stat().st_mode & 0o777) == (0o666 & ~umask)
    os.chmod(new, 0o640)  # an existing file keeps its own permissions
    atomic_write(new, lambda tmp: Path(tmp).write_text("again"))
    assert new.read_text() == "again" and (new.stat().st_mode & 0o777) == 0o640


# ---------------------------------------------------------------- masks

def _pattern(h: int = 30, w: int = 40) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx // 5 + yy // 3) % 2 == 0)


def _mask_file(tmp_path: Path, mode: str, known: np.ndarray) -> Path:
    white = np.where(known, 255, 0).astype(np.uint8)
    h, w = known.shape
    if mode == "1":
        im = Image.fromarray(white).convert("1")
    elif mode == "L":
        im = Image.fromarray(white)
    elif mode == "LA":
        im = Image.fromarray(np.dstack([white, np.full_like(white, 255)]))
    elif mode == "P":
        im = Image.fromarray(white).convert("P")
    elif mode == "RGB":
        im = Image.fromarray(np.dstack([white] * 3))
    elif mode == "RGBA":
        im = Image.fromarray(np.dstack([white] * 3 + [np.full_like(white, 255)]))
    elif mode == "I;16":
        im = Image.fromarray(np.where(known, 65535, 0).astype(np.uint16))
    else:
        raise AssertionError(mode)
    return _write(im, tmp_path / f"mask_{mode.replace(';', '_')}.png")


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_mask_modes_binarise(tmp_path, mode):
    known = _pattern()
    m = load_mask(_mask_file(tmp_path, mode, known), (30, 40))
    assert m.dtype == np.bool_ and m.shape == (30, 40)
    assert np.array_equal(m, known)


def test_mask_threshold_is_half_range(tmp_path):
    vals = np.array([[0, 100, 127, 128, 200, 255]], np.uint8)
    m = load_mask(_write(Image.fromarray(vals), tmp_path / "t.png"), (1, 6))
    assert m.tolist() == [[False, False, False, True, True, True]]


def test_transparent_mask_pixels_are_unknown(tmp_path):
    rgba = np.full((2, 3, 4), 255, np.uint8)
    rgba[0, 1, 3] = 0      # white but transparent
    rgba[1, 2, :3] = 0     # black and opaque
    m = load_mask(_write(Image.fromarray(rgba), tmp_path / "ta.png"), (2, 3))
    assert m.tolist() == [[True, False, True], [True, True, False]]


def test_mask_wrong_size_names_both(tmp_path):
    src = _write(Image.fromarray(np.full((30, 40), 255, np.uint8)), tmp_path / "m.png")
    with pytest.raises(MaskError) as e:
        load_mask(src, (48, 64))
    assert "40x30" in str(e.value) and "64x48" in str(e.value)
    # a transposed size is still wrong
    with pytest.raises(MaskError, match="40x30"):
        load_mask(src, (40, 30))


def test_mask_exif_orientation(tmp_path):
    stored = _pattern(20, 30)
    exif = Image.Exif()
    exif[0x0112] = 6
    src = _write(Image.fromarray(np.where(stored, 255, 0).astype(np.uint8)), tmp_path / "mr.png",
                 exif=exif.tobytes())
    m = load_mask(src, (30, 20))
    assert np.array_equal(m, np.rot90(stored, k=-1))
    with pytest.raises(MaskError, match="20x30"):
        load_mask(src, (20, 30))


def test_mask_file_errors_are_image_errors(tmp_path):
    with pytest.raises(ImageError, match="mask"):
        load_mask(tmp_path / "missing.png", (4, 4))


def test_mask_from_array():
    known = _pattern(6, 7)
    assert np.array_equal(mask_from_array(known), known)
    assert np.array_equal(mask_from_array(known.astype(np.uint8) * 255), known)
    assert np.array_equal(mask_from_array(known.astype(np.uint16) * 65535), known)
    assert np.array_equal(mask_from_array(known.astype(np.float32)[:, :, None]), known)
    assert np.array_equal(mask_from_array(known.astype(np.int64)), known)  # 0/1 integers
    rgba = np.dstack([known.astype(np.float32)] * 3 + [np.zeros((6, 7), np.float32)])
    assert not mask_from_array(rgba).any()  # fully transparent: nothing known
    with pytest.raises(MaskError):
        mask_from_array(np.zeros((2, 3, 5)))


def test_save_mask_round_trip(tmp_path):
    known = _pattern()
    out = tmp_path / "saved_mask.png"
    save_mask(out, known)
    with Image.open(out) as back:
        assert back.mode == "L" and set(np.unique(np.asarray(back)).tolist()) == {0, 255}
    assert np.array_equal(load_mask(out, known.shape), known)
    with pytest.raises(ImageError, match="extension"):
        save_mask(tmp_path / "lossy.jpg", known)
    with pytest.raises(MaskError):
        save_mask(tmp_path / "bad.png", np.zeros((2, 3, 3), bool))
    assert _files(tmp_path) == ["saved_mask.png"]


def test_bundled_samples_load():
    res = Path(__file__).resolve().parents[1] / "resources"
    noisy = load_image(res / "sample_noisy.png")
    clean = load_image(res / "sample_clean.png")
    text = load_image(res / "sample_text.png")
    mask = load_mask(res / "sample_text_mask.png", text.shape_hw)
    assert noisy.array.shape == clean.array.shape == text.array.shape
    assert 0.05 < (~mask).mean() < 0.5
    # the unknown pixels are where the text differs from the clean photo
    diff = np.abs(text.array - clean.array).max(axis=2) > 0.02
    assert not (diff & mask).any()
    for f in res.glob("sample*.png"):
        assert f.stat().st_size < 200_000


# ---- issue 7: checks before the work, several files all-or-nothing, quiet on hostile files --

def test_check_writable_refuses_everything_knowable_in_advance(tmp_path):
    from engine.imageio import check_writable

    (tmp_path / "sub").mkdir()
    (tmp_path / "file.txt").write_text("x")
    cases = {
        str(tmp_path / "out.xyz"): ".xyz",
        str(tmp_path / "out"): "no extension",
        str(tmp_path / "sub"): "folder",
        str(tmp_path / "nope" / "out.png"): "does not exist",
        str(tmp_path / "file.txt" / "out.png"): "not a folder",
        "/proc/dip-test-out.png": "/proc",
    }
    for path, words in cases.items():
        with pytest.raises(ImageError) as e:
            check_writable(path)
        assert words in str(e.value) and "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "sub"]  # the probe left nothing
    assert check_writable(tmp_path / "ok.png") == tmp_path / "ok.png"
    assert check_writable(tmp_path / "report.anything", "metrics", None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "sub"]


def test_write_all_is_all_or_nothing(tmp_path):
    from engine.imageio import image_writer, mask_writer, write_all

    img = np.full((4, 6, 3), 0.5, np.float32)
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"the user's file")

    def fails(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(ImageError, match="No space left"):
        write_all([(keep, mask_writer(keep, np.ones((4, 6), bool))), (tmp_path / "b.png", fails)])
    assert keep.read_bytes() == b"the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]  # no temporary files left

    with pytest.raises(ImageError, match="twice"):
        write_all([(keep, image_writer(keep, img)), (tmp_path / "." / "keep.png", image_writer(keep, img))])
    assert keep.read_bytes() == b"the user's file"

    write_all([(keep, image_writer(keep, img)), (tmp_path / "m.png", mask_writer(tmp_path / "m.png",
                                                                                  np.ones((4, 6), bool)))])
    assert Image.open(keep).size == (6, 4) and Image.open(tmp_path / "m.png").size == (6, 4)


def test_huge_declared_size_is_said_in_megapixels(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    p = tmp_path / "bomb.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
                  + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))
    with pytest.raises(ImageError) as e:
        load_image(p)
    assert "1e+04 megapixels" in str(e.value) and "limit is 40 megapixels" in str(e.value)


@pytest.mark.parametrize("cut", [8, 12, 16])   # Pillow warns "Corrupt EXIF data" on these
def test_reading_a_corrupt_tiff_shows_no_pillow_warning(tmp_path, cut):
    import io
    import warnings

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format="TIFF")
    p = tmp_path / "cut.tif"
    p.write_bytes(buf.getvalue()[:cut])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageError):
            load_image(p)
    assert caught == []
