"""Hostile input for the command line (issue 7): nothing lost, no tracebacks, and every
refusal before the first optimisation step.

The corpus is generated at test time in ``tmp_path`` (tiny files, nothing committed). Each
case runs ``engine.cli.main`` in-process and asserts: the exit status (2 for a refusal, 0
for valid input), for a refusal exactly one line ``error: ...`` on stderr, no traceback, no
warning leaking to stderr, no file created or modified anywhere in the folder, and that
the run was never built (``Restoration.__init__`` and ``steps`` are watched). Valid cases
assert that the expected files appear and nothing else changes. Ctrl-C runs ``main.py`` in
a subprocess.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import signal
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine.run
from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
        "--set", "es_window=5", "--set", "preview_every=5"]
FAST = ["--iterations", "2", "--device", "cpu", "--quiet", *TINY]
W, H = 24, 16   # the corpus' standard image: not square, so orientation mistakes show

# ---------------------------------------------------------------- the corpus


def _rgb(w=W, h=H, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, 3)) * 200 + 20).astype(np.uint8)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_declaring(w: int, h: int) -> bytes:
    """A PNG whose header declares w x h pixels and whose data is almost nothing."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))


def _gif_declaring(w: int, h: int) -> bytes:
    im = _encode(Image.fromarray(_rgb()).convert("P"), "GIF")
    return im[:6] + struct.pack("<HH", w, h) + im[10:]


def _bmp_declaring(w: int, h: int) -> bytes:
    data = bytearray(_encode(Image.fromarray(_rgb()), "BMP"))
    data[18:26] = struct.pack("<ii", w, h)
    return bytes(data)


def _mask_array(w=W, h=H) -> np.ndarray:
    m = np.full((h, w), 255, np.uint8)
    m[h // 4: h // 2, w // 4: w // 2] = 0
    return m


def _exif_jpeg(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(Image.fromarray(_rgb()), "JPEG", exif=exif, quality=95)


def _animated_gif() -> bytes:
    frames = [Image.fromarray(_rgb(seed=s)).convert("P") for s in range(3)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def _truncated(data: bytes, at: int) -> bytes:
    return data[:at] if at >= 0 else data[:len(data) + at]


_PNG = _encode(Image.fromarray(_rgb()), "PNG")
_JPG = _encode(Image.fromarray(_rgb()), "JPEG", quality=90)
_GIF = _encode(Image.fromarray(_rgb()).convert("P"), "GIF")
_TIF = _encode(Image.fromarray(_rgb()), "TIFF")
_BMP = _encode(Image.fromarray(_rgb()), "BMP")
_WEBP = _encode(Image.fromarray(_rgb()), "WEBP", quality=90)

# name -> file name and a function giving its bytes (built only when a case asks for it)
FILES: dict[str, tuple[str, callable]] = {
    "img": ("in.png", lambda: _PNG),
    "img2": ("second.png", lambda: _encode(Image.fromarray(_rgb(seed=5)), "PNG")),
    "clean": ("clean.png", lambda: _PNG),
    "small": ("small.png", lambda: _encode(Image.fromarray(_rgb(16, 16)), "PNG")),
    "big_ref": ("big_ref.png", lambda: _encode(Image.fromarray(_rgb(W * 2, H * 2)), "PNG")),
    "lowres": ("lowres.png", lambda: _encode(Image.fromarray(_rgb(12, 8)), "PNG")),
    "seven": ("seven.png", lambda: _encode(Image.fromarray(_rgb(7, 7)), "PNG")),
    "unicode_in": ("фото ü 写真.png", lambda: _PNG),
    "space_in": ("my photo (1).png", lambda: _PNG),
    "text": ("text.png", lambda: b"this is not an image\n"),
    "empty": ("empty.png", lambda: b""),
    "empty_jpg": ("empty.jpg", lambda: b""),
    "png_as_jpg": ("actually_png.jpg", lambda: _PNG),
    "bad_magic_png": ("badmagic.png", lambda: b"\x89PNX\r\n\x1a\n" + _PNG[8:]),
    "gif_magic_on_jpeg": ("fake.gif", lambda: b"GIF89a" + _JPG[6:]),
    "jpeg_magic_on_png": ("fake.jpg", lambda: b"\xff\xd8\xff\xe0" + _PNG[4:]),
    "bad_crc_png": ("badcrc.png", lambda: _PNG[:29] + b"\x00\x00\x00\x00" + _PNG[33:]),
    "huge_png": ("huge.png", lambda: _png_declaring(100_000, 100_000)),
    "max_png": ("max.png", lambda: _png_declaring(2**31 - 1, 2**31 - 1)),
    "wide_png": ("wide.png", lambda: _png_declaring(10_000_000, 5)),
    "huge_gif": ("huge.gif", lambda: _gif_declaring(65_535, 65_535)),
    "huge_bmp": ("huge.bmp", lambda: _bmp_declaring(50_000, 50_000)),
    "zero_png": ("zero.png", lambda: _png_declaring(0, 0)),
    "gray": ("gray.png", lambda: _encode(Image.fromarray(_rgb()).convert("L"), "PNG")),
    "gray16": ("gray16.png", lambda: _encode(Image.fromarray((_rgb()[:, :, 0].astype(np.uint16) * 257)), "PNG")),
    "int32_tif": ("int32.tif", lambda: _encode(Image.fromarray(_rgb()[:, :, 0].astype(np.int32) * 200), "TIFF")),
    "float_tif": ("float.tif", lambda: _encode(Image.fromarray(_rgb()[:, :, 0].astype(np.float32) / 255), "TIFF")),
    "float255_tif": ("float255.tif", lambda: _encode(Image.fromarray(_rgb()[:, :, 0].astype(np.float32)), "TIFF")),
    "nan_tif": ("nan.tif", lambda: _encode(Image.fromarray(np.full((H, W), np.nan, np.float32)), "TIFF")),
    "palette": ("palette.png", lambda: _encode(Image.fromarray(_rgb()).convert("P"), "PNG")),
    "palette_t": ("palette_t.png", lambda: _encode(Image.fromarray(_rgb()).convert("P"), "PNG", transparency=0)),
    "la": ("la.png", lambda: _encode(Image.fromarray(_rgb()).convert("LA"), "PNG")),
    "rgba": ("rgba.png", lambda: _encode(Image.fromarray(_rgb()).convert("RGBA"), "PNG")),
    "bilevel": ("bilevel.png", lambda: _encode(Image.fromarray(_rgb()).convert("1"), "PNG")),
    "cmyk_jpg": ("cmyk.jpg", lambda: _encode(Image.fromarray(_rgb()).convert("CMYK"), "JPEG")),
    "cmyk_tif": ("cmyk.tif", lambda: _encode(Image.fromarray(_rgb()).convert("CMYK"), "TIFF")),
    "animated": ("animated.gif", _animated_gif),
    "gif": ("still.gif", lambda: _GIF),
    "jpg": ("in.jpg", lambda: _JPG),
    "tif": ("in.tif", lambda: _TIF),
    "bmp": ("in.bmp", lambda: _BMP),
    "webp": ("in.webp", lambda: _WEBP),
    **{f"exif{o}": (f"exif{o}.jpg", (lambda o=o: _exif_jpeg(o))) for o in range(1, 9)},
    **{f"png_cut{at}": (f"cut{at}.png", (lambda at=at: _truncated(_PNG, at)))
       for at in (1, 8, 20, 40, len(_PNG) // 2)},
    **{f"jpg_cut{at}": (f"cut{at}.jpg", (lambda at=at: _truncated(_JPG, at)))
       for at in (4, 20, len(_JPG) // 2, len(_JPG) - 20, len(_JPG) - 2)},
    **{f"gif_cut{at}": (f"cut{at}.gif", (lambda at=at: _truncated(_GIF, at))) for at in (12, len(_GIF) // 2)},
    **{f"tif_cut{at}": (f"cut{at}.tif", (lambda at=at: _truncated(_TIF, at)))
       for at in (8, len(_TIF) // 2, len(_TIF) - 1)},
    "bmp_cut": ("cut.bmp", lambda: _truncated(_BMP, len(_BMP) // 2)),
    "webp_cut": ("cut.webp", lambda: _truncated(_WEBP, len(_WEBP) // 2)),
    # masks
    "mask": ("mask.png", lambda: _encode(Image.fromarray(_mask_array()), "PNG")),
    "mask_black": ("black.png", lambda: _encode(Image.fromarray(np.zeros((H, W), np.uint8)), "PNG")),
    "mask_small": ("mask_small.png", lambda: _encode(Image.fromarray(_mask_array(16, 16)), "PNG")),
    "mask_rotated_size": ("mask_tall.png", lambda: _encode(Image.fromarray(_mask_array(H, W)), "PNG")),
    "mask_exif6": ("mask_exif6.jpg",
                   lambda: _encode(Image.fromarray(_mask_array(H, W)), "JPEG", quality=100,
                                   exif=_exif(6))),
    "mask_rgba": ("mask_rgba.png", lambda: _encode(Image.fromarray(_mask_array()).convert("RGBA"), "PNG")),
    "mask_16": ("mask16.png", lambda: _encode(Image.fromarray(_mask_array().astype(np.uint16) * 257), "PNG")),
    "mask_huge": ("mask_huge.png", lambda: _png_declaring(100_000, 100_000)),
    "mask_cut": ("mask_cut.png", lambda: _truncated(_encode(Image.fromarray(_mask_array()), "PNG"), 40)),
    # an existing file the mask of `degrade --task inpaint --output keep.xyz` would replace
    "keep_mask": ("keep_mask.png", lambda: b"the user's own file"),
    "existing_out": ("existing.png", lambda: _encode(Image.fromarray(_rgb(seed=9)), "PNG")),
}


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


# names of paths that must not exist before the call (outputs)
NEW = {
    "out": "out.png", "out_jpg": "out.jpg", "out_tif": "out.tif", "out_webp": "out.webp", "out_bmp": "out.bmp",
    "out_upper": "OUT.PNG", "out_xyz": "out.xyz", "out_gif": "out.gif", "out_noext": "out",
    "out_dotonly": "out.", "out_long": "a" * 251 + ".png", "out_unicode": "résultat 結果.png",
    "out_space": "the result (final).png", "out_missing_dir": "no/such/folder/out.png",
    "metrics": "m.json", "metrics_txt": "report.txt", "metrics_missing_dir": "nope/m.json",
    "mask_out": "drop_mask.png", "mask_out_jpg": "drop_mask.jpg", "mask_out_missing_dir": "nope/mask.png",
    "keep_xyz": "keep.xyz", "d": "d.png", "d_mask": "d_mask.png",
}


class Corpus(dict):
    """``'{img}'.format_map(corpus)``: builds the named file in ``root`` on first use."""

    def __init__(self, root: Path):
        super().__init__()
        self.root = root
        (root / "afolder").mkdir()
        (root / "afile.txt").write_text("x")

    def __missing__(self, key: str) -> str:
        if key == "root":
            return str(self.root)
        if key == "dir":
            return str(self.root / "afolder")
        if key == "file_as_dir":
            return str(self.root / "afile.txt" / "out.png")
        if key in NEW:
            return str(self.root / NEW[key])
        name, make = FILES[key]
        p = self.root / name
        if not p.exists():
            p.write_bytes(make())
        self[key] = str(p)
        return str(p)

    def args(self, template: list[str]) -> list[str]:
        return [t.format_map(self) for t in template]


def _snapshot(root: Path) -> dict[str, tuple[int, str, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = (p.stat().st_size, hashlib.sha1(p.read_bytes()).hexdigest(),
                                             p.stat().st_mode)
        else:
            out[str(p.relative_to(root)) + "/"] = (0, "", p.stat().st_mode)
    return out


@pytest.fixture
def corpus(tmp_path):
    return Corpus(tmp_path)


@pytest.fixture
def reached(monkeypatch):
    """Flags a run that got as far as building the Restoration or stepping it."""
    seen: list[str] = []
    init, steps = engine.run.Restoration.__init__, engine.run.Restoration.steps

    def spy_init(self, *a, **k):
        seen.append("__init__")
        return init(self, *a, **k)

    def spy_steps(self):
        seen.append("steps")
        return steps(self)

    monkeypatch.setattr(engine.run.Restoration, "__init__", spy_init)
    monkeypatch.setattr(engine.run.Restoration, "steps", spy_steps)
    return seen


def _call(argv: list[str], capsys) -> tuple[int, str, list]:
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = main(argv)
    err = capsys.readouterr().err
    # a warning would be printed on a real terminal: it counts as output too
    leaked = [w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    return rc, err, leaked


def _refused(corpus, argv, capsys, reached, message=None):
    before = _snapshot(corpus.root)
    rc, err, leaked = _call(argv, capsys)
    lines = err.strip("\n").splitlines()
    assert rc == 2, (rc, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and not leaked, (err, leaked)
    if message is not None:
        assert message.lower() in lines[0].lower(), lines[0]
    assert _snapshot(corpus.root) == before, "a refusal created or changed a file"
    assert reached == [], f"refused only after building/stepping the run: {reached}"
    return lines[0]


def _accepted(corpus, argv, capsys, outputs: dict[str, tuple[int, int] | None]):
    """rc 0; exactly the ``outputs`` (path -> expected (W, H) or None) appear; nothing else changes."""
    before = _snapshot(corpus.root)
    rc, err, leaked = _call(argv, capsys)
    assert rc == 0, err
    assert "Traceback" not in err and not leaked, (err, leaked)
    after = _snapshot(corpus.root)
    new = {k for k in after if k not in before}
    expected = {str(Path(p).relative_to(corpus.root)) for p in outputs if Path(p).is_relative_to(corpus.root)}
    assert new == expected - set(before), (new, expected)
    for k in before:
        if k not in expected:
            assert after[k] == before[k], f"{k} was modified"
    for p, size in outputs.items():
        if size is not None:
            with Image.open(p) as im:
                assert im.size == size
    return err


# ---------------------------------------------------------------- restore: refusals

R = ["restore", "--task", "denoise"]
FLASH = ["restore", "--task", "flash", "--set", "upsample=nearest"]   # the preset's list has 5 levels
RESTORE_REFUSED = [
    # --- input image files -----------------------------------------------------------------
    ("missing input", [*R, "--input", "{root}/missing.png", "--output", "{out}"], "no such file"),
    ("input is a folder", [*R, "--input", "{dir}", "--output", "{out}"], "folder"),
    ("text file", [*R, "--input", "{text}", "--output", "{out}"], "text.png"),
    ("zero bytes", [*R, "--input", "{empty}", "--output", "{out}"], "empty.png"),
    ("zero bytes jpg", [*R, "--input", "{empty_jpg}", "--output", "{out}"], "empty.jpg"),
    ("wrong magic png", [*R, "--input", "{bad_magic_png}", "--output", "{out}"], "badmagic.png"),
    ("gif magic on jpeg", [*R, "--input", "{gif_magic_on_jpeg}", "--output", "{out}"], "fake.gif"),
    ("jpeg magic on png", [*R, "--input", "{jpeg_magic_on_png}", "--output", "{out}"], "fake.jpg"),
    ("bad crc png", [*R, "--input", "{bad_crc_png}", "--output", "{out}"], "badcrc.png"),
    ("huge declared png", [*R, "--input", "{huge_png}", "--output", "{out}"], "megapixels"),
    ("max declared png", [*R, "--input", "{max_png}", "--output", "{out}"], "max.png"),
    ("wide declared png", [*R, "--input", "{wide_png}", "--output", "{out}"], "megapixels"),
    ("huge declared gif", [*R, "--input", "{huge_gif}", "--output", "{out}"], "megapixels"),
    ("huge declared bmp", [*R, "--input", "{huge_bmp}", "--output", "{out}"], "huge.bmp"),
    ("zero size png", [*R, "--input", "{zero_png}", "--output", "{out}"], "zero.png"),
    ("NaN float tiff", [*R, "--input", "{nan_tif}", "--output", "{out}"], "NaN"),
    *[(f"truncated {k}", [*R, "--input", "{%s}" % k, "--output", "{out}"], None)
      for k in FILES if "_cut" in k and not k.startswith("mask")],
    # --- outputs -----------------------------------------------------------------------------
    ("unknown output extension", [*R, "--input", "{img}", "--output", "{out_xyz}"], ".xyz"),
    ("gif output", [*R, "--input", "{img}", "--output", "{out_gif}"], ".gif"),
    ("no output extension", [*R, "--input", "{img}", "--output", "{out_noext}"], "extension"),
    ("output ends in a dot", [*R, "--input", "{img}", "--output", "{out_dotonly}"], "extension"),
    ("output is a folder", [*R, "--input", "{img}", "--output", "{dir}"], "folder"),
    ("output in a missing folder", [*R, "--input", "{img}", "--output", "{out_missing_dir}"], "does not exist"),
    ("output under a file", [*R, "--input", "{img}", "--output", "{file_as_dir}"], "not a folder"),
    ("output in /proc", [*R, "--input", "{img}", "--output", "/proc/dip-out.png"], "/proc"),
    ("output name too long", [*R, "--input", "{img}", "--output", "{out_long}"], "cannot write"),
    ("output is the input", [*R, "--input", "{img}", "--output", "{img}"], "--overwrite"),
    ("output is the input, other spelling", [*R, "--input", "{img}", "--output", "{root}/afolder/../in.png"],
     "--overwrite"),
    ("output is the unicode input", [*R, "--input", "{unicode_in}", "--output", "{unicode_in}"], "--overwrite"),
    ("output is the reference", [*R, "--input", "{img}", "--reference", "{clean}", "--output", "{clean}"],
     "--reference"),
    ("metrics in a missing folder", [*R, "--input", "{img}", "--output", "{out}", "--metrics",
                                     "{metrics_missing_dir}"], "does not exist"),
    ("metrics is a folder", [*R, "--input", "{img}", "--output", "{out}", "--metrics", "{dir}"], "folder"),
    ("metrics in /proc", [*R, "--input", "{img}", "--output", "{out}", "--metrics", "/proc/m.json"], "/proc"),
    ("metrics is the output", [*R, "--input", "{img}", "--output", "{out}", "--metrics", "{out}"], "same file"),
    ("metrics is the input", [*R, "--input", "{img}", "--output", "{out}", "--metrics", "{img}"], "--input"),
    ("metrics is the input even with --overwrite",
     [*R, "--input", "{img}", "--output", "{out}", "--metrics", "{img}", "--overwrite"], "--input"),
    # --- masks, guides, references -----------------------------------------------------------
    ("inpaint without mask", ["restore", "--task", "inpaint", "--input", "{img}", "--output", "{out}"], "--mask"),
    ("mask missing", ["restore", "--task", "inpaint", "--input", "{img}", "--mask", "{root}/nomask.png",
                      "--output", "{out}"], "no such file"),
    ("mask is a folder", ["restore", "--task", "inpaint", "--input", "{img}", "--mask", "{dir}",
                          "--output", "{out}"], "folder"),
    ("mask wrong size", ["restore", "--task", "inpaint", "--input", "{img}", "--mask", "{mask_small}",
                         "--output", "{out}"], "16x16"),
    ("mask transposed size", ["restore", "--task", "inpaint", "--input", "{img}", "--mask",
                              "{mask_rotated_size}", "--output", "{out}"], "16x24"),
    ("mask all black", ["restore", "--task", "inpaint", "--input", "{img}", "--mask", "{mask_black}",
                        "--output", "{out}"], "unknown"),
    ("mask huge declared", ["restore", "--task", "inpaint", "--input", "{img}", "--mask", "{mask_huge}",
                            "--output", "{out}"], "megapixels"),
    ("mask truncated", ["restore", "--task", "inpaint", "--input", "{img}", "--mask", "{mask_cut}",
                        "--output", "{out}"], "mask_cut.png"),
    ("mask zero bytes", ["restore", "--task", "inpaint", "--input", "{img}", "--mask", "{empty}",
                         "--output", "{out}"], "empty.png"),
    ("mask for denoise", [*R, "--input", "{img}", "--mask", "{mask}", "--output", "{out}"], "inpaint"),
    ("output is the mask", ["restore", "--task", "inpaint", "--input", "{img}", "--mask", "{mask}",
                            "--output", "{mask}"], "--mask"),
    ("flash without guide", [*FLASH, "--input", "{img}", "--output", "{out}"], "--guide"),
    ("guide wrong size", [*FLASH, "--input", "{img}", "--guide", "{small}",
                          "--output", "{out}"], "16x16"),
    ("guide missing", [*FLASH, "--input", "{img}", "--guide", "{root}/noguide.png",
                       "--output", "{out}"], "no such file"),
    ("guide truncated", [*FLASH, "--input", "{img}", "--guide", "{png_cut40}",
                         "--output", "{out}"], "cut40.png"),
    ("guide for denoise", [*R, "--input", "{img}", "--guide", "{img2}", "--output", "{out}"], "flash"),
    ("reference wrong size", [*R, "--input", "{img}", "--reference", "{small}", "--output", "{out}"], "16x16"),
    ("reference missing", [*R, "--input", "{img}", "--reference", "{root}/noref.png", "--output", "{out}"],
     "no such file"),
    ("reference zero bytes", [*R, "--input", "{img}", "--reference", "{empty}", "--output", "{out}"],
     "empty.png"),
    ("superres reference at the low resolution",
     ["restore", "--task", "superres", "--scale", "2", "--input", "{lowres}", "--reference", "{lowres}",
      "--output", "{out}"], "24x16"),
    # --- flags ---------------------------------------------------------------------------------
    ("huge seed", [*R, "--input", "{img}", "--output", "{out}", "--seed", "18446744073709551615"], "seed"),
    ("seed 2**63", [*R, "--input", "{img}", "--output", "{out}", "--seed", "9223372036854775808"], "seed"),
    ("negative seed", [*R, "--input", "{img}", "--output", "{out}", "--seed", "-1"], "seed"),
    ("seed not a number", [*R, "--input", "{img}", "--output", "{out}", "--seed", "abc"], "--seed"),
    ("zero iterations", [*R, "--input", "{img}", "--output", "{out}", "--iterations", "0"], "iterations"),
    ("negative iterations", [*R, "--input", "{img}", "--output", "{out}", "--iterations", "-5"], "iterations"),
    ("lr nan", [*R, "--input", "{img}", "--output", "{out}", "--lr", "nan"], "lr"),
    ("lr inf", [*R, "--input", "{img}", "--output", "{out}", "--lr", "inf"], "lr"),
    ("lr zero", [*R, "--input", "{img}", "--output", "{out}", "--lr", "0"], "learning rate"),
    ("superres scale 5", ["restore", "--task", "superres", "--scale", "5", "--input", "{lowres}",
                          "--output", "{out}"], "2, 3, 4 or 8"),
    ("superres scale 0", ["restore", "--task", "superres", "--scale", "0", "--input", "{lowres}",
                          "--output", "{out}"], "2, 3, 4 or 8"),
    ("unknown task", ["restore", "--task", "deblur", "--input", "{img}", "--output", "{out}"], "--task"),
    ("unknown arch", [*R, "--input", "{img}", "--output", "{out}", "--arch", "vit"], "--arch"),
    ("unknown preset", [*R, "--input", "{img}", "--output", "{out}", "--preset", "nope"], "unknown preset"),
    ("preset of another task", [*R, "--input", "{img}", "--output", "{out}", "--preset", "sr4"], "sr4"),
    ("no output", [*R, "--input", "{img}"], "--output"),
    ("unknown flag", [*R, "--input", "{img}", "--output", "{out}", "--bogus"], "--bogus"),
    ("unknown command", ["restor", "--task", "denoise"], "restor"),
    # --- --set keys and values -------------------------------------------------------------
    *[(f"--set {kv}", [*R, "--input", "{img}", "--output", "{out}", "--set",
                         kv.replace("{", "{{").replace("}", "}}")], msg) for kv, msg in [
        ("ema=abc", "ema"), ("ema=1", "ema"), ("ema=-0.5", "ema"), ("ema=true", "ema"),
        ("sigma_p=null", "sigma_p"), ("sigma_p=-1", "sigma_p"), ("sigma_p=[1]", "sigma_p"),
        ("net=5", "net"), ("net=[1,2]", "net"), ('net={"bogus":1}', "bogus"), ('net={"arch":"vit"}', "vit"),
        ("channels_down=abc", "channels_down must be a list of whole numbers"), ("channels_down=[]", "depth"),
        ("channels_down=[8,0]", "channel"),
        ("channels_down=[8.5,8]", "channels_down"), ("channels_down=8", "channels_down"),
        ("channels_up=[8,8,8]", "channels_up"), ("channels_skip=[-1,2]", "channel"),
        ("input_scale=NaN", "input_scale"), ("input_scale=Infinity", "input_scale"),
        ("input_scale=0", "input_scale"), ("lr=-Infinity", "lr"), ("lr=1e999", "lr"),
        ("memory_budget_mb=0.001", "memory_budget_mb"), ("memory_budget_mb=0", "memory"),
        ("iterations=1.5", "iterations"), ("iterations=true", "iterations"),
        ("need1x1_up=1", "need1x1_up"), ("upsample=5", "upsample"), ('upsample=["bilinear"]', "upsample"),
        ("upsample=bicubic", "upsample"), ("kernel_down=[3]", "kernel_down"), ("kernel_down=2", "kernel_down"),
        ("kernel_up=abc", "kernel_up"), ("es_window=0", "window"), ("es_window=1000000000", "es_window"),
        ('seed="1"', "seed"), ("seed=-3", "seed"), ("nope=1", "nope"), ("es_patience=abc", "es_patience"),
        ("novalue", "KEY=VALUE"), ("=3", "unknown"),
        ("task=flash", "--task"), ("preset=sr4", "--preset"), ("pick=best", "pick"), ("device=tpu", "device"),
        ("holdout=0.9", "holdout"), ("stop_patience=0", "patience"), ("stop=sometimes", "stop"),
        ("backtrack_db=0", "backtrack"), ("pad=mirror", "padding"), ("downsample=bogus", "downsample"),
        ("input_channels=0", "input channels"), ("input_kind=video", "input"), ("preview_every=0", "preview"),
    ]],
]


@pytest.mark.parametrize("template, message", [c[1:] for c in RESTORE_REFUSED],
                         ids=[c[0] for c in RESTORE_REFUSED])
def test_restore_refuses_before_the_run(corpus, capsys, reached, template, message):
    argv = corpus.args(template)
    if "--iterations" not in template:
        argv += ["--iterations", "2"]
    # the tiny net first, so that a case's own --set wins
    _refused(corpus, [argv[0], *TINY, "--device", "cpu", *argv[1:]], capsys, reached, message)


def test_output_in_a_read_only_folder(corpus, capsys, reached):
    ro = corpus.root / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        argv = corpus.args([*R, "--input", "{img}", "--output", str(ro / "out.png"), *FAST])
        if os.geteuid() == 0:  # root writes anywhere: then it must simply work
            _accepted(corpus, argv, capsys, {str(ro / "out.png"): (W, H)})
        else:
            _refused(corpus, argv, capsys, reached, "readonly")
    finally:
        ro.chmod(0o755)


def test_memory_budget_fails_or_works(corpus, capsys, reached):
    """1 MB is the smallest whole budget: it must run (not crash inside the window)."""
    out = corpus["out"]
    _accepted(corpus, corpus.args([*R, "--input", "{img}", "--output", out, "--set", "memory_budget_mb=1",
                                   "--set", "es_window=10000", *FAST]), capsys, {out: (W, H)})


# ---------------------------------------------------------------- restore: valid inputs

RESTORE_OK = [
    *[(f"input {k}", k, (H, W) if k in ("exif5", "exif6", "exif7", "exif8") else (W, H))
      for k in ("img", "png_as_jpg", "gray", "gray16", "int32_tif", "float_tif", "float255_tif", "palette",
                "palette_t", "la", "rgba", "bilevel", "cmyk_jpg", "cmyk_tif", "animated", "gif", "jpg", "tif",
                "bmp", "webp", "unicode_in", "space_in", *[f"exif{o}" for o in range(1, 9)])],
]


@pytest.mark.parametrize("key, size", [c[1:] for c in RESTORE_OK], ids=[c[0] for c in RESTORE_OK])
def test_restore_accepts_every_kind_of_image(corpus, capsys, key, size):
    out = corpus["out"]
    _accepted(corpus, corpus.args([*R, "--input", "{%s}" % key, "--output", out, *FAST]), capsys, {out: size})


@pytest.mark.parametrize("out_key", ["out_jpg", "out_tif", "out_webp", "out_bmp", "out_upper", "out_unicode",
                                     "out_space"])
def test_restore_writes_every_format_and_name(corpus, capsys, out_key):
    out = corpus[out_key]
    _accepted(corpus, corpus.args([*R, "--input", "{img}", "--output", out, *FAST]), capsys, {out: (W, H)})


@pytest.mark.parametrize("kv", ["backtrack_db=null", "lr=1", "sigma_p=0", 'upsample="nearest"', "upsample=nearest",
                                'upsample=["nearest","bilinear"]', "kernel_down=[3,3]", "ema=0",
                                "memory_budget_mb=1", "need1x1_up=false", 'net={{"arch":"skip"}}'])
def test_restore_accepts_well_typed_settings(corpus, capsys, kv):
    out = corpus["out"]
    _accepted(corpus, corpus.args([*R, "--input", "{img}", "--output", out, *FAST, "--set", kv]), capsys,
              {out: (W, H)})


def test_largest_seed_runs(corpus, capsys):
    out = corpus["out"]
    _accepted(corpus, corpus.args([*R, "--input", "{img}", "--output", out, *FAST,
                                   "--seed", str(2**63 - 1)]), capsys, {out: (W, H)})


def test_overwrite_replaces_the_input_only_when_asked(corpus, capsys):
    src = Path(corpus["img"])
    before = src.read_bytes()
    _accepted(corpus, corpus.args([*R, "--input", "{img}", "--output", "{img}", "--overwrite", *FAST]), capsys,
              {str(src): (W, H)})
    assert src.read_bytes() != before


def test_existing_output_is_replaced_whole(corpus, capsys):
    out = corpus["existing_out"]
    _accepted(corpus, corpus.args([*R, "--input", "{img}", "--output", out, *FAST]), capsys, {out: (W, H)})


@pytest.mark.parametrize("head, extra, size", [
    (["restore", "--task", "inpaint", "--input", "{img}"], ["--mask", "{mask}"], (W, H)),
    (["restore", "--task", "inpaint", "--input", "{img}"], ["--mask", "{mask_rgba}"], (W, H)),
    (["restore", "--task", "inpaint", "--input", "{img}"], ["--mask", "{mask_16}"], (W, H)),
    (["restore", "--task", "inpaint", "--input", "{img}"], ["--mask", "{mask_exif6}"], (W, H)),  # stored 16x24
    ([*FLASH, "--input", "{img}"], ["--guide", "{img2}"], (W, H)),
    ([*FLASH, "--input", "{img}"], ["--guide", "{img2}", "--reference", "{clean}"], (W, H)),
    (["restore", "--task", "superres", "--input", "{seven}"], ["--scale", "3"], (21, 21)),
    (["restore", "--task", "superres", "--input", "{lowres}"], ["--scale", "2", "--reference", "{clean}"], (W, H)),
    (["restore", "--task", "superres", "--input", "{lowres}"], ["--scale", "8"], (96, 64)),
])
def test_restore_with_companion_files(corpus, capsys, head, extra, size):
    out = corpus["out"]
    _accepted(corpus, corpus.args([*head, *extra, "--output", out, *FAST]), capsys, {out: size})


def test_metrics_are_strict_json_when_the_reference_is_the_input(corpus, capsys):
    out, metrics = corpus["out"], corpus["metrics"]
    _accepted(corpus, corpus.args([*R, "--input", "{img}", "--reference", "{clean}", "--output", out,
                                   "--metrics", metrics, *FAST]), capsys, {out: (W, H), metrics: None})
    text = Path(metrics).read_text()
    assert "Infinity" not in text and "NaN" not in text

    def refuse(token):
        raise AssertionError(f"non-standard JSON constant {token}")

    report = json.loads(text, parse_constant=refuse)
    assert report["psnr"]["input"] is None  # identical images: no finite PSNR
    values = [x for v in report["psnr"].values() if not isinstance(v, dict)
              for x in (v if isinstance(v, list) else [v])]     # each_run: one per seed averaged
    assert all(v is None or math.isfinite(v) for v in values)


def test_metrics_with_any_extension(corpus, capsys):
    out, metrics = corpus["out"], corpus["metrics_txt"]
    _accepted(corpus, corpus.args([*R, "--input", "{img}", "--output", out, "--metrics", metrics, *FAST]),
              capsys, {out: (W, H), metrics: None})
    json.loads(Path(metrics).read_text())


def test_help_exits_cleanly(capsys):
    assert main(["restore", "-h"]) == 0
    text = capsys.readouterr().out
    assert "--overwrite" in text and "2, 3, 4 or 8" in text


# ---------------------------------------------------------------- degrade

D = ["degrade"]
DEGRADE_REFUSED = [
    ("scale 0", [*D, "--task", "superres", "--input", "{img}", "--output", "{d}", "--scale", "0"], "--scale"),
    ("scale 5", [*D, "--task", "superres", "--input", "{img}", "--output", "{d}", "--scale", "5"], "2, 3, 4 or 8"),
    ("scale -2", [*D, "--task", "superres", "--input", "{img}", "--output", "{d}", "--scale", "-2"], "--scale"),
    ("scale larger than the image", [*D, "--task", "superres", "--input", "{seven}", "--output", "{d}",
                                     "--scale", "8"], "factor"),
    ("quality 0", [*D, "--task", "jpeg", "--input", "{img}", "--output", "{d}", "--quality", "0"], "--quality"),
    ("quality 101", [*D, "--task", "jpeg", "--input", "{img}", "--output", "{d}", "--quality", "101"], "--quality"),
    ("quality -5", [*D, "--task", "jpeg", "--input", "{img}", "--output", "{d}", "--quality", "-5"], "--quality"),
    ("quality text", [*D, "--task", "jpeg", "--input", "{img}", "--output", "{d}", "--quality", "high"],
     "--quality"),
    ("sigma -10", [*D, "--task", "denoise", "--input", "{img}", "--output", "{d}", "--sigma", "-10"], "--sigma"),
    ("sigma inf", [*D, "--task", "denoise", "--input", "{img}", "--output", "{d}", "--sigma", "inf"], "--sigma"),
    ("sigma nan", [*D, "--task", "denoise", "--input", "{img}", "--output", "{d}", "--sigma", "nan"], "--sigma"),
    ("sigma 1e6", [*D, "--task", "denoise", "--input", "{img}", "--output", "{d}", "--sigma", "1e6"], "--sigma"),
    ("drop 1.5", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}", "--drop", "1.5"], "--drop"),
    ("drop 1", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}", "--drop", "1"], "--drop"),
    ("drop -0.1", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}", "--drop", "-0.1"], "--drop"),
    ("drop nan", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}", "--drop", "nan"], "--drop"),
    ("seed -1", [*D, "--task", "denoise", "--input", "{img}", "--output", "{d}", "--seed", "-1"], "--seed"),
    ("seed 2**64", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}", "--seed",
                    "18446744073709551616"], "--seed"),
    ("inpaint output unknown extension (no mask written)",
     [*D, "--task", "inpaint", "--input", "{img}", "--output", "{keep_xyz}"], ".xyz"),
    ("inpaint does not replace keep_mask.png for a bad output",
     [*D, "--task", "inpaint", "--input", "{img}", "--output", "{keep_xyz}", "--mask-out", "{keep_mask}"], ".xyz"),
    ("mask-out equal to output", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}",
                                  "--mask-out", "{d}"], "same file"),
    ("mask-out lossy", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}",
                        "--mask-out", "{mask_out_jpg}"], ".jpg"),
    ("mask-out in a missing folder", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}",
                                      "--mask-out", "{mask_out_missing_dir}"], "does not exist"),
    ("mask-out is a folder", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}",
                              "--mask-out", "{dir}"], "folder"),
    ("mask-out is the input", [*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}",
                               "--mask-out", "{img}"], "--input"),
    ("mask-out for denoise", [*D, "--task", "denoise", "--input", "{img}", "--output", "{d}",
                              "--mask-out", "{mask_out}"], "inpaint"),
    ("degrade output is the input", [*D, "--task", "denoise", "--input", "{img}", "--output", "{img}"],
     "--overwrite"),
    ("degrade output is a folder", [*D, "--task", "denoise", "--input", "{img}", "--output", "{dir}"], "folder"),
    ("degrade output in /proc", [*D, "--task", "jpeg", "--input", "{img}", "--output", "/proc/d.png"], "/proc"),
    ("degrade output no extension", [*D, "--task", "jpeg", "--input", "{img}", "--output", "{out_noext}"],
     "extension"),
    ("degrade missing input", [*D, "--task", "denoise", "--input", "{root}/missing.png", "--output", "{d}"],
     "no such file"),
    ("degrade truncated input", [*D, "--task", "denoise", "--input", "{jpg_cut4}", "--output", "{d}"], None),
    ("degrade huge input", [*D, "--task", "denoise", "--input", "{huge_png}", "--output", "{d}"], "megapixels"),
    ("degrade zero bytes", [*D, "--task", "inpaint", "--input", "{empty}", "--output", "{d}"], "empty.png"),
    ("degrade unknown task", [*D, "--task", "enhance", "--input", "{img}", "--output", "{d}"], "--task"),
]


@pytest.mark.parametrize("template, message", [c[1:] for c in DEGRADE_REFUSED],
                         ids=[c[0] for c in DEGRADE_REFUSED])
def test_degrade_refuses_and_writes_nothing(corpus, capsys, reached, template, message):
    _refused(corpus, corpus.args(template), capsys, reached, message)


@pytest.mark.parametrize("task, extra, size", [
    ("superres", ["--scale", "3"], (8, 5)),
    ("superres", ["--scale", "8"], (3, 2)),
    ("superres", ["--scale", "2"], (12, 8)),
    ("jpeg", ["--quality", "100"], (W, H)),
    ("jpeg", ["--quality", "1"], (W, H)),
    ("denoise", ["--sigma", "0"], (W, H)),
    ("denoise", ["--sigma", "255", "--seed", str(2**63 - 1)], (W, H)),
    ("inpaint", ["--drop", "0"], (W, H)),
])
def test_degrade_valid_parameters(corpus, capsys, task, extra, size):
    d = corpus["d"]
    outputs = {d: size}
    if task == "inpaint":
        outputs[corpus["d_mask"]] = size
    _accepted(corpus, corpus.args([*D, "--task", task, "--input", "{img}", "--output", d, *extra]), capsys, outputs)


@pytest.mark.parametrize("key", ["cmyk_jpg", "gray16", "animated", "float_tif", "la", "palette_t", "exif6"])
def test_degrade_accepts_odd_images(corpus, capsys, key):
    d, m = corpus["out"], corpus["mask_out"]
    size = (H, W) if key == "exif6" else (W, H)
    _accepted(corpus, corpus.args([*D, "--task", "inpaint", "--input", "{%s}" % key, "--output", d,
                                   "--mask-out", m]), capsys, {d: size, m: size})


def test_degrade_inpaint_writes_image_and_mask_together(corpus, capsys):
    d, m = corpus["out_unicode"], corpus["mask_out"]
    _accepted(corpus, corpus.args([*D, "--task", "inpaint", "--input", "{img}", "--output", d, "--mask-out", m]),
              capsys, {d: (W, H), m: (W, H)})


def test_degrade_inpaint_writes_nothing_when_the_second_write_fails(corpus, capsys, monkeypatch):
    """If encoding the image fails after the mask is ready, the mask is not written either."""
    import engine.imageio as imageio

    real = imageio.image_writer

    def failing(*a, **k):
        write = real(*a, **k)

        def boom(tmp):
            write(tmp)
            raise OSError(28, "No space left on device")
        return boom

    monkeypatch.setattr(imageio, "image_writer", failing)
    argv = corpus.args([*D, "--task", "inpaint", "--input", "{img}", "--output", "{d}"])
    before = _snapshot(corpus.root)
    rc, err, _ = _call(argv, capsys)
    assert rc == 2 and err.strip().startswith("error: ") and "space" in err and len(err.strip().splitlines()) == 1
    assert _snapshot(corpus.root) == before


def test_restore_writes_neither_image_nor_metrics_when_one_fails(corpus, capsys, monkeypatch):
    import engine.imageio as imageio

    real = imageio.write_all

    def fail_on_metrics(items):
        def boom(tmp):
            raise OSError(28, "No space left on device")
        return real([items[0], (items[1][0], boom)])

    monkeypatch.setattr(imageio, "write_all", fail_on_metrics)
    argv = corpus.args([*R, "--input", "{img}", "--output", "{out}", "--metrics", "{metrics}", *FAST])
    before = _snapshot(corpus.root)
    rc, err, _ = _call(argv, capsys)
    assert rc == 2 and err.strip().splitlines() == [err.strip()] and "space" in err
    assert _snapshot(corpus.root) == before


def test_degrade_help_states_the_scales(capsys):
    assert main(["degrade", "-h"]) == 0
    assert "2, 3, 4 or 8" in capsys.readouterr().out


# ---------------------------------------------------------------- Ctrl-C (a real process)

def interrupted_restore(code: str, args: list[str], tmp_path: Path, delay: float,
                        env: dict | None = None) -> tuple[int, str]:
    """Run ``python -c code *args restore ... in.png -> out.png`` (a denoise that never ends by
    itself) in ``tmp_path``; ``code`` prints 'up' once the interpreter is up, so Ctrl-C
    (SIGINT), sent ``delay`` s later, lands in the imports or the run. (exit status, stderr)."""
    src = tmp_path / "in.png"
    src.write_bytes(_PNG)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args, "restore", "--task", "denoise", "--input", str(src),
         "--output", str(tmp_path / "out.png"), "--iterations", "1000000", "--stop", "never", "--device", "cpu",
         "--yes", *TINY],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a suite started in the background (``nohup ... &``) hands its children an ignored SIGINT,
        # which Python keeps; a user's terminal does not: the child starts as from a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().strip() == "up"
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


@pytest.mark.parametrize("delay", [0.1, 0.6, 1.5])
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(tmp_path, delay):
    # the wrapper says when the interpreter is up, so the signal lands in main.py's imports or run
    code = ("import runpy, sys; sys.argv = sys.argv[1:]; print('up', flush=True); "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    returncode, err = interrupted_restore(code, [str(ROOT / "main.py")], tmp_path, delay)
    assert returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1].startswith("interrupted"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]
